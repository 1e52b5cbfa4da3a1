import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { rootless, runtimeDir, stateRoot, ToolError } from '@cutaway/cli';
import { subordinateRange } from '@cutaway/libc/userns';
import { signalStatus } from './tools.ts';

/**
 * Rootless cutaway, as rootless podman is made: an ordinary user's command re-executes itself inside a new
 * user namespace and mount namespace (`podman unshare`'s), where it is root. Id 0 there is the user, ids
 * 1…N the user's range in /etc/subuid and /etc/subgid, written by the setuid newuidmap(1)/newgidmap(1)
 * (user_namespaces(7): an unprivileged process may map only its own id). The mapping is the same every
 * time, so the files a command leaves in the store, owned by mapped ids (an image's files, a container's
 * upper directory), are the same ids to every later command.
 *
 * Inside, the tools see uid 0 and do what they do as root, within what the namespace allows: overlay
 * mounts (with userxattr), ns-exec's namespaces. Not cgroups: an ordinary user has none delegated here,
 * so containers run without one. Not netbridge's bridge and nft rules, which need the host's network
 * namespace: netbridge gives a container slirp4netns instead (netbridge's slirp.ts).
 *
 * Each command gets a namespace of its own, which lives as long as something is in it: a foreground run's
 * mounts go with the command, a detached container's with its shim (cutaway-shim runs in the namespace of
 * the run or start that made it, keeping its overlay mounted, and takes it down there when the container
 * exits). A few verbs stay outside, in the user's own namespace, which is the parent of every one of these
 * and so holds every capability in them (user_namespaces(7), "Capabilities"): exec (ns-exec --enter joins
 * the container's user namespace, which a sibling namespace could not), stop and kill (a container's
 * process running as a mapped id can be signalled only from there; kill(2) wants CAP_KILL in the target's
 * user namespace or its uid), and those that only read. rm -f and restart start there too: they stop what
 * runs from there, then go on in a namespace of their own (signalFirst).
 */

/** Verbs that run in the user's own namespace: they need no mapped ids, or need to be the parent namespace (see above). */
const OUTSIDE = new Set(['exec', 'stop', 'kill', 'ps', 'logs', 'inspect', 'wait', 'port', 'top', 'stats', 'images', 'history', 'info', 'version', 'events']);

/** Verbs that start outside, stop their running containers there, and re-execute themselves for the rest (signalFirst). */
const SIGNAL_FIRST = new Set(['rm', 'restart']);

/** The namespace's maps as unshare(1) writes them: 0 → the user, 1…N → the ranges (through newuidmap/newgidmap). */
export function mapOptions(): string[] {
  const { username } = userInfo();
  const uid = process.getuid!();
  const subuid = subordinateRange('/etc/subuid', username, uid);
  const subgid = subordinateRange('/etc/subgid', username, uid);
  if (!subuid || !subgid)
    throw new ToolError(
      `rootless: no subordinate ids for ${username} in /etc/${subuid ? 'subgid' : 'subuid'}`,
      `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${username} (a range no other user has)`,
    );
  if (!existsSync('/usr/bin/newuidmap') || !existsSync('/usr/bin/newgidmap')) throw new ToolError('rootless: newuidmap and newgidmap are missing', 'apt-get install uidmap');
  return ['--map-user=0', '--map-group=0', `--map-users=${subuid.start},1,${subuid.count}`, `--map-groups=${subgid.start},1,${subgid.count}`];
}

/**
 * The user's runtime directory, made when missing: 0700 and the user's. A directory in /tmp (the fallback
 * without $XDG_RUNTIME_DIR) could have been made by someone else first: then it is refused, as podman refuses.
 */
function ownRuntimeDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = lstatSync(dir);
  if (!st.isDirectory() || st.uid !== process.getuid!() || (st.mode & 0o022) !== 0)
    throw new ToolError(`rootless: the runtime directory ${dir} is not ${userInfo().username}'s own (a directory, mode 0700)`, 'set XDG_RUNTIME_DIR to a directory of your own');
}

/** The signals passed on to the command inside; SIGINT and SIGQUIT come from the terminal to the whole process group, so to it already. */
const PASSED_ON: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'];

/**
 * `unshare … cutaway ARGS` with the state directories decided here, before ids change (inside, uid 0 would
 * mean /var/lib/cutaway): CUTAWAY_ROOT and CUTAWAY_RUN go in the environment, for cutaway and every tool.
 * Waits, passing signals on, and exits with its status.
 */
export async function reexecInUserNamespace(args: string[]): Promise<never> {
  const root = stateRoot();
  const run = runtimeDir();
  ownRuntimeDir(run);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  // --propagation private: the namespace's mounts never reach the host's (unshare's default, said out loud).
  const launcher = ['--user', '--mount', '--propagation', 'private', ...mapOptions(), '--', process.execPath, process.argv[1]!, ...args];
  const child = spawn('unshare', launcher, { stdio: 'inherit', env: { ...process.env, CUTAWAY_ROOT: root, CUTAWAY_RUN: run } });
  for (const s of PASSED_ON) process.on(s, () => child.kill(s));
  for (const s of ['SIGINT', 'SIGQUIT'] as const) process.on(s, () => {});
  const status = await new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`cutaway: error: rootless: unshare: ${e.message}\n`);
      resolve(125);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal ? signalStatus(signal) : 125)));
  });
  process.exit(status);
}

/** Whether `verb` must run inside the user namespace when cutaway runs as an ordinary user (re-executed before it starts). */
export function needsUserNamespace(verb: string): boolean {
  return process.getuid!() !== 0 && !OUTSIDE.has(verb) && !SIGNAL_FIRST.has(verb);
}

/**
 * rm -f and restart as an ordinary user: `stop` (the containers' processes signalled, and waited for until
 * their shims have taken them down, each in the namespace it lives in) here in the user's own namespace, the
 * only one from which a process running as a mapped id can be signalled; then the same command again in a
 * user namespace of its own, where the stopped containers' files (owned by mapped ids) can be removed or
 * mounted again. As root, or inside already, `stop` is not called and the command goes on. Not for a dry
 * run, which changes nothing (its script is printed from inside).
 */
export async function signalFirst(dryRun: boolean, stop: () => Promise<void>): Promise<void> {
  if (process.getuid!() === 0) return;
  if (!dryRun) await stop();
  await reexecInUserNamespace(process.argv.slice(2));
}

/** The options of `cutaway run` that need a cgroup of the container's own, as cg-limit makes one. */
const LIMIT_FLAGS = new Set(['-m', '--cpus', '--pids-limit']);

/**
 * Whether a container gets a cgroup (cg-limit): always as root; never rootless, where an ordinary user has
 * no cgroup delegated (cgroups v1, or v2 without systemd's delegation). Its -m, --cpus and --pids-limit
 * are then ignored with a warning, as rootless podman ignores them on cgroups v1 ("Resource limits are not
 * supported and ignored on cgroups V1 rootless systems"); Docker's devices cgroup is not there either
 * (ns-exec's device rules still are: only the default nodes are bound in, and its seccomp filter refuses mknod).
 */
export function withCgroup(limits: readonly string[]): boolean {
  if (!rootless()) return true;
  const ignored = limits.filter((flag) => LIMIT_FLAGS.has(flag));
  if (ignored.length) process.stderr.write(`cutaway: warning: rootless: ${ignored.join(', ')} ignored: there is no cgroup of the user's to limit the container with\n`);
  return false;
}
