import { lstatSync, readlinkSync } from 'node:fs';

const MAX_SYMLINKS = 40; // path_resolution(7): ELOOP after 40 links

/**
 * A path as a process whose root is a container's rootfs resolves it (openat2(2)'s RESOLVE_IN_ROOT): each
 * symlink followed with an absolute target starting again at the rootfs and `..` stopping at it, so a planted
 * `etc -> /` or `/x -> /etc/shadow` never leads outside. `hostPath` gives where a path inside lives on the host
 * (the rootfs joined with it, or a view with bind mounts over it); what does not exist is kept as written. The
 * last component's symlink is followed unless `followLast` is false. Returns the path inside the rootfs. Not
 * race-free against a rootfs changing meanwhile: for a rootfs nothing runs in (a mount being planned, a stopped
 * container, an image), once is enough.
 */
export function resolveInRoot(path: string, hostPath: (inside: string) => string, followLast = true): string {
  const resolved: string[] = [];
  const queue = path.split('/');
  let links = 0;
  while (queue.length) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = hostPath(`/${[...resolved, part].join('/')}`);
    const isLink = lstatSync(host, { throwIfNoEntry: false })?.isSymbolicLink() ?? false;
    if (isLink && (followLast || queue.some((p) => p !== '' && p !== '.'))) {
      if (++links > MAX_SYMLINKS) throw new Error(`${path}: too many levels of symbolic links`);
      const target = readlinkSync(host);
      if (target.startsWith('/')) resolved.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    resolved.push(part);
  }
  return `/${resolved.join('/')}`;
}
