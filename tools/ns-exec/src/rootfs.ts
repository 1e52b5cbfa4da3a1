import { lstatSync, readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';

const MAX_SYMLINKS = 40; // path_resolution(7): ELOOP after 40 links

/**
 * A path inside a rootfs as the host sees it, with symlinks followed as they
 * would be after pivot_root: an absolute link target starts again at the
 * rootfs, `..` stops at it. So `/etc/resolv.conf -> /run/x` or a planted
 * `etc -> /` can never send a mount or a read outside the rootfs (the race-free
 * form is openat2's RESOLVE_IN_ROOT; nothing runs in the rootfs while ns-exec
 * plans, so resolving once is enough here). The part that does not exist yet
 * is appended as written.
 */
export function resolveInRoot(root: string, path: string): string {
  const done: string[] = [];
  let todo = path.split('/').filter(Boolean);
  let links = 0;
  while (todo.length) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      done.pop();
      continue;
    }
    const host = posix.join(root, ...done, name);
    let isLink: boolean;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // Missing: the rest is created as written (`..` still cannot leave the rootfs).
      done.push(name);
      for (const rest of todo) if (rest === '..') done.pop();
      else if (rest !== '.') done.push(rest);
      break;
    }
    if (!isLink) {
      done.push(name);
      continue;
    }
    if (++links > MAX_SYMLINKS) throw new Error(`too many levels of symbolic links in ${path}`);
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    todo = [...target.split('/').filter(Boolean), ...todo];
  }
  return posix.join(root, ...done);
}

/** A file of the rootfs (/etc/passwd, /etc/group), or undefined when it has none. */
export function readInRoot(root: string, path: string): string | undefined {
  try {
    return readFileSync(resolveInRoot(root, path), 'utf8');
  } catch {
    return undefined;
  }
}
