import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { insideId, userNamespaceOf, type IdRange, type UserNamespace } from '@cutaway/libc/userns';
import { ownBoundingSet } from './caps.ts';
import { cgroupsOf, devicesControlled, joinCgroups, oomCounter } from './cgroups.ts';
import { containerEnv } from './env.ts';
import { addExecStep, securityOptions, type CapabilitySets } from './exec-step.ts';
import type { Seccomp } from './oci/config.ts';
import { CLONE, Plan } from './plan.ts';
import { resolveProfile, seccompProfile, type SeccompChoice } from './seccomp.ts';
import type { NsExecInvocation } from './spec.ts';
import { resolveUser, type Identity } from './user.ts';

/**
 * `ns-exec --enter PID`: what `runc exec` does for `docker exec`. A new
 * process joins the namespaces and cgroups of a running container's process
 * and takes on what that process was given: its capability bounding set,
 * no_new_privs, the device-node filter (when it has a seccomp filter), its
 * environment, working directory and user, unless -e, -w or -u say
 * otherwise. Nothing is mounted: the container's mount namespace already
 * holds its root.
 */

/** The options that make a container, which one being entered already has. */
const MAKING_OPTIONS = ['rootfs', 'hostname', 'volume', 'tmpfs', 'read-only', 'net', 'netns', 'cgroup', 'cap-add', 'cap-drop', 'device'] as const satisfies readonly (keyof NsExecInvocation['options'])[];

/**
 * The namespaces joined, in nsenter(1)'s order: the user namespace first (it grants the rights to join
 * the others), the mount namespace last (setns(2) moves the root there, and /proc/PID/ns is read from the host's /proc).
 */
const NAMESPACES: { name: string; flag: number; nsenter: string }[] = [
  { name: 'user', flag: CLONE.NEWUSER, nsenter: '--user' },
  { name: 'pid', flag: CLONE.NEWPID, nsenter: '--pid' },
  { name: 'ipc', flag: CLONE.NEWIPC, nsenter: '--ipc' },
  { name: 'uts', flag: CLONE.NEWUTS, nsenter: '--uts' },
  { name: 'net', flag: CLONE.NEWNET, nsenter: '--net' },
  { name: 'cgroup', flag: CLONE.NEWCGROUP, nsenter: '--cgroup' },
  { name: 'mnt', flag: CLONE.NEWNS, nsenter: '--mount' },
];

function sameFile(a: string, b: string): boolean {
  const sa = statSync(a);
  const sb = statSync(b);
  return sa.ino === sb.ino && sa.dev === sb.dev;
}

/** proc(5) status fields: `Name:\tvalue`. */
function statusFields(pid: number): Map<string, string> {
  return new Map(readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]));
}

/** The user the target runs as, in its own namespace's ids (`userns`: its user namespace, when not ns-exec's own); HOME from its passwd entry. */
function targetIdentity(root: string, status: Map<string, string>, userns: UserNamespace | undefined): Identity {
  const ids = (field: string) => (status.get(field) ?? '').split(/\s+/).filter(Boolean).map(Number);
  const inside = (id: number, ranges: readonly IdRange[] | undefined) => (ranges ? insideId(ranges, id) : id);
  const uid = inside(ids('Uid')[0] ?? 0, userns?.uids);
  const gid = inside(ids('Gid')[0] ?? 0, userns?.gids);
  return { uid, gid, groups: ids('Groups').map((g) => inside(g, userns?.gids)), home: resolveUser(root, String(uid)).home };
}

/**
 * The target's environment, /proc/PID/environ: a file of the process's uid, mode 0400 (proc(5)). An ordinary
 * user entering a container of its own whose process runs as another, mapped id (rootless, `-u 1000`) may not
 * open it: the file's permissions are checked in the caller's user namespace, where the user has no
 * CAP_DAC_OVERRIDE, though it owns the container's namespace and so has every capability there
 * (user_namespaces(7)). Joined to that namespace it may — but this planner is Node, multithreaded, and
 * setns(2) refuses a multithreaded process a user namespace (EINVAL), and ns-exec's own join comes after the
 * plan. So it is read after a join of nsenter(1)'s, a single-threaded program: `nsenter --user --target PID
 * --preserve-credentials cat /proc/PID/environ` (the caller's uid is root in a rootless container's
 * namespace, and cat keeps root's capabilities there across execve, capabilities(7)).
 */
