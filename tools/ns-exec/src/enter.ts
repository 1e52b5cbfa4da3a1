import { spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { insideId, userNamespaceOf, type IdRange, type UserNamespace } from '@cutaway/libc/userns';
import { ownBoundingSet } from './caps.ts';
import { cgroupsOf, devicesControlled, joinCgroups, oomCounter } from './cgroups.ts';
import { containerEnv } from './env.ts';
import { addExecStep, securityOptions } from './exec-step.ts';
import { CLONE, Plan } from './plan.ts';
import { seccompProfile } from './seccomp.ts';
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

export async function buildEnterPlan(inv: NsExecInvocation, target: string): Promise<Plan> {
  const o = inv.options;
  if (!/^[1-9]\d*$/.test(target)) throw new UsageError(`--enter ${target}: expected a process id`);
  const given = MAKING_OPTIONS.filter((name) => o[name] !== undefined && o[name] !== false && !(Array.isArray(o[name]) && !o[name].length));
  if (given.length) throw new UsageError(`--${given[0]} cannot be used with --enter: the container exists already`);
  if (!inv.command.length) throw new UsageError(`no command: ns-exec --enter ${target} -- CMD [ARG…]`);
  if (inv.positionals.length) throw new UsageError(`unexpected arguments before --: ${inv.positionals.join(' ')}`);
  const pid = Number(target);
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
  const { noNewPrivileges, seccomp, seccompGiven } = securityOptions(o['security-opt']);
  const privileged = o.privileged;
  const own = targetIdentity(root, status, userns);
  const identity = o.user !== undefined ? resolveUser(root, o.user) : own;
  // A user namespace whose setgroups is "deny" (a rootless single-id map, user_namespaces(7)) refuses setgroups(2)
  // even inside: the command gets no supplementary groups, as its PID 1 has none (and ns-exec drops its own first).
  const setgroupsDenied = userns !== undefined && !userns.setgroups;
  if (setgroupsDenied) identity.groups = [];
  const tty = o.tty;
  // The target's environment is the base (what docker exec takes from the container's config); -e and --env-file change it.
  // What the runtime added for PID 1 goes (TERM for its -t, HOME for its user): the new command gets its own, as
  // docker exec builds it (CreateDaemonEnvironment, then runc's HOME for the exec's user).
  const environ = targetEnviron(pid, userns).split('\0').filter((e) => e.includes('=') && e !== 'TERM=xterm' && e !== `HOME=${own.home}`);
  const env = containerEnv({ base: environ, env: o.env, envFiles: o['env-file'], tty, home: identity.home });
  const workdir = o.workdir ?? readlinkSync(`${proc}/cwd`);
  if (!workdir.startsWith('/')) throw new UsageError(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`);
  const containerCaps = BigInt(`0x${status.get('CapBnd') ?? '0'}`);
  const caps = privileged ? ownBoundingSet() : containerCaps;
  // The container's seccomp profile, made again (a filter cannot be copied out of /proc): the one the options name —
  // cutaway exec passes the container's own — else Docker's default where PID has a filter (Seccomp: 2, proc(5)) and
  // none where it has none. Resolved for the container's capability set even under --privileged, as docker exec
  // --privileged keeps the container's profile (runc exec applies the container's).
  const profile = seccompProfile(seccompGiven ? seccomp : status.get('Seccomp') === '2' ? { kind: 'default' } : { kind: 'unconfined' }, containerCaps);
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
  plan.hostStep('session-keyring', 'keyctl new_session >/dev/null');
  if (o['pid-file'] !== undefined) plan.hostStep('pidfile', '', posix.resolve(o['pid-file']));
  if (o['exit-file'] !== undefined) plan.hostStep('exitfile', '', posix.resolve(o['exit-file']));
  const oom = oomCounter(cgroups, mounts);
  if (oom) plan.hostStep('oom', '', oom);
  if (tty) plan.hostStep('tty', '');
  plan.enter = ['nsenter', `--target=${pid}`, ...joined.map((ns) => ns.nsenter)];
  plan.target = pid;
  for (const ns of childSide) plan.step('setns', '', `${proc}/ns/${ns.name}`, ns.flag);
  if (tty) plan.step('pty', '# a new terminal of the container\'s /dev/pts becomes stdin, stdout and stderr, in a new session', '/dev/pts/ptmx', '');
  // Seccomp 2 is filter mode (proc(5)): the container's process has ns-exec's device-node filter unless a devices
  // cgroup decides (devicesControlled); the new one gets the same.
  addExecStep(plan, { workdir, identity, caps, noNewPrivileges: noNewPrivileges || status.get('NoNewPrivs') === '1', setgroupsDenied, env, command: inv.command, forbidDeviceNodes: !privileged && status.get('Seccomp') === '2' && !(await devicesControlled(cgroups, mounts)), seccomp: profile });
  return plan;
}
