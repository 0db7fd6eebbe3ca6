/**
 * The one language of scripted cluster scenarios: the simulation's schedules
 * (generated, shrunk, regressions/), and the raft unit tests' transcripts
 * (test/unit/raft/transcripts/cluster/), in the file format of
 * test/unit/raft/datadriven.ts (a command a line; under a command whose
 * output is part of the specification, `----` and that output). A script is
 * a header (the cluster's shape and the seed of the nodes' own randomness)
 * and a list of concrete events:
 *
 *   config voters=3 preVote=false ...   the cluster (see SimConfig; the keys not given keep their defaults)
 *   tick                      every running node ticks once (virtual time + 1)
 *   tick 2                    only node 2 ticks (clock skew)
 *   ready 2                   node 2 hands out a Ready (nothing durable yet; a leader's messages leave now)
 *   persist 2                 node 2's oldest unwritten Ready is durable; its messages leave (unless they did)
 *   apply 2                   node 2 applies its oldest (written) Ready's committed entries and advances
 *   process 2                 ready, persist and apply of node 2 in one go (no crash can fall in between);
 *                             with Readies outstanding, persist and apply them all instead
 *   deliver 1->3 MsgApp       the oldest in-flight MsgApp from 1 to 3 arrives (`#k`: the k-th oldest)
 *   deliver                   one round: every Ready runs, every message in flight arrives, the Readies that provokes run
 *   drop 1->3 MsgApp          ... is lost
 *   dup 1->3 MsgApp           ... is duplicated
 *   propose 2 p17             node 2 is asked to propose "p17"
 *   campaign 2 · crash 2 · restart 2 · pause 2 · resume 2
 *   partition 1 2 | 3         no traffic between the groups, either way
 *   cut 1->3                  no traffic from 1 to 3 (one-way)
 *   heal                      every link works again
 *   conf 1 add 4 | remove 2 | learner 5 | promote 5 | joint add 4 remove 2 [explicit] | leave
 *   transfer 1 3              node 1 is asked to hand leadership to 3
 *   read 2 r5                 node 2 gets a ReadIndex request with context "r5"
 *   compact 2 keep 3          node 2 snapshots its applied state and compacts its log, keeping 3 entries
 *   ticks 12                  twelve global ticks in a row (scripts)
 *   stabilize                 deliver every message and run every Ready to completion until quiet (scripts)
 *   status [1 2]              print each node's role, term, vote, lead, commit, applied and last persisted entry
 *   log 1                     print node 1's persisted log as index/term
 *   elapse 12                 twelve times: a global tick, then stabilize (scripts: time passing in a healthy network)
 *   settle                    heal every fault and require liveness (one leader, progress, convergence)
 *   expect 1 role leader      (regression scripts) assert something of node 1: role, term, commit, applied
 *
 * With its output compared, a script also shows every message as it arrives
 * (`1->2 MsgVote term=1 last=0/0`, `(dropped)` when it is lost), refused
 * proposals (`error: raft proposal dropped (...)`), and read states released
 * (`1: read r1 at 5`, at the end of the command that released them).
 *
 * Events are robust to deletion: an event whose subject is gone (no such
 * message in flight, the node is down) does nothing. That is what lets the
 * shrinker drop events freely.
 */
import { directives } from '../unit/raft/datadriven.js';

export type ConfOp =
  | { op: 'add'; id: number }
  | { op: 'remove'; id: number }
  | { op: 'learner'; id: number }
  | { op: 'promote'; id: number };

export const EXPECT_FIELDS = ['role', 'term', 'commit', 'applied', 'lead'] as const;
export type ExpectField = (typeof EXPECT_FIELDS)[number];

