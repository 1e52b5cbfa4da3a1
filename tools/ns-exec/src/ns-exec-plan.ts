/**
 * ns-exec's planner: everything ns-exec decides, in TypeScript. The ns-exec
 * binary (ns-exec.c) runs this once, reads the plan it writes to fd 3, and
 * carries it out after Node has exited (DESIGN.md: Node's threads and new
 * namespaces do not mix). Help, version, --dry-run, --json and every error
 * are printed from here; the binary exits with this process's status when it
 * writes no plan.
 */
import { closeSync, existsSync, writeSync } from 'node:fs';
import { hostname as hostHostname } from 'node:os';
import { posix } from 'node:path';
import { runTool, ToolError, UsageError, type Invocation, type ToolSpec } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import pkg from '../package.json' with { type: 'json' };
import { capabilitySet, ownBoundingSet } from './caps.ts';
import { cgroupDirs, joinCgroups, oomCounter } from './cgroups.ts';
import { buildEnterPlan } from './enter.ts';
import { containerEnv } from './env.ts';
import { addExecStep, securityOptions } from './exec-step.ts';
import { rootlessMapping, type IdMapping } from './idmap.ts';
import { checkRootfs, FilesystemPlanner, parseBind, parseTmpfs } from './mounts.ts';
import { CLONE, Plan } from './plan.ts';
import { resolveUser } from './user.ts';

const spec: ToolSpec = {
  name: 'ns-exec',
  version: pkg.version,
  synopsis: ['[options] --rootfs DIR -- CMD [ARG…]', '[-e K=V] [-w DIR] [-u USER] [-t] --enter PID -- CMD [ARG…]'],
  description: [
    'Runs a command in a container made from a rootfs directory, as docker run does after the image is',
    'mounted: new pid, mount, uts, ipc, net and cgroup namespaces (and a user namespace when run by a',
    'non-root user), pivot_root into the rootfs, /proc, /sys (read-only), /dev as a tmpfs with the usual',
    "nodes, devpts, shm and mqueue, Docker's masked and read-only paths, the hostname, the user, Docker's",
    'default capabilities, then execve. The command is PID 1 of its pid namespace; ns-exec waits for it,',
    "forwards the signals it gets, and exits with the command's status (125: ns-exec failed; 126: cannot be",
    'executed; 127: not found; 128+N: killed by signal N). With --enter PID it runs a command in the running',
    "container of that process instead, as docker exec does: its namespaces, cgroups, capabilities, environment.",
  ].join('\n'),
  command: true,
  errorStatus: 125,
  options: [
    { name: 'rootfs', type: 'string', arg: 'DIR', help: 'the container\'s root directory (overlay-mount\'s merged dir, an unpacked tarball, …)' },
    { name: 'enter', type: 'string', arg: 'PID', help: 'run the command in the container of this process (its namespaces, cgroups, capabilities, environment, cwd, user)' },
    { name: 'hostname', type: 'string', arg: 'NAME', help: 'hostname inside (default: 12 random hex digits, like a container id)' },
    { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'set a variable; -e K copies K from here (repeat)' },
    { name: 'env-file', type: 'list', arg: 'FILE', help: 'read K=V lines from a file (repeat)' },
    { name: 'workdir', short: 'w', type: 'string', arg: 'DIR', help: 'working directory inside, created if missing (default /)' },
    { name: 'user', short: 'u', type: 'string', arg: 'USER[:GROUP]', help: 'user and group, names from the rootfs\' /etc/passwd and /etc/group' },
    { name: 'volume', short: 'v', type: 'list', arg: 'SRC:DST[:ro]', help: 'bind-mount a host path (repeat)' },
    { name: 'tmpfs', type: 'list', arg: 'DST[:OPTS]', help: 'mount a tmpfs (default noexec,nosuid,nodev) (repeat)' },
    { name: 'read-only', type: 'boolean', help: 'mount the rootfs read-only' },
    { name: 'net', type: 'string', arg: 'none|host', help: 'none (default): a network namespace with lo only; host: the host\'s' },
    { name: 'netns', type: 'string', arg: 'PATH', help: 'join a network namespace, e.g. /run/netns/NAME from netbridge up' },
    { name: 'cgroup', type: 'list', arg: 'PATH|NAME', help: 'join a cgroup directory, or every hierarchy\'s cw-NAME made by cg-limit, before the command starts (repeat)' },
    { name: 'cap-add', type: 'list', arg: 'CAP', help: 'add a capability to Docker\'s default set (ALL for all) (repeat)' },
    { name: 'cap-drop', type: 'list', arg: 'CAP', help: 'drop a capability (ALL for all) (repeat)' },
    { name: 'privileged', type: 'boolean', help: 'all capabilities, the host\'s devices, no masked or read-only paths' },
    { name: 'security-opt', type: 'list', arg: 'OPT', help: 'no-new-privileges: set no_new_privs, so setuid binaries gain nothing' },
    { name: 'pid-file', type: 'string', arg: 'FILE', help: 'write the command\'s pid (as the host sees it) to FILE' },
    { name: 'tty', short: 't', type: 'boolean', help: 'give the command a terminal (a pty of its own devpts); stdin is relayed' },
  ],
  examples: [
    'ns-exec --rootfs ./rootfs -- /bin/sh -c "echo \\$\\$; ps"                         # 1, and only the container\'s processes',
    'ns-exec -t --rootfs "$(overlay-mount busybox)" --hostname box -- sh               # an interactive container',
    'ns-exec --rootfs R -u nobody -w /tmp -e GREETING=hi --read-only --tmpfs /tmp -- env',
    'ns-exec --rootfs R --netns "$(netbridge up web -p 8080:80)" -- httpd -f -p 80',
    'cg-limit exec web -- ns-exec --rootfs R -- sh -c "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"',
    'ns-exec --dry-run --rootfs R -- /bin/true                                           # the unshare/mount/pivot_root script',
    'ns-exec --enter "$(cat web.pid)" -t -- sh                                           # a shell in the running container',
  ],
  classic: [
    'unshare --fork --pid --mount --uts --ipc --net --cgroup sh -c \'…\'',
    'mount --make-rprivate /; mount --rbind R R; mount -t proc proc R/proc -o nosuid,noexec,nodev',
    'mount -t tmpfs tmpfs R/dev -o nosuid,strictatime,mode=755; mknod -m 666 R/dev/null c 1 3',
    'cd R && pivot_root . . && umount -l .',
    'hostname NAME',
    'setpriv --reuid U --regid G --bounding-set -all,+chown,… -- env -i PATH=… CMD',
    'nsenter --target PID --pid --mount --uts --ipc --net --cgroup CMD   (--enter)',
  ],
};

