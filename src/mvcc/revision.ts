import type { Revision } from '../storage/backend/layout.js';

export type { Revision } from '../storage/backend/layout.js';

export function compareRevisions(a: Revision, b: Revision): number {
  return a.main !== b.main ? a.main - b.main : a.sub - b.sub;
}

/** A compact string form used as a map key (never persisted). */
export function revisionId(r: Revision): string {
  return `${r.main}_${r.sub}`;
}
