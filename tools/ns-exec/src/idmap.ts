import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

/**
 * The user namespace of a rootless run: the caller is root inside (as
 * `unshare --map-root-user`), and where /etc/subuid and /etc/subgid grant the
 * caller ranges, ids 1… map onto them through the setuid newuidmap/newgidmap
 * (shadow's uidmap package), as rootless podman does. user_namespaces(7).
 */
export interface IdMapping {
  /** `file`: ns-exec writes /proc/PID/{uid,gid}_map itself; else the helper to run. */
  uidHow: 'file' | 'newuidmap';
  gidHow: 'file' | 'newgidmap';
  uidMap: string;
  gidMap: string;
  /** How many ids exist inside: 0 … count-1. */
  uidCount: number;
  gidCount: number;
  /** unshare(1)'s options for the same maps. */
  unshare: string[];
}

function subordinateRange(file: string, name: string, id: number): { start: number; count: number } | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if ((owner === name || owner === String(id)) && Number(count) > 0) return { start: Number(start), count: Number(count) };
  }
  return undefined;
}

export function rootlessMapping(): IdMapping {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const name = userInfo().username;
  const subuid = subordinateRange('/etc/subuid', name, uid);
  const subgid = subordinateRange('/etc/subgid', name, uid);
  if (subuid && subgid && existsSync('/usr/bin/newuidmap') && existsSync('/usr/bin/newgidmap')) {
    return {
      uidHow: 'newuidmap',
      gidHow: 'newgidmap',
      uidMap: `0 ${uid} 1 1 ${subuid.start} ${subuid.count}`,
      gidMap: `0 ${gid} 1 1 ${subgid.start} ${subgid.count}`,
      uidCount: 1 + subuid.count,
      gidCount: 1 + subgid.count,
      unshare: ['--map-user=0', '--map-group=0', `--map-users=${subuid.start},1,${subuid.count}`, `--map-groups=${subgid.start},1,${subgid.count}`],
    };
  }
  return { uidHow: 'file', gidHow: 'file', uidMap: `0 ${uid} 1\n`, gidMap: `0 ${gid} 1\n`, uidCount: 1, gidCount: 1, unshare: ['--map-root-user'] };
}
