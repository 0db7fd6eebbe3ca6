/**
 * Data on disk that failed verification: a checksum mismatch, a record under
 * the wrong key, a gap in the log, a hard state that points past the log.
 *
 * A member that meets one must not start: serving data that fails its checksum
 * is exactly how a replicated store silently diverges (etcd #14098, Jepsen's
 * bitflip nemeses). The message names where the damage is and what the
 * operator can do about it, because this error ends up as the member's last
 * log line.
 */
export class CorruptDataError extends Error {
  /** The data directory (the classic-level database) holding the damaged record. */
  readonly dir: string;
  /**
   * Which record is damaged: in the raft log its kind ('entry', 'hardState', 'snapshot', 'meta',
   * 'bounds', 'log', 'leveldb'), in the MVCC backend its description (describeBackendKey).
   */
  readonly record: string;
  /** The log index of the damaged record, when it has one. */
  readonly index: number | undefined;
  /** What exactly is wrong, without the advice. */
  readonly detail: string;

  constructor(init: { dir: string; record: string; index?: number; detail: string; cause?: unknown }) {
    const where =
      init.index === undefined ? `${init.record} record` : `${init.record} record at index ${init.index}`;
    super(
      `corrupt data in ${init.dir}: ${where}: ${init.detail}. ` +
        'This member cannot trust its data and will not serve it: restore from a snapshot ' +
        '(etcdctl snapshot restore into a new data directory), or remove the member and re-add it ' +
        '(etcdctl member remove, then member add and start it with an empty data directory) ' +
        'so that it catches up from the leader.',
      init.cause === undefined ? undefined : { cause: init.cause },
    );
    this.name = 'CorruptDataError';
    this.dir = init.dir;
    this.record = init.record;
    this.index = init.index;
    this.detail = init.detail;
  }
}
