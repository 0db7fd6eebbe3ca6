// Issue 8's proof, part two: a member's road to NATS cut (both ways, one way), delayed,
// lossy; nats-server stopped and restarted; a member cut off with its client port up;
// the leader paused past the election timeout; a learner added, promoted, another
// member removed, the leader moved; all under a recorded load.
import { networkCases } from './cases.js';
import { faultTests } from './vitestSuite.js';

faultTests('fault cases: the road, a paused leader, membership', networkCases());