export type SimEvent =
  | { kind: 'tick'; node?: number }
  | { kind: 'ticks' | 'elapse'; count: number }
  | { kind: 'stabilize' | 'round' }
  | { kind: 'status'; nodes: number[] }
  | { kind: 'log'; node: number }
  | { kind: 'ready' | 'persist' | 'apply' | 'process'; node: number }
  | { kind: 'deliver' | 'drop' | 'dup'; from: number; to: number; type: string; nth: number }
  | { kind: 'propose'; node: number; data: string }
  | { kind: 'campaign' | 'crash' | 'restart' | 'pause' | 'resume'; node: number }
  | { kind: 'partition'; groups: number[][] }
  | { kind: 'cut'; from: number; to: number }
  | { kind: 'heal' }
  | { kind: 'conf'; node: number; ops: ConfOp[]; joint: 'none' | 'auto' | 'explicit' }
  | { kind: 'leave'; node: number }
  | { kind: 'transfer'; node: number; target: number }
  | { kind: 'read'; node: number; ctx: string }
  | { kind: 'compact'; node: number; keep: number }
  | { kind: 'settle' }
  | { kind: 'expect'; node: number; field: ExpectField; value: string };

/** The cluster a schedule runs on. Everything else about a run is in its events. */
export interface SimConfig {
  /** Seeds the nodes' election jitter; the events themselves are explicit. */
  seed: number;
  voters: number;
  learners: number;
  /** Extra node IDs, not members at first, that configuration changes may add. */
  spare: number;
  electionTick: number;
  heartbeatTick: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflightMsgs: number;
  maxSizePerMsg: number;
  /**
   * Lease-based ReadIndex instead of the safe one: only correct when clocks
   * stay in step, which pauses and skewed ticks break (known-bad/lease-read-after-pause.txt).
   */
  leaseReads?: boolean;
  /**
   * What the initial members start from: `snapshot` (default), a snapshot at
   * index 1 of term 1 holding the configuration, as etcd's raft tests seed a
   * cluster; `empty`, an empty log at term 0 (RaftNode.bootstrap, as a new
   * cluster starts).
   */
  bootstrap?: 'snapshot' | 'empty';
  /** A deliberately broken core, to show the simulation notices (see bugs.ts). */
  injectBug?: string;
  /**
   * A check to leave out. `commit-rule`: with a broken commit rule, shows
   * that the damage it does is caught further down (state machine safety).
   * `read-freshness`: generated runs with lease-based reads, whose freshness
   * needs timely clocks and messages that the faults do not keep (a pause, a
   * delay or a transfer lets a deposed leader answer from its lease); every
   * other property, the rest of read-index-safety included, is checked.
   */
  unchecked?: string;
}

export interface Schedule {
  config: SimConfig;
  events: SimEvent[];
}

export const defaultConfig = (seed: number): SimConfig => ({
  seed,
  voters: 3,
  learners: 0,
  spare: 2,
  electionTick: 10,
  heartbeatTick: 1,
  preVote: true,
  checkQuorum: true,
  maxInflightMsgs: 4,
  maxSizePerMsg: 1024,
});

function confOpsText(ops: ConfOp[]): string {
  return ops.map((o) => `${o.op} ${o.id}`).join(' ');
}

export function formatEvent(e: SimEvent): string {
  switch (e.kind) {
    case 'tick':
      return e.node === undefined ? 'tick' : `tick ${e.node}`;
    case 'ready':
    case 'persist':
    case 'apply':
    case 'process':
    case 'campaign':
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume':
    case 'leave':
    case 'log':
      return `${e.kind} ${e.node}`;
    case 'round':
      return 'deliver';
    case 'status':
      return ['status', ...e.nodes].join(' ');
    case 'deliver':
    case 'drop':
    case 'dup':
      return `${e.kind} ${e.from}->${e.to} ${e.type}${e.nth > 0 ? ` #${e.nth}` : ''}`;
    case 'propose':
      return `propose ${e.node} ${e.data}`;
    case 'partition':
      return `partition ${e.groups.map((g) => g.join(' ')).join(' | ')}`;
    case 'cut':
      return `cut ${e.from}->${e.to}`;
    case 'heal':
    case 'settle':
    case 'stabilize':
      return e.kind;
    case 'ticks':
    case 'elapse':
      return `${e.kind} ${e.count}`;
    case 'conf':
      if (e.joint === 'none') return `conf ${e.node} ${confOpsText(e.ops)}`;
      return `conf ${e.node} joint ${confOpsText(e.ops)}${e.joint === 'explicit' ? ' explicit' : ''}`;
    case 'transfer':
      return `transfer ${e.node} ${e.target}`;
    case 'read':
      return `read ${e.node} ${e.ctx}`;
    case 'compact':
      return `compact ${e.node} keep ${e.keep}`;
    case 'expect':
      return `expect ${e.node} ${e.field} ${e.value}`;
  }
}

