import { drawProfile, Generator, profileNamed, type Profile } from './generator.js';
import { Rng } from '../../src/raft/rng.js';
import { defaultConfig, type Schedule, type SimConfig, type SimEvent } from './schedule.js';
import { Simulator, type SimStats } from './simulator.js';
import { SimViolation } from './violation.js';
import { injectBug } from './bugs.js';

export interface RunOptions {
  /** Voters; when undefined each seed picks 3 or 5. */
  nodes?: number;
  /** Events before the final `settle`. */
  steps: number;
  /** A fault profile by name (generator.ts's PROFILES); when undefined each seed picks one. */
  profile?: string;
  /** PreVote and CheckQuorum on or off; when undefined each seed picks. */
  preVote?: boolean;
  checkQuorum?: boolean;
  /** Ticks per global tick for node i at [i-1] (clocks running at different rates); by default 1 each. */
  tickRates?: number[];
  injectBug?: string;
  unchecked?: string;
}

export interface RunResult {
  seed: number;
  schedule: Schedule;
  profile: string;
  stats: SimStats;
  violation?: SimViolation;
}

/** The cluster a seed runs on: 3 or 5 voters, a learner in some runs, spare IDs to add. */
export function configForSeed(seed: number, opts: RunOptions): SimConfig {
  const rng = Rng.derive(seed, 0xc0f);
  const c = defaultConfig(seed);
  c.voters = opts.nodes ?? (rng.chance(0.5) ? 3 : 5);
  c.learners = rng.chance(0.3) ? 1 : 0;
  c.spare = 2;
  c.preVote = rng.chance(0.7);
  c.maxInflightMsgs = rng.pick([1, 2, 4, 16]);
  c.maxSizePerMsg = rng.pick([64, 256, 4096]);
  c.electionTick = rng.pick([5, 10, 10]);
  c.heartbeatTick = rng.pick([1, 1, 2]);
  c.checkQuorum = !rng.chance(0.3);
  // Lease-based ReadIndex (etcd's ReadOnlyLeaseBased): its freshness is not checked (see SimConfig.unchecked).
  c.leaseReads = c.checkQuorum && rng.chance(0.3);
  if (opts.preVote !== undefined) c.preVote = opts.preVote;
  if (opts.checkQuorum !== undefined) c.checkQuorum = opts.checkQuorum;
  if (!c.checkQuorum) c.leaseReads = false;
  if (c.leaseReads) c.unchecked = 'read-freshness';
  if (opts.injectBug !== undefined) c.injectBug = opts.injectBug;
  if (opts.unchecked !== undefined) c.unchecked = opts.unchecked;
  return c;
}

/** Generates and runs the schedule of one seed, checking after every event. */
export function runSeed(seed: number, opts: RunOptions): RunResult {
  const config = configForSeed(seed, opts);
  const rng = Rng.derive(seed, 0x5eed);
  const profile: Profile = opts.profile === undefined ? drawProfile(rng) : profileNamed(opts.profile);
  if (profile.noCheckQuorum === true && opts.checkQuorum === undefined) {
    config.checkQuorum = false;
    // Lease-based reads trust CheckQuorum (RaftNode refuses them without it).
    config.leaseReads = false;
    if (config.unchecked === 'read-freshness') delete config.unchecked;
  }
  const gen = new Generator(rng, profile, opts.tickRates);
  const events: SimEvent[] = [];
  const removeBug = injectBug(config.injectBug);
  const sim = new Simulator(config);
  const result = (v?: SimViolation): RunResult => ({
    seed,
    schedule: { config, events },
    profile: profile.name,
    stats: sim.stats,
    ...(v === undefined ? {} : { violation: v }),
  });
  try {
    for (let i = 0; i < opts.steps; i++) {
      const e = gen.next(sim);
      events.push(e);
      sim.run(e, i);
    }
    const settle: SimEvent = { kind: 'settle' };
    events.push(settle);
    sim.run(settle, events.length - 1);
  } catch (err) {
    if (err instanceof SimViolation) return result(err);
    throw err;
  } finally {
    removeBug();
  }
  return result();
}

export interface ReplayResult {
  stats: SimStats;
  violation?: SimViolation;
  sim: Simulator;
}

/** Runs a schedule exactly as written. */
export function replay(s: Schedule, trace?: (line: string) => void): ReplayResult {
  const removeBug = injectBug(s.config.injectBug);
  try {
    const sim = new Simulator(s.config);
    sim.trace = trace;
    try {
      s.events.forEach((e, i) => sim.run(e, i));
    } catch (err) {
      if (err instanceof SimViolation) return { stats: sim.stats, violation: err, sim };
      throw err;
    }
    return { stats: sim.stats, sim };
  } finally {
    removeBug();
  }
}

export interface ShrinkResult {
  schedule: Schedule;
  violation: SimViolation;
  replays: number;
}

/**
 * Delta debugging over events: repeatedly delete chunks (halves, quarters, ...,
 * single events) and keep any deletion after which the schedule still fails
 * with the same property. Events are written so that deleting any of them
 * leaves a valid schedule (see schedule.ts).
 */
export function shrink(s: Schedule, v: SimViolation, budgetMs = 60_000): ShrinkResult {
  const deadline = Date.now() + budgetMs;
  let events = s.events.slice(0, v.eventIndex + 1);
  let best = v;
  let replays = 0;
  const fails = (candidate: SimEvent[]): SimViolation | undefined => {
    replays++;
    const r = replay({ config: s.config, events: candidate });
    return r.violation?.property === v.property ? r.violation : undefined;
  };
  let chunk = Math.max(1, events.length >> 1);
  while (chunk >= 1 && Date.now() < deadline) {
    let changed = false;
    for (let start = events.length - chunk; start >= 0 && Date.now() < deadline; start -= chunk) {
      const candidate = events.slice(0, start).concat(events.slice(start + chunk));
      const found = fails(candidate);
      if (found !== undefined) {
        events = candidate.slice(0, found.eventIndex + 1);
        best = found;
        changed = true;
        start = Math.min(start, events.length);
      }
    }
    if (!changed) chunk >>= 1;
    else chunk = Math.min(chunk, Math.max(1, events.length >> 1));
  }
  return { schedule: { config: s.config, events }, violation: best, replays };
}
