/**
 * The panels' numbers from a member's samples: counters are running totals,
 * so a panel draws their rate between consecutive samples, and a latency
 * histogram's mean over an interval is the growth of its sum over the growth
 * of its count.
 */
import type { HistogramTotals, MetricsSample } from '../../src/api/dashboard/protocol.js';

export interface Point {
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly value: number;
}

export type Series = readonly Point[];

/** A gauge as it is. */
export function gauge(samples: readonly MetricsSample[], pick: (s: MetricsSample) => number): Series {
  return samples.map((s) => ({ at: s.at, value: pick(s) }));
}

/**
 * Per-second rate of a running total. A total that went down means the
 * member restarted: that interval has no rate (the new total counts from 0).
 */
export function rate(samples: readonly MetricsSample[], pick: (s: MetricsSample) => number): Series {
  const out: Point[] = [];
  for (let i = 1; i < samples.length; i++) {
    const prev = samples[i - 1]!;
    const cur = samples[i]!;
    const seconds = (cur.at - prev.at) / 1000;
    const delta = pick(cur) - pick(prev);
    if (seconds <= 0 || delta < 0) continue;
    out.push({ at: cur.at, value: delta / seconds });
  }
  return out;
}

/**
 * Mean of a histogram's observations in each interval, in the histogram's
 * unit. An interval with no observation has no mean (a gap, not a zero).
 */
export function intervalMean(
  samples: readonly MetricsSample[],
  pick: (s: MetricsSample) => HistogramTotals,
): Series {
  const out: Point[] = [];
  for (let i = 1; i < samples.length; i++) {
    const prev = pick(samples[i - 1]!);
    const cur = pick(samples[i]!);
    const count = cur.count - prev.count;
    const sum = cur.sum - prev.sum;
    if (count <= 0 || sum < 0) continue;
    out.push({ at: samples[i]!.at, value: sum / count });
  }
  return out;
}

/** Mean over the whole window: all observations between its first and last sample. */
export function windowMean(
  samples: readonly MetricsSample[],
  pick: (s: MetricsSample) => HistogramTotals,
): number | undefined {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first === undefined || last === undefined) return undefined;
  const count = pick(last).count - pick(first).count;
  const sum = pick(last).sum - pick(first).sum;
  return count > 0 && sum >= 0 ? sum / count : undefined;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 → '1.5 KiB' */
export function formatBytes(n: number): string {
  let v = n;
  let unit = 0;
  while (Math.abs(v) >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  // Whole bytes print as they are; a fraction (a rate, half an axis) keeps one decimal.
  const digits = unit === 0 ? (Number.isInteger(v) ? 0 : 1) : v < 10 ? 1 : 0;
  return `${v.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** A number short enough for an axis: 0.0042 → '4.2m', 12500 → '12.5k'. */
export function formatShort(n: number): string {
  const a = Math.abs(n);
  if (a === 0) return '0';
  if (a >= 1e9) return `${+(n / 1e9).toFixed(1)}G`;
  if (a >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  if (a >= 1) return `${+n.toFixed(1)}`;
  if (a >= 1e-3) return `${+(n * 1e3).toFixed(1)}m`;
  return `${+(n * 1e6).toFixed(1)}µ`;
}

/** The smallest 1, 2 or 5 times a power of ten at or above `max` (an axis's top). */
export function niceCeil(max: number): number {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}
