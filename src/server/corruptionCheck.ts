/**
 * Members compare their key spaces (etcd's corrupt.go): every member that
 * has applied revision R must have the same HashKV at R when their compacted
 * revisions agree. Before serving, a member started with
 * --experimental-initial-corrupt-check refuses to serve when a peer disagrees;
 * the leader, every --experimental-corrupt-check-time, asks every member and
 * raises the CORRUPT alarm for one that disagrees, which stops writes
 * cluster-wide until an operator looks.
 */
import type { Logger } from 'pino';
import type { HashKVResponse } from '../proto/etcdserverpb.js';
import { PeerRequest, type PeerResponse } from '../proto/xetcdpb.js';
import type { KvStore } from '../mvcc/kvStore.js';
import type { Membership } from './membership.js';

export interface CorruptionCheckDeps {
  readonly kv: KvStore;
  readonly membership: Membership;
  readonly selfId: bigint;
  ask(to: bigint, request: PeerRequest): Promise<PeerResponse>;
  /** Raises the CORRUPT alarm for a member through Raft. */
  raiseCorrupt(memberId: bigint): Promise<void>;
  readonly logger: Logger;
}

/** How long the check before serving keeps asking a peer it cannot reach. */
const INITIAL_CHECK_PATIENCE_MS = 10_000;
const RETRY_MS = 250;

interface PeerHash {
  readonly id: bigint;
  readonly answer?: HashKVResponse;
  readonly why?: string;
}

export class CorruptionCheck {
  constructor(private readonly deps: CorruptionCheckDeps) {}

  /** Refuses (throws) when a peer holds a different key space at this member's revision. */
  async beforeServing(): Promise<void> {
    const { deps } = this;
    const mine = await deps.kv.hashKV();
    // Just started, the road to the peers may not be up yet: ask again for a while before giving a peer up.
    const peers = await this.peerHashes(mine.hashRevision, INITIAL_CHECK_PATIENCE_MS);
    for (const p of peers) {
      if (p.why)
        deps.logger.warn({ peer: p.id.toString(16), reason: p.why }, 'could not compare hashes with a peer');
    }
    const mismatched = peers.filter((p) => this.differs(p, mine));
    if (mismatched.length > 0) {
      throw new Error(
        `found data inconsistency with peers at revision ${mine.hashRevision}: ${mismatched.map((p) => `${p.id.toString(16)} has hash ${p.answer!.hash}`).join(', ')}, this member has ${mine.hash}; restore this member from a healthy one's snapshot`,
      );
    }
    deps.logger.info({ revision: mine.hashRevision, hash: mine.hash }, 'initial corruption check passed');
  }

  /** The leader's periodic pass: a member that disagrees gets the CORRUPT alarm. */
  async periodic(): Promise<void> {
    const { deps } = this;
    const mine = await deps.kv.hashKV();
    for (const p of await this.peerHashes(mine.hashRevision)) {
      if (!this.differs(p, mine)) continue;
      deps.logger.error(
        {
          peer: p.id.toString(16),
          revision: mine.hashRevision,
          'leader-hash': mine.hash,
          'peer-hash': p.answer!.hash,
        },
        'a member holds a different key space; raising the CORRUPT alarm',
      );
      await deps.raiseCorrupt(p.id);
    }
  }

  private differs(p: PeerHash, mine: { hash: number; compactRevision: number }): boolean {
    // Hashes compare only over the same history: a peer compacted elsewhere is skipped, as etcd does.
    return (
      p.answer !== undefined &&
      p.answer.compactRevision === mine.compactRevision &&
      p.answer.hash !== mine.hash
    );
  }

  private async peerHashes(revision: number, patienceMs = 0): Promise<PeerHash[]> {
    const peers = this.deps.membership.list().filter((m) => m.id !== this.deps.selfId);
    const deadline = performance.now() + patienceMs;
    return Promise.all(
      peers.map(async (m): Promise<PeerHash> => {
        for (;;) {
          let why: string;
          try {
            const answer = await this.deps.ask(m.id, PeerRequest.create({ hashKv: { revision } }));
            if (answer.hashKv) return { id: m.id, answer: answer.hashKv };
            // An answer without a hash (a compacted or future revision) is final.
            return { id: m.id, why: answer.error ?? 'no answer' };
          } catch (err) {
            why = err instanceof Error ? err.message : String(err);
          }
          if (performance.now() >= deadline) return { id: m.id, why };
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }),
    );
  }
}
