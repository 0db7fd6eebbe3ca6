// The member lifecycle chart driven with fake steps: every path, every failure.
import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigResult } from '../../../src/embed/config.js';
import { runMember, type MemberSteps } from '../../../src/embed/lifecycleRunner.js';
import { createLogger } from '../../../src/logging.js';
import type { BootMode } from '../../../machines/memberLifecycle.js';

interface Harness {
  calls: string[];
  logs: Record<string, unknown>[];
  report: string[];
  steps: MemberSteps;
}

type StepName = keyof MemberSteps;

function harness(
  opts: { hasData?: boolean; fail?: Partial<Record<StepName, string>>; hold?: StepName } = {},
) {
  const calls: string[] = [];
  const logs: Record<string, unknown>[] = [];
  const report: string[] = [];
  let release: (() => void) | undefined;
  const held = new Promise<void>((r) => (release = r));
  const step =
    (name: StepName, out?: () => unknown) =>
    async (...args: unknown[]): Promise<never> => {
      calls.push(args.length > 0 ? `${name}(${String(args[0])})` : name);
      if (opts.hold === name) await held;
      const reason = opts.fail?.[name];
      if (reason !== undefined) throw new Error(reason);
      return (out?.() ?? undefined) as never;
    };
  const steps: MemberSteps = {
    openStorage: step('openStorage', () => ({ hasData: opts.hasData ?? false })),
    bootstrap: step('bootstrap') as (m: BootMode) => Promise<void>,
    checkIntegrity: step('checkIntegrity'),
    startRaft: step('startRaft'),
    publish: step('publish'),
    serve: step('serve'),
    stop: step('stop'),
  };
  const h: Harness = { calls, logs, report, steps };
  return { h, release: () => release?.() };
}

function start(h: Harness, config: ConfigResult = loadConfig({ flags: {}, env: {}, readFile: () => '' })) {
  const logger = createLogger({
    level: 'debug',
    pretty: false,
    destination: { write: (line: string) => void h.logs.push(JSON.parse(line) as Record<string, unknown>) },
  });
  const states: string[] = [];
  const member = runMember({
    config: () => config,
    steps: () => h.steps,
    logger,
    report: (l) => h.report.push(l),
  });
  member.actor.subscribe((s) => states.push(JSON.stringify(s.value)));
  return { member, states };
}

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !pred(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!pred()) throw new Error('condition not reached');
}

