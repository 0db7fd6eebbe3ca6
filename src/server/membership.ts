import { Member } from '../proto/etcdserverpb.js';

/**
 * The cluster's members as the Raft log defines them (etcd's membership.RaftCluster):
 * IDs and peer URLs come from configuration changes (or the initial cluster),
 * names and client URLs from each member's published attributes. Every member
 * applies the same entries, so every member holds the same list.
 */
export class Membership {
  private readonly members = new Map<bigint, Member>();
  private readonly removed = new Set<bigint>();

  constructor(
    readonly clusterId: bigint,
    initial: Iterable<Member> = [],
    removed: Iterable<bigint> = [],
  ) {
    this.replaceAll(initial, removed);
  }

  list(): Member[] {
    return [...this.members.values()]
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .map((m) => Member.create(m));
  }

  get(id: bigint): Member | undefined {
    const m = this.members.get(id);
    return m && Member.create(m);
  }

  has(id: bigint): boolean {
    return this.members.has(id);
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  /** Members removed from the cluster: their messages are refused for good. */
  removedIds(): bigint[] {
    return [...this.removed].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  /** Takes the members a snapshot carries in place of these. */
  replaceAll(members: Iterable<Member>, removed: Iterable<bigint>): void {
    this.members.clear();
    this.removed.clear();
    for (const m of members) this.members.set(m.id, Member.create(m));
    for (const id of removed) this.removed.add(id);
  }

  votingMembers(): Member[] {
    return this.list().filter((m) => !m.isLearner);
  }

  add(member: Member): void {
    this.members.set(member.id, Member.create(member));
  }

  remove(id: bigint): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  promote(id: bigint): void {
    const m = this.members.get(id);
    if (m) m.isLearner = false;
  }

  updatePeerUrls(id: bigint, peerUrls: string[]): void {
    const m = this.members.get(id);
    if (m) m.peerUrls = [...peerUrls];
  }

  setAttributes(id: bigint, name: string, clientUrls: string[]): void {
    const m = this.members.get(id);
    if (!m) return;
    m.name = name;
    m.clientUrls = [...clientUrls];
  }
}
