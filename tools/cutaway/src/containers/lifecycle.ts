import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { dirname } from 'node:path';
import { rootless, stdoutClosed, ToolError, whenStdoutCloses } from '@cutaway/cli';
import { createWriteStream, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { populateVolumes, removeAnonymousVolumes } from './anonymous-volumes.ts';
import { recordContainerEvent, recordDie } from './events.ts';
import { healthShimArgs, monitorHealth, startingHealth } from './health.ts';
import { logLines } from './log-lines.ts';
import { signalPid } from './signals.ts';
import { allDone } from './parallel.ts';
import { endpointAddress, ENDPOINT_FIELDS } from './networks.ts';
import { configText, overlayLowers, type ContainerConfigRecord, type ContainerStore } from './store.ts';
import { netbridgeHere } from '../../../netbridge/src/commands.ts';
import type { UpResult } from '../../../netbridge/src/endpoints.ts';
import { createHere } from '../../../cg-limit/src/commands.ts';
import { removeCgroupNamed } from '../../../cg-limit/src/remove.ts';
import { mountHere } from '../../../overlay-mount/src/commands.ts';
import { unmountContainer } from '../../../overlay-mount/src/unmount.ts';
import { realRunner, type Runner } from '../runner.ts';
import { planAhead, showTrace, spawnNsExec, toolEnv, traceCommand, traceEnv, TRACE_FD, waitPassingSignals } from '../tools.ts';

/**
 * What `docker start` does for a container whose config is written: the
 * rootfs (overlay-mount), the cgroup (cg-limit), the network (netbridge),
 * the generated /etc files, and the ns-exec command line; and what it takes
 * down again. Each step is a tool's command line, done by that tool's own
 * code in this process (issue 22: a Node start costs more than most of
 * their work); a --dry-run script runs each as a command.
 */

/** Docker's /etc/hosts for a container (libnetwork etchosts): the fixed block, then its own address. */
function hostsFile(config: ContainerConfigRecord): string {
  if (config.network?.mode === 'host') return readFileSync('/etc/hosts', 'utf8');
  const fixed = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
  return [...fixed, ...(config.network?.ip ? [`${config.network.ip}\t${config.hostname}`] : []), ''].join('\n');
}

/**
 * The host's resolv.conf, as Docker copies it: on a network of its own a
 * nameserver on the host's loopback cannot be reached from the container, so
 * those lines go, and with none left Docker's fallback (Google's) is used.
 * `dns`, a nameserver the network serves itself (rootless, slirp4netns's
 * forwarder, which reaches the host's loopback ones too), comes before the
 * host's, with no fallback: what rootless podman writes.
 */
function resolvConf(config: ContainerConfigRecord, dns: string | undefined): string {
  const host = existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '';
  if (config.network?.mode === 'host') return host;
  const lines = host.split('\n').filter((l) => !/^\s*nameserver\s+(127\.|::1\s*$)/.test(l));
  const first = lines.findIndex((l) => /^\s*nameserver\s/.test(l));
  if (dns) lines.splice(first < 0 ? lines.length : first, 0, `nameserver ${dns}`);
  else if (first < 0) lines.push('nameserver 8.8.8.8', 'nameserver 8.8.4.4');
  return `${lines.filter((l, i) => l || i < lines.length - 1).join('\n')}\n`;
}

/**
 * The container's cgroup (cg-limit create), with its limits and Docker's devices cgroup unless the container says
 * otherwise (--privileged: --devices all); none where it has none (rootless: rootless.ts withCgroup). Build's RUN
 * containers get theirs here too, as Docker's classic builder gives each RUN a container as docker run would.
 */
export async function createCgroup(config: ContainerConfigRecord, env: NodeJS.ProcessEnv, r: Runner = realRunner): Promise<void> {
  if (!config.cgroup) return;
  const args = ['create', config.cgroup, ...(config.limits.includes('--devices') ? [] : ['--devices', 'default']), ...config.limits];
  // By cg-limit's own code, here: a Node start fewer for every container (issue 22).
  await r.inProcess('cg-limit', args, env, undefined, (steps) => createHere(args, steps));
}

/** overlay-mount's arguments for a container's rootfs: on the layers it had (`lowers`, when mounted before), else on its image. */
export function overlayArgs(config: ContainerConfigRecord, lowers: string[] | undefined): string[] {
  return ['-q', ...(lowers ? lowers.flatMap((l) => ['--lower', l]) : [config.image]), '--name', config.id];
}

/**
 * A container's rootfs, `overlay-mount ARGS`, done by overlay-mount's own code here (a Node start fewer on every
 * container's way up: issue 22): the merged directory.
 */
export function mountRootfs(store: ContainerStore, args: string[], env: NodeJS.ProcessEnv, r: Runner): Promise<string> {
  return r.inProcess('overlay-mount', args, env, 'merged', (steps) => mountHere(args, dirname(store.dir), steps));
}

/** Everything the container needs before its process starts; returns ns-exec's arguments. The caller tears down on failure. */
export async function prepare(store: ContainerStore, config: ContainerConfigRecord, env: NodeJS.ProcessEnv, r: Runner = realRunner): Promise<string[]> {
  const id12 = config.id.slice(0, 12);
  // A container made before is stacked again on the layers it had (overlay-mount's overlay.json), as Docker's
  // layer chain does: its image may be untagged or removed since (rmi -f keeps the layers a container stacks).
  const lowers = overlayLowers(store.path(config.id));
  const network = config.network;
  const bridge = network?.mode === 'bridge' ? network : undefined;
  // The endpoint recorded before it is made: whoever takes the container down (prune after a killed run) takes it down too.
  if (bridge) {
    bridge.endpoint = id12;
    await r.writeFile(store.path(config.id, 'config.json'), configText(config));
  }
  // `netbridge up --json ID12 OPTIONS`, by netbridge's own code here (a Node start fewer: issue 22): the fields read.
  const netbridgeUp = <K extends string>(options: string[], as: string, read: readonly K[]) => {
    const args = ['up', '--json', id12, ...options];
    return r.inProcessFields('netbridge', args, env, as, read, (steps) => netbridgeHere(args, env, steps));
  };
  // Rootless, netbridge gives slirp4netns, which serves DNS (its dns field); a bridge serves none.
  const fields = rootless() ? ([...ENDPOINT_FIELDS, 'netns', 'dns'] as const) : ([...ENDPOINT_FIELDS, 'netns'] as const);
  // Independent steps, run side by side: the rootfs, the cgroup and the network need nothing of each other (while
  // one waits for its ip, nft or the kernel, the others go on). All are waited for before a failure is reported, so
  // that the caller's teardown finds each one done or not begun.
  // What netbridge up's --json gives that is read here (the real runner gives all of it; a --dry-run script's record, the fields).
  const endpoint: Promise<(Pick<UpResult, 'netns'> & Partial<Pick<UpResult, 'dns' | 'ports'>> & Parameters<typeof endpointAddress>[0]) | undefined> = bridge
    ? netbridgeUp([...(bridge.name ? ['--network', bridge.name] : []), ...bridge.ports.flatMap((p) => ['-p', p])], 'up', fields)
    : Promise.resolve(undefined);
  const cgroup = createCgroup(config, env, r);
  const [merged, , up] = await allDone([mountRootfs(store, overlayArgs(config, lowers), env, r), cgroup, endpoint] as const);
  const netOptions: string[] = [];
  let dns: string | undefined;
  if (config.network?.mode === 'bridge' && up) {
    // Its address, gateway and MAC, and the netns, recorded for inspect while it runs.
    Object.assign(config.network, endpointAddress(up), { netns: up.netns });
    // The host ports netbridge chose (`-p 80` asks for any): what inspect's Ports, port and ps show while it runs.
    // The real runner gives all of up's output; a --dry-run script's record has none of them.
    if (Array.isArray(up.ports)) config.network.published = up.ports.map((p) => `${p.hostPort}:${p.containerPort}/${p.protocol}`);
    dns = up.dns || undefined;
    // The networks connected since (eth1, …): netbridge adds each to the namespace the first `up` made.
    for (const extra of config.network.connected ?? []) Object.assign(extra, endpointAddress(await netbridgeUp(['--network', extra.name], 'connected', ENDPOINT_FIELDS)));
    netOptions.push('--netns', up.netns);
  } else netOptions.push('--net', config.network?.mode ?? 'none');
  // The image's files into its new anonymous volumes (VOLUME), at its first start; its health check starting again.
  await populateVolumes(dirname(store.dir), config, merged, !lowers, env, r);
  const health = startingHealth(store, config);
  if (health) await r.writeFile(store.path(config.id, 'health.json'), health);
  await r.writeFile(store.path(config.id, 'hostname'), `${config.hostname}\n`);
  await r.writeFile(store.path(config.id, 'hosts'), hostsFile(config));
  await r.writeFile(store.path(config.id, 'resolv.conf'), resolvConf(config, dns));
  await r.writeFile(store.path(config.id, 'config.json'), configText(config));
  return [
    '--rootfs', merged, '--hostname', config.hostname, '--pid-file', store.path(config.id, 'pid'), '--exit-file', store.path(config.id, 'exit'),
    '-v', `${store.path(config.id, 'hostname')}:/etc/hostname`, '-v', `${store.path(config.id, 'hosts')}:/etc/hosts`, '-v', `${store.path(config.id, 'resolv.conf')}:/etc/resolv.conf`,
    ...netOptions, ...(config.cgroup ? ['--cgroup', config.cgroup] : []), ...config.nsExecOptions, '--', ...config.command,
  ];
}

/**
 * Takes down what prepare made, side by side, each step harmless when done already (the cgroup goes when the
 * container stops, as under Docker); with `remove`, the container's directory too.
 */
export async function teardown(store: ContainerStore, config: ContainerConfigRecord, env: NodeJS.ProcessEnv, remove: boolean, r: Runner = realRunner): Promise<void> {
  if (!r.dryRun) await recordDie(store, config);
  const endpoint = config.network?.endpoint;
  // Done here, by each tool's own code (a Node start fewer for each, on every container's end).
  await Promise.all([
    endpoint ? r.tryInProcess('netbridge', ['down', endpoint], env, (steps) => netbridgeHere(['down', endpoint], env, steps).then(() => {})) : undefined,
    // One after the other: what is left in the cgroup is killed before the unmount, which it would keep busy.
    (async () => {
      if (config.cgroup) await r.tryInProcess('cg-limit', ['rm', '--force', config.cgroup], env, (steps) => removeCgroupNamed(config.cgroup!, steps));
      await r.tryInProcess('overlay-mount', ['--unmount', config.id, ...(remove ? ['--rm'] : [])], env, (steps) => unmountContainer(dirname(store.dir), config.id, remove, steps));
    })(),
  ]);
  if (remove) r.removeContainer(store, config.id, config.name);
  else await r.markDown(store, config.id);
  // A --rm container's anonymous volumes go with it, as Docker's autoremove removes them.
  if (remove && config.autoRemove) await removeAnonymousVolumes(store, config, dirname(store.dir), r);
  if (remove && !r.dryRun) recordContainerEvent(store, config, 'destroy');
}

/** After teardown: an exited container's state says it is down, and the keeper's pid goes (realRunner's markDown). */
export async function markDown(store: ContainerStore, id: string): Promise<void> {
  const state = store.state(id);
  if (state.status === 'exited') await store.writeState(id, { ...state, down: true });
  // The keeper's work is done (this process is the shim become __teardown, or the foreground run): its pid goes.
  const shimFile = store.path(id, 'shim.pid');
  if (existsSync(shimFile) && readFileSync(shimFile, 'utf8') === String(process.pid)) rmSync(shimFile, { force: true });
}

/** One line of Docker's json-file log. */
function logLine(stream: 'stdout' | 'stderr', text: string): string {
  return `${JSON.stringify({ log: text, stream, time: new Date().toISOString() })}\n`;
}

/** Where a foreground container's stdin comes from and its output goes; `running` is called once it runs. */
export interface ProcessIO {
  stdin: 'inherit' | 'ignore';
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  running?: () => void;
}

/**
 * Runs ns-exec and waits: the container's output goes to `out`/`err` (when
 * given) and, line by line, to containers/<id>/log. With a terminal (-t) the
 * terminal is ns-exec's own and nothing is logged. Signals to this process
 * are passed on. Returns docker run's exit status.
 */
export async function runProcess(
  store: ContainerStore,
  config: ContainerConfigRecord,
  nsExecArgs: string[],
  io: ProcessIO,
  env: NodeJS.ProcessEnv,
  /** What a signal to this process does: passed on to the container (docker run's --sig-proxy), or `kill`: its PID 1 killed (build's RUN). */
  signals: 'pass' | 'kill' = 'pass',
): Promise<number> {
  const log = createWriteStream(store.path(config.id, 'log'), { flags: 'a' });
  const terminal = config.tty && io.out !== undefined;
  // The pid file of an earlier run (docker start after an exit or a reboot) tells of a process that is gone.
  rmSync(store.path(config.id, 'pid'), { force: true });
  // In the foreground, this process keeps the container as cutaway-shim keeps a detached one: while it lives,
  // it records the exit and takes the container down (state.ts waits for it), until teardown is done.
  writeFileSync(store.path(config.id, 'shim.pid'), String(process.pid));
  const planned = await planAhead(nsExecArgs, store.path(config.id, 'ns-exec.plan'));
  const child = spawnNsExec(nsExecArgs, { ...env, ...planned }, [io.stdin, terminal ? 'inherit' : 'pipe', terminal ? 'inherit' : 'pipe']);
  recordContainerEvent(store, config, 'start');
  // Our stdout's reader gone (`cutaway run … | head -1`): the container's stdout is closed too, so that its
  // process meets the closed pipe as it would in a shell pipeline (SIGPIPE), and the container ends and goes.
  if (io.out === process.stdout) whenStdoutCloses(() => child.stdout?.destroy());
  for (const [name, stream, sink] of [['stdout', child.stdout, io.out], ['stderr', child.stderr, io.err]] as const) {
    const lines = logLines((text) => log.write(logLine(name, text)));
    stream?.on('data', (chunk: Buffer) => {
      if (!(sink === process.stdout && stdoutClosed())) sink?.write(chunk);
      lines.write(chunk);
    });
    stream?.on('close', () => lines.end());
  }
  const startedAt = new Date().toISOString();
  const pidFile = store.path(config.id, 'pid');
  const started = (async () => {
    for (let i = 0; i < 500 && child.exitCode === null && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 10));
    if (existsSync(pidFile)) await store.writeState(config.id, { status: 'running', pid: Number(readFileSync(pidFile, 'utf8')), startedAt });
    io.running?.();
  })();
  // SIGKILL to PID 1 ends every process of its pid namespace (pid_namespaces(7)); ns-exec then reports 137.
  const kill = (): void => {
    if (existsSync(pidFile)) signalPid(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  };
  // Its health check, from this process while it runs (the shim's work for a detached one).
  const stopHealth = monitorHealth(store, config, dirname(store.dir));
  const code = await waitPassingSignals(child, 'ns-exec', signals === 'kill' ? kill : undefined);
  await stopHealth();
  await started;
  await new Promise<void>((resolve) => log.end(() => resolve()));
  if (existsSync(store.path(config.id))) await store.writeState(config.id, { status: 'exited', exitCode: code, startedAt, finishedAt: new Date().toISOString() });
  return code;
}

/** cutaway-shim's -i: a `run -d -i` container's stdin is a pipe its shim holds open (attach writes to it), as under Docker. */
export function shimStdin(config: ContainerConfigRecord): string[] {
  return config.interactive ? ['-i'] : [];
}

/**
 * A detached container's shim: cutaway-shim (cutaway-shim.c, the role containerd-shim plays), in a session
 * of its own, runs ns-exec, logs its output, serves `cutaway attach` on containers/<id>/attach.sock, records
 * the running and exited states and then becomes `cutaway __teardown ID`, which takes down what the container
 * had. Its pid goes to shim.pid. Returns once the container runs (or has ended already), as docker run -d and
 * docker start do.
 */
export async function startShim(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[], root: string): Promise<void> {
  const id = config.id;
  const after = [process.execPath, process.argv[1]!, '__teardown', id];
  const args = [...shimStdin(config), ...healthShimArgs(config, after.slice(0, 2)), store.path(id), String(after.length), ...after, 'ns-exec', ...nsExecArgs];
  traceCommand('cutaway-shim', args);
  // With --trace the shim's work is traced into shim.err (ns-exec's steps on TRACE_FD there, as its stderr goes
  // to the log; then its teardown's), and ns-exec's steps are shown once the container runs (below).
  const errFile = store.path(id, 'shim.err');
  const traceFrom = existsSync(errFile) ? statSync(errFile).size : 0;
  const err = openSync(errFile, 'a');
  const planned = await planAhead(nsExecArgs, store.path(id, 'ns-exec.plan'));
  const shim = spawn('cutaway-shim', args, {
    env: toolEnv({ CUTAWAY_ROOT: root, ...traceEnv(TRACE_FD), ...planned }),
    detached: true,
    // Fd 3: closed by the shim once the state says running, or when it ends (cutaway-shim.c).
    stdio: ['ignore', openSync('/dev/null', 'w'), err, 'pipe', err],
  });
  const ready = shim.stdio[3] as Readable;
  const running = new Promise<void>((resolve) => ready.once('close', resolve).resume());
  // A shim that cannot start (cutaway-shim missing, not executable) is cutaway's one-line error; the caller tears down.
  await new Promise<void>((resolve, reject) => {
    shim.once('spawn', resolve);
    shim.once('error', (e) => reject(new ToolError(`cutaway-shim: ${e.message}`)));
  });
  // Now, not once it runs: its exit's `die` (its __teardown) could come first then.
  recordContainerEvent(store, id, 'start');
  writeFileSync(store.path(id, 'shim.pid'), String(shim.pid));
  shim.unref();
  // As long as 4 s at most: a shim stopped (SIGSTOP) before its container runs does not hold run -d forever.
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([running, new Promise((r) => (timer = setTimeout(r, 4000)))]);
  clearTimeout(timer);
  ready.destroy();
  // All of them by now: the last, the exec step, is written before execve, and the state says running after it.
  showTrace(readFileSync(errFile).subarray(traceFrom).toString());
}
