/**
 * The one place a container's plan is made: from a config.json (runtime-spec 1.0.2 config.md and
 * config-linux.md), with what config.json does not say in a PlanContext. ns-exec's own flags come here as a
 * config.json too (from-flags.ts), and so do the runtime verbs' bundles (`ns-exec create`/`run`).
 *
 * The plan's order, host side: the cgroup, the namespaces joined before the clone (user, pid, network: they
 * decide what the child is made in), the id maps, the session keyring, then what the parent does around the
 * command (pid files, exit file, OOM counter, terminal, create's FIFO, prestart/createRuntime hooks). Container
 * side: oom_score_adj (through the host's /proc, before any namespace is joined), rlimits, the namespaces the
 * child joins (ipc, uts, cgroup, mount: enter.ts's order), hostname, domainname, lo, the rootfs and
 * config.json's mounts in order, the devices, sysctls, the working directory, masked and read-only paths, the
 * terminal, the hooks, the pivot, then the command (exec-step.ts).
 */
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { shellCommand, shellQuote, ToolError } from '@cutaway/cli';
import { readMountinfo, type MountEntry } from '@cutaway/libc/mountinfo';
import { userNamespaceOf } from '@cutaway/libc/userns';
import { capabilityMask, ownBoundingSet } from '../caps.ts';
import { cgroupsOf, joinCgroups, oomCounter } from '../cgroups.ts';
import { addExecStep } from '../exec-step.ts';
import { checkRootfs, FilesystemPlanner } from '../mounts.ts';
import { CLONE, Plan } from '../plan.ts';
import { resolveProfile } from '../seccomp.ts';
import { cgroupSteps } from './cgroups.ts';
import type { Hook, IdMapping, Namespace, NamespaceType, Rlimit, Spec, State } from './config.ts';

/** What a plan needs besides config.json: the bundle, ns-exec's own decisions, and the runtime verbs' options. */
export interface PlanContext {
  /** The bundle directory: root.path is relative to it. */
  bundle: string;
  /** The host's mount table (its cgroup hierarchies); read when not given. */
  hostMounts?: MountEntry[];
  /**
   * The device-node rule of ns-exec's seccomp filter (mknod of a character or block device fails): for where
   * no devices cgroup decides which nodes open (cgroups.ts devicesControlled).
   */
  forbidDeviceNodes?: boolean;
  /** ns-exec's own flags (not --privileged): the rootfs mounted nodev (mounts.ts FilesystemSetup.nodev). */
  nodevRootfs?: boolean;
  /** The host node bound in for a device path (--device HOST:CTR), where one is bound; default the same path. */
  hostNodes?: Record<string, string>;
  /** docker run -v: a missing bind source directory is made. */
  makeBindSources?: boolean;
  /** Where linux.seccomp came from, for its `#` line in --trace and --dry-run. */
  seccompSource?: string;
  /** Cgroup directories to join before the clone (ns-exec --cgroup; cgroups.ts joinCgroups). */
  cgroups?: string[];
  /** --pid-file: the command's pid as the host sees it (runc's --pid-file too). */
  pidFiles: string[];
  /** --exit-file. */
  exitFile?: string;
  /** runc create: PID 1 waits before execve until `start` opens this FIFO. */
  create?: { fifo: string };
  /** runc --console-socket: the terminal's master goes to this unix socket. */
  consoleSocket?: string;
  /** runc --no-pivot. */
  noPivot?: boolean;
  /** runc --no-new-keyring: the caller's session keyring stays the container's (no `session-keyring` step). */
  noNewKeyring?: boolean;
  /** The runtime's state for the hooks (runtime.md "State"), without pid (ns-exec.c adds it) and status (set per hook). */
  state?: Omit<State, 'pid' | 'status'>;
}

/** A namespace type: its clone(2) flag, its unshare(1)/nsenter(1) option, and who joins one given by path. */
interface NamespaceKind {
  flag: number;
  option: string;
  /** `host`: joined before the clone (the child is made in it); `container`: by the child, before its mounts. */
  joinedBy: 'host' | 'container';
}

