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
import { runTool, ToolError, UsageError } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { describeIds, idMapped } from '@cutaway/libc/userns';
import { capabilitySet, ownBoundingSet } from './caps.ts';
import { cgroupDirs, devicesControlled, joinCgroups, oomCounter } from './cgroups.ts';
import { buildEnterPlan } from './enter.ts';
import { containerEnv } from './env.ts';
import { addExecStep, securityOptions } from './exec-step.ts';
import { containerIds, rootlessMapping, type IdMapping } from './idmap.ts';
import { checkRootfs, FilesystemPlanner, parseBind, parseDevice, parseTmpfs } from './mounts.ts';
import { CLONE, Plan } from './plan.ts';
import { dryRunScript } from './script.ts';
import { seccompProfile } from './seccomp.ts';
import { spec, type NsExecInvocation } from './spec.ts';
import { resolveUser } from './user.ts';

/** A container-id-like hostname: 12 hex digits. Math.random is enough for a name (node:crypto alone takes ~3 ms to load). */
function randomHostname(): string {
  return Array.from({ length: 12 }, () => Math.floor(Math.random() * 16).toString(16)).join('');
}

async function buildPlan(inv: NsExecInvocation): Promise<Plan> {
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
  const mapping: IdMapping | undefined = rootless ? rootlessMapping() : undefined;
  if (rootless && netns) throw new ToolError('--netns needs root: joining a network namespace takes CAP_SYS_ADMIN over it');
  const identity = resolveUser(rootfs, o.user ?? '');
  // The container's user namespace: the one made here for a rootless caller, or the one root runs ns-exec in.
  const ids = containerIds(mapping);
  if (ids && (!idMapped(ids.uids, identity.uid) || identity.groups.some((g) => !idMapped(ids.gids, g))))
    throw new ToolError(`user ${o.user ?? `${identity.uid}:${identity.gid}`}: not mapped in the user namespace (the uids it has: ${describeIds(ids.uids)})`, ids.more);
  // With a map written without privileges the kernel refuses setgroups(2) (setgroups is "deny", user_namespaces(7)): the command keeps what it has, its one group.
  if (ids && !ids.setgroups) identity.groups = [];
  const caps = capabilitySet(o['cap-add'], o['cap-drop'], privileged, ownBoundingSet());
  // Docker's rule: --privileged is unconfined, whatever seccomp= says; the profile's capability rules follow the bounding set.
  const profile = privileged ? undefined : seccompProfile(seccomp, caps);
  const tty = o.tty;
  const env = containerEnv({ env: o.env, envFiles: o['env-file'], hostname, tty, home: identity.home });
  const mounts = readMountinfo();
  const cgroups = cgroupDirs(o.cgroup, mounts);
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
  plan.hostStep('session-keyring', 'keyctl new_session >/dev/null');
  if (o['pid-file'] !== undefined) plan.hostStep('pidfile', '', posix.resolve(o['pid-file']));
  if (o['exit-file'] !== undefined) plan.hostStep('exitfile', '', posix.resolve(o['exit-file']));
  const oom = oomCounter(cgroups, mounts);
  if (oom) plan.hostStep('oom', '', oom);
  if (tty) plan.hostStep('tty', '');

  const ownNetwork = net !== 'host';
  plan.cloneFlags = CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWPID | CLONE.NEWCGROUP | (net === 'host' || netns ? 0 : CLONE.NEWNET) | (rootless ? CLONE.NEWUSER : 0);
  plan.unshare = ['--fork', '--pid', '--mount', '--uts', '--ipc', '--cgroup', ...(net === 'host' || netns ? [] : ['--net']), ...(mapping?.unshare ?? []), '--propagation', 'unchanged'];
  plan.step('hostname', ['hostname', hostname], hostname);
  if (plan.cloneFlags & CLONE.NEWNET) plan.step('lo-up', 'ip link set lo up');
  new FilesystemPlanner(plan, mounts, {
    rootfs, rootless: ids !== undefined, privileged, readOnly: o['read-only'], ownNetwork,
    ttyGroupMapped: !ids || idMapped(ids.gids, 5), binds, tmpfs, workdir, terminal: tty, devices,
  }).build();

  addExecStep(plan, { workdir, identity, caps, noNewPrivileges, setgroupsDenied: ids !== undefined && !ids.setgroups, env, command: inv.command, forbidDeviceNodes: !privileged && !(await devicesControlled(cgroups, mounts)), seccomp: profile });
  return plan;
}

function plan(args: string[]): Promise<never> {
  return runTool(spec, async (inv) => {
    const plan = inv.options.enter !== undefined ? await buildEnterPlan(inv, inv.options.enter) : await buildPlan(inv);
    if (inv.steps.mode.dryRun) {
      process.stdout.write(dryRunScript(plan, args));
      return 0;
    }
    if (inv.json) {
      process.stdout.write(`${JSON.stringify({ launcher: plan.launcher(), cloneFlags: plan.cloneFlags, host: plan.host, container: plan.container }, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
      return 0;
    }
    try {
      writeSync(3, plan.encode(inv.steps));
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
