#!/usr/bin/env node
// Runs the TypeScript entry point directly through tsx, so `npm start` and
// `npx xetcd` work from a checkout with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/xetcd.ts');
