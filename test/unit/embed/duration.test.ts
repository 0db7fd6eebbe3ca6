import { describe, expect, it } from 'vitest';
import { formatDuration, parseGoDuration } from '../../../src/embed/duration.js';

describe('Go durations (--auto-compaction-retention)', () => {
  it.each([
    ['1h', 3_600_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['300ms', 300],
    ['2s', 2000],
    ['0', 0],
    ['1500us', 1.5],
  ])('%s = %d ms', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', '5', 'h', '1x', '-1h', '1h ', 'abc'])('refuses %j', (text) => {
    expect(parseGoDuration(text)).toBeUndefined();
  });

  it('formats for messages', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(1500)).toBe('1s500ms');
  });
});
