import { access } from 'node:fs/promises';

/** Whether `path` exists (any access error counts as no: the caller creates or refuses). */
export function pathExists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
