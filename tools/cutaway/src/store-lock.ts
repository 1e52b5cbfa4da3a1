import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lockFile, withFileLock, type FileLock } from '@cutaway/libc';

/**
 * What keeps `system prune` from removing what a command is about to use. A command that takes images and
 * layers from the store holds ROOT/prune.lock shared — run from finding the image until the container runs
 * (until then prune would take it for a stopped container), build for as long as it runs — and prune holds
 * it exclusively from its inventory to its last removal: prune waits for them, and they for prune.
 */
function lockPath(root: string): string {
  mkdirSync(root, { recursive: true });
  return join(root, 'prune.lock');
}

/** The shared hold, released by the caller (release may be called more than once). */
export const holdStore = (root: string): Promise<FileLock> => lockFile(lockPath(root), 'shared');
export const usingStore = <T>(root: string, work: () => Promise<T>): Promise<T> => withFileLock(lockPath(root), work, 'shared');
export const pruningStore = <T>(root: string, work: () => Promise<T>): Promise<T> => withFileLock(lockPath(root), work, 'exclusive');
