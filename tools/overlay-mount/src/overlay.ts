import { existsSync } from 'node:fs';
import type { Steps } from '@cutaway/cli';
import { MS_BIND, MS_RDONLY, MS_REMOUNT, mount, mountWithFsconfig, umount2 } from '@cutaway/libc';
import { readMountinfo } from '@cutaway/libc/mountinfo';

/**
 * The overlay mount itself. lowerdir lists the top layer first
 * (overlayfs.rst "Multiple lower layers"). mount(2) copies its option string
 * into one page and silently truncates beyond it (the kernel then fails with a
 * misleading ENOENT), so a long layer list goes through fsconfig("lowerdir+")
 * one layer at a time (kernel 6.8+) — how images with a hundred layers mount.
 */

export interface OverlaySpec {
  /** Top first. */
  lowers: string[];
  /** Absent for a read-only mount. */
  upper?: string;
  work?: string;
  target: string;
  /** In a user namespace: the overlay keeps its xattrs under user.overlay.* (kernel 5.11+). */
  userxattr: boolean;
}

const PAGE_LIMIT = 4095;

/** Options Docker sets when the module knows them: index=off so an upper can be reused with other lowers. */
function featureOptions(userxattr: boolean): [string, string | null][] {
  const params = '/sys/module/overlay/parameters';
  const options: [string, string | null][] = [];
  if (existsSync(`${params}/index`)) options.push(['index', 'off']);
  // A diff read from upper is right only without redirects and metacopy (layer-commit relies on it); userxattr implies both off.
  if (!userxattr && existsSync(`${params}/redirect_dir`)) options.push(['redirect_dir', 'off']);
  if (!userxattr && existsSync(`${params}/metacopy`)) options.push(['metacopy', 'off']);
  if (userxattr) options.push(['userxattr', null]);
  return options;
}

function optionString(spec: OverlaySpec): string {
  const parts = [`lowerdir=${spec.lowers.join(':')}`];
  if (spec.upper) parts.push(`upperdir=${spec.upper}`, `workdir=${spec.work}`);
  for (const [k, v] of featureOptions(spec.userxattr)) parts.push(v === null ? k : `${k}=${v}`);
  return parts.join(',');
}

/**
 * Names with these characters would be misread inside the option string (overlayfs.rst: escape with "\\"):
 * a lowerdir's colons, and any path's commas (the kernel unescapes upperdir and workdir too).
 */
function escapePath(path: string): string {
  return path.replace(/([\\:,])/g, '\\$1');
}

/** The spec with its paths escaped for the option string of mount(2). */
function escaped(spec: OverlaySpec): OverlaySpec {
  return { ...spec, lowers: spec.lowers.map(escapePath), ...(spec.upper && { upper: escapePath(spec.upper), work: escapePath(spec.work!) }) };
}

/**
 * The classic command that makes the same mount, and a note when it needs more than the mount(8) of
 * util-linux 2.38 (Debian 12) has.
 */
export function mountCommand(spec: OverlaySpec): { command: string[]; note?: string } {
  if (!spec.upper && spec.lowers.length === 1) return { command: ['mount', '--bind', '-o', 'ro', spec.lowers[0]!, spec.target] };
  const options = optionString(escaped(spec));
  if (options.length <= PAGE_LIMIT) return { command: ['mount', '-t', 'overlay', 'overlay', '-o', options, spec.target] };
  return {
    command: ['mount', '-t', 'overlay', 'overlay', '-o', fsconfigPairs(spec).map(([k, v]) => (v === null ? k : `${k}=${v}`)).join(','), spec.target],
    note: `${spec.lowers.length} lower layers make a ${options.length}-byte option string, more than mount(2) takes: fsconfig lowerdir+ one by one (util-linux 2.39+: mount -o lowerdir+=…)`,
  };
}

function fsconfigPairs(spec: OverlaySpec): [string, string | null][] {
  return [
    ...spec.lowers.map((l): [string, string] => ['lowerdir+', l]),
    ...(spec.upper ? ([['upperdir', spec.upper], ['workdir', spec.work!]] as [string, string][]) : []),
    ...featureOptions(spec.userxattr),
  ];
}

export function mountOverlay(spec: OverlaySpec, steps: Steps): void {
  const { command, note } = mountCommand(spec);
  if (note) steps.note(note);
  steps.run(command);
  if (steps.mode.dryRun) return;
  // Overlay needs an upper or at least two lowers; one read-only layer is a read-only bind mount.
  if (!spec.upper && spec.lowers.length === 1) {
    mount(spec.lowers[0]!, spec.target, null, MS_BIND, null);
    try {
      mount(null, spec.target, null, MS_BIND | MS_REMOUNT | MS_RDONLY, null);
    } catch (e) {
      // Never leave a writable view of a shared layer behind.
      umount2(spec.target);
      throw e;
    }
    return;
  }
  const options = optionString(escaped(spec));
  if (options.length <= PAGE_LIMIT) mount('overlay', spec.target, 'overlay', 0, options);
  else mountWithFsconfig('overlay', spec.target, fsconfigPairs(spec));
}

/** Mount points, from /proc/self/mountinfo. */
export function mountPoints(): Set<string> {
  return new Set(readMountinfo().map((m) => m.mountPoint));
}
