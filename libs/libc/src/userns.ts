import { readFileSync } from 'node:fs';

/**
 * The user namespace a process is in, as /proc/PID/{uid,gid}_map and
 * /proc/PID/setgroups show it (user_namespaces(7)). No koffi: ns-exec's
 * planner reads it on its hot path.
 */

/** One line of a uid_map or gid_map: ids inside … inside+count-1 are outside … outside+count-1 in the parent namespace. */
export interface IdRange {
  inside: number;
  outside: number;
  count: number;
}

/** The lines of a uid_map or gid_map. */
export function parseIdMap(text: string): IdRange[] {
  const ranges: IdRange[] = [];
  for (const line of text.split('\n')) {
    const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
    if (inside !== undefined && outside !== undefined && count !== undefined && Number.isInteger(count) && count > 0) ranges.push({ inside, outside, count });
  }
  return ranges;
}

/** Whether `id` exists in the namespace whose map this is (an unmapped id shows as the overflow id, 65534). */
export function idMapped(ranges: readonly IdRange[], id: number): boolean {
  return ranges.some((r) => id >= r.inside && id < r.inside + r.count);
}

/** The ids that exist inside, for a message: `0`, `0-65535`, `0, 1000-1999`. */
export function describeIds(ranges: readonly IdRange[]): string {
  return [...ranges]
    .sort((a, b) => a.inside - b.inside)
    .map((r) => (r.count === 1 ? `${r.inside}` : `${r.inside}-${r.inside + r.count - 1}`))
    .join(', ');
}

export interface UserNamespace {
  /** The initial user namespace maps every id to itself: `0 0 4294967295`. */
  initial: boolean;
  uids: IdRange[];
  gids: IdRange[];
  /** /proc/PID/setgroups: `deny` where an unprivileged map-writer gave up setgroups(2) to write gid_map. */
  setgroups: boolean;
}

export function userNamespaceOf(pid: number | 'self' = 'self'): UserNamespace {
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8');
  const uids = parseIdMap(read('uid_map'));
  const initial = uids.length === 1 && uids[0]!.inside === 0 && uids[0]!.outside === 0 && uids[0]!.count === 4294967295;
  let setgroups = true;
  try {
    setgroups = read('setgroups').trim() !== 'deny';
  } catch {
    // a kernel before 3.19 has no setgroups file, and no such restriction
  }
  return { initial, uids, gids: parseIdMap(read('gid_map')), setgroups };
}
