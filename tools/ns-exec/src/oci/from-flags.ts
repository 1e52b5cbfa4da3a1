/**
 * ns-exec's own flags as a config.json, the way `runc spec` and Docker's options make one (moby's
 * daemon/pkg/oci DefaultLinuxSpec and its container options): Docker's default mounts, capabilities,
 * masked and read-only paths and network sysctls; -v as rbind mounts, --tmpfs, --device, --read-only,
 * --privileged, --net/--netns as the network namespace; -u resolved in the rootfs into uid, gid and
 * additionalGids; the environment as Docker builds it; the seccomp profile in the OCI form; a rootless caller's
 * id maps. What config.json cannot say (the cgroup to join, the pid and exit files, ns-exec's device rule, the
 * host node of a --device HOST:CTR) goes in the PlanContext. oci/plan.ts makes the plan of both.
 */
import { existsSync } from 'node:fs';
import { hostname as hostHostname } from 'node:os';
import { ToolError, UsageError } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { describeIds, idMapped } from '@cutaway/libc/userns';
import { capabilityNames, capabilitySet, ownBoundingSet } from '../caps.ts';
import { cgroupDirs } from '../cgroups.ts';
import { containerEnv } from '../env.ts';
import { securityOptions } from '../exec-step.ts';
import { containerIds, rootlessMapping } from '../idmap.ts';
import { checkRootfs, configDevice, DEFAULT_DEVICES, hostDevices, maskedPaths, parseBind, parseDevice, parseTmpfs, READONLY_PATHS } from '../mounts.ts';
import { choiceProfile } from '../seccomp.ts';
import type { NsExecInvocation } from '../spec.ts';
import { resolveUser } from '../user.ts';
import { OCI_VERSION, type Mount, type Namespace, type Spec } from './config.ts';
import type { PlanContext } from './plan.ts';

