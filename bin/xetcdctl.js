#!/usr/bin/env node
// Offline tools for xetcd data dirs (snapshot restore), run through tsx like bin/xetcd.js.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/xetcdctl.ts');
