// A chart's state changes, each with the event that caused it, read from the
// actor's own inspection stream: a snapshot subscription alone cannot say
// which event moved the chart. For the low-traffic charts only (the member
// lifecycle, the server parts); the Raft role reports its changes itself.
import { Subject, type Observable } from 'rxjs';
import type { AnyEventObject, InspectionEvent, Observer, StateValue } from 'xstate';

export interface ChartChange {
  readonly from: StateValue;
  readonly to: StateValue;
  /** The event that caused it, in words ('openStorage done', 'LEADER_ELECTED'). */
  readonly event: string;
  /** Milliseconds since the epoch. */
  readonly at: number;
  /** The Raft term right after the change, where the chart knows it. */
  readonly term?: number;
}

/** How many changes a history keeps for a reader that arrives late. */
const KEEP_CHANGES = 50;

/** An invoked actor's name: its id, or for an unnamed one (XState numbers them after the state) the state. */
const actorName = (id: string): string => (/^\d+\./.test(id) ? (id.split('.').pop() ?? id) : id);

/** XState's internal event names, as a person reads them. */
export function eventName(event: AnyEventObject): string {
  const done = /^xstate\.done\.actor\.(.+)$/.exec(event.type);
  if (done !== null) return `${actorName(done[1]!)} done`;
  const failed = /^xstate\.error\.actor\.(.+)$/.exec(event.type);
  if (failed !== null) return `${actorName(failed[1]!)} failed`;
  const after = /^xstate\.after\.(\d+)\./.exec(event.type);
  if (after !== null) return `after ${after[1]} ms`;
  return event.type;
}

export class ChartHistory {
  private readonly changes = new Subject<ChartChange>();
  /** Every change of the chart's state from now on. */
  readonly changes$: Observable<ChartChange> = this.changes;
  private readonly kept: ChartChange[] = [];
  private current: StateValue | undefined;
  private currentKey = '';

  /** `forward` receives every inspection event too (--inspect). */
  constructor(
    private readonly forward?: Observer<InspectionEvent>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The chart's state as of its last snapshot (undefined before it started). */
  get value(): StateValue | undefined {
    return this.current;
  }

  /** The most recent changes, oldest first. */
  recent(): readonly ChartChange[] {
    return [...this.kept];
  }

  /** Records a change the chart reported itself (the Raft role's). */
  record(change: ChartChange): void {
    this.current = change.to;
    this.currentKey = JSON.stringify(change.to);
    this.kept.push(change);
    if (this.kept.length > KEEP_CHANGES) this.kept.shift();
    this.changes.next(change);
  }

  /** Give this to createActor as `inspect`. */
  readonly inspect = (ev: InspectionEvent): void => {
    this.forward?.next?.(ev);
    // Only the chart itself: its invoked promise actors have snapshots of their own.
    if (ev.type !== '@xstate.snapshot' || ev.actorRef.sessionId !== ev.rootId) return;
    const to = (ev.snapshot as { value?: StateValue }).value;
    if (to === undefined) return;
    const key = JSON.stringify(to);
    if (key === this.currentKey) return;
    const from = this.current;
    if (from === undefined) {
      this.current = to;
      this.currentKey = key;
    } else this.record({ from, to, event: eventName(ev.event), at: this.now() });
  };

  stop(): void {
    this.changes.complete();
  }
}