/** A container-id-like hostname: 12 hex digits. Math.random is enough for a name (node:crypto alone takes ~3 ms to load). */
function randomHostname(): string {
  return Array.from({ length: 12 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

function buildPlan(inv: Invocation): Plan {
  const o = inv.options;
  if (typeof o.rootfs !== 'string') throw new UsageError('--rootfs DIR is required');
  if (!inv.command.length) throw new UsageError(inv.positionals.length ? `put the command after --: ns-exec --rootfs ${o.rootfs} -- ${inv.positionals.join(' ')}` : 'no command: ns-exec --rootfs DIR -- CMD [ARG…]');
  if (inv.positionals.length) throw new UsageError(`unexpected arguments before --: ${inv.positionals.join(' ')}`);
  const list = (name: string) => (o[name] as string[] | undefined) ?? [];
  const net = typeof o.net === 'string' ? o.net : undefined;
  if (net !== undefined && !['none', 'host'].includes(net)) throw new UsageError(`--net ${net}: expected none or host (a bridge comes from netbridge: --netns PATH)`);
  const netns = typeof o.netns === 'string' ? o.netns : undefined;
  if (netns && net) throw new UsageError('--netns and --net exclude each other');
  const workdir = typeof o.workdir === 'string' ? o.workdir : '/';
  if (!workdir.startsWith('/')) throw new UsageError(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`);
  const binds = list('volume').map(parseBind);
  const tmpfs = list('tmpfs').map(parseTmpfs);
  const { noNewPrivileges } = securityOptions(list('security-opt'));
  const privileged = Boolean(o.privileged);
  const hostname = typeof o.hostname === 'string' ? o.hostname : net === 'host' ? hostHostname() : randomHostname();
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]{0,62})$/.test(hostname)) throw new UsageError(`invalid hostname ${JSON.stringify(hostname)}`);

  const rootfs = checkRootfs(o.rootfs);
  const rootless = process.getuid!() !== 0;
  const mapping: IdMapping | undefined = rootless ? rootlessMapping() : undefined;
  if (rootless && netns) throw new ToolError('--netns needs root: joining a network namespace takes CAP_SYS_ADMIN over it');
  const identity = resolveUser(rootfs, typeof o.user === 'string' ? o.user : '');
  if (mapping && (identity.uid >= mapping.uidCount || identity.groups.some((g) => g >= mapping.gidCount)))
    throw new ToolError(`user ${o.user}: not mapped in the user namespace (ids 0-${mapping.uidCount - 1} exist there)`, 'a range for this user in /etc/subuid and /etc/subgid maps more');
  // With a single-id map the kernel refuses setgroups(2) (setgroups is "deny", user_namespaces(7)): the command keeps what it has, its one group.
  if (mapping?.gidHow === 'file') identity.groups = [];
  const caps = capabilitySet(list('cap-add'), list('cap-drop'), privileged, ownBoundingSet());
  const tty = Boolean(o.tty);
  const env = containerEnv({ env: list('env'), envFiles: list('env-file'), hostname, tty, home: identity.home });
  const mounts = readMountinfo();
  const cgroups = cgroupDirs(list('cgroup'), mounts);
  if (netns && !existsSync(netns)) throw new ToolError(`--netns ${netns}: no such network namespace`);

  const plan = new Plan();
  joinCgroups(plan, cgroups, mounts);
  if (netns) {
    plan.hostStep('setns', ['nsenter', `--net=${netns}`], netns, CLONE.NEWNET);
    plan.enter = ['nsenter', `--net=${netns}`];
  }
  if (mapping) {
    const text = (how: string, kind: string, map: string) => (how === 'file' ? `echo '${map.trim()}' > /proc/$PID/${kind}` : `${how} $PID ${map}`);
    plan.hostStep('uidmap', text(mapping.uidHow, 'uid_map', mapping.uidMap), mapping.uidHow, mapping.uidMap);
    plan.hostStep('gidmap', text(mapping.gidHow, 'gid_map', mapping.gidMap), mapping.gidHow, mapping.gidMap);
  }
  if (typeof o['pid-file'] === 'string') plan.hostStep('pidfile', '', posix.resolve(o['pid-file']));
  const oom = oomCounter(cgroups, mounts);
  if (oom) plan.hostStep('oom', '', oom);
  if (tty) plan.hostStep('tty', '');

  const ownNetwork = net !== 'host';
  plan.cloneFlags = CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | CLONE.NEWCGROUP | (net === 'host' || netns ? 0 : CLONE.NEWNET) | (rootless ? CLONE.NEWUSER : 0);
  plan.unshare = ['--fork', '--pid', '--mount', '--uts', '--ipc', '--cgroup', ...(net === 'host' || netns ? [] : ['--net']), ...(mapping?.unshare ?? []), '--propagation', 'unchanged'];
  plan.step('hostname', ['hostname', hostname], hostname);
  if (plan.cloneFlags & CLONE.NEWNET) plan.step('lo-up', 'ip link set lo up');
  new FilesystemPlanner(plan, mounts, {
    rootfs, rootless, privileged, readOnly: Boolean(o['read-only']), ownNetwork,
    ttyGroupMapped: !mapping || mapping.gidCount > 5, binds, tmpfs, workdir, terminal: tty,
  }).build();

  addExecStep(plan, { workdir, identity, caps, noNewPrivileges, env, command: inv.command, forbidDeviceNodes: !privileged });
  return plan;
}

function plan(args: string[]): Promise<never> {
  return runTool(spec, async (inv) => {
    const plan = inv.options.enter !== undefined ? buildEnterPlan(inv) : buildPlan(inv);
    if (inv.steps.mode.dryRun) {
      process.stdout.write(plan.script());
      return 0;
    }
    if (inv.json) {
      process.stdout.write(`${JSON.stringify({ launcher: plan.launcher(), cloneFlags: plan.cloneFlags, host: plan.host, container: plan.container }, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
      return 0;
    }
    try {
      writeSync(3, plan.encode(inv.steps.mode.trace));
      closeSync(3);
    } catch (e) {
      throw new ToolError(`cannot hand the plan to ns-exec: ${(e as Error).message}`, 'run the ns-exec binary, not its planner');
    }
    // ns-exec goes on as soon as fd 3 closes, while Node tears itself down (~7 ms): nothing more may touch stdio.
    process.exit(0);
  }, args);
}

// ns-exec runs `node ns-exec-plan.cjs -- ARGS`: the `--` keeps Node 20 from reading an `--env-file` among
// ARGS as its own option, and stays in argv.
void plan(process.argv[2] === '--' ? process.argv.slice(3) : process.argv.slice(2));
