import { ProposalDroppedError } from '../../src/raft/errors.js';
import type { SimNode } from './node.js';
import type { Simulator } from './simulator.js';
import { violation } from './violation.js';

/**
 * Liveness, asserted once the faults are over (testing-scenarios.md §5): the
 * `settle` event, and `stabilize` (drain), which scripts use on their own.
 */

const encoder = new TextEncoder();

/** How long `settle` may take, in election timeouts, before liveness is declared lost. */
const SETTLE_ELECTIONS = 30;

/**
 * `settle`: every fault heals (links, pauses, crashed members restart) and
 * the cluster must then, within a bounded number of election timeouts,
 * agree on one leader, commit and apply a new proposal everywhere, and
 * converge to identical logs and applied indexes.
 */
export function settle(sim: Simulator): void {
  sim.network.heal();
  for (const n of sim.nodes.values()) {
    sim.resumeNode(n);
    // Every member that ever ran comes back, removed ones included: a member
    // that left may be the only one able to tell the rest that its removal
    // committed, or to vote in the joint configuration they are still in
    // (etcd keeps a removed member up for a while for that reason, stopWithDelay).
    // Re-applying its removal first, it cannot campaign (pending conf changes) and never leads.
    if (!n.up && n.started) n.boot(sim.config);
  }
  sim.observeAll();
  const budget = SETTLE_ELECTIONS * sim.config.electionTick;
  let marker: string | undefined;
  /** Who took the proposal, in which term: a leader deposed before committing it may take it along. */
  let proposedTo = '';
  let stage = 'electing a leader';
  for (let round = 0; round <= budget; round++) {
    drain(sim);
    const leader = stableLeader(sim);
    if (leader !== undefined) {
      const lead = `${leader.id}@${leader.observed!.term}`;
      if (marker !== undefined && lead !== proposedTo && !leader.app.values.includes(marker))
        marker = undefined;
      if (marker === undefined) {
        stage = 'committing a proposal';
        const data = `settle${sim.time}`;
        try {
          leader.core.propose(encoder.encode(data));
          marker = data;
          proposedTo = lead;
        } catch (err) {
          if (!(err instanceof ProposalDroppedError)) throw err;
        }
        if (marker !== undefined) {
          drain(sim);
        }
      }
      if (marker !== undefined) {
        stage = 'converging';
        if (converged(sim, leader, marker)) return;
      }
    }
    sim.time++;
    sim.stats.ticks++;
    for (const n of sim.nodes.values()) if (n.running) n.core.tick();
    sim.observeAll();
  }
  violation(
    'liveness',
    `no convergence within ${SETTLE_ELECTIONS} election timeouts after healing (stuck ${stage}): ${sim.describe()}`,
  );
}

/** Runs every running node's Readies to completion (hand out, persist, apply). Returns whether there were any. */
function runReadies(sim: Simulator): boolean {
  let busy = false;
  for (const n of sim.nodes.values()) {
    if (!n.running) continue;
    while (n.outstanding.length > 0 || n.core.hasReady()) {
      busy = true;
      if (n.outstanding.length === 0) sim.handOut(n.id);
      sim.persist(n.id);
      sim.apply(n.id);
      sim.observeAll();
    }
  }
  return busy;
}

/** Everything on the wire now arrives, oldest first; what it provokes waits. Returns whether anything arrived. */
function deliverInFlight(sim: Simulator): boolean {
  let busy = false;
  let batch = sim.network.inFlight.length;
  while (batch-- > 0) {
    const env = sim.network.take(0);
    if (sim.nodes.get(env.to)?.paused === true) {
      sim.network.inFlight.push(env);
      continue;
    }
    busy = true;
    sim.deliver(env);
    sim.observeAll();
  }
  return busy;
}

/** Delivers every message and runs every Ready to completion, until quiet (bounded). */
export function drain(sim: Simulator): void {
  for (let guard = 0; guard < 200; guard++) {
    const ran = runReadies(sim);
    if (!deliverInFlight(sim) && !ran) return;
  }
}

/** `deliver`: one round of the network: every Ready runs, every message in flight arrives, and the Readies that provokes run. */
export function round(sim: Simulator): void {
  runReadies(sim);
  deliverInFlight(sim);
  runReadies(sim);
}

/** The leader every running member of its configuration follows, in one term. */
export function stableLeader(sim: Simulator): SimNode | undefined {
  const leader = sim.leader();
  if (leader === undefined) return undefined;
  const term = leader.observed!.term;
  for (const id of members(sim, leader)) {
    const m = sim.nodes.get(id);
    if (m === undefined || !m.up) return undefined;
    const st = m.core.status();
    if (st.term !== term || st.lead !== leader.bid) return undefined;
  }
  return leader;
}

export function members(sim: Simulator, leader: SimNode): number[] {
  const cs = leader.app.confState;
  const ids = new Set<bigint>([...cs.voters, ...cs.votersOutgoing, ...cs.learners, ...cs.learnersNext]);
  return [...ids].map(Number).filter((id) => !sim.ghost.removedSelf.has(id));
}

export function converged(sim: Simulator, leader: SimNode, marker: string): boolean {
  if (!leader.app.values.includes(marker)) return false;
  const last = leader.memView.lastIndex;
  const chain = leader.memView.chain(last);
  for (const id of members(sim, leader)) {
    const m = sim.nodes.get(id)!;
    if (m.outstanding.length > 0 || m.memView.lastIndex !== last || m.memView.chain(last) !== chain)
      return false;
    if (m.app.applied !== leader.app.applied) return false;
  }
  return sim.network.inFlight.length === 0;
}
