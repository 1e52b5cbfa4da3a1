import { readFileSync } from 'node:fs';

/** One line of /proc/PID/mountinfo (proc(5)). */
export interface MountEntry {
  /** The directory in the mounted filesystem that is mounted (field 4). */
  root: string;
  mountPoint: string;
  /** Per-mount options: rw, nosuid, relatime, … */
  options: string[];
  fstype: string;
  source: string;
  /** Per-superblock options: for a cgroup v1 hierarchy, its controllers. */
  superOptions: string[];
}

/** Octal escapes of space, tab, newline and backslash, as the kernel writes them. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount table, in the kernel's order (a mount comes after the one it sits on). */
export function readMountinfo(text = readFileSync('/proc/self/mountinfo', 'utf8')): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTIONS
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const fields = left.split(' ');
    const [fstype = '', source = '', superOptions = ''] = right.split(' ');
    entries.push({
      root: unescape(fields[3] ?? ''),
      mountPoint: unescape(fields[4] ?? ''),
      options: (fields[5] ?? '').split(','),
      fstype,
      source: unescape(source),
      superOptions: superOptions.split(','),
    });
  }
  return entries;
}