function targetEnviron(pid: number, userns: UserNamespace | undefined): string {
  const file = `/proc/${pid}/environ`;
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES' || !userns) throw e;
  }
  const read = spawnSync('nsenter', ['--user', `--target=${pid}`, '--preserve-credentials', '--', 'cat', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (read.status !== 0) throw new ToolError(`--enter ${pid}: cannot read ${file}, even in its user namespace: ${read.error?.message ?? read.stderr.trim()}`);
  return read.stdout;
}

/**
 * What a command entering a running container is given: by ns-exec's own flags (enterRequest) or by runc
 * exec's process.json and flags (oci/exec.ts). What a field leaves undefined is the target's: its user and
 * groups, environment, working directory, capability bounding set, no_new_privs and seccomp filter.
 */
export interface EnterRequest {
  pid: number;
  args: string[];
  /** The whole environment (a process.json's env; HOME added when it has none, as runc adds it). */
  env?: string[];
  /** ns-exec's -e and --env-file, over the target's environment. */
  envChanges?: { env: string[]; envFiles: string[] };
  cwd?: string;
  /** `-u USER[:GROUP]`, names looked up in the container's root; or the ids of a process.json (its additionalGids the groups). */
  user?: string | { uid: number; gid: number; additionalGids?: number[] };
  /** The bounding set (and, without `sets`, root's effective and permitted sets). */
  capabilities?: bigint;
  /** The other four sets, as a process.json gives them (runc exec); only with `capabilities`. */
  sets?: CapabilitySets;
  /** Every capability ns-exec holds and no device filter (docker exec --privileged). */
  privileged: boolean;
  noNewPrivileges?: boolean;
  /**
   * A --security-opt choice, made for the target's bounding set; or (runc exec) the container's own linux.seccomp
   * as the runtime recorded it (`profile` undefined: it has none), applied as it is, with no device-node rule, as
   * runc exec applies the container's profile and nothing else.
   */
  seccomp?: SeccompChoice | { kind: 'config'; profile?: Seccomp };
  /** The command's umask (runc exec: the process.json's, else the caller's); default 022. */
  umask?: number;
  /** runc's --no-new-keyring at create: the command keeps the caller's session keyring. */
  keepSessionKeyring?: boolean;
  terminal: boolean;
  pidFiles: string[];
  exitFile?: string;
}

/** `ns-exec [flags] --enter PID -- CMD…` as a request, the flags that make a container refused. */
export function enterRequest(inv: NsExecInvocation, target: string): EnterRequest {
  const o = inv.options;
  if (!/^[1-9]\d*$/.test(target)) throw new UsageError(`--enter ${target}: expected a process id`);
  const given = MAKING_OPTIONS.filter((name) => o[name] !== undefined && o[name] !== false && !(Array.isArray(o[name]) && !o[name].length));
  if (given.length) throw new UsageError(`--${given[0]} cannot be used with --enter: the container exists already`);
  if (!inv.command.length) throw new UsageError(`no command: ns-exec --enter ${target} -- CMD [ARG…]`);
  if (inv.positionals.length) throw new UsageError(`unexpected arguments before --: ${inv.positionals.join(' ')}`);
  const { noNewPrivileges, seccomp, seccompGiven } = securityOptions(o['security-opt']);
  return {
    pid: Number(target), args: inv.command, envChanges: { env: o.env, envFiles: o['env-file'] }, privileged: o.privileged, terminal: o.tty,
    ...(o.workdir !== undefined && { cwd: o.workdir }), ...(o.user !== undefined && { user: o.user }),
    // no-new-privileges adds to the target's; it cannot take it away (prctl(2): no_new_privs cannot be unset).
    ...(noNewPrivileges && { noNewPrivileges }), ...(seccompGiven && { seccomp }),
    pidFiles: o['pid-file'] !== undefined ? [posix.resolve(o['pid-file'])] : [], ...(o['exit-file'] !== undefined && { exitFile: posix.resolve(o['exit-file']) }),
  };
}

export async function buildEnterPlan(inv: NsExecInvocation, target: string): Promise<Plan> {
  return enterPlan(enterRequest(inv, target));
}

/** The user a request names, in the container's ids. */
function requestIdentity(root: string, user: NonNullable<EnterRequest['user']>): Identity {
  if (typeof user === 'string') return resolveUser(root, user);
  return { uid: user.uid, gid: user.gid, groups: user.additionalGids ?? [], home: resolveUser(root, String(user.uid)).home };
}

export async function enterPlan(req: EnterRequest): Promise<Plan> {
  const pid = req.pid;
  const proc = `/proc/${pid}`;
  let status: Map<string, string>;
  try {
    status = statusFields(pid);
  } catch {
    throw new ToolError(`--enter ${pid}: no such process`);
  }
  if (status.get('State')?.startsWith('Z')) throw new ToolError(`--enter ${pid}: the process has exited`);
  const root = `${proc}/root`;
  let joined: typeof NAMESPACES;
  try {
    joined = NAMESPACES.filter((ns) => !sameFile(`/proc/self/ns/${ns.name}`, `${proc}/ns/${ns.name}`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EACCES') throw e;
    throw new ToolError(`--enter ${pid}: permission denied (joining another user's container takes root)`);
  }
  const userNamespace = joined.some((ns) => ns.name === 'user');
  const userns = userNamespace ? userNamespaceOf(pid) : undefined;
  const privileged = req.privileged;
  const own = targetIdentity(root, status, userns);
  const identity = req.user !== undefined ? requestIdentity(root, req.user) : own;
  // A user namespace whose setgroups is "deny" (a rootless single-id map, user_namespaces(7)) refuses setgroups(2)
  // even inside: the command gets no supplementary groups, as its PID 1 has none (and ns-exec drops its own first).
  const setgroupsDenied = userns !== undefined && !userns.setgroups;
  if (setgroupsDenied) identity.groups = [];
  const tty = req.terminal;
  let env: string[];
  if (req.env) env = req.env.some((e) => e.startsWith('HOME=')) ? req.env : [...req.env, `HOME=${identity.home}`];
  else {
    // The target's environment is the base (what docker exec takes from the container's config); -e and --env-file change it.
    // What the runtime added for PID 1 goes (TERM for its -t, HOME for its user): the new command gets its own, as
    // docker exec builds it (CreateDaemonEnvironment, then runc's HOME for the exec's user).
    const environ = targetEnviron(pid, userns).split('\0').filter((e) => e.includes('=') && e !== 'TERM=xterm' && e !== `HOME=${own.home}`);
    env = containerEnv({ base: environ, env: req.envChanges?.env ?? [], envFiles: req.envChanges?.envFiles ?? [], tty, home: identity.home });
  }
  const workdir = req.cwd ?? readlinkSync(`${proc}/cwd`);
  if (!workdir.startsWith('/')) throw new UsageError(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`);
  const containerCaps = BigInt(`0x${status.get('CapBnd') ?? '0'}`);
  const caps = privileged ? ownBoundingSet() : (req.capabilities ?? containerCaps);
  // The container's seccomp profile, made again (a filter cannot be copied out of /proc): the one the request names —
  // cutaway exec passes the container's own, the runtime's exec the config's — else Docker's default where PID has a
  // filter (Seccomp: 2, proc(5)) and none where it has none. Resolved for the container's capability set even under
  // --privileged, as docker exec --privileged keeps the container's profile (runc exec applies the container's).
  const seccomp: NonNullable<EnterRequest['seccomp']> = req.seccomp ?? (status.get('Seccomp') === '2' ? { kind: 'default' } : { kind: 'unconfined' });
  const profile = seccomp.kind === 'config'
    ? seccomp.profile && resolveProfile(seccomp.profile, "the container's linux.seccomp")
    : seccompProfile(seccomp, containerCaps);
  const mounts = readMountinfo();
  const cgroups = cgroupsOf(pid, mounts);

  const plan = new Plan();
  joinCgroups(plan, cgroups, mounts);
  // The user and pid namespaces are joined by ns-exec itself: setns(2) of a pid namespace applies to the children made
  // after it; the rest by the child, so that ns-exec keeps the host's mounts for its pid file.
  const [ownSide, childSide] = [joined.filter((ns) => ns.name === 'user' || ns.name === 'pid'), joined.filter((ns) => ns.name !== 'user' && ns.name !== 'pid')];
  // The caller's supplementary groups must not follow it in: in a namespace that denies setgroups(2) they could
  // not be dropped there.
  if (userNamespace) plan.hostStep('clear-groups', '');
  for (const ns of ownSide) plan.hostStep('setns', '', `${proc}/ns/${ns.name}`, ns.flag);
  if (!req.keepSessionKeyring) plan.hostStep('session-keyring', 'keyctl new_session >/dev/null');
  for (const file of req.pidFiles) plan.hostStep('pidfile', '', file);
  if (req.exitFile !== undefined) plan.hostStep('exitfile', '', req.exitFile);
  const oom = oomCounter(cgroups, mounts);
  if (oom) plan.hostStep('oom', '', oom);
  if (tty) plan.hostStep('tty', '');
  plan.enter = ['nsenter', `--target=${pid}`, ...joined.map((ns) => ns.nsenter)];
  plan.target = pid;
  for (const ns of childSide) plan.step('setns', '', `${proc}/ns/${ns.name}`, ns.flag);
  if (tty) plan.step('pty', '# a new terminal of the container\'s /dev/pts becomes stdin, stdout and stderr, in a new session', '/dev/pts/ptmx', '');
  // Seccomp 2 is filter mode (proc(5)): the container's process has ns-exec's device-node filter unless a devices
  // cgroup decides (devicesControlled); the new one gets the same. A runtime container has none (its create plan
  // adds none): its exec'd processes get the config's profile alone.
  const forbidDeviceNodes = !privileged && seccomp.kind !== 'config' && status.get('Seccomp') === '2' && !(await devicesControlled(cgroups, mounts));
  addExecStep(plan, {
    workdir, identity, caps, ...(req.sets && { sets: req.sets }), noNewPrivileges: req.noNewPrivileges ?? status.get('NoNewPrivs') === '1', setgroupsDenied,
    ...(req.umask !== undefined && { umask: req.umask }), env, command: req.args, forbidDeviceNodes, seccomp: profile,
  });
  return plan;
}
