// Reads a member's /dashboard/events as the page does and keeps the picture
// it draws: who is in the cluster, who answers, each member's last status and
// transitions, so a test can wait for what a person would see.
import http from 'node:http';
import type { Subscription } from 'rxjs';
import type {
  ClusterEvent,
  ClusterMember,
  MemberStatus,
  Transition,
} from '../../src/api/dashboard/protocol.js';
import { readEvents } from '../../src/api/dashboard/sse.js';

export interface MemberView {
  reachable: boolean;
  reason?: string;
  status?: MemberStatus;
  transitions: Transition[];
  samples: number;
}

export class DashboardStream {
  members: readonly ClusterMember[] = [];
  self = '';
  readonly views = new Map<string, MemberView>();
  /** Every event as it arrived, with its arrival time. */
  readonly log: { at: number; event: ClusterEvent }[] = [];
  private readonly request: http.ClientRequest;
  private subscription: Subscription | undefined;

  constructor(endpoint: string) {
    this.request = http.get(`${endpoint}/dashboard/events`, (res) => {
      this.subscription = readEvents(res).subscribe((m) => this.take(JSON.parse(m.data) as ClusterEvent));
    });
    this.request.on('error', () => undefined);
  }

  private view(id: string): MemberView {
    let v = this.views.get(id);
    if (v === undefined) {
      v = { reachable: false, transitions: [], samples: 0 };
      this.views.set(id, v);
    }
    return v;
  }

  private take(event: ClusterEvent): void {
    this.log.push({ at: Date.now(), event });
    switch (event.type) {
      case 'members':
        this.members = event.members;
        this.self = event.self;
        return;
      case 'reachability': {
        const v = this.view(event.id);
        v.reachable = event.reachable;
        if (event.reason !== undefined) v.reason = event.reason;
        else delete v.reason;
        return;
      }
      case 'member': {
        const v = this.view(event.id);
        const e = event.event;
        if (e.type === 'hello') {
          v.status = e.status;
          v.transitions = [...e.transitions];
          v.samples += e.metrics.length;
        } else if (e.type === 'status') v.status = e.status;
        else if (e.type === 'transition') v.transitions.push(e.transition);
        else v.samples++;
        return;
      }
    }
  }

  /** The IDs the stream shows as leader, among reachable members. */
  leaders(): string[] {
    return [...this.views.entries()]
      .filter(([, v]) => v.reachable && v.status?.role === 'leader')
      .map(([id]) => id);
  }

  async until(what: string, cond: () => boolean, timeoutMs = 15_000): Promise<number> {
    const start = Date.now();
    while (!cond()) {
      if (Date.now() - start > timeoutMs)
        throw new Error(`dashboard stream: ${what} not seen in ${timeoutMs} ms; views: ${this.describe()}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return Date.now() - start;
  }

  describe(): string {
    return JSON.stringify(
      [...this.views].map(([id, v]) => ({
        id,
        reachable: v.reachable,
        reason: v.reason,
        role: v.status?.role,
      })),
    );
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.request.destroy();
  }
}
