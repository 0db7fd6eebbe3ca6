// Issue 8's proof, part one: members killed with SIGTERM and SIGKILL (a follower, the
// leader, a quorum, all of them; each also until the log is compacted past the one
// kept down), and a member removed and added back from scratch, under a recorded load.
import { crashCases } from './cases.js';
import { faultTests } from './vitestSuite.js';

faultTests('fault cases: members killed', crashCases());
