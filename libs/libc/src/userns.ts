import { existsSync, readFileSync } from 'node:fs';

/**
 * The user namespace a process is in, as /proc/PID/{uid,gid}_map and
 * /proc/PID/setgroups show it (user_namespaces(7)), and the subordinate id
 * ranges /etc/subuid and /etc/subgid grant a user (subuid(5)). No koffi:
 * ns-exec's planner reads it on its hot path.
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

/**
 * An id of the parent namespace (the host's) as the namespace whose map this is sees it: the overflow id,
 * 65534, where it is not mapped, as the kernel shows one (user_namespaces(7), "Unmapped user and group IDs").
 */
export function insideId(ranges: readonly IdRange[], outsideId: number): number {
  const range = ranges.find((r) => outsideId >= r.outside && outsideId < r.outside + r.count);
  return range ? range.inside + outsideId - range.outside : 65534;
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

/** The initial user namespace's map: every id to itself, `0 0 4294967295`. */
function isInitial(uids: readonly IdRange[]): boolean {
  return uids.length === 1 && uids[0]!.inside === 0 && uids[0]!.outside === 0 && uids[0]!.count === 4294967295;
}

/** Whether a process is in the initial user namespace (one read: its uid_map). */
export function inInitialUserNamespace(pid: number | 'self' = 'self'): boolean {
  return isInitial(parseIdMap(readFileSync(`/proc/${pid}/uid_map`, 'utf8')));
}

export function userNamespaceOf(pid: number | 'self' = 'self'): UserNamespace {
  const read = (file: string) => readFileSync(`/proc/${pid}/${file}`, 'utf8');
  const uids = parseIdMap(read('uid_map'));
  const initial = isInitial(uids);
  let setgroups = true;
  try {
    setgroups = read('setgroups').trim() !== 'deny';
  } catch {
    // a kernel before 3.19 has no setgroups file, and no such restriction
  }
  return { initial, uids, gids: parseIdMap(read('gid_map')), setgroups };
}

/** A subordinate id range: ids START … START+COUNT-1 of the initial namespace, which newuidmap(1)/newgidmap(1) let their owner map. */
export interface SubordinateRange {
  start: number;
  count: number;
}

/**
 * A user's first range in /etc/subuid or /etc/subgid, whose lines are NAME-or-ID:START:COUNT (subuid(5),
 * subgid(5)); undefined where the file or such a line is missing. The first only: unshare(1) of util-linux 2.38
 * takes one --map-users range, so rootless cutaway and ns-exec map one.
 */
export function subordinateRange(file: string, name: string, id: number): SubordinateRange | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if ((owner === name || owner === String(id)) && /^\d+$/.test(start ?? '') && /^\d+$/.test(count ?? '') && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}
