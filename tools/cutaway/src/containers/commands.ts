import { createReadStream, existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ROOT_OPTION, stateRoot, ToolError, UsageError, type Invocation, type OptionSpec, type ToolSpec } from '@cutaway/cli';
import { ContainerStore, type ContainerConfigRecord, type ContainerState } from './store.ts';
import { currentState, monitorAlive } from './state.ts';
import { ago, table } from '../format.ts';
import { prepare, startMonitor, teardown } from './lifecycle.ts';
import type { Command } from '../command.ts';

/**
 * Docker's commands on containers that exist: ps, logs, inspect, wait,
 * port, kill, stop, rm. They read containers/<id>/ and act on the
 * container's PID 1 (as the host sees it, from ns-exec's --pid-file); a
 * detached container's monitor records how it ended and tidies up.
 */

function spec(name: string, synopsis: string, description: string, options: OptionSpec[] = []): ToolSpec {
  return { name: `cutaway ${name}`, version: '0.1.0', synopsis: [synopsis], description, options: [...options, ROOT_OPTION], examples: [], classic: [`docker ${name}`] };
}

const containerSpecs: Record<string, ToolSpec> = {
  // -q (only the ids) is the common --quiet.
  ps: spec('ps', '[-a] [-q]', 'List containers: the running ones, or all with -a; -q prints only their ids.', [
    { name: 'all', short: 'a', type: 'boolean', help: 'all containers, not only running ones' },
  ]),
  logs: spec('logs', '[-f] [--tail N] [-t] CONTAINER', "A container's output, from its json-file log.", [
    { name: 'follow', short: 'f', type: 'boolean', help: 'keep printing until the container exits' },
    { name: 'tail', type: 'string', arg: 'N', help: 'only the last N lines' },
    { name: 'timestamps', short: 't', type: 'boolean', help: 'each line with its time' },
  ]),
  inspect: spec('inspect', 'CONTAINER…', 'Everything known about containers, as JSON.'),
  wait: spec('wait', 'CONTAINER…', 'Wait until containers exit and print their exit codes.'),
  port: spec('port', 'CONTAINER', "A container's published ports."),
  kill: spec('kill', '[-s SIGNAL] CONTAINER…', "Send a signal (default SIGKILL) to containers' PID 1.", [{ name: 'signal', short: 's', type: 'string', arg: 'SIG', help: 'the signal, by name or number' }]),
  stop: spec('stop', '[-t SECONDS] CONTAINER…', 'SIGTERM to PID 1, then SIGKILL after the timeout (default 10 s).', [{ name: 'time', short: 't', type: 'string', arg: 'SECONDS', help: 'how long to wait before SIGKILL' }]),
  start: spec('start', 'CONTAINER…', "Start stopped containers again, in the background: mounts, network and cgroup recreated from their config."),
  restart: spec('restart', '[-t SECONDS] CONTAINER…', 'stop, then start.', [{ name: 'time', short: 't', type: 'string', arg: 'SECONDS', help: 'how long stop waits before SIGKILL' }]),
  rm: spec('rm', '[-f] [-v] CONTAINER…', 'Remove containers: their mounts, network endpoint, cgroup and directory. A running one needs -f.', [
    { name: 'force', short: 'f', type: 'boolean', help: 'kill a running container first' },
    { name: 'volumes', short: 'v', type: 'boolean', help: 'anonymous volumes too (cutaway makes none)' },
  ]),
};

/** A signal to a pid that may have just exited (its monitor has not recorded it yet): ESRCH is no error then. */
function signalPid(pid: number, sig: number | NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}


function statusText(state: ContainerState): string {
  if (state.status === 'running') return `Up ${ago(state.startedAt)}`;
  if (state.status === 'exited') return `Exited (${state.exitCode ?? 0})${state.finishedAt ? ` ${ago(state.finishedAt)} ago` : ''}`;
  return 'Created';
}

/** Docker's PORTS column: 0.0.0.0:8080->80/tcp. */
function portsText(config: ContainerConfigRecord): string[] {
  return (config.network?.ports ?? []).map((p) => {
    const [mapping = '', proto = 'tcp'] = p.split('/');
    const parts = mapping.split(':');
    return `0.0.0.0:${parts.length > 1 ? parts[0] : '?'}->${parts.at(-1)}/${proto}`;
  });
}


