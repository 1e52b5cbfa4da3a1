import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A fresh name for a temporary file beside `path`, hidden and unique per writer. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/** fsync a directory, so that a rename inside it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` atomically: readers see the old content or the
 * new, never a torn file (write a temp file, fsync it, rename over, fsync the
 * directory — rename(2) is atomic within a filesystem).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const temp = tempPathBeside(path);
  try {
    await writeNewFileSynced(temp, data, mode);
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await syncDir(dirname(path));
}

/** Creates `path` (it must not exist) with `data`, and fsyncs it: once this returns, a crash keeps its content. */
export async function writeNewFileSynced(path: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
