import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { readMountinfo, type MountEntry } from '@cutaway/libc/mountinfo';

/**
 * The directories a mount needs, checked before anything is made: the upper and work directories a user
 * chooses (--upper, --work) are checked for what the kernel would refuse with a bare EINVAL or ELOOP, or
 * accept and then misbehave; and what overlay-mount is about to make is listed, so that a mount that fails
 * takes away exactly that.
 */

/**
 * A path with its symlinks resolved as far as it exists: /proc/self/mountinfo holds resolved mount points,
 * so a root, a target or an upper reached through a symlink must be compared in that form.
 */
export function resolvedPath(path: string): string {
  const absolute = resolve(path);
  const existing = existingAncestor(absolute);
  return join(realpathSync(existing), relative(existing, absolute));
}

/** The path itself if it exists, else its nearest ancestor that does. */
function existingAncestor(path: string): string {
  let existing = path;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  return existing;
}

/** Whether `path` is `dir` or inside it. */
export function isWithin(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith('/') ? dir : `${dir}/`);
}

/** Whether one of two paths is the other or inside it. */
export const overlaps = (a: string, b: string) => isWithin(a, b) || isWithin(b, a);

/**
 * What `mkdir -p` of these directories makes, each as the top-most directory it creates (none for one that
 * exists): what a failed mount removes again. The container's own directory is named as such, never an
 * ancestor of it — ROOT/containers is every container's, and another overlay-mount may be filling it.
 */
export function toMake(containerDir: string, others: string[]): string[] {
  const made = existsSync(containerDir) ? [] : [containerDir];
  for (const path of others) {
    if (made.some((m) => isWithin(path, m)) || isWithin(path, containerDir)) continue;
    const top = topMissing(path);
    if (top) made.push(top);
  }
  return made;
}

/** The top-most directory of `path` that does not exist yet; undefined when it all does. */
function topMissing(path: string): string | undefined {
  if (existsSync(path)) return undefined;
  let top = path;
  while (!existsSync(dirname(top))) top = dirname(top);
  return top;
}

/** What overlay itself puts in a workdir: work/ (emptied at each mount), index/ (with index=on). */
const OVERLAY_WORK_ENTRIES = new Set(['work', 'index']);

/** Bad --upper or --work: one line and exit 2, without the usage line (the command line itself is well formed). */
const badDirs = (message: string) => new ToolError(message, undefined, 2);

export interface ChosenDirs {
  upper: string;
  work: string;
  /** Top first; the image's layer directories, or --lower's. */
  lowers: string[];
  target: string;
  /** ROOT/containers/NAME, which --unmount --rm removes whole. */
  containerDir: string;
}

/**
 * Checks --upper and --work (resolved paths) against each other, the lowers, the mount point and the mounts,
 * and throws one line naming the first problem (exit 2, bad input):
 *  - each must be a directory, or be missing under a directory (`mkdir -p` makes it);
 *  - the two must be apart ("workdir and upperdir must be separate subtrees", the kernel says in dmesg);
 *  - neither may overlap a lower: an upper inside a lower changes the lower while it is mounted, which
 *    overlayfs.rst ("Changes to underlying filesystems") does not allow, and a lower inside the upper is ELOOP;
 *  - neither may overlap the mount point, which would hide it while mounted;
 *  - neither may be inside the container's directory, which --unmount --rm removes;
 *  - work must be on the upper's filesystem (overlayfs.rst: "The workdir needs to be an empty directory on
 *    the same filesystem as upperdir"), and the kernel asks more: under the same mount — a bind mount of the
 *    same filesystem is refused too ("workdir and upperdir must reside under the same mount", EINVAL);
 *  - work must be empty (overlayfs.rst), or hold only what overlay put there on an earlier mount (work/,
 *    index/), so that an upper can be mounted again with its work directory. The kernel would take a work
 *    directory with other files in it, but one is most likely a mistyped path (the upper, the rootfs).
 */
export function checkChosenDirs(d: ChosenDirs): void {
  const named = { upper: `--upper ${d.upper}`, work: `--work ${d.work}` };
  for (const [key, path] of [['upper', d.upper], ['work', d.work]] as const) {
    const existing = existingAncestor(path);
    if (!statSync(existing).isDirectory()) throw badDirs(`${named[key]}: ${existing === path ? 'not a directory' : `${existing} is not a directory`}`);
  }
  if (overlaps(d.upper, d.work)) throw badDirs(`${named.upper} and ${named.work}: the same directory, or one inside the other; overlay needs them apart`);
  for (const [key, path] of [['upper', d.upper], ['work', d.work]] as const) {
    for (const lower of d.lowers.map(resolvedPath)) {
      if (overlaps(path, lower)) throw badDirs(`${named[key]}: overlaps the lower ${lower}; a lower must not change while it is mounted`);
    }
    if (overlaps(path, d.target)) throw badDirs(`${named[key]}: overlaps the mount point ${d.target}, which would hide it`);
    if (isWithin(path, d.containerDir)) throw badDirs(`${named[key]}: inside the container's directory ${d.containerDir}, which --unmount --rm removes (leave --${key} out to keep it there)`);
  }
  const mounts = readMountinfo();
  const [upperMount, workMount] = [mountOf(d.upper, mounts), mountOf(d.work, mounts)];
  if (upperMount !== workMount) {
    throw badDirs(`${named.work}: not on the same mount as the upper (${workMount?.mountPoint} is one, ${upperMount?.mountPoint} another); overlay needs the workdir on the upper's filesystem, under the same mount`);
  }
  const others = existsSync(d.work) ? readdirSync(d.work).filter((n) => !OVERLAY_WORK_ENTRIES.has(n)) : [];
  if (others.length) throw badDirs(`${named.work}: not empty (${others.sort().slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}); overlay needs an empty workdir, or one it used before`);
}

/**
 * The mount a path is under: of the mount points it is within, the longest, and of a point mounted more than
 * once the last (mountinfo lists a mount after the one it covers).
 */
function mountOf(path: string, mounts: MountEntry[]): MountEntry | undefined {
  let found: MountEntry | undefined;
  for (const m of mounts) if (isWithin(path, m.mountPoint) && (!found || m.mountPoint.length >= found.mountPoint.length)) found = m;
  return found;
}
