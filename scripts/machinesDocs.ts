// Writes docs/machines.md from the machine objects (`npm run machines:docs`).
import { writeFileSync } from 'node:fs';
import { machinesDoc } from '../src/cli/machines.js';

const target = new URL('../docs/machines.md', import.meta.url);
writeFileSync(target, machinesDoc());
process.stdout.write(`wrote ${target.pathname}\n`);
