// Made-up members for the dashboard fake: statuses, transitions and a run of metrics
// samples, shaped as the member feed sends them.
import type {
  MemberStatus,
  MetricsSample,
  RaftRoleName,
  StateValueJson,
  Transition,
} from '../../src/api/dashboard/protocol.js';

export const FAKE_MEMBERS = [
  { id: '8e9e05c52164694d', name: 'infra1', port: 2379 },
  { id: '91bc3c398fb3c146', name: 'infra2', port: 22379 },
  { id: 'fd422379fda50e48', name: 'infra3', port: 32379 },
] as const;

const RAFT_STATE: Readonly<Record<RaftRoleName, StateValueJson>> = {
  follower: { following: 'follower' },
  learner: { following: 'learner' },
  preCandidate: { campaigning: 'preCandidate' },
  candidate: { campaigning: 'candidate' },
  leader: 'leader',
};

export function fakeStatus(index: number, role: RaftRoleName, term: number, leader: string): MemberStatus {
  const m = FAKE_MEMBERS[index]!;
  return {
    id: m.id,
    name: m.name,
    clientUrls: [`http://127.0.0.1:${m.port}`],
    role,
    states: {
      raft: RAFT_STATE[role],
      memberLifecycle: { serving: 'ready' },
      serverParts: { running: { leadership: role === 'leader' ? 'leader' : 'follower' } },
    },
    term,
    leader,
    commitIndex: 120 + term,
    appliedIndex: 120 + term,
    revision: 42,
    compactRevision: 0,
    dbSize: 2 * 1024 * 1024,
    dbSizeInUse: 1536 * 1024,
    quotaBytes: 0,
    isLearner: role === 'learner',
    version: '3.4.0',
    errors: [],
  };
}

export function fakeTransition(
  from: RaftRoleName,
  to: RaftRoleName,
  event: string,
  term: number,
  at: number,
): Transition {
  return { chart: 'raft', from: RAFT_STATE[from], to: RAFT_STATE[to], event, term, at };
}

/** `count` samples a second apart ending at `end`, with steady rates. */
export function fakeSamples(count: number, end: number, seed: number): MetricsSample[] {
  return Array.from({ length: count }, (_, i) => {
    const t = i + 1;
    return {
      at: end - (count - 1 - i) * 1000,
      proposalsCommitted: t * (20 + seed),
      proposalsApplied: t * (20 + seed),
      proposalsPending: (t + seed) % 3,
      proposalsFailed: Math.floor(t / 50),
      leaderChanges: 1,
      walFsync: { sum: t * 0.004 * (1 + seed / 10), count: t * 2 },
      backendCommit: { sum: t * 0.002, count: t },
      dbSize: 2 * 1024 * 1024 + t * 1024,
      dbSizeInUse: 1536 * 1024 + t * 512,
      quotaBytes: 0,
      clientBytesReceived: t * 4096,
      clientBytesSent: t * 8192,
      peerBytesReceived: t * 2048 * (seed + 1),
      peerBytesSent: t * 1024 * (seed + 1),
      watchStreams: 2 + seed,
      watchers: 5 + seed,
    };
  });
}