const CONFIG_KEYS: Record<string, 'number' | 'boolean' | 'string'> = {
  seed: 'number',
  voters: 'number',
  learners: 'number',
  spare: 'number',
  electionTick: 'number',
  heartbeatTick: 'number',
  preVote: 'boolean',
  checkQuorum: 'boolean',
  maxInflightMsgs: 'number',
  maxSizePerMsg: 'number',
  leaseReads: 'boolean',
  bootstrap: 'string',
  injectBug: 'string',
  unchecked: 'string',
};

export function formatConfig(c: SimConfig): string {
  const parts: string[] = [];
  for (const key of Object.keys(CONFIG_KEYS)) {
    const v = (c as unknown as Record<string, unknown>)[key];
    if (v !== undefined) parts.push(`${key}=${String(v)}`);
  }
  return `config ${parts.join(' ')}`;
}

/** The transcript of a schedule; runs of global ticks read as `ticks K` (which replays identically). */
export function formatSchedule(s: Schedule, comments: string[] = []): string {
  const lines = comments.map((c) => `# ${c}`);
  lines.push(formatConfig(s.config));
  let ticks = 0;
  const flush = (): void => {
    if (ticks === 1) lines.push('tick');
    else if (ticks > 1) lines.push(`ticks ${ticks}`);
    ticks = 0;
  };
  for (const e of s.events) {
    if (e.kind === 'tick' && e.node === undefined) {
      ticks++;
      continue;
    }
    flush();
    lines.push(formatEvent(e));
  }
  flush();
  return lines.join('\n') + '\n';
}

export class ScheduleSyntaxError extends Error {
  constructor(line: number, text: string, why: string) {
    super(`schedule line ${line}: ${why}: ${text}`);
    this.name = 'ScheduleSyntaxError';
  }
}

function parseConfig(words: string[], into: SimConfig, fail: (why: string) => never): void {
  const bag = into as unknown as Record<string, unknown>;
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq < 0) fail(`expected key=value, got "${w}"`);
    const key = w.slice(0, eq);
    const raw = w.slice(eq + 1);
    const type = CONFIG_KEYS[key];
    if (type === undefined) fail(`unknown config key "${key}"`);
    if (type === 'number') {
      const n = Number(raw);
      if (!Number.isInteger(n)) fail(`"${key}" needs an integer`);
      bag[key] = n;
    } else if (type === 'boolean') {
      if (raw !== 'true' && raw !== 'false') fail(`"${key}" needs true or false`);
      bag[key] = raw === 'true';
    } else {
      bag[key] = raw;
    }
  }
}

function parseConfOps(words: string[], fail: (why: string) => never): ConfOp[] {
  const ops: ConfOp[] = [];
  for (let i = 0; i < words.length; i += 2) {
    const op = words[i];
    const id = Number(words[i + 1]);
    if (!Number.isInteger(id)) fail('a conf op needs a node id');
    if (op === 'add' || op === 'remove' || op === 'learner' || op === 'promote') ops.push({ op, id });
    else fail(`unknown conf op "${String(op)}"`);
  }
  if (ops.length === 0) fail('a conf change needs at least one op');
  return ops;
}

/** One command of a script: the config line, or an event. */
export type Command = { kind: 'config'; config: SimConfig } | { kind: 'event'; event: SimEvent };

