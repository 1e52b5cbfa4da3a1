import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lockFile } from '@cutaway/libc';

/**
 * The temporary files of the image store (images/.cutaway/) whose writer was killed: they are part of no
 * image, nothing will ever finish them, and only `system prune` takes them away.
 *
 *   .blob.<pid>.<random>.tmp   a blob being written (OciLayout.putBlob: layer-commit, build, pull, load);
 *                              its writer holds an flock on it from just after it is made until it is
 *                              renamed into blobs/ or removed
 *   <alg>-<hex>.partial        a resumable download (OciLayout.putBlobResumable); its writer holds
 *                              <alg>-<hex>.partial.lock while it writes
 *
 * A live writer's file is never counted or removed: a .tmp is a dead writer's when no one holds a lock on
 * it (proc(5) /proc/locks, which the kernel empties of a process's locks when it dies, whatever its pid
 * namespace) and its pid (in the name: the moment between open and flock) runs no longer; a .partial when
 * no one holds its .lock, and prune takes that lock itself while it removes the file.
 */
export interface TempBlob {
  /** The file's name in images/.cutaway/. */
  name: string;
  path: string;
  size: number;
  modified: Date;
}

const TEMP_BLOB = /^\.blob\.(\d+)\.[0-9a-f]+\.tmp$/;
const PARTIAL = /^[a-z0-9]+-[0-9a-f]+\.partial$/;

/** "MAJOR:MINOR:INODE" (decimal) of every file something holds a lock on: /proc/locks, `N: FLOCK ADVISORY WRITE PID 08:01:1234 0 EOF`. */
function lockedFiles(): Set<string> {
  const locked = new Set<string>();
  let text = '';
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return locked;
  }
  for (const line of text.split('\n')) {
    // A waiter's line ("N: -> FLOCK …") names the same file as its holder's.
    const id = /^\d+:\s+(?:->\s+)?\S+\s+\S+\s+\S+\s+-?\d+\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (id) locked.add(`${parseInt(id[1]!, 16)}:${parseInt(id[2]!, 16)}:${id[3]}`);
  }
  return locked;
}

/** A file's "MAJOR:MINOR:INODE" as /proc/locks names it (glibc's dev_t: major in bits 8-19 and 32-43). */
function fileId(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
    const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
    return `${major}:${minor}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Whether a process runs: not a zombie (whose files and locks are closed already). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function isDead(dir: string, name: string, locked: Set<string>): boolean {
  const path = join(dir, name);
  const tmp = TEMP_BLOB.exec(name);
  if (tmp) return !locked.has(fileId(path) ?? '') && !running(Number(tmp[1]));
  if (PARTIAL.test(name)) {
    const lock = fileId(`${path}.lock`);
    return lock === undefined || !locked.has(lock);
  }
  return false;
}

/** The store's temp files whose writers are gone (`imageStore`: the OCI layout's directory, images/). */
export function deadTempBlobs(imageStore: string): TempBlob[] {
  const dir = join(imageStore, '.cutaway');
  if (!existsSync(dir)) return [];
  const locked = lockedFiles();
  const dead: TempBlob[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!isDead(dir, name, locked)) continue;
    try {
      const st = statSync(join(dir, name));
      if (st.isFile()) dead.push({ name, path: join(dir, name), size: st.size, modified: st.mtime });
    } catch {
      // gone meanwhile: its writer finished after all, or another prune took it
    }
  }
  return dead;
}

/**
 * Removes a temp file found dead, checked again first; returns the bytes it freed, or undefined when it was
 * not removed here (gone meanwhile, or alive after all). A .partial goes under its .lock, so that a pull
 * starting meanwhile waits for it and then starts over.
 */
export async function removeTempBlob(blob: TempBlob): Promise<number | undefined> {
  const dir = join(blob.path, '..');
  const remove = () => {
    let size: number;
    try {
      size = statSync(blob.path).size;
    } catch {
      return undefined;
    }
    rmSync(blob.path, { force: true });
    return size;
  };
  if (!isDead(dir, blob.name, lockedFiles())) return undefined;
  if (!PARTIAL.test(blob.name)) return remove();
  const lock = await lockFile(`${blob.path}.lock`);
  try {
    return remove();
  } finally {
    lock.release();
  }
}