/** In unshare(1)'s order as ns-exec has always written it; joined in enter.ts's order (the user namespace first, mount last). */
const NAMESPACES: Record<NamespaceType, NamespaceKind> = {
  pid: { flag: CLONE.NEWPID, option: 'pid', joinedBy: 'host' },
  mount: { flag: CLONE.NEWNS, option: 'mount', joinedBy: 'container' },
  uts: { flag: CLONE.NEWUTS, option: 'uts', joinedBy: 'container' },
  ipc: { flag: CLONE.NEWIPC, option: 'ipc', joinedBy: 'container' },
  cgroup: { flag: CLONE.NEWCGROUP, option: 'cgroup', joinedBy: 'container' },
  network: { flag: CLONE.NEWNET, option: 'net', joinedBy: 'host' },
  user: { flag: CLONE.NEWUSER, option: 'user', joinedBy: 'host' },
};
const JOIN_ORDER: NamespaceType[] = ['user', 'pid', 'ipc', 'uts', 'network', 'cgroup', 'mount'];

/** getrlimit(2)'s resources (asm-generic/resource.h), by config.md's names, with prlimit(1)'s option for each. */
const RLIMITS: Record<string, [number, string]> = {
  RLIMIT_CPU: [0, 'cpu'], RLIMIT_FSIZE: [1, 'fsize'], RLIMIT_DATA: [2, 'data'], RLIMIT_STACK: [3, 'stack'], RLIMIT_CORE: [4, 'core'],
  RLIMIT_RSS: [5, 'rss'], RLIMIT_NPROC: [6, 'nproc'], RLIMIT_NOFILE: [7, 'nofile'], RLIMIT_MEMLOCK: [8, 'memlock'], RLIMIT_AS: [9, 'as'],
  RLIMIT_LOCKS: [10, 'locks'], RLIMIT_SIGPENDING: [11, 'sigpending'], RLIMIT_MSGQUEUE: [12, 'msgqueue'], RLIMIT_NICE: [13, 'nice'],
  RLIMIT_RTPRIO: [14, 'rtprio'], RLIMIT_RTTIME: [15, 'rttime'],
};
const RLIM_INFINITY = 2n ** 64n - 1n;

/** sysctls of the IPC namespace (runc's validator: they need one of the container's own). */
const IPC_SYSCTL = /^(kernel\.(msgmax|msgmnb|msgmni|sem|shmall|shmmax|shmmni|shm_rmid_forced)|fs\.mqueue\..+)$/;

/** config.json's namespaces: the new ones, and those joined by path; duplicates refused (config-linux.md "Namespaces"). */
function namespaces(list: readonly Namespace[]): { created: Set<NamespaceType>; joined: Map<NamespaceType, string> } {
  const created = new Set<NamespaceType>();
  const joined = new Map<NamespaceType, string>();
  for (const ns of list) {
    if (!(ns.type in NAMESPACES)) throw new ToolError(`linux.namespaces: unknown type ${JSON.stringify(ns.type)}`);
    if (created.has(ns.type) || joined.has(ns.type)) throw new ToolError(`linux.namespaces: ${ns.type} is given twice`);
    if (ns.path) {
      if (!existsSync(ns.path)) throw new ToolError(`linux.namespaces: the ${ns.type} namespace ${ns.path}: no such file`);
      joined.set(ns.type, ns.path);
    } else created.add(ns.type);
  }
  return { created, joined };
}

/**
 * How the maps of a new user namespace are written (user_namespaces(7)): root writes them itself (`proc`);
 * another user may write one line mapping its own id (`file`, setgroups "deny" first), and needs
 * newuidmap(1)/newgidmap(1) for more, as rootless podman does.
 */
function mapHow(maps: readonly IdMapping[], ownId: number, helper: 'newuidmap' | 'newgidmap'): 'proc' | 'file' | 'newuidmap' | 'newgidmap' {
  if (process.getuid!() === 0) return 'proc';
  return maps.length === 1 && maps[0]!.hostID === ownId && maps[0]!.size === 1 ? 'file' : helper;
}

