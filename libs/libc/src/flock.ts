import { closeSync, openSync } from 'node:fs';
import { check, koffi, libcFunction, SystemCallError } from './libc.ts';

// flock(2): an advisory lock on an open file, released by the kernel when the
// holder closes it or dies, so a killed process never leaves a stale lock.
const flock = libcFunction('int flock(int fd, int operation)');
const LOCK_SH = 1;
const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11;

export interface FileLock {
  release(): void;
}

/**
 * Takes an exclusive (or shared) lock on `path`, creating the file if needed.
 * Waits for another holder by retrying the non-blocking form with a growing
 * pause: a blocking flock(2) would stall the event loop, and running it on
 * libuv's small thread pool deadlocks once waiters fill the pool while the
 * holder needs a pool thread for its own file I/O.
 */
export async function lockFile(path: string, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<FileLock> {
  const fd = openSync(path, 'a');
  const op = (mode === 'exclusive' ? LOCK_EX : LOCK_SH) | LOCK_NB;
  try {
    for (let pause = 1; flock(fd, op) === -1; pause = Math.min(pause * 2, 50)) {
      const errno = koffi().errno();
      if (errno !== EWOULDBLOCK) throw new SystemCallError('flock', errno, path);
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return holding(fd, path);
}

/** A lock taken on `fd`: release unlocks and closes it (once). */
function holding(fd: number, path: string): FileLock {
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      check(flock(fd, LOCK_UN), 'flock', path);
      closeSync(fd);
    },
  };
}

/** The lock on `path` if no one else holds it (flock's LOCK_NB), else undefined at once. */
export function tryLockFile(path: string, mode: 'exclusive' | 'shared' = 'exclusive'): FileLock | undefined {
  const fd = openSync(path, 'a');
  if (flock(fd, (mode === 'exclusive' ? LOCK_EX : LOCK_SH) | LOCK_NB) === -1) {
    const errno = koffi().errno();
    closeSync(fd);
    if (errno === EWOULDBLOCK) return undefined;
    throw new SystemCallError('flock', errno, path);
  }
  return holding(fd, path);
}

/** Runs `work` while holding the lock on `path`. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<T> {
  const lock = await lockFile(path, mode);
  try {
    return await work();
  } finally {
    lock.release();
  }
}