/** Docker's sysctls for a container with a network of its own (moby WithCommonOptions). */
export const NETWORK_SYSCTLS: Record<string, string> = { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0' };

/** A container-id-like hostname: 12 hex digits. Math.random is enough for a name (node:crypto alone takes ~3 ms to load). */
function randomHostname(): string {
  return Array.from({ length: 12 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

/**
 * Docker's default mounts (moby DefaultLinuxSpec), in the order ns-exec makes them: /dev's own mounts right
 * after /dev. In a user namespace without a network namespace of its own sysfs cannot be mounted (only by
 * the owner of the network namespace): the host's /sys is bound, as runc's rootless spec does. Propagation
 * options are left out: ns-exec makes the whole tree rprivate first (oci/plan.ts), Docker's `rprivate`.
 */
export function defaultMounts(o: { privileged: boolean; sysBound: boolean; ttyGroupMapped: boolean }): Mount[] {
  const access = o.privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    // gid=5 (tty) where that group exists: devpts refuses an id its user namespace does not map (EINVAL), so
    // under `unshare --map-root-user` it is left out, as runc and podman leave it out (new ptys get the caller's gid).
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(o.ttyGroupMapped ? ['gid=5'] : [])] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    ...(o.sysBound
      ? [{ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'ro'] }]
      : [
          { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', access] },
          { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: [access, 'nosuid', 'noexec', 'nodev'] },
        ]),
  ];
}

/** `ns-exec [options] --rootfs DIR -- CMD …` as a config.json and the rest of its plan's context. */
export function configFromFlags(inv: NsExecInvocation): { spec: Spec; ctx: PlanContext } {
  const o = inv.options;
  if (o.rootfs === undefined) throw new UsageError('--rootfs DIR is required');
  if (!inv.command.length) throw new UsageError(inv.positionals.length ? `put the command after --: ns-exec --rootfs ${o.rootfs} -- ${inv.positionals.join(' ')}` : 'no command: ns-exec --rootfs DIR -- CMD [ARG…]');
  if (inv.positionals.length) throw new UsageError(`unexpected arguments before --: ${inv.positionals.join(' ')}`);
  const net = o.net;
  if (net !== undefined && !['none', 'host'].includes(net)) throw new UsageError(`--net ${net}: expected none or host (a bridge comes from netbridge: --netns PATH)`);
  const netns = o.netns;
  if (netns && net) throw new UsageError('--netns and --net exclude each other');
  const workdir = o.workdir ?? '/';
  if (!workdir.startsWith('/')) throw new UsageError(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`);
  const binds = o.volume.map(parseBind);
  const tmpfs = o.tmpfs.map(parseTmpfs);
  const devices = o.device.map(parseDevice);
  const { noNewPrivileges, seccomp } = securityOptions(o['security-opt']);
  const privileged = o.privileged;
  const hostname = o.hostname ?? (net === 'host' ? hostHostname() : randomHostname());
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) throw new UsageError(`invalid hostname ${JSON.stringify(hostname)}`);

  const rootfs = checkRootfs(o.rootfs);
  const rootless = process.getuid!() !== 0;
  const mapping = rootless ? rootlessMapping() : undefined;
  if (rootless && netns) throw new ToolError('--netns needs root: joining a network namespace takes CAP_SYS_ADMIN over it');
  const identity = resolveUser(rootfs, o.user ?? '');
  // The container's user namespace: the one made here for a rootless caller, or the one root runs ns-exec in.
  const ids = containerIds(mapping);
  if (ids && (!idMapped(ids.uids, identity.uid) || identity.groups.some((g) => !idMapped(ids.gids, g))))
    throw new ToolError(`user ${o.user ?? `${identity.uid}:${identity.gid}`}: not mapped in the user namespace (the uids it has: ${describeIds(ids.uids)})`, ids.more);
  const caps = capabilitySet(o['cap-add'], o['cap-drop'], privileged, ownBoundingSet());
  // Docker's rule: --privileged is unconfined, whatever seccomp= says; the profile's capability rules follow the bounding set.
  const profile = privileged ? undefined : choiceProfile(seccomp, caps);
  const tty = o.tty;
  const env = containerEnv({ env: o.env, envFiles: o['env-file'], hostname, tty, home: identity.home });
  const cgroups = cgroupDirs(o.cgroup, readMountinfo());
  if (netns && !existsSync(netns)) throw new ToolError(`--netns ${netns}: no such network namespace`);

  const ownNetwork = net !== 'host';
  const namespaces: Namespace[] = [
    { type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }, { type: 'cgroup' },
    ...(netns ? [{ type: 'network' as const, path: netns }] : net === 'host' ? [] : [{ type: 'network' as const }]),
    ...(mapping ? [{ type: 'user' as const }] : []),
  ];
  // --device nodes take the place of the host's of the same path under --privileged (Docker's order: the
  // host's devices, then --device's); the default devices are oci/plan.ts's.
  const own = devices.map((d) => configDevice(d.path, d));
  const hostExtras = privileged && !ids ? hostDevices().filter((d) => !DEFAULT_DEVICES.some((n) => n.path === d.path) && !own.some((n) => n.path === d.path)) : [];
  const granted = identity.uid === 0 ? capabilityNames(caps) : []; // moby SetCapabilities: a non-root user gets the bounding set only
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: tty,
      // With a map written without privileges the kernel refuses setgroups(2) (setgroups is "deny", user_namespaces(7)): the command keeps what it has, its one group.
      user: { uid: identity.uid, gid: identity.gid, additionalGids: ids && !ids.setgroups ? [] : identity.groups },
      args: inv.command,
      env,
      cwd: workdir,
      capabilities: { bounding: capabilityNames(caps), effective: granted, permitted: granted, inheritable: [], ambient: [] },
      noNewPrivileges,
    },
    root: { path: rootfs, readonly: o['read-only'] },
    hostname,
    mounts: [
      ...defaultMounts({ privileged, sysBound: ids !== undefined && !ownNetwork, ttyGroupMapped: !ids || idMapped(ids.gids, 5) }),
      ...binds.map((b): Mount => ({ destination: b.target, type: 'bind', source: b.source, options: ['rbind', ...(b.readOnly ? ['ro'] : [])] })),
      ...tmpfs.map((t): Mount => ({ destination: t.target, type: 'tmpfs', source: 'tmpfs', options: t.options })),
    ],
    linux: {
      namespaces,
      ...(mapping ?? {}),
      devices: [...hostExtras, ...own],
      ...(ownNetwork && !ids ? { sysctl: NETWORK_SYSCTLS } : {}),
      maskedPaths: privileged ? [] : maskedPaths(),
      readonlyPaths: privileged ? [] : READONLY_PATHS,
      ...(profile ? { seccomp: profile.seccomp } : {}),
    },
  };
  const ctx: PlanContext = {
    bundle: process.cwd(),
    cgroups,
    pidFiles: o['pid-file'] !== undefined ? [o['pid-file']] : [],
    ...(o['exit-file'] !== undefined ? { exitFile: o['exit-file'] } : {}),
    // --privileged: no device rule; otherwise it stands unless a devices cgroup decides (ns-exec-plan.ts asks).
    ...(privileged ? { forbidDeviceNodes: false } : {}),
    nodevRootfs: !privileged,
    hostNodes: Object.fromEntries(devices.map((d) => [d.path, d.host])),
    makeBindSources: true,
    ...(profile ? { seccompSource: profile.source } : {}),
  };
  return { spec, ctx };
}
