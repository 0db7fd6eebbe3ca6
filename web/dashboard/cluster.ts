/**
 * The cluster as the page knows it, folded from /dashboard/events: the
 * membership, each member's reachability, its last status, its recent
 * transitions and metrics. `applyEvent` says what changed so the page redraws
 * only that.
 */
import type {
  ClusterEvent,
  ClusterMember,
  MemberStatus,
  MetricsSample,
  Transition,
} from '../../src/api/dashboard/protocol.js';
import { stateName } from './chartModel.js';

/** Transitions kept per member (the page lists the newest). */
export const MAX_TRANSITIONS = 50;
/** Samples kept per member: five minutes of one a second. */
export const MAX_SAMPLES = 300;

export interface MemberView {
  readonly id: string;
  name: string;
  clientUrls: readonly string[];
  /** Still in the membership the serving member lists. */
  listed: boolean;
  /** Undefined until the serving member has said. */
  reachable: boolean | undefined;
  reason: string | undefined;
  status: MemberStatus | undefined;
  /** Newest first. */
  transitions: Transition[];
  /** Oldest first. */
  metrics: MetricsSample[];
}

export interface ClusterState {
  self: string | undefined;
  readonly members: Map<string, MemberView>;
}

export type Change =
  | { readonly kind: 'members' }
  | { readonly kind: 'status'; readonly id: string }
  | { readonly kind: 'transitions'; readonly id: string }
  | { readonly kind: 'metrics'; readonly id: string };

export const emptyCluster = (): ClusterState => ({ self: undefined, members: new Map() });

function memberView(id: string): MemberView {
  return {
    id,
    name: '',
    clientUrls: [],
    listed: false,
    reachable: undefined,
    reason: undefined,
    status: undefined,
    transitions: [],
    metrics: [],
  };
}

function ensure(state: ClusterState, id: string): MemberView {
  let m = state.members.get(id);
  if (m === undefined) {
    m = memberView(id);
    state.members.set(id, m);
  }
  return m;
}

function listMembers(state: ClusterState, self: string, members: readonly ClusterMember[]): void {
  state.self = self;
  const listed = new Set(members.map((m) => m.id));
  for (const m of members) {
    const view = ensure(state, m.id);
    view.name = m.name;
    view.clientUrls = m.clientUrls;
    view.listed = true;
  }
  // A removed member goes; one the list has not caught up with yet stays if it has spoken.
  for (const [id, view] of state.members) {
    if (listed.has(id)) continue;
    if (view.status === undefined) state.members.delete(id);
    else view.listed = false;
  }
}

const keepLast = <T>(list: T[], max: number): T[] =>
  list.length > max ? list.slice(list.length - max) : list;

/** Folds one event into the state; returns what the page must redraw. */
export function applyEvent(state: ClusterState, event: ClusterEvent): Change[] {
  switch (event.type) {
    case 'members':
      listMembers(state, event.self, event.members);
      return [{ kind: 'members' }];
    case 'reachability': {
      const view = ensure(state, event.id);
      view.reachable = event.reachable;
      view.reason = event.reachable ? undefined : (event.reason ?? 'unreachable');
      return [{ kind: 'status', id: event.id }];
    }
    case 'member': {
      const view = ensure(state, event.id);
      const feed = event.event;
      switch (feed.type) {
        case 'hello':
          view.status = feed.status;
          if (view.name === '') view.name = feed.status.name;
          view.transitions = [...feed.transitions].reverse().slice(0, MAX_TRANSITIONS);
          view.metrics = keepLast([...feed.metrics], MAX_SAMPLES);
          return [
            { kind: 'status', id: event.id },
            { kind: 'transitions', id: event.id },
            { kind: 'metrics', id: event.id },
          ];
        case 'status':
          view.status = feed.status;
          if (view.name === '') view.name = feed.status.name;
          return [{ kind: 'status', id: event.id }];
        case 'transition':
          view.transitions = [feed.transition, ...view.transitions].slice(0, MAX_TRANSITIONS);
          return [{ kind: 'transitions', id: event.id }];
        case 'metrics':
          view.metrics = keepLast([...view.metrics, feed.sample], MAX_SAMPLES);
          return [{ kind: 'metrics', id: event.id }];
      }
    }
  }
}

/** Members in a stable order: by name, then ID. */
export function orderedMembers(state: ClusterState): MemberView[] {
  return [...state.members.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

/** "follower → preCandidate on election timeout, term 7" */
export function transitionText(t: Transition): string {
  return `${stateName(t.from)} → ${stateName(t.to)} on ${t.event}, term ${t.term}`;
}
