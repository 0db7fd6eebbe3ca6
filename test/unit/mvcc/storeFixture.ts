// Opens KvStores in temp dirs for the mvcc tests and closes/removes them afterwards.
import { pino } from 'pino';
import { makeTempDir, type TempDir } from '../../helpers/tempdir.js';
import { KvStore, type KvStoreOptions } from '../../../src/mvcc/kvStore.js';

export const silent = pino({ level: 'silent' });
export const b = (s: string): Buffer => Buffer.from(s, 'latin1');
export const str = (u: Uint8Array): string => Buffer.from(u).toString('latin1');

export class StoreFixture {
  private dirs: TempDir[] = [];
  private stores: KvStore[] = [];

  async dir(): Promise<string> {
    const d = await makeTempDir('xetcd-mvcc-');
    this.dirs.push(d);
    return d.path;
  }

  async open(dir?: string, opts?: Partial<KvStoreOptions>): Promise<{ store: KvStore; dir: string }> {
    const path = dir ?? (await this.dir());
    const store = await KvStore.open(path, { logger: silent, compactionBatchIntervalMs: 0, ...opts });
    this.stores.push(store);
    return { store, dir: path };
  }

  async cleanup(): Promise<void> {
    for (const s of this.stores) await s.close();
    for (const d of this.dirs) await d.remove();
    this.stores = [];
    this.dirs = [];
  }
}
