/** A write the store refuses because applying it would break an invariant of the Raft log. */
export class RaftLogWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftLogWriteError';
  }
}

/** The store failed a write earlier; nothing after that write can be made durable in order. */
export class RaftLogFailedError extends Error {
  constructor(cause: unknown) {
    super(`raft log store failed and refuses further writes: ${describeError(cause)}`, { cause });
    this.name = 'RaftLogFailedError';
  }
}

/** The store was closed. */
export class RaftLogClosedError extends Error {
  constructor() {
    super('raft log store is closed');
    this.name = 'RaftLogClosedError';
  }
}

/** An error with the messages of its causes, for a message that must say what LevelDB said. */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}
