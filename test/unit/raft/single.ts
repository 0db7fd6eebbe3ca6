import { HardState, Message, MessageType, type Entry } from '../../../src/proto/raftpb.js';
import { MemoryStorage } from '../../../src/raft/memoryStorage.js';
import { RaftNode } from '../../../src/raft/raftNode.js';
import type { Ready } from '../../../src/raft/ready.js';
import { seededRandom } from '../../../src/raft/rng.js';
import type { NodeOptions } from './cluster.js';

/** Entries with the given terms at indexes 1, 2, ... */
export function entriesOfTerms(terms: number[], from = 1): Entry[] {
  return terms.map((term, i) => ({ term, index: from + i, type: 0, data: new Uint8Array(0) }));
}

/** One node over a storage that holds `terms` as its log, for stepping messages at it by hand. */
export function singleNode(
  id: bigint,
  peers: bigint[],
  opts: NodeOptions & { terms?: number[]; hardState?: Partial<HardState> } = {},
): { raft: RaftNode; storage: MemoryStorage; drain: () => Ready; restart: () => RaftNode } {
  const storage = new MemoryStorage();
  RaftNode.bootstrap(storage, peers);
  if (opts.terms && opts.terms.length > 0) storage.append(entriesOfTerms(opts.terms));
  storage.setHardState(HardState.create(opts.hardState ?? {}));
  const { terms: _t, hardState: _h, ...rest } = opts;
  const make = (): RaftNode =>
    new RaftNode({
      id,
      storage,
      electionTick: 10,
      heartbeatTick: 1,
      random: seededRandom(Number(id)),
      ...rest,
    });
  const handle = {
    raft: make(),
    storage,
    drain: (): Ready => undefined as unknown as Ready,
    restart: (): RaftNode => handle.raft,
  };
  handle.drain = (): Ready => {
    const rd = handle.raft.ready();
    if (rd.snapshot) storage.applySnapshot(rd.snapshot);
    if (rd.entries.length > 0) storage.append(rd.entries);
    if (rd.hardState) storage.setHardState(rd.hardState);
    handle.raft.advance(rd);
    return rd;
  };
  handle.restart = (): RaftNode => {
    handle.raft.stop();
    handle.raft = make();
    return handle.raft;
  };
  return handle;
}

export function msg(init: Partial<Message> & { type: MessageType }): Message {
  return Message.create(init);
}
