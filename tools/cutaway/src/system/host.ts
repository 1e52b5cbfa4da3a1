import { statfsSync } from 'node:fs';

const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The host's cgroup version as Docker reports it: 2 for the unified hierarchy alone at /sys/fs/cgroup, else (v1, hybrid) 1. */
export function cgroupVersion(): 1 | 2 {
  return statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? 2 : 1;
}
