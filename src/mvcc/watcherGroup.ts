import type { Watcher } from './watcher.js';
import { WatcherRanges } from './watcherRanges.js';

/**
 * A set of watchers indexed by what they watch: a map for single keys and an
 * interval index for ranges. The watchable store keeps two groups (synced and
 * unsynced, as etcd does); fan-out asks a group "who watches this key?" once
 * per event instead of asking every watcher.
 */
export class WatcherGroup {
  private readonly singles = new Map<string, Set<Watcher>>();
  private readonly ranges = new WatcherRanges<Watcher>();
  private readonly all = new Set<Watcher>();

  get size(): number {
    return this.all.size;
  }

  has(w: Watcher): boolean {
    return this.all.has(w);
  }

  add(w: Watcher): void {
    if (this.all.has(w)) return;
    this.all.add(w);
    if (w.endString === undefined) {
      let set = this.singles.get(w.keyString);
      if (set === undefined) {
        set = new Set();
        this.singles.set(w.keyString, set);
      }
      set.add(w);
    } else {
      this.ranges.add(w.keyString, w.endString, w);
    }
  }

  delete(w: Watcher): boolean {
    if (!this.all.delete(w)) return false;
    if (w.endString === undefined) {
      const set = this.singles.get(w.keyString);
      if (set !== undefined) {
        set.delete(w);
        if (set.size === 0) this.singles.delete(w.keyString);
      }
    } else {
      this.ranges.remove(w.keyString, w.endString, w);
    }
    return true;
  }

  /** Calls visit for each watcher whose key or range contains key. */
  forKey(key: string, visit: (w: Watcher) => void): void {
    const set = this.singles.get(key);
    if (set !== undefined) for (const w of set) visit(w);
    this.ranges.stab(key, visit);
  }

  watchers(): IterableIterator<Watcher> {
    return this.all.values();
  }
}
