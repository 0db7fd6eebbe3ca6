/** The properties the simulator checks; a failure names exactly one. */
export type Property =
  | 'election-safety'
  | 'leader-append-only'
  | 'log-matching'
  | 'leader-completeness'
  | 'state-machine-safety'
  | 'monotonic-term'
  | 'monotonic-commit'
  | 'monotonic-applied'
  | 'vote-durability'
  | 'persist-before-send'
  | 'commit-rule'
  | 'read-index-safety'
  | 'config-one-pending'
  | 'config-new-leader'
  | 'removed-never-leads'
  | 'vote-quorum'
  | 'snapshot-safety'
  | 'core-error'
  | 'liveness'
  | 'expectation';

/** A safety or liveness property did not hold. */
export class SimViolation extends Error {
  readonly property: Property;
  readonly detail: string;
  /** Index of the event after which the property failed (set by the simulator). */
  eventIndex = -1;

  constructor(property: Property, detail: string) {
    super(`${property}: ${detail}`);
    this.name = 'SimViolation';
    this.property = property;
    this.detail = detail;
  }
}

export function violation(property: Property, detail: string): never {
  throw new SimViolation(property, detail);
}
