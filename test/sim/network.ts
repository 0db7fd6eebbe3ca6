import { MessageType, type Message } from '../../src/proto/raftpb.js';

/** A message on the wire between two simulated members. */
export interface Envelope {
  from: number;
  to: number;
  /** The MessageType's name, as the transcript spells it. */
  type: string;
  msg: Message;
  /** The sender's incarnation when it sent: a snapshot report goes only to the process that sent. */
  senderIncarnation: number;
}

/** Why a message never arrived, for the sender's transport to report (etcd's rafthttp does the same). */
export type LossReason = 'cut' | 'dropped' | 'overflow';

/**
 * The simulated network: one bag of in-flight messages (any of them may be
 * delivered next, which is what reorders), plus the set of directed links that
 * are cut. Delay is simply a message staying in the bag while time passes.
 * Whatever happens to a message is decided by the schedule, never here.
 */
export class Network {
  readonly inFlight: Envelope[] = [];
  private readonly cutLinks = new Set<number>();
  /** A node paused or crashed does not drain its inbox; this bounds what piles up for it. */
  readonly capacity: number;

  constructor(capacity = 2000) {
    this.capacity = capacity;
  }

  private static key(from: number, to: number): number {
    return from * 65536 + to;
  }

  isCut(from: number, to: number): boolean {
    return this.cutLinks.size > 0 && this.cutLinks.has(Network.key(from, to));
  }

  cut(from: number, to: number): void {
    this.cutLinks.add(Network.key(from, to));
  }

  /** Cuts every link between different groups, both ways. */
  partition(groups: number[][]): void {
    for (let i = 0; i < groups.length; i++)
      for (let j = 0; j < groups.length; j++) {
        if (i === j) continue;
        for (const a of groups[i] as number[]) for (const b of groups[j] as number[]) this.cut(a, b);
      }
  }

  heal(): void {
    this.cutLinks.clear();
  }

  get partitioned(): boolean {
    return this.cutLinks.size > 0;
  }

  /** Puts a message on the wire; returns why it was lost at once, or undefined if it is in flight. */
  send(env: Envelope): LossReason | undefined {
    if (this.isCut(env.from, env.to)) return 'cut';
    if (this.inFlight.length >= this.capacity) return 'overflow';
    this.inFlight.push(env);
    return undefined;
  }

  /** Index in inFlight of the nth oldest message matching (from, to, type), or -1. */
  find(from: number, to: number, type: string, nth: number): number {
    let seen = 0;
    for (let i = 0; i < this.inFlight.length; i++) {
      const e = this.inFlight[i] as Envelope;
      if (e.from === from && e.to === to && e.type === type) {
        if (seen === nth) return i;
        seen++;
      }
    }
    return -1;
  }

  /** How many messages older than inFlight[index] match it: the nth a transcript names it by. */
  rank(index: number): number {
    const target = this.inFlight[index] as Envelope;
    let n = 0;
    for (let i = 0; i < index; i++) {
      const e = this.inFlight[i] as Envelope;
      if (e.from === target.from && e.to === target.to && e.type === target.type) n++;
    }
    return n;
  }

  take(index: number): Envelope {
    const [env] = this.inFlight.splice(index, 1);
    if (env === undefined) throw new RangeError(`no message at ${index}`);
    return env;
  }
}

/** The transcript name of a message type ("MsgApp"). */
export function typeName(t: MessageType): string {
  return MessageType[t] ?? `Msg${t}`;
}

const decoder = new TextDecoder();

/** A message as a transcript prints it: `1->2 MsgApp term=1 prev=0/0 commit=0 entries=[1/1]`. */
export function describeMessage(m: Message): string {
  const parts = [`${m.from}->${m.to} ${typeName(m.type)} term=${m.term}`];
  switch (m.type) {
    case MessageType.MsgApp:
      parts.push(`prev=${m.index}/${m.logTerm} commit=${m.commit}`);
      if (m.entries.length > 0)
        parts.push(
          `entries=[${m.entries.map((e) => `${e.index}/${e.term}${e.data.length ? ` ${decoder.decode(e.data)}` : ''}`).join(', ')}]`,
        );
      break;
    case MessageType.MsgAppResp:
      parts.push(m.reject ? `reject index=${m.index} hint=${m.rejectHint}/${m.logTerm}` : `index=${m.index}`);
      break;
    case MessageType.MsgVote:
    case MessageType.MsgPreVote:
      parts.push(`last=${m.index}/${m.logTerm}`);
      break;
    case MessageType.MsgVoteResp:
    case MessageType.MsgPreVoteResp:
      if (m.reject) parts.push('reject');
      break;
    case MessageType.MsgHeartbeat:
      parts.push(`commit=${m.commit}${m.context.length ? ` ctx=${decoder.decode(m.context)}` : ''}`);
      break;
    case MessageType.MsgReadIndexResp:
      parts.push(`index=${m.index}`);
      break;
    default:
      // The other types say all a transcript needs in their sender, receiver, type and term.
      break;
  }
  return parts.join(' ');
}