describe('member lifecycle', () => {
  it('starts through every step in etcd order, serves, and stops cleanly on a signal', async () => {
    const { h } = harness();
    const { member, states } = start(h);
    await until(() => member.actor.getSnapshot().matches({ serving: 'ready' }));
    expect(h.calls).toEqual([
      'openStorage',
      'bootstrap(new)',
      'checkIntegrity',
      'startRaft',
      'publish',
      'serve',
    ]);
    expect(states).toContain('"bootstrapping"');
    expect(member.actor.getSnapshot().context.bootMode).toBe('new');
    expect(member.config()?.name).toBe('default');
    member.stop('SIGTERM');
    const out = await member.done;
    expect(out).toEqual({ status: 'stopped', exitCode: 0, stopReason: 'SIGTERM' });
    expect(h.calls.at(-1)).toBe('stop');
    expect(states.at(-1)).toBe('"stopped"');
    expect(h.logs.map((l) => l['msg'])).toContain('member is serving');
    expect(h.logs.at(-1)).toMatchObject({ level: 'info', msg: 'member stopped', reason: 'SIGTERM' });
  });

  it.each<[string, boolean, 'new' | 'existing', BootMode]>([
    ['data in the data dir restarts, whatever the cluster state', true, 'new', 'restarting'],
    ['data and existing restarts', true, 'existing', 'restarting'],
    ['no data and new bootstraps a new cluster', false, 'new', 'new'],
    ['no data and existing joins', false, 'existing', 'joining'],
  ])('%s', async (_l, hasData, state, mode) => {
    const { h } = harness({ hasData });
    const config = loadConfig({ flags: { 'initial-cluster-state': state }, env: {}, readFile: () => '' });
    const { member } = start(h, config);
    await until(() => member.actor.getSnapshot().matches({ serving: 'ready' }));
    expect(h.calls[1]).toBe(`bootstrap(${mode})`);
    expect(member.actor.getSnapshot().context.bootMode).toBe(mode);
    member.stop('SIGINT');
    expect((await member.done).exitCode).toBe(0);
  });

  it.each<[StepName, string]>([
    ['openStorage', 'openingStorage'],
    ['bootstrap', 'bootstrapping'],
    ['checkIntegrity', 'checkingIntegrity'],
    ['startRaft', 'startingRaft'],
    ['publish', 'publishing'],
    ['serve', 'serving'],
  ])(
    'a failing %s leaves through failed, releases what started, logs the reason, exit 1',
    async (name, step) => {
      const { h } = harness({ fail: { [name]: `${name} broke: disk on fire` } });
      const { member, states } = start(h);
      const out = await member.done;
      expect(out).toEqual({
        status: 'failed',
        exitCode: 1,
        failure: { step, reason: `${name} broke: disk on fire` },
      });
      expect(states).toContain('"releasing"');
      expect(states.at(-1)).toBe('"failed"');
      expect(h.calls.at(-1)).toBe('stop');
      expect(h.calls.indexOf('serve') === -1 || name === 'serve').toBe(true);
      expect(h.logs).toContainEqual(
        expect.objectContaining({
          level: 'error',
          msg: 'member failed',
          step,
          reason: `${name} broke: disk on fire`,
        }),
      );
    },
  );

  it('a bad configuration fails in validatingConfig: one line per problem, nothing started or stopped', async () => {
    const { h } = harness();
    const bad = loadConfig({
      flags: { 'election-timeout': '50', 'log-level': 'loud' },
      env: {},
      readFile: () => '',
    });
    const { member } = start(h, bad);
    const out = await member.done;
    expect(out.status).toBe('failed');
    expect(out.exitCode).toBe(1);
    expect(out.failure?.step).toBe('validatingConfig');
    expect(h.calls).toEqual([]);
    expect(h.report).toEqual([
      "xetcd: --log-level: 'loud' is not valid; use one of debug, info, warn, error, panic, fatal",
    ]);
    // Said once: the problem lines are not repeated inside a JSON log line.
    expect(h.logs.filter((l) => l.level === 'error')).toEqual([]);
  });

  it('a signal during start-up stops what has started (stopping → stopped, exit 0)', async () => {
    const { h, release } = harness({ hold: 'startRaft' });
    const { member } = start(h);
    await until(() => member.actor.getSnapshot().matches('startingRaft'));
    member.stop('SIGINT');
    release();
    const out = await member.done;
    expect(out).toEqual({ status: 'stopped', exitCode: 0, stopReason: 'SIGINT' });
    expect(h.calls).toEqual(['openStorage', 'bootstrap(new)', 'checkIntegrity', 'startRaft', 'stop']);
  });

  it('a second signal while stopping does not stop twice', async () => {
    const { h, release } = harness({ hold: 'stop' });
    const { member } = start(h);
    await until(() => member.actor.getSnapshot().matches({ serving: 'ready' }));
    member.stop('SIGTERM');
    member.stop('SIGTERM');
    release();
    await member.done;
    expect(h.calls.filter((c) => c === 'stop')).toHaveLength(1);
  });

  it('a fatal error while serving fails the member', async () => {
    const { h } = harness();
    const { member } = start(h);
    await until(() => member.actor.getSnapshot().matches({ serving: 'ready' }));
    member.fatal('raft log fsync failed: EIO');
    const out = await member.done;
    expect(out).toEqual({
      status: 'failed',
      exitCode: 1,
      failure: { step: 'serving', reason: 'raft log fsync failed: EIO' },
    });
    expect(h.calls.at(-1)).toBe('stop');
  });

  it('a stop that fails is a failure (exit 1), not a clean stop', async () => {
    const { h } = harness({ fail: { stop: 'could not close the backend' } });
    const { member } = start(h);
    await until(() => member.actor.getSnapshot().matches({ serving: 'ready' }));
    member.stop('SIGTERM');
    const out = await member.done;
    expect(out).toMatchObject({
      status: 'failed',
      exitCode: 1,
      failure: { step: 'stopping', reason: 'could not close the backend' },
    });
  });
});
