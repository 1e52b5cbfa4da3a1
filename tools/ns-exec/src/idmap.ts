import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { type IdRange, subordinateRange, userNamespaceOf } from '@cutaway/libc/userns';
import type { IdMapping } from './oci/config.ts';

/**
 * The user namespace of a rootless run, as config.json's linux.uidMappings and gidMappings: the caller is
 * root inside (as `unshare --map-root-user`), and where /etc/subuid and /etc/subgid grant the caller ranges,
 * ids 1… map onto them (written through the setuid newuidmap/newgidmap of shadow's uidmap package, oci/plan.ts),
 * as rootless podman does. user_namespaces(7).
 */
export interface RootlessMaps {
  uidMappings: IdMapping[];
  gidMappings: IdMapping[];
}

export function rootlessMapping(): RootlessMaps {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const own = (id: number): IdMapping => ({ containerID: 0, hostID: id, size: 1 });
  // /etc/subuid's ranges are ids of the initial user namespace: newuidmap grants them only there.
  const initial = userNamespaceOf().initial;
  const name = initial ? userInfo().username : '';
  const subuid = initial ? subordinateRange('/etc/subuid', name, uid) : undefined;
  const subgid = initial ? subordinateRange('/etc/subgid', name, uid) : undefined;
  if (subuid && subgid && existsSync('/usr/bin/newuidmap') && existsSync('/usr/bin/newgidmap')) {
    return {
      uidMappings: [own(uid), { containerID: 1, hostID: subuid.start, size: subuid.count }],
      gidMappings: [own(gid), { containerID: 1, hostID: subgid.start, size: subgid.count }],
    };
  }
  return { uidMappings: [own(uid)], gidMappings: [own(gid)] };
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

export function containerIds(mapping: RootlessMaps | undefined): ContainerIds | undefined {
  if (mapping) {
    const all = (maps: IdMapping[]): IdRange[] => [{ inside: 0, outside: 0, count: maps.reduce((n, m) => n + m.size, 0) }];
    // One line, the caller's own id, is what an unprivileged writer may map: with setgroups "deny" first.
    return { uids: all(mapping.uidMappings), gids: all(mapping.gidMappings), setgroups: mapping.gidMappings.length > 1, more: 'a range for this user in /etc/subuid and /etc/subgid maps more' };
  }
  const ns = userNamespaceOf();
  if (ns.initial) return undefined;
  return { uids: ns.uids, gids: ns.gids, setgroups: ns.setgroups, more: 'unshare --user --map-root-user --map-auto maps the ranges /etc/subuid and /etc/subgid grant' };
}
