import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { readMountRecord } from '@cutaway/cli';
import { getXattr, listXattrs } from '@cutaway/libc';
import { command } from '../command.ts';
import { ContainerStore } from './store.ts';

/**
 * docker diff: what the container changed, read from its overlay upper directory as Docker's overlay2 driver
 * reads it (moby's archive.OverlayChanges): a whiteout (a 0:0 character device) is D; an opaque directory that
 * a lower layer has is D, and what it holds now is listed below it; anything else is A when no lower layer has
 * the path, else C — but a directory that a lower layer has with the same mode, size and mtime is left out
 * (it is only in the upper because something under it changed), unless an entry of its own was added or
 * deleted: then it is C, as Docker's changes() records the parent of every A and D. What ns-exec mounts over
 * (/proc, /sys, /dev and /etc/hosts, /etc/hostname, /etc/resolv.conf) are in Docker's init layer and not
 * listed; nor is a directory that holds only those. Sorted by path, as Docker sorts.
 */

/** The mount points ns-exec makes in a rootfs: Docker's init layer has them, so docker diff never lists them. */
const INIT_PATHS = new Set(['/proc', '/sys', '/dev', '/etc/hosts', '/etc/hostname', '/etc/resolv.conf', '/etc/mtab', '/.dockerenv']);

export type ChangeKind = 'A' | 'C' | 'D';
export interface Change {
  kind: ChangeKind;
  path: string;
}

const isWhiteout = (st: Stats): boolean => st.isCharacterDevice() && st.rdev === 0;

function isOpaque(path: string): boolean {
  const names = listXattrs(path);
  return ['trusted.overlay.opaque', 'user.overlay.opaque'].some((name) => names.includes(name) && getXattr(path, name).toString() === 'y');
}

/** The path in the topmost lower layer that has it (lowers top first), as lstat sees it. */
function below(lowers: string[], path: string): Stats | undefined {
  for (const lower of lowers) {
    const st = lstatSync(join(lower, path), { throwIfNoEntry: false });
    if (st) return st;
  }
  return undefined;
}

/** The changes an upper directory holds over its lowers (top first), in Docker's order. */
export function upperChanges(upper: string, lowers: string[]): Change[] {
  const changes: Change[] = [];
  /** Walks a directory of the upper: whether it listed anything under it, and whether it added or deleted an entry of its own. */
  const walk = (dir: string): { listed: boolean; addedOrDeleted: boolean } => {
    let listed = false;
    let addedOrDeleted = false;
    for (const name of readdirSync(join(upper, dir))) {
      const path = `${dir === '/' ? '' : dir}/${name}`;
      if (INIT_PATHS.has(path)) continue;
      const st = lstatSync(join(upper, path));
      const lower = below(lowers, path);
      const { listed: inner, addedOrDeleted: entries } = st.isDirectory() ? walk(path) : { listed: false, addedOrDeleted: false };
      let kind: ChangeKind | undefined;
      if (isWhiteout(st)) kind = 'D';
      else if (st.isDirectory() && lower?.isDirectory() && isOpaque(join(upper, path))) kind = 'D';
      else if (!lower) kind = 'A';
      else if (st.isDirectory() && lower.isDirectory()) {
        const same = st.mode === lower.mode && st.size === lower.size && Math.floor(st.mtimeMs / 1000) === Math.floor(lower.mtimeMs / 1000);
        // Changed in its mtime only because ns-exec made its mount points in it: Docker's init layer made them.
        const onlyMountPoints = !inner && readdirSync(join(upper, path)).every((n) => INIT_PATHS.has(`${path}/${n}`));
        kind = (same || (onlyMountPoints && st.mode === lower.mode)) && !entries ? undefined : 'C';
      } else kind = 'C';
      if (kind) changes.push({ kind, path });
      listed ||= kind !== undefined || inner;
      addedOrDeleted ||= kind === 'A' || kind === 'D';
    }
    return { listed, addedOrDeleted };
  };
  walk('/');
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export const diff = command(
  {
    name: 'diff',
    summary: "List what a container added, changed and deleted (A, C, D)",
    synopsis: ['CONTAINER'],
    description: [
      "What a container added (A), changed (C) and deleted (D), read from its overlay upper directory:",
      'A added, C changed, D deleted (an overlay whiteout, or an opaque directory that replaced one below), sorted',
      "by path. A directory is listed when it differs from the image's; the mount points ns-exec makes are not.",
    ].join('\n'),
    options: [],
    operands: { min: 1, max: 1, names: 'CONTAINER' },
    examples: ['cutaway diff web', "cutaway diff web | grep '^A'"],
    classic: ['docker diff', 'find "$CUTAWAY_ROOT/containers/ID/upper" -printf \'%y %p\\n\'   # c entries (0:0 devices) are deletions'],
  },
  async (inv, root, r) => {
    const store = new ContainerStore(root);
    const id = store.find(inv.positionals[0]!);
    const mount = readMountRecord(store.path(id));
    // Never started: no upper yet, no changes.
    if (!mount?.upper) return;
    for (const change of upperChanges(mount.upper, mount.lowers)) r.print(`${change.kind} ${change.path}`);
  },
);
