import { open } from 'node:fs/promises';

/** Makes the entries of a directory durable: a rename or a new file survives a power loss only after this. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