/** A map as the kernel's file takes it (one `INSIDE OUTSIDE COUNT` line each) or as newuidmap's arguments (all in one line). */
function mapText(maps: readonly IdMapping[], how: string): string {
  return how.startsWith('new') ? maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}`).join(' ') : maps.map((m) => `${m.containerID} ${m.hostID} ${m.size}\n`).join('');
}

/** unshare(1)'s options for the same maps: --map-root-user for the one-id map of the caller, else --map-user(s)/--map-group(s). */
function unshareMapOptions(uids: readonly IdMapping[], gids: readonly IdMapping[]): string[] {
  const own = (maps: readonly IdMapping[], id: number) => maps.find((m) => m.hostID === id && m.size === 1);
  const uid = process.getuid!();
  const gid = process.getgid!();
  const ownUid = own(uids, uid);
  const ownGid = own(gids, gid);
  if (uids.length === 1 && gids.length === 1 && ownUid?.containerID === 0 && ownGid?.containerID === 0) return ['--map-root-user'];
  const ranges = (maps: readonly IdMapping[], ownMap: IdMapping | undefined, option: string) =>
    maps.filter((m) => m !== ownMap).map((m) => `--${option}=${m.hostID},${m.containerID},${m.size}`);
  return [
    ...(ownUid ? [`--map-user=${ownUid.containerID}`] : []), ...(ownGid ? [`--map-group=${ownGid.containerID}`] : []),
    ...ranges(uids, ownUid, 'map-users'), ...ranges(gids, ownGid, 'map-groups'),
  ];
}

/** A hook's arguments for its step, and the shell line that runs it with the state on stdin. */
function hookStep(hook: Hook, state: string): { text: string; args: [string, string[], string[], number, string] } {
  if (!hook.path.startsWith('/')) throw new ToolError(`hook ${hook.path}: the path must be absolute (config.md "POSIX-platform Hooks")`);
  if (hook.timeout !== undefined && !(hook.timeout > 0)) throw new ToolError(`hook ${hook.path}: timeout ${hook.timeout} must be greater than zero`);
  const args = hook.args ?? [hook.path];
  const text = `${shellCommand([...(hook.env ? ['env', '-i', ...hook.env] : []), hook.path, ...args.slice(1)])} <<< ${shellQuote(state)}`;
  return { text, args: [hook.path, args, hook.env ?? [], hook.timeout ?? 0, state] };
}

/** setrlimit(2)'s value: RLIM_INFINITY for 2^64-1 (which a JSON double rounds up to 2^64). */
function rlimitValue(n: number): bigint {
  const v = BigInt(n);
  return v > RLIM_INFINITY ? RLIM_INFINITY : v;
}

function rlimitStep(plan: Plan, r: Rlimit): void {
  const known = RLIMITS[r.type];
  if (!known) throw new ToolError(`process.rlimits: unknown type ${JSON.stringify(r.type)}`, Object.keys(RLIMITS).join(', '));
  const soft = rlimitValue(r.soft);
  const hard = rlimitValue(r.hard);
  if (soft > hard) throw new ToolError(`process.rlimits ${r.type}: soft ${r.soft} is above hard ${r.hard}`);
  const word = (v: bigint) => (v === RLIM_INFINITY ? 'unlimited' : String(v));
  plan.step('rlimit', `prlimit --pid $$ --${known[1]}=${word(soft)}:${word(hard)}`, known[0], soft, hard);
}

/** A security module the host enforces: then a profile or label config.json asks for cannot be left out silently. */
function moduleEnabled(name: 'apparmor' | 'selinux'): boolean {
  if (name === 'selinux') return existsSync('/sys/fs/selinux/enforce');
  try {
    return readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

/** What ns-exec does not do: refused in one line, rather than a container made without it. */
function refuseUnsupported(spec: Spec): void {
  const p = spec.process;
  const linux = spec.linux ?? {};
  // runc applies an AppArmor profile or SELinux label only where the host enforces that module, and ignores it
  // elsewhere (libcontainer/apparmor ApplyProfile, go-selinux SetExecLabel are no-ops when disabled): so does ns-exec.
  if (p?.apparmorProfile && moduleEnabled('apparmor')) throw new ToolError(`process.apparmorProfile ${p.apparmorProfile}: ns-exec does not apply AppArmor profiles`);
  if ((p?.selinuxLabel || linux.mountLabel) && moduleEnabled('selinux')) throw new ToolError('process.selinuxLabel/linux.mountLabel: ns-exec does not apply SELinux labels');
  if (linux.intelRdt) throw new ToolError('linux.intelRdt: ns-exec does not manage Intel RDT (resctrl)');
  if (linux.personality) throw new ToolError('linux.personality: ns-exec does not set an execution domain (personality(2))');
}

/** sysctls a namespace of the container's own must hold (runc's validator refuses them otherwise). */
function checkSysctls(sysctl: Readonly<Record<string, string>>, own: (type: NamespaceType) => boolean): void {
  for (const key of Object.keys(sysctl)) {
    if (key.startsWith('net.') && !own('network')) throw new ToolError(`linux.sysctl ${key}: not allowed in the host's network namespace`);
    if (IPC_SYSCTL.test(key) && !own('ipc')) throw new ToolError(`linux.sysctl ${key}: not allowed in the host's IPC namespace`);
    if (key === 'kernel.hostname' || key === 'kernel.domainname') throw new ToolError(`linux.sysctl ${key}: set hostname or domainname instead`);
  }
}

