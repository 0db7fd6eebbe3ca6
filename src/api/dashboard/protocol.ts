// What the dashboard's push streams carry, shared by the member that serves
// them and the page that draws them (bundled into the page, so type-only:
// nothing here may need Node).
//
// Two server-sent event streams:
// - GET /dashboard/feed: one member's own facts (MemberFeedEvent).
// - GET /dashboard/events: the whole cluster as the serving member sees it
//   (ClusterEvent): its own feed and every other member's feed, relayed by
//   the serving member so the page talks to its own origin only.
// The SSE `event:` field is the `type` of each object; `data:` is its JSON.

/** The Raft role chart's states that are roles (machines/raftRole.ts). */
export type RaftRoleName = 'follower' | 'preCandidate' | 'candidate' | 'leader' | 'learner';

/** The charts whose states the dashboard draws, by the names `xetcd machines export` uses. */
export type ChartName = 'raft' | 'memberLifecycle' | 'serverParts';

/** An XState state value as JSON: a leaf name, or nested/parallel regions. */
export type StateValueJson = string | { readonly [region: string]: StateValueJson };

/** One member's `etcdctl endpoint status` facts, plus the states of its charts. */
export interface MemberStatus {
  /** Member ID in hex, as etcdctl prints it. */
  readonly id: string;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly role: RaftRoleName;
  /** The current state of each chart this member runs. */
  readonly states: Readonly<Partial<Record<ChartName, StateValueJson>>>;
  readonly term: number;
  /** The leader's ID in hex; '0' while there is none. */
  readonly leader: string;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly revision: number;
  readonly compactRevision: number;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  /** --quota-backend-bytes in effect (0: etcd's default of 2 GiB applies). */
  readonly quotaBytes: number;
  readonly isLearner: boolean;
  /** etcd's version string that Status answers with. */
  readonly version: string;
  /** Status's errors: 'etcdserver: no leader' and raised alarms. */
  readonly errors: readonly string[];
}

/** A state change of one of a member's charts, and the event that caused it. */
export interface Transition {
  readonly chart: ChartName;
  readonly from: StateValueJson;
  readonly to: StateValueJson;
  /** The event's name, as readable as the chart makes it (e.g. 'election timeout', 'MsgVote from 2'). */
  readonly event: string;
  /** The Raft term right after the change. */
  readonly term: number;
  /** Milliseconds since the epoch, on the member's clock. */
  readonly at: number;
}

/** A latency histogram's running totals, so the page can draw a rate over any window. */
export interface HistogramTotals {
  readonly sum: number;
  readonly count: number;
}

/**
 * One second of a member's own metrics: the panels of etcd's Grafana
 * dashboard. Counters are running totals (the page draws their rates).
 */
export interface MetricsSample {
  readonly at: number;
  readonly proposalsCommitted: number;
  readonly proposalsApplied: number;
  readonly proposalsPending: number;
  readonly proposalsFailed: number;
  readonly leaderChanges: number;
  readonly walFsync: HistogramTotals;
  readonly backendCommit: HistogramTotals;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  readonly quotaBytes: number;
  readonly clientBytesReceived: number;
  readonly clientBytesSent: number;
  readonly peerBytesReceived: number;
  readonly peerBytesSent: number;
  readonly watchStreams: number;
  readonly watchers: number;
}

/** What a member's own feed sends: everything it has on connect, then changes. */
export type MemberFeedEvent =
  | {
      readonly type: 'hello';
      readonly status: MemberStatus;
      /** The most recent transitions, oldest first. */
      readonly transitions: readonly Transition[];
      /** The most recent samples, oldest first. */
      readonly metrics: readonly MetricsSample[];
    }
  | { readonly type: 'status'; readonly status: MemberStatus }
  | { readonly type: 'transition'; readonly transition: Transition }
  | { readonly type: 'metrics'; readonly sample: MetricsSample };

/** A member of the cluster as the serving member's membership lists it. */
export interface ClusterMember {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

/** What /dashboard/events sends: the membership, each member's reachability, and each member's feed. */
export type ClusterEvent =
  | {
      readonly type: 'members';
      /** The ID of the member serving this page. */
      readonly self: string;
      readonly members: readonly ClusterMember[];
    }
  | {
      readonly type: 'reachability';
      readonly id: string;
      readonly reachable: boolean;
      /** Why not, when unreachable (e.g. 'connect ECONNREFUSED 127.0.0.1:2379', 'no news for 1.5 s'). */
      readonly reason?: string;
    }
  | { readonly type: 'member'; readonly id: string; readonly event: MemberFeedEvent };

/** GET /dashboard/machines.json: each chart's definition as `xetcd machines export --format json` writes it. */
export type ChartDefinitions = Readonly<Record<ChartName, unknown>>;

/** How often a member's feed speaks even when nothing changed, so silence means trouble. */
export const FEED_HEARTBEAT_MS = 500;
/** Silence after which the serving member calls another member unreachable. */
export const FEED_SILENCE_MS = 1500;
