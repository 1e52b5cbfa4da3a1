import { readFileSync } from 'node:fs';
import { resolveInRoot } from '@cutaway/libc/in-root';
import { posix } from 'node:path';

/**
 * A path inside a rootfs as the host sees it, with symlinks followed as they
 * would be after pivot_root (resolveInRoot: an absolute link target starts
 * again at the rootfs, `..` stops at it), so `/etc/resolv.conf -> /run/x` or a
 * planted `etc -> /` can never send a mount or a read outside the rootfs;
 * nothing runs in the rootfs while ns-exec plans, so resolving once is enough.
 * The part that does not exist yet is appended as written.
 */
export function resolveInRootfs(root: string, path: string): string {
  return posix.join(root, resolveInRoot(path, (inside) => posix.join(root, inside)));
}

/** A file of the rootfs (/etc/passwd, /etc/group), or undefined when it has none. */
export function readInRoot(root: string, path: string): string | undefined {
  try {
    return readFileSync(resolveInRootfs(root, path), 'utf8');
  } catch {
    return undefined;
  }
}
