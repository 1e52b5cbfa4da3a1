import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMountinfo, type MountEntry } from '@cutaway/libc/mountinfo';

/**
 * Where each controller lives, read from /proc/self/mountinfo: the cgroup v2
 * unified hierarchy (fstype cgroup2; its cgroup.controllers lists what it
 * has) and v1 hierarchies (fstype cgroup; the super options name the
 * controllers). A controller is used from v2 when v2 has it, else from v1 —
 * which on a hybrid host (this CI machine) means memory, cpu and pids in v1.
 */

export type Controller =
  | 'memory' | 'cpu' | 'cpuacct' | 'cpuset' | 'pids' | 'blkio' | 'io' | 'devices' | 'freezer' | 'hugetlb' | 'net_cls' | 'net_prio';

export type Version = 'v1' | 'v2';

export interface Hierarchies {
  /** The cgroup2 mount point, if any. */
  unified?: string;
  /** Controllers enabled at the root of the unified hierarchy. */
  unifiedControllers: Set<string>;
  /** v1 mount point per controller. */
  v1: Map<string, string>;
}

export function findHierarchies(mounts: readonly MountEntry[] = readMountinfo()): Hierarchies {
  const result: Hierarchies = { unifiedControllers: new Set(), v1: new Map() };
  for (const { mountPoint, fstype, superOptions } of mounts) {
    if (fstype === 'cgroup2' && !result.unified) {
      result.unified = mountPoint;
      const controllers = join(mountPoint, 'cgroup.controllers');
      if (existsSync(controllers)) for (const c of readFileSync(controllers, 'utf8').trim().split(/\s+/)) if (c) result.unifiedControllers.add(c);
    } else if (fstype === 'cgroup') {
      for (const option of superOptions) if (!result.v1.has(option) && ['memory', 'cpu', 'cpuacct', 'cpuset', 'pids', 'blkio', 'devices', 'freezer'].includes(option)) result.v1.set(option, mountPoint);
    }
  }
  return result;
}

/** v2 when the unified hierarchy has memory, cpu and pids (a v2-only host), else v1 (a legacy or hybrid host). */
export function cgroupVersion(h: Hierarchies): Version {
  return h.unified && ['memory', 'cpu', 'pids'].every((c) => h.unifiedControllers.has(c)) ? 'v2' : 'v1';
}
