import { readFileSync } from 'node:fs';
import { replay, shrink } from './runner.js';
import { formatSchedule, parseSchedule } from './schedule.js';
const s = parseSchedule(readFileSync(process.argv[2]!, 'utf8'));
const r = replay(s);
const sh = shrink(s, r.violation!, 60000);
console.log(formatSchedule(sh.schedule, [sh.violation.detail]));