/** Parses one command (comments already stripped); `at` is its line, for errors. */
export function parseCommand(line: string, at: number): Command {
  const fail = (why: string): never => {
    throw new ScheduleSyntaxError(at, line, why);
  };
  const w = line.split(/\s+/);
  const cmd = w[0] as string;
  const num = (i: number): number => {
    const n = Number(w[i]);
    if (w[i] === undefined || !Number.isInteger(n)) fail(`argument ${i} must be an integer`);
    return n;
  };
  const link = (i: number): [number, number] => {
    const m = /^(\d+)->(\d+)$/.exec(w[i] ?? '');
    if (m === null) fail('expected FROM->TO');
    return [Number(m![1]), Number(m![2])];
  };
  const event = (e: SimEvent): Command => ({ kind: 'event', event: e });
  switch (cmd) {
    case 'config': {
      const config = defaultConfig(0);
      parseConfig(w.slice(1), config, fail);
      if (config.bootstrap !== undefined && config.bootstrap !== 'snapshot' && config.bootstrap !== 'empty')
        fail('"bootstrap" is snapshot or empty');
      return { kind: 'config', config };
    }
    case 'tick':
      return event(w.length > 1 ? { kind: 'tick', node: num(1) } : { kind: 'tick' });
    case 'ready':
    case 'persist':
    case 'apply':
    case 'process':
    case 'campaign':
    case 'crash':
    case 'restart':
    case 'pause':
    case 'resume':
    case 'leave':
    case 'log':
      return event({ kind: cmd, node: num(1) });
    case 'deliver':
    case 'drop':
    case 'dup': {
      if (cmd === 'deliver' && w.length === 1) return event({ kind: 'round' });
      const [from, to] = link(1);
      const type = w[2] ?? fail('expected a message type');
      let nth = 0;
      if (w[3] !== undefined) {
        const m = /^#(\d+)$/.exec(w[3]);
        if (m === null) fail('expected #N');
        nth = Number(m![1]);
      }
      return event({ kind: cmd, from, to, type, nth });
    }
    case 'propose':
      return event({ kind: 'propose', node: num(1), data: w[2] ?? fail('propose needs data') });
    case 'partition': {
      const groups = line
        .slice('partition'.length)
        .split('|')
        .map((g) => g.trim().split(/\s+/).filter(Boolean).map(Number));
      if (groups.length < 2 || groups.some((g) => g.length === 0 || g.some((n) => !Number.isInteger(n))))
        fail('partition needs at least two non-empty groups of node ids');
      return event({ kind: 'partition', groups });
    }
    case 'cut': {
      const [from, to] = link(1);
      return event({ kind: 'cut', from, to });
    }
    case 'heal':
    case 'settle':
    case 'stabilize':
      return event({ kind: cmd });
    case 'ticks':
    case 'elapse':
      return event({ kind: cmd, count: num(1) });
    case 'status':
      return event({ kind: 'status', nodes: w.slice(1).map((_, i) => num(i + 1)) });
    case 'conf': {
      const node = num(1);
      if (w[2] === 'joint') {
        const explicit = w[w.length - 1] === 'explicit';
        const ops = parseConfOps(w.slice(3, explicit ? -1 : undefined), fail);
        return event({ kind: 'conf', node, ops, joint: explicit ? 'explicit' : 'auto' });
      }
      return event({ kind: 'conf', node, ops: parseConfOps(w.slice(2), fail), joint: 'none' });
    }
    case 'transfer':
      return event({ kind: 'transfer', node: num(1), target: num(2) });
    case 'read':
      return event({ kind: 'read', node: num(1), ctx: w[2] ?? fail('read needs a context') });
    case 'compact':
      if (w[2] !== 'keep') fail('expected "compact N keep K"');
      return event({ kind: 'compact', node: num(1), keep: num(3) });
    case 'expect': {
      const field =
        EXPECT_FIELDS.find((f) => f === w[2]) ??
        fail('expect field must be role, term, commit, applied or lead');
      return event({ kind: 'expect', node: num(1), field, value: w[3] ?? fail('expect needs a value') });
    }
    default:
      return fail(`unknown command "${cmd}"`);
  }
}

/** A whole script as a schedule: its config and its events (expected outputs are not part of it). */
export function parseSchedule(text: string): Schedule {
  let config: SimConfig | undefined;
  const events: SimEvent[] = [];
  for (const d of directives(text)) {
    const c = parseCommand(d.command, d.line);
    if (c.kind === 'config') config = c.config;
    else events.push(c.event);
  }
  if (config === undefined) throw new ScheduleSyntaxError(1, '', 'a schedule starts with a config line');
  return { config, events };
}