function ps(store: ContainerStore, inv: Invocation): void {
  const rows = store
    .ids()
    .map((id) => ({ id, config: store.config(id), state: currentState(store, id) }))
    .filter((c) => inv.options.all || c.state.status === 'running')
    .sort((a, b) => Date.parse(b.config.created) - Date.parse(a.config.created));
  if (inv.options.quiet) {
    process.stdout.write(rows.map((c) => `${c.id.slice(0, 12)}\n`).join(''));
    return;
  }
  const command = (argv: string[]) => {
    const text = argv.join(' ');
    return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
  };
  process.stdout.write(
    table([
      ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
      ...rows.map((c) => [c.id.slice(0, 12), c.config.image.replace(/^docker\.io\/library\//, ''), command(c.config.command), `${ago(c.config.created)} ago`, statusText(c.state), portsText(c.config).join(', '), c.config.name]),
    ]),
  );
}

interface LogLine {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

function printLog(line: LogLine, timestamps: boolean): void {
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(timestamps ? `${line.time} ${line.log}` : line.log);
}

/** docker logs: the json-file log; with -f, what is appended until the container exits. */
async function logs(store: ContainerStore, id: string, inv: Invocation): Promise<void> {
  const path = store.path(id, 'log');
  const timestamps = Boolean(inv.options.timestamps);
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  let lines = text.split('\n').filter(Boolean);
  if (typeof inv.options.tail === 'string' && inv.options.tail !== 'all') {
    if (!/^\d+$/.test(inv.options.tail)) throw new UsageError(`--tail ${inv.options.tail}: want a number or all`);
    lines = Number(inv.options.tail) ? lines.slice(-Number(inv.options.tail)) : [];
  }
  for (const l of lines) printLog(JSON.parse(l) as LogLine, timestamps);
  if (!inv.options.follow) return;
  let offset = Buffer.byteLength(text);
  let pending = '';
  for (;;) {
    const size = existsSync(path) ? statSync(path).size : offset;
    if (size > offset) {
      const chunk = await new Promise<string>((resolve, reject) => {
        let data = '';
        createReadStream(path, { start: offset, end: size - 1, encoding: 'utf8' }).on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
      });
      offset = size;
      const all = pending + chunk;
      const complete = all.split('\n');
      pending = complete.pop()!;
      for (const l of complete.filter(Boolean)) printLog(JSON.parse(l) as LogLine, timestamps);
    } else if (currentState(store, id).status !== 'running' || !existsSync(store.path(id))) return;
    else await new Promise((r) => setTimeout(r, 100));
  }
}

function inspect(store: ContainerStore, id: string): unknown {
  const c = store.config(id);
  const s = currentState(store, id);
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0],
    Args: c.command.slice(1),
    State: { Status: s.status, Running: s.status === 'running', Pid: s.status === 'running' ? s.pid : 0, ExitCode: s.exitCode ?? 0, StartedAt: s.startedAt ?? '', FinishedAt: s.finishedAt ?? '' },
    Image: c.imageDigest,
    Name: `/${c.name}`,
    HostnamePath: store.path(id, 'hostname'),
    HostsPath: store.path(id, 'hosts'),
    ResolvConfPath: store.path(id, 'resolv.conf'),
    LogPath: store.path(id, 'log'),
    HostConfig: { AutoRemove: c.autoRemove, NetworkMode: c.network?.name ?? c.network?.mode ?? 'none', CgroupParent: c.cgroup },
    Mounts: mountsOf(c),
    Config: { Hostname: c.hostname, Image: c.image, Cmd: c.command, Tty: c.tty, OpenStdin: c.interactive },
    NetworkSettings: { IPAddress: c.network?.ip ?? '', Ports: Object.fromEntries(portsText(c).map((p) => { const [host, ctr] = p.split('->'); return [ctr, [{ HostIp: '0.0.0.0', HostPort: host!.split(':')[1] }]]; })) },
  };
}

/** The -v mounts from the options ns-exec got. */
function mountsOf(c: ContainerConfigRecord): { Type: string; Source: string; Destination: string; RW: boolean }[] {
  const mounts: { Type: string; Source: string; Destination: string; RW: boolean }[] = [];
  for (let i = 0; i < c.nsExecOptions.length; i++) {
    if (c.nsExecOptions[i] !== '-v') continue;
    const [source = '', destination = '', mode = 'rw'] = c.nsExecOptions[i + 1]!.split(':');
    mounts.push({ Type: source.includes('/volumes/') ? 'volume' : 'bind', Source: source, Destination: destination, RW: !mode.split(',').includes('ro') });
  }
  return mounts;
}

/**
 * docker start: what a container had is made again from config.json — what a reboot may have left (a stale
 * network endpoint, a cgroup) taken down first, the overlay mounted on the upper it had, the cgroup, the
 * endpoint, the /etc files — and a monitor runs it.
 */
async function start(store: ContainerStore, id: string, root: string): Promise<void> {
  if (currentState(store, id).status === 'running') return;
  const env = { CUTAWAY_ROOT: root };
  const config = store.config(id);
  await teardown(store, config, env, false);
  const nsExecArgs = await prepare(store, config, env).catch(async (e: unknown) => {
    await teardown(store, config, env, false);
    throw e;
  });
  await store.writeState(id, { status: 'created' });
  await startMonitor(store, id, nsExecArgs, root).catch(async (e: unknown) => {
    await teardown(store, config, env, false);
    throw e;
  });
}

async function waitFor(store: ContainerStore, id: string): Promise<number> {
  for (;;) {
    if (!existsSync(store.path(id, 'state.json'))) return 0;
    const s = currentState(store, id);
    if (s.status === 'exited') return s.exitCode ?? 0;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function signalNumber(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const n = osConstants.signals[(name.toUpperCase().startsWith('SIG') ? name.toUpperCase() : `SIG${name.toUpperCase()}`) as NodeJS.Signals];
  if (n === undefined) throw new UsageError(`invalid signal: ${name}`);
  return n;
}

/** The running container's PID 1, as the host sees it. */
export function runningPid(store: ContainerStore, id: string): number {
  const s = currentState(store, id);
  if (s.status !== 'running') throw new ToolError(`container ${store.config(id).name} is not running`);
  return s.pid!;
}

async function stop(store: ContainerStore, id: string, seconds: number): Promise<void> {
  const s = currentState(store, id);
  if (s.status !== 'running') return;
  signalPid(s.pid!, 'SIGTERM');
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline && currentState(store, id).status === 'running') await new Promise((r) => setTimeout(r, 50));
  if (currentState(store, id).status === 'running') signalPid(s.pid!, 'SIGKILL');
  await waitFor(store, id);
  // As docker stop returns once the container is cleaned up: its keeper has taken down what it had.
  for (let i = 0; i < 300 && monitorAlive(store, id); i++) await new Promise((r) => setTimeout(r, 20));
}

/**
 * One operation on several containers, as docker's CLI runs them (parallelOperation): side by side, a few
 * at a time (each takes a few tool starts), each name printed once its operation is done, in the order given.
 */
async function eachInParallel(ids: string[], names: string[], operation: (id: string) => Promise<void>, limit = 8): Promise<void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const outcomes = ids.map(async (id) => {
    while (active >= limit) await new Promise<void>((wake) => waiting.push(wake));
    active++;
    try {
      await operation(id);
      return undefined;
    } catch (e) {
      return { error: e };
    } finally {
      active--;
      waiting.shift()?.();
    }
  });
  // Like docker's CLI, the others go on when one fails; the first failure is the command's error.
  let failure: { error: unknown } | undefined;
  for (const [i, outcome] of outcomes.entries()) {
    const result = await outcome;
    if (result) failure ??= result;
    else process.stdout.write(`${names[i]}\n`);
  }
  if (failure) throw failure.error;
}

async function containerCommand(verb: string, inv: Invocation): Promise<number> {
  const store = new ContainerStore(stateRoot(inv.options.root));
  const env = { CUTAWAY_ROOT: stateRoot(inv.options.root) };
  const names = inv.positionals;
  if (verb === 'ps') {
    ps(store, inv);
    return 0;
  }
  if (!names.length) throw new UsageError(`"cutaway ${verb}" requires at least 1 argument: CONTAINER`);
  // Every name is looked up first: an unknown one or an ambiguous prefix changes nothing.
  const ids = names.map((n) => store.find(n));
  switch (verb) {
    case 'logs':
      await logs(store, ids[0]!, inv);
      return 0;
    case 'inspect':
      process.stdout.write(`${JSON.stringify(ids.map((id) => inspect(store, id)), null, 2)}\n`);
      return 0;
    case 'wait':
      for (const id of ids) process.stdout.write(`${await waitFor(store, id)}\n`);
      return 0;
    case 'port':
      process.stdout.write(portsText(store.config(ids[0]!)).map((p) => { const [host, ctr] = p.split('->'); return `${ctr} -> ${host}\n`; }).join(''));
      return 0;
    case 'kill': {
      const sig = signalNumber(typeof inv.options.signal === 'string' ? inv.options.signal : 'KILL');
      for (const [i, id] of ids.entries()) {
        signalPid(runningPid(store, id), sig);
        process.stdout.write(`${names[i]}\n`);
      }
      return 0;
    }
    case 'stop': {
      const seconds = typeof inv.options.time === 'string' ? Number(inv.options.time) : 10;
      if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--time ${inv.options.time}: want seconds`);
      await eachInParallel(ids, names, (id) => stop(store, id, seconds));
      return 0;
    }
    case 'start':
    case 'restart': {
      const seconds = typeof inv.options.time === 'string' ? Number(inv.options.time) : 10;
      if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--time ${inv.options.time}: want seconds`);
      await eachInParallel(ids, names, async (id) => {
        if (verb === 'restart') await stop(store, id, seconds);
        await start(store, id, stateRoot(inv.options.root));
      });
      return 0;
    }
    case 'rm': {
      const running = ids.filter((id) => currentState(store, id).status === 'running');
      if (running.length && !inv.options.force)
        throw new ToolError(`cannot remove container "${store.config(running[0]!).name}": container is running: stop the container before removing or force remove`);
      await eachInParallel(ids, names, async (id) => {
        if (currentState(store, id).status === 'running') await stop(store, id, 0);
        // Taken down when it exited (its keeper, or run in the foreground): only its directory is left.
        if (store.state(id).down) rmSync(store.path(id), { recursive: true, force: true });
        else await teardown(store, store.config(id), env, true);
      });
      return 0;
    }
    default:
      throw new UsageError(`unknown command ${verb}`);
  }
}

export const containerCommands: Record<string, Command> = Object.fromEntries(
  Object.entries(containerSpecs).map(([verb, spec]) => [verb, { spec, run: (inv: Invocation) => containerCommand(verb, inv) }]),
);
