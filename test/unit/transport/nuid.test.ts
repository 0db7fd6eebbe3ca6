// @nats-io/nuid 3.0.0 declares node >= 22 (npm warns on Node 20); the NATS
// client needs exactly that version. What it uses at run time is in Node 20:
// this runs it on the Node the suite runs on (see the README).
import { nuid } from '@nats-io/nuid';
import { describe, expect, it } from 'vitest';

describe('@nats-io/nuid on this Node', () => {
  it('makes distinct 22-character base-62 ids with a random prefix', () => {
    const ids = Array.from({ length: 10_000 }, () => nuid.next());
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^[0-9A-Za-z]{22}$/);
  });
});
