// The peer seal (--peer-key-file): what a receiver accepts and what it refuses, and why.
import { describe, expect, it } from 'vitest';
import { PeerEnvelope, PeerSeal } from '../../../src/proto/xetcdpb.js';
import { PeerSeals, peerKeyFrom, type OpenResult, type PeerKey } from '../../../src/transport/peerSeal.js';
import { ReplayGuard } from '../../../src/transport/replayGuard.js';

const CLUSTER = 0xc1n;
const A = 0xan;
const B = 0xbn;
const key = (text: string): PeerKey => {
  const k = peerKeyFrom(Buffer.from(`${text}\n`));
  if (typeof k === 'string') throw new Error(k);
  return k;
};
const SHARED = key('a shared secret of the cluster');
const payload = Buffer.from('a raft frame');
/** An open() result, accepted, with its payload as text (the payload is a view into the envelope). */
const view = (r: OpenResult): unknown => {
  if ('rejected' in r) return r;
  const { accept, ...rest } = r;
  return accept() ? { ...rest, payload: Buffer.from(r.payload).toString() } : { rejected: 'replay' };
};
const TEXT = 'a raft frame';

function pair(opts: { senderKey?: PeerKey; receiverKey?: PeerKey; clock?: () => number } = {}) {
  const now = opts.clock ?? (() => 1_000_000);
  const a = new PeerSeals({
    clusterId: CLUSTER,
    self: A,
    now,
    ...(opts.senderKey ? { key: opts.senderKey } : {}),
  });
  const b = new PeerSeals({
    clusterId: CLUSTER,
    self: B,
    now,
    ...(opts.receiverKey ? { key: opts.receiverKey } : {}),
  });
  return { a, b };
}

describe('peer seals', () => {
  it('a sealed message opens for its recipient, once; the sender and cluster come with it', () => {
    const { a, b } = pair({ senderKey: SHARED, receiverKey: SHARED });
    const sealed = a.seal('frame', B, payload);
    expect(view(b.open('frame', sealed))).toEqual({ payload: TEXT, sender: A, clusterId: CLUSTER });
    expect(view(b.open('frame', sealed))).toEqual({ rejected: 'replay' });
    expect(b.open('request', a.seal('frame', B, payload))).toEqual({ rejected: 'bad-mac' });
  });

  it('refuses what is unsealed, sealed with another key, altered, or meant for another member or cluster', () => {
    const { a, b } = pair({ senderKey: SHARED, receiverKey: SHARED });
    expect(b.open('frame', PeerEnvelope.encode({ payload }))).toEqual({ rejected: 'missing-mac' });
    const other = pair({ senderKey: key('another secret, another cluster'), receiverKey: SHARED });
    expect(other.b.open('frame', other.a.seal('frame', B, payload))).toEqual({ rejected: 'bad-mac' });
    const env = PeerEnvelope.decode(a.seal('frame', B, payload));
    expect(b.open('frame', PeerEnvelope.encode({ ...env, payload: Buffer.from('a raft frame!') }))).toEqual({
      rejected: 'bad-mac',
    });
    // The seal's fields are under the MAC: claiming another sender breaks it.
    const forged = PeerSeal.create({ ...env.seal!, from: 0xfn });
    expect(b.open('frame', PeerEnvelope.encode({ payload, seal: forged }))).toEqual({ rejected: 'bad-mac' });
    expect(b.open('frame', a.seal('frame', 0xcn, payload))).toEqual({ rejected: 'not-addressed-here' });
    expect(b.open('frame', a.seal('frame', B, payload, 0xc2n))).toEqual({ rejected: 'other-cluster' });
    expect(b.open('frame', Buffer.from([0xff, 0x01]))).toEqual({ rejected: 'undecodable' });
  });

  it('a joining member may ask any member of any cluster; the answer comes back sealed for it', () => {
    const joining = new PeerSeals({ key: SHARED, clusterId: 0n, self: 0n });
    const member = new PeerSeals({ key: SHARED, clusterId: CLUSTER, self: B });
    const asked = member.open('request', joining.seal('request', 0n, payload));
    expect(view(asked)).toEqual({ payload: TEXT, sender: 0n, clusterId: 0n });
    expect(view(joining.open('response', member.seal('response', 0n, payload, 0n)))).toMatchObject({
      sender: B,
    });
    // Only questions may come from outside the cluster.
    expect(member.open('frame', joining.seal('frame', B, payload))).toEqual({ rejected: 'other-cluster' });
  });

  it('a message refused for what it says is not remembered against its sender', () => {
    const { a, b } = pair({ senderKey: SHARED, receiverKey: SHARED });
    const first = a.seal('frame', B, payload);
    // Opened, then refused by the transport (say, its frame names another sender): never accepted.
    b.open('frame', first);
    expect(view(b.open('frame', first))).toMatchObject({ sender: A });
  });

  it('refuses messages sent long ago (or from a clock far off)', () => {
    let t = 0;
    const { a, b } = pair({ senderKey: SHARED, receiverKey: SHARED, clock: () => t });
    const sealed = a.seal('frame', B, payload);
    t = 61_000;
    expect(b.open('frame', sealed)).toEqual({ rejected: 'stale' });
  });

  it('without a key: envelopes are plain, and a sealed one means the keys differ', () => {
    const plain = pair();
    expect(view(plain.b.open('frame', plain.a.seal('frame', B, payload)))).toEqual({ payload: TEXT });
    const mixed = pair({ senderKey: SHARED });
    expect(mixed.b.open('frame', mixed.a.seal('frame', B, payload))).toEqual({ rejected: 'unexpected-mac' });
  });

  it('a key needs 16 bytes or more', () => {
    expect(peerKeyFrom(Buffer.from('short\n'))).toMatch(/at least 16/);
  });
});

describe('replay guard', () => {
  it('accepts each number once per epoch, late ones within the window, no older epoch', () => {
    const g = new ReplayGuard();
    expect(g.accept(A, 10, 5)).toBe(true);
    expect(g.accept(A, 10, 3)).toBe(true); // late, not seen
    expect(g.accept(A, 10, 3)).toBe(false);
    expect(g.accept(A, 10, 5)).toBe(false);
    expect(g.accept(A, 10, 10_000)).toBe(true);
    expect(g.accept(A, 10, 6)).toBe(false); // fell out of the window
    expect(g.accept(A, 11, 1)).toBe(true); // the sender restarted
    expect(g.accept(A, 10, 10_001)).toBe(false); // its old epoch is over
    expect(g.accept(B, 10, 1)).toBe(true); // each sender on its own
  });
});
