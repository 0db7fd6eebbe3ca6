import type { Directive } from '../unit/raft/datadriven.js';
import { parseCommand } from './schedule.js';
import { Simulator } from './simulator.js';

/**
 * Runs a cluster script (schedule.ts's language) command by command on a
 * Simulator, returning what each prints, for test/unit/raft/datadriven.ts to
 * compare with the script's `----` blocks. Every property of the simulation
 * is checked after every event, as in a generated run: a violation throws.
 */
export function clusterScript(): (d: Directive) => string[] {
  let sim: Simulator | undefined;
  let events = 0;
  return (d) => {
    const c = parseCommand(d.command, d.line);
    if (c.kind === 'config') {
      sim = new Simulator(c.config);
      return [];
    }
    if (sim === undefined) throw new Error(`line ${d.line}: a script starts with a config line`);
    const out = { lines: [], reads: [] };
    sim.out = out;
    sim.run(c.event, events++);
    return [...out.lines, ...out.reads];
  };
}
