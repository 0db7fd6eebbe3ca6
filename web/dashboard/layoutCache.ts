/**
 * Laid-out charts kept in the browser's localStorage, keyed by the exact ELK
 * input they came from: a page loaded again (or another member's page of the
 * same version) draws its charts without starting ELK. A chart whose input
 * changed (another machine, another layout option) misses and is laid out anew.
 */
import type { ElkNode } from 'elkjs/lib/elk-api.js';
import type { ChartName } from '../../src/api/dashboard/protocol.js';

const KEY_PREFIX = 'xetcd.dashboard.layout.';

interface Entry {
  readonly input: string;
  readonly output: ElkNode;
}

/** Storage may be off, full or refused (private windows): the cache is then simply empty. */
function storage(): Storage | undefined {
  try {
    return window.localStorage;
  } catch {
    return undefined;
  }
}

export function cachedLayout(name: ChartName, input: string): ElkNode | undefined {
  try {
    const text = storage()?.getItem(KEY_PREFIX + name);
    if (text === null || text === undefined) return undefined;
    const entry = JSON.parse(text) as Entry;
    return entry.input === input ? entry.output : undefined;
  } catch {
    return undefined;
  }
}

export function storeLayout(name: ChartName, input: string, output: ElkNode): void {
  try {
    storage()?.setItem(KEY_PREFIX + name, JSON.stringify({ input, output } satisfies Entry));
  } catch {
    // Full or refused: the next load lays the chart out again.
  }
}
