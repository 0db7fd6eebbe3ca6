// A test file's resources (processes, temp dirs, clients), released in reverse order of
// acquisition by one call in afterAll, whether the tests passed or not. One failing release
// does not stop the others; their errors are reported together.
export type Release = () => Promise<unknown> | unknown;

export class ResourceScope {
  private readonly releases: { label: string; release: Release }[] = [];
  private closed = false;

  /** Registers `release` and returns `value`, so acquisition and registration read as one line. */
  add<T>(value: T, label: string, release: (v: T) => Promise<unknown> | unknown): T {
    if (this.closed) throw new Error(`scope already closed; cannot add ${label}`);
    this.releases.push({ label, release: () => release(value) });
    return value;
  }

  defer(label: string, release: Release): void {
    if (this.closed) throw new Error(`scope already closed; cannot add ${label}`);
    this.releases.push({ label, release });
  }

  async close(): Promise<void> {
    this.closed = true;
    const errors: string[] = [];
    while (this.releases.length > 0) {
      const r = this.releases.pop();
      if (r === undefined) break;
      try {
        await r.release();
      } catch (err) {
        errors.push(`${r.label}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (errors.length > 0) throw new Error(`releasing test resources failed:\n${errors.join('\n')}`);
  }
}
