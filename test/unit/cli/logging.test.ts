// Log lines shaped like etcd's zap JSON: level as a word, ts, msg, etcd field names.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/logging.js';

function capture(level: Parameters<typeof createLogger>[0] = {}) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger({ ...level, destination });
  return { logger, lines };
}

describe('logging', () => {
  it("writes etcd-shaped JSON: {level, ts, msg} and the caller's etcd field names", () => {
    const { logger, lines } = capture({ pretty: false });
    logger.info(
      { 'local-member-id': '8e9e05c52164694d', 'cluster-id': 'cdf818194e3a8c32' },
      'starting local member',
    );
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(line).slice(0, 2)).toEqual(['level', 'ts']);
    expect(line).toMatchObject({
      level: 'info',
      msg: 'starting local member',
      'local-member-id': '8e9e05c52164694d',
      'cluster-id': 'cdf818194e3a8c32',
    });
    expect(line['ts']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(line).not.toHaveProperty('pid');
    expect(line).not.toHaveProperty('hostname');
  });

  it('--log-level filters; panic is the most severe level (fatal)', () => {
    const warn = capture({ level: 'warn', pretty: false });
    warn.logger.info('hidden');
    warn.logger.warn('shown');
    expect(warn.lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['shown']);
    const panic = capture({ level: 'panic', pretty: false });
    panic.logger.error('hidden');
    panic.logger.fatal('shown');
    expect(panic.lines).toHaveLength(1);
    expect(JSON.parse(panic.lines[0]!)).toMatchObject({ level: 'fatal' });
  });

  it('renders for people when pretty (a terminal)', () => {
    const { logger, lines } = capture({ pretty: true });
    logger.info({ name: 'default' }, 'member is serving');
    const text = lines.join('');
    expect(text).toContain('INFO');
    expect(text).toContain('member is serving');
    expect(() => JSON.parse(text)).toThrow();
  });
});
