import { AlarmType, type AlarmMember } from '../proto/etcdserverpb.js';

/**
 * Raised alarms, per member and type (etcd's alarm.AlarmStore). Changed only by
 * applied AlarmRequests, so every member agrees on them.
 */
export class Alarms {
  private readonly raised = new Map<string, AlarmMember>();

  private static key(a: AlarmMember): string {
    return `${a.memberId.toString(16)}/${a.alarm}`;
  }

  activate(a: AlarmMember): AlarmMember | undefined {
    if (a.alarm === AlarmType.NONE) return undefined;
    const key = Alarms.key(a);
    if (this.raised.has(key)) return undefined;
    const copy = { memberId: a.memberId, alarm: a.alarm };
    this.raised.set(key, copy);
    return copy;
  }

  deactivate(a: AlarmMember): AlarmMember | undefined {
    const key = Alarms.key(a);
    const existing = this.raised.get(key);
    if (!existing) return undefined;
    this.raised.delete(key);
    return existing;
  }

  /** Takes the alarms a snapshot carries in place of these. */
  replaceAll(alarms: readonly AlarmMember[]): void {
    this.raised.clear();
    for (const a of alarms) this.activate(a);
  }

  list(filter: AlarmType = AlarmType.NONE): AlarmMember[] {
    const all = [...this.raised.values()];
    return filter === AlarmType.NONE ? all : all.filter((a) => a.alarm === filter);
  }

  has(type: AlarmType): boolean {
    return this.list(type).length > 0;
  }
}
