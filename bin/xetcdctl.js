#!/usr/bin/env node
// Offline tools for xetcd data dirs (snapshot restore).
import { launch } from './launch.js';

await launch('xetcdctl');