/** A container's plan, from its config.json and what the context adds. */
export async function planFromConfig(spec: Spec, ctx: PlanContext): Promise<Plan> {
  const proc = spec.process;
  if (!proc) throw new ToolError('config.json has no process');
  if (!proc.args?.length) throw new ToolError('process.args: no command');
  if (!proc.cwd.startsWith('/')) throw new ToolError(`process.cwd ${JSON.stringify(proc.cwd)}: it needs to be an absolute path`);
  if (!spec.root?.path) throw new ToolError('config.json has no root.path');
  refuseUnsupported(spec);
  const linux = spec.linux ?? {};
  const rootfs = checkRootfs(posix.resolve(ctx.bundle, spec.root.path));
  const hostMounts = ctx.hostMounts ?? readMountinfo();
  const { created, joined } = namespaces(linux.namespaces ?? []);
  const own = (type: NamespaceType) => created.has(type) || joined.has(type);
  // A joined UTS namespace is the container's too: runc sets the name there (its validator asks for NEWUTS, new or by path).
  if ((spec.hostname || spec.domainname) && !created.has('uts') && !joined.has('uts')) throw new ToolError('hostname/domainname: the container needs a UTS namespace of its own');
  const sysctl = linux.sysctl ?? {};
  checkSysctls(sysctl, own);
  const uidMaps = linux.uidMappings ?? [];
  const gidMaps = linux.gidMappings ?? [];
  if ((uidMaps.length || gidMaps.length) && !created.has('user')) throw new ToolError('linux.uidMappings/gidMappings: only for a new user namespace');
  if (created.has('user') && (!uidMaps.length || !gidMaps.length)) throw new ToolError('a new user namespace needs linux.uidMappings and linux.gidMappings');
  const inUserNs = created.has('user') || joined.has('user') || !userNamespaceOf().initial;
  const uidHow = mapHow(uidMaps, process.getuid!(), 'newuidmap');
  const gidHow = mapHow(gidMaps, process.getgid!(), 'newgidmap');
  // A gid map written without privileges leaves setgroups(2) refused ("deny", user_namespaces(7)), as does a namespace ns-exec runs in that was made so.
  const setgroupsDenied = created.has('user') ? gidHow === 'file' : !userNamespaceOf().setgroups;
  const plan = new Plan();

  // The host side.
  // A config's cgroup (linux.cgroupsPath, else the container id as runc names it) with linux.resources applied
  // and joined; ns-exec's --cgroup joins existing ones as it always has.
  let cgroups = ctx.cgroups ?? [];
  if (linux.cgroupsPath !== undefined || linux.resources) {
    if (!ctx.state) throw new ToolError('linux.cgroupsPath/linux.resources: the runtime state (the container id) is needed to name the cgroup');
    cgroups = cgroupSteps(plan, linux.cgroupsPath, linux.resources, hostMounts, ctx.state.id);
    plan.cgroups = cgroups;
  } else joinCgroups(plan, cgroups, hostMounts);
  const enter: string[] = [];
  for (const type of JOIN_ORDER) {
    const path = joined.get(type);
    if (path === undefined) continue;
    const { flag, option, joinedBy } = NAMESPACES[type];
    enter.push(`--${option}=${path}`);
    if (joinedBy === 'host') plan.hostStep('setns', ['nsenter', `--${option}=${path}`], path, flag);
  }
  if (enter.length) plan.enter = ['nsenter', ...enter];
  if (created.has('user')) {
    const text = (how: string, kind: string, map: string) => (how === 'file' || how === 'proc' ? `echo '${map.trim()}' > /proc/$PID/${kind}` : `${how} $PID ${map}`);
    plan.hostStep('uidmap', text(uidHow, 'uid_map', mapText(uidMaps, uidHow)), uidHow, mapText(uidMaps, uidHow));
    plan.hostStep('gidmap', text(gidHow, 'gid_map', mapText(gidMaps, gidHow)), gidHow, mapText(gidMaps, gidHow));
  }
  if (!ctx.noNewKeyring) plan.hostStep('session-keyring', 'keyctl new_session >/dev/null');
  for (const file of ctx.pidFiles) plan.hostStep('pidfile', '', posix.resolve(file));
  if (ctx.exitFile !== undefined) plan.hostStep('exitfile', '', posix.resolve(ctx.exitFile));
  const oom = oomCounter(cgroups, hostMounts);
  if (oom) plan.hostStep('oom', '', oom);
  if (proc.terminal) plan.hostStep('tty', '');
  if (proc.terminal && ctx.consoleSocket) plan.hostStep('console-socket', '', posix.resolve(ctx.consoleSocket));
  if (!proc.terminal && ctx.consoleSocket) throw new ToolError('--console-socket is for a container with process.terminal');
  if (ctx.create) plan.hostStep('create', '', ctx.create.fifo);
  const hooks = spec.hooks ?? {};
  const state = (status: State['status']) => {
    if (!ctx.state) throw new ToolError('config.json hooks: the runtime state (the container id) is needed to run them');
    return JSON.stringify({ ...ctx.state, status });
  };
  const parentHooks = [...(hooks.prestart ?? []), ...(hooks.createRuntime ?? [])];
  for (const hook of parentHooks) {
    const { text, args } = hookStep(hook, state('creating'));
    plan.hostStep('hook', text, ...args);
  }

  // The clone.
  plan.cloneFlags = [...created].reduce((flags, type) => flags | NAMESPACES[type].flag, 0);
  const newOnes = (Object.keys(NAMESPACES) as NamespaceType[]).filter((t) => t !== 'user' && created.has(t)).map((t) => `--${NAMESPACES[t].option}`);
  const userOptions = created.has('user') ? unshareMapOptions(uidMaps, gidMaps) : [];
  plan.unshare = ['--fork', ...newOnes, ...userOptions, '--propagation', 'unchanged'];

  // The container side.
  if (proc.oomScoreAdj !== undefined) plan.step('write', `echo ${proc.oomScoreAdj} > /proc/self/oom_score_adj`, '/proc/self/oom_score_adj', String(proc.oomScoreAdj));
  for (const r of proc.rlimits ?? []) rlimitStep(plan, r);
  for (const type of JOIN_ORDER) {
    const path = joined.get(type);
    const { flag, option, joinedBy } = NAMESPACES[type];
    if (path !== undefined && joinedBy === 'container') plan.step('setns', ['nsenter', `--${option}=${path}`], path, flag);
  }
  if (spec.hostname) plan.step('hostname', ['hostname', spec.hostname], spec.hostname);
  if (spec.domainname) plan.step('domainname', ['domainname', spec.domainname], spec.domainname);
  if (created.has('network')) plan.step('lo-up', 'ip link set lo up');
  const fs = new FilesystemPlanner(plan, hostMounts, {
    rootfs, rootless: inUserNs, nodev: ctx.nodevRootfs ?? false, readOnly: spec.root.readonly ?? false,
    mounts: spec.mounts ?? [], devices: linux.devices ?? [], hostNodes: ctx.hostNodes ?? {}, makeBindSources: ctx.makeBindSources ?? false,
    sysctl, workdir: proc.cwd, terminal: proc.terminal ?? false, maskedPaths: linux.maskedPaths ?? [], readonlyPaths: linux.readonlyPaths ?? [],
    // Without a cgroup namespace, the cgroups the command runs in: those just joined, else ns-exec's own.
    ...(!created.has('cgroup') && !joined.has('cgroup') && { hostCgroups: [...cgroups, ...cgroupsOf('self', hostMounts)] }),
  });
  // Without a mount namespace (none new, none joined: the suite's linux_ns_itype) every mount would be the host's
  // own and outlive the container: nothing is mounted, and the process is only chroot(2)ed into its root.
  const ownMounts = created.has('mount') || joined.has('mount');
  if (!ownMounts && (Object.keys(sysctl).length || proc.terminal || ctx.noPivot))
    throw new ToolError('linux.sysctl, process.terminal and --no-pivot need a mount namespace: without one nothing is mounted');
  if (ownMounts) {
    fs.rootfs();
    fs.mounts();
    fs.devices();
    fs.sysctls();
  }
  fs.workdir();
  if (ownMounts) {
    fs.masks();
    fs.terminal();
  }
  if (parentHooks.length) plan.step('parent-hooks', '# the runtime runs the prestart and createRuntime hooks now, PID 1 waiting');
  for (const hook of hooks.createContainer ?? []) {
    const { text, args } = hookStep(hook, state('creating'));
    plan.step('hook', text, ...args);
  }
  if (ownMounts) fs.enterRoot({ noPivot: ctx.noPivot ?? false, propagation: linux.rootfsPropagation });
  else plan.step('chroot', ['chroot', rootfs], rootfs);
  for (const hook of hooks.startContainer ?? []) {
    const { text, args } = hookStep(hook, state('created'));
    plan.step('start-hook', text, ...args);
  }

  const available = ownBoundingSet();
  // A capability ns-exec does not hold itself cannot be handed on (capset(2) would fail): what config.json
  // asks for is bounded by ns-exec's own set, as --privileged is (root here lacks CAP_SYS_RESOURCE).
  const caps = (names: string[] | undefined) => capabilityMask(names ?? []) & available;
  const c = proc.capabilities ?? {};
  const bounding = caps(c.bounding);
  const env = proc.env ?? [];
  addExecStep(plan, {
    workdir: proc.cwd,
    identity: { uid: proc.user.uid, gid: proc.user.gid, groups: setgroupsDenied ? [] : (proc.user.additionalGids ?? []) },
    caps: bounding,
    sets: { effective: caps(c.effective), permitted: caps(c.permitted), inheritable: caps(c.inheritable), ambient: caps(c.ambient) },
    noNewPrivileges: proc.noNewPrivileges ?? false,
    setgroupsDenied,
    ...(proc.user.umask !== undefined ? { umask: proc.user.umask } : {}),
    env,
    command: proc.args,
    forbidDeviceNodes: ctx.forbidDeviceNodes ?? false,
    seccomp: linux.seccomp && resolveProfile(linux.seccomp, ctx.seccompSource ?? "config.json's linux.seccomp"),
  });
  return plan;
}
