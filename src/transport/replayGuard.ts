/**
 * Each sealed peer message once (IPsec's anti-replay window, per sender): a
 * sender numbers its messages from 1 in each epoch (its start time), so a
 * receiver takes a newer epoch as a restart, refuses an older one, and within
 * the epoch accepts each number once. Numbers far below the newest seen are
 * refused too: NATS delivers one sender's messages nearly in order, and a
 * window of a few thousand covers what arrives out of order (messages to other
 * members take numbers in between).
 */

/** How far below the newest number a late message is still judged, not refused. */
const WINDOW = 4096;

interface SenderState {
  epoch: number;
  highest: number;
  /** Numbers seen within the window below `highest`. */
  seen: Set<number>;
}

export class ReplayGuard {
  private readonly senders = new Map<bigint, SenderState>();

  /** Whether (epoch, seq) from `sender` is new; remembers it when it is. */
  accept(sender: bigint, epoch: number, seq: number): boolean {
    const state = this.senders.get(sender);
    if (state === undefined || epoch > state.epoch) {
      this.senders.set(sender, { epoch, highest: seq, seen: new Set([seq]) });
      return true;
    }
    if (epoch < state.epoch) return false;
    if (seq > state.highest) {
      state.highest = seq;
      state.seen.add(seq);
      // Pruned in bulk, so that the cost per message stays constant.
      if (state.seen.size > 2 * WINDOW)
        for (const s of state.seen) if (s <= seq - WINDOW) state.seen.delete(s);
      return true;
    }
    if (seq <= state.highest - WINDOW || state.seen.has(seq)) return false;
    state.seen.add(seq);
    return true;
  }
}
