import { describe, expect, it } from 'vitest';
import type { MetricsSample } from '../../../src/api/dashboard/protocol.js';
import {
  formatBytes,
  formatShort,
  gauge,
  intervalMean,
  niceCeil,
  rate,
  windowMean,
} from '../../../web/dashboard/series.js';
import { fakeSamples } from '../../helpers/dashboardScenario.js';

const at = (samples: MetricsSample[], i: number, patch: Partial<MetricsSample>): MetricsSample[] =>
  samples.map((s, j) => (j === i ? { ...s, ...patch } : s));

describe('rates from running totals', () => {
  it('is the growth per second between samples', () => {
    const samples = fakeSamples(4, 10_000, 0); // 20 proposals a second
    expect(rate(samples, (s) => s.proposalsCommitted).map((p) => p.value)).toEqual([20, 20, 20]);
    expect(rate(samples, (s) => s.proposalsCommitted)[0]?.at).toBe(samples[1]?.at);
  });

  it('uses the real interval between samples', () => {
    const samples = at(fakeSamples(2, 10_000, 0), 1, { at: 8_000 + 500 });
    // 20 more in half a second is 40 a second... from the first sample at 9000 it is -0.5 s: no rate.
    expect(rate(samples, (s) => s.proposalsCommitted)).toEqual([]);
    const spaced = at(fakeSamples(2, 10_000, 0), 1, { at: 11_000 });
    expect(rate(spaced, (s) => s.proposalsCommitted)[0]?.value).toBe(10);
  });

  it('skips the interval in which a member restarted (its totals start over)', () => {
    const samples = at(fakeSamples(3, 10_000, 0), 2, { proposalsCommitted: 5 });
    expect(rate(samples, (s) => s.proposalsCommitted).map((p) => p.value)).toEqual([20]);
  });
});

describe('latency means from histogram totals', () => {
  it('is the growth of the sum over the growth of the count', () => {
    const samples = fakeSamples(3, 10_000, 0); // +0.004 s over +2 fsyncs a second
    const means = intervalMean(samples, (s) => s.walFsync).map((p) => p.value);
    expect(means).toHaveLength(2);
    for (const m of means) expect(m).toBeCloseTo(0.002, 9);
    expect(windowMean(samples, (s) => s.walFsync)).toBeCloseTo(0.002, 9);
  });

  it('has a gap, not a zero, where nothing was observed', () => {
    const samples = at(fakeSamples(3, 10_000, 0), 2, { backendCommit: { sum: 0.004, count: 2 } });
    expect(intervalMean(samples, (s) => s.backendCommit).map((p) => p.at)).toEqual([samples[1]?.at]);
    expect(windowMean(samples.slice(0, 1), (s) => s.backendCommit)).toBeUndefined();
    expect(windowMean([], (s) => s.backendCommit)).toBeUndefined();
  });

  it('draws gauges as they are', () => {
    expect(gauge(fakeSamples(2, 10_000, 1), (s) => s.watchStreams).map((p) => p.value)).toEqual([3, 3]);
  });
});

describe('formatting', () => {
  it('writes bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(0.5)).toBe('0.5 B');
    expect(formatBytes(386)).toBe('386 B');
    expect(formatBytes(2 * 1024 ** 3)).toBe('2.0 GiB');
    expect(formatBytes(300 * 1024 ** 2)).toBe('300 MiB');
  });

  it('writes short numbers with SI prefixes', () => {
    expect(formatShort(0)).toBe('0');
    expect(formatShort(0.0042)).toBe('4.2m');
    expect(formatShort(12_500)).toBe('12.5k');
    expect(formatShort(3)).toBe('3');
    expect(formatShort(0.0000025)).toBe('2.5µ');
  });

  it('rounds an axis up to 1, 2 or 5 times a power of ten', () => {
    expect(niceCeil(0)).toBe(1);
    expect(niceCeil(7)).toBe(10);
    expect(niceCeil(0.0031)).toBeCloseTo(0.005, 12);
    expect(niceCeil(120)).toBe(200);
    expect(niceCeil(2000)).toBe(2000);
  });
});
