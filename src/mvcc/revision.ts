/**
 * A revision as etcd numbers changes: `main` is the store revision a write
 * transaction creates, `sub` orders the changes inside it (0, 1, 2, ...).
 * Only `main` is visible on the wire; `sub` orders the events of one revision.
 */
export interface Revision {
  readonly main: number;
  readonly sub: number;
}

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

/** A compact string form used as a map key (never persisted). */
export function revisionId(r: Revision): string {
  return `${r.main}_${r.sub}`;
}
