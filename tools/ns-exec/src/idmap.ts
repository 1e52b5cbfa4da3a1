import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type IdRange, subordinateRange, userNamespaceOf } from '@cutaway/libc/userns';

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

export function rootlessMapping(): IdMapping {
  const uid = process.getuid!();
  const gid = process.getgid!();
  // /etc/subuid's ranges are ids of the initial user namespace: newuidmap grants them only there.
  const initial = userNamespaceOf().initial;
  const name = initial ? userInfo().username : '';
  const subuid = initial ? subordinateRange('/etc/subuid', name, uid) : undefined;
  const subgid = initial ? subordinateRange('/etc/subgid', name, uid) : undefined;
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

/**
 * The ids a container has when it lives in a user namespace: the one ns-exec makes for a rootless caller
 * (`mapping`), or the one ns-exec runs in as its root — `unshare --user --map-root-user` (one id) or
 * `--map-auto` (the subordinate ranges), the "Ubuntu without Docker" way. Undefined in the initial user
 * namespace, where every id exists and nothing of user_namespaces(7)'s limits applies.
 */
export interface ContainerIds {
  uids: IdRange[];
  gids: IdRange[];
  /** setgroups(2) works: not where the map was written by an unprivileged process (setgroups "deny"). */
  setgroups: boolean;
  /** How to get more ids, for the message about one that is not there. */
  more: string;
}

export function containerIds(mapping: IdMapping | undefined): ContainerIds | undefined {
  if (mapping) {
    const all = (count: number): IdRange[] => [{ inside: 0, outside: 0, count }];
    return { uids: all(mapping.uidCount), gids: all(mapping.gidCount), setgroups: mapping.gidHow !== 'file', more: 'a range for this user in /etc/subuid and /etc/subgid maps more' };
  }
  const ns = userNamespaceOf();
  if (ns.initial) return undefined;
  return { uids: ns.uids, gids: ns.gids, setgroups: ns.setgroups, more: 'unshare --user --map-root-user --map-auto maps the ranges /etc/subuid and /etc/subgid grant' };
}
