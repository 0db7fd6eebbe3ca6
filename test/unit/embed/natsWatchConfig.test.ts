// --nats-watch-subjects and --nats-watch-jetstream, from flags, XETCD_* and YAML.
import { describe, expect, it } from 'vitest';
import { loadConfig, type ConfigResult } from '../../../src/embed/config.js';

function load(
  flags: Record<string, string | boolean> = {},
  env: Record<string, string> = {},
  files: Record<string, string> = {},
): ConfigResult {
  return loadConfig({
    flags,
    env,
    readFile: (p) => {
      const f = files[p];
      if (f === undefined) throw new Error(`ENOENT: no such file '${p}'`);
      return f;
    },
  });
}

const NATS = { 'nats-servers': 'nats://127.0.0.1:4222' };

describe('the NATS watch flags', () => {
  it('are off by default', () => {
    const r = load(NATS);
    expect(r.ok && r.config.natsWatch).toBeUndefined();
  });

  it('turn on from a flag, the environment or the config file', () => {
    for (const r of [
      load({ ...NATS, 'nats-watch-subjects': true }),
      load(NATS, { XETCD_NATS_WATCH_SUBJECTS: 'true' }),
      load({ ...NATS, 'config-file': 'c.yml' }, {}, { 'c.yml': 'nats-watch-subjects: true\n' }),
    ]) {
      expect(r.ok && r.config.natsWatch).toEqual({});
    }
  });

  it('name a JetStream stream, which implies publishing', () => {
    const r = load(NATS, { XETCD_NATS_WATCH_JETSTREAM: 'XETCD_KV' });
    expect(r.ok && r.config.natsWatch).toEqual({ jetStream: 'XETCD_KV' });
  });

  it('refuse a stream name JetStream would not take, and publishing without NATS', () => {
    const bad = load({ ...NATS, 'nats-watch-jetstream': 'a.b' });
    expect(!bad.ok && bad.problems.join('\n')).toMatch(
      /nats-watch-jetstream.*'a\.b' is not a JetStream stream name/,
    );
    const noNats = load({ 'nats-watch-subjects': true });
    expect(!noNats.ok && noNats.problems.join('\n')).toMatch(/nats-watch-subjects.*needs --nats-servers/);
  });
});
