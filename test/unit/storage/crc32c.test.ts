// CRC-32C as etcd computes it (Castagnoli): the published check values, and the
// table-driven code against a bit-at-a-time reference for every length around
// its eight-byte steps, also when continued across pieces.
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../../src/storage/backend/crc32c.js';

function bitwise(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of data) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

describe('crc32c', () => {
  it('gives the check values of RFC 3720 (iSCSI) and the catalogue', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32, 0))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('matches a bit-at-a-time reference for every length up to 40, whole and in two pieces', () => {
    const data = Uint8Array.from({ length: 40 }, (_, i) => (i * 37 + 11) & 0xff);
    for (let n = 0; n <= data.length; n++) {
      const whole = data.subarray(0, n);
      expect(crc32c(whole)).toBe(bitwise(whole));
      for (let cut = 0; cut <= n; cut++) {
        expect(crc32c(whole.subarray(cut), crc32c(whole.subarray(0, cut)))).toBe(bitwise(whole));
      }
    }
  });
});
