import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { UsageError, type OptionValues } from '@cutaway/cli';
import { withFileLock } from '@cutaway/libc';
import { writeFileAtomic, type ContainerConfig } from '@cutaway/oci';
import { command } from '../command.ts';
import { parseGoDuration } from '../system/timestamps.ts';
import { signalStatus, toolEnv } from '../tools.ts';
import { recordContainerEvent } from './events.ts';
import { enterArgs } from './exec.ts';
import { signalPid } from './signals.ts';
import { currentState } from './state.ts';
import { ContainerStore, type ContainerConfigRecord, type ContainerState, type Healthcheck } from './store.ts';

/**
 * HEALTHCHECK at run time, as Docker's daemon does it (moby daemon/health.go), without a daemon:
 *
 * - the check is the image's Healthcheck with run's --health-* over it (daemon/commit.go merge), resolved when
 *   the container is made (healthcheckFor) and kept in its record;
 * - at each start, containers/<id>/health.json says `starting` with no failures (its Log kept), as
 *   initHealthMonitor resets it;
 * - `interval` after the start, and then `interval` after each check ends, one check runs inside the container
 *   (runHealthCheck: `ns-exec --enter`, as `cutaway exec`, as the container's user in its working directory)
 *   for at most `timeout` (then its process is killed: exit code -1, "Health check exceeded timeout (…)");
 *   exit 0 makes it healthy and clears the streak; a failure adds to the streak, except while it is still
 *   starting within the start period; `retries` failures in a row make it unhealthy; the last 5 results are
 *   kept, their output cut at 4096 bytes; a change of status is the event `health_status: STATUS`;
 * - once the container has stopped its status reads `unhealthy` (Docker's CloseMonitorChannel says so "for
 *   compatibility reasons"), and ps shows none.
 *
 * Who schedules the checks: a detached container's cutaway-shim (already awake for its output), which runs
 * `cutaway __health ID` — one check — every interval and kills it (its process group) when the container
 * ends; a foreground `cutaway run` from its own Node process (monitorHealth). No process is left either way.
 */

/** Docker's defaults (daemon/health.go) and what it keeps. */
const DEFAULT_INTERVAL = 30e9;
const DEFAULT_TIMEOUT = 30e9;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT_LEN = 4096;

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One check's result, as Docker's HealthcheckResult. */
export interface HealthResult {
  Start: string;
  End: string;
  ExitCode: number;
  Output: string;
}

/** inspect's State.Health. */
export interface Health {
  Status: HealthStatus;
  FailingStreak: number;
  Log: HealthResult[];
}

/** run's and create's options of the health check (docker/cli opts.go). */
export const HEALTH_OPTIONS = [
  { name: 'health-cmd', type: 'string', arg: 'CMD', help: 'the command that checks health (run by /bin/sh -c in the container)' },
  { name: 'health-interval', type: 'string', arg: 'DURATION', help: 'time between checks (ms|s|m|h; default 30s)' },
  { name: 'health-timeout', type: 'string', arg: 'DURATION', help: 'longest a check may run (default 30s)' },
  { name: 'health-start-period', type: 'string', arg: 'DURATION', help: 'failures in this time after the start do not count (default 0s)' },
  { name: 'health-retries', type: 'string', arg: 'N', help: 'failures in a row that make it unhealthy (default 3)' },
  { name: 'no-healthcheck', type: 'boolean', help: "disable the image's HEALTHCHECK" },
] as const;

/** A --health-* duration: Go's time.ParseDuration, as the flag is read (nanoseconds). */
function durationFlag(name: string, text: string | undefined): number {
  if (text === undefined) return 0;
  const ns = parseGoDuration(text);
  if (ns === undefined) throw new UsageError(`invalid argument "${text}" for "--${name}" flag: time: invalid duration "${text}"`);
  if (ns < 0) throw new UsageError(`--${name} cannot be negative`);
  // The daemon's check (daemon/container.go validateHealthCheck): a duration set is at least 1ms.
  if (ns > 0 && ns < 1e6) throw new UsageError(`--${name}: a duration set must be at least 1ms`);
  return Math.round(ns);
}

/**
 * The container's Healthcheck: docker/cli's HealthConfig from the flags (--no-healthcheck: Test ["NONE"]), merged
 * over the image's as the daemon merges them (each field the flags leave unset is the image's). Undefined: none.
 */
export function healthcheckFor(image: ContainerConfig | undefined, o: OptionValues<typeof HEALTH_OPTIONS>): Healthcheck | undefined {
  const retriesText = o['health-retries'];
  const retries = retriesText === undefined ? 0 : Number(retriesText);
  if (!Number.isInteger(retries)) throw new UsageError(`invalid argument "${retriesText}" for "--health-retries" flag: strconv.ParseInt: parsing "${retriesText}": invalid syntax`);
  const flags: Healthcheck = {
    ...(o['health-cmd'] ? { Test: ['CMD-SHELL', o['health-cmd']] } : {}),
    Interval: durationFlag('health-interval', o['health-interval']),
    Timeout: durationFlag('health-timeout', o['health-timeout']),
    StartPeriod: durationFlag('health-start-period', o['health-start-period']),
    Retries: retries,
  };
  const given = Boolean(flags.Test) || Boolean(flags.Interval || flags.Timeout || flags.StartPeriod || flags.Retries);
  if (o['no-healthcheck']) {
    if (given) throw new UsageError('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (retries < 0) throw new UsageError('--health-retries cannot be negative');
  const own = image?.Healthcheck as Healthcheck | undefined;
  if (!given) return own?.Test?.length ? own : undefined;
  const merged: Healthcheck = {
    Test: flags.Test ?? own?.Test ?? [],
    Interval: flags.Interval || own?.Interval || 0,
    Timeout: flags.Timeout || own?.Timeout || 0,
    StartPeriod: flags.StartPeriod || own?.StartPeriod || 0,
    Retries: flags.Retries || own?.Retries || 0,
  };
  return merged.Test!.length ? merged : undefined;
}

/** The command a check runs (moby getProbe): CMD's words, CMD-SHELL's text in the image's shell; none for NONE or an unknown kind. */
export function probeCommand(config: ContainerConfigRecord): string[] | undefined {
  const [kind, ...rest] = config.healthcheck?.Test ?? [];
  if (kind === 'CMD' && rest.length) return rest;
  if (kind === 'CMD-SHELL' && rest.length) return [...(config.shell?.length ? config.shell : ['/bin/sh', '-c']), ...rest];
  return undefined;
}

/** The time between checks, in milliseconds; undefined when the container has no check to run. */
export function healthInterval(config: ContainerConfigRecord): number | undefined {
  return probeCommand(config) ? Math.max(1, Math.round((config.healthcheck?.Interval || DEFAULT_INTERVAL) / 1e6)) : undefined;
}

const healthFile = (store: ContainerStore, id: string) => store.path(id, 'health.json');

function readHealth(store: ContainerStore, id: string): Health | undefined {
  try {
    return JSON.parse(readFileSync(healthFile(store, id), 'utf8')) as Health;
  } catch {
    return undefined;
  }
}

/**
 * health.json as a start leaves it (prepare writes it, through the runner, before the process starts): starting,
 * no failures, the Log of earlier runs kept. Undefined for a container without a check.
 */
export function startingHealth(store: ContainerStore, config: ContainerConfigRecord): string | undefined {
  if (!probeCommand(config)) return undefined;
  const health: Health = { Status: 'starting', FailingStreak: 0, Log: readHealth(store, config.id)?.Log ?? [] };
  return `${JSON.stringify(health)}\n`;
}

/** State.Health as inspect shows it: while it runs, as recorded; once stopped, unhealthy (Docker's). Undefined without a check. */
export function healthOf(store: ContainerStore, config: ContainerConfigRecord, state: ContainerState): Health | undefined {
  if (!probeCommand(config)) return undefined;
  const health = readHealth(store, config.id);
  if (!health) return undefined;
  return state.status === 'running' ? health : { ...health, Status: 'unhealthy' };
}

/** ps's STATUS after `Up …`: ` (healthy)`, ` (unhealthy)`, ` (health: starting)` (moby Health.String). */
export function healthSuffix(store: ContainerStore, config: ContainerConfigRecord, state: ContainerState): string {
  if (state.status !== 'running') return '';
  const health = healthOf(store, config, state);
  if (!health) return '';
  return health.Status === 'starting' ? ' (health: starting)' : ` (${health.Status})`;
}

/** Go's time.Duration.String of `ns` (30s, 1m30s, 500ms, 1.5s): how Docker's timeout message writes it. */
export function goDuration(ns: number): string {
  if (ns === 0) return '0s';
  const trim = (n: number, digits: number) => n.toFixed(digits).replace(/\.?0+$/, '');
  if (ns < 1e3) return `${ns}ns`;
  if (ns < 1e6) return `${trim(ns / 1e3, 3)}µs`;
  if (ns < 1e9) return `${trim(ns / 1e6, 6)}ms`;
  const h = Math.floor(ns / 3600e9);
  const m = Math.floor((ns % 3600e9) / 60e9);
  const s = trim((ns % 60e9) / 1e9, 9);
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

/**
 * The process a check started, killed at its timeout: ns-exec's --pid-file names it (the command inside the
 * container), and ns-exec, which waits for it, ends by itself. Before that file is there, ns-exec itself.
 */
function killProbe(pidFile: string, child: ReturnType<typeof spawn>): void {
  try {
    signalPid(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}

/** One check of a running container (moby cmdProbe.run); undefined when it does not run. `cancelled`: its result is not recorded then. */
export async function runHealthCheck(store: ContainerStore, id: string, root: string, cancelled: () => boolean = () => false): Promise<HealthResult | undefined> {
  const config = store.config(id);
  const argv = probeCommand(config);
  const state = currentState(store, id);
  if (!argv || state.status !== 'running' || state.pid === undefined) return undefined;
  const pidFile = store.path(id, 'health.pid');
  const args = enterArgs(config, String(state.pid), { extra: ['--pid-file', pidFile] }, argv);
  const execID = randomBytes(32).toString('hex');
  const shown = `${argv[0]} ${argv.slice(1).join(' ')}`;
  for (const stage of ['exec_create', 'exec_start']) recordContainerEvent(store, config, `${stage}: ${shown}`, { execID });
  const start = new Date();
  const timeout = config.healthcheck?.Timeout || DEFAULT_TIMEOUT;
  const child = spawn('ns-exec', args, { env: toolEnv({ CUTAWAY_ROOT: root }), stdio: ['ignore', 'pipe', 'pipe'] });
  // stdout and stderr together, the first 4096 bytes (moby's limitedBuffer).
  const output: Buffer[] = [];
  let length = 0;
  const keep = (chunk: Buffer) => {
    if (length < MAX_OUTPUT_LEN) output.push(chunk.subarray(0, MAX_OUTPUT_LEN - length));
    length += chunk.length;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const code = await new Promise<number>((resolve) => {
    child.on('error', () => resolve(-1));
    child.on('close', (status, signal) => resolve(status ?? (signal ? signalStatus(signal) : -1)));
    // At the timeout the result is known: what the killed command left (its output's pipes, held by a child of
    // its own still running in the container) is not waited for.
    timer = setTimeout(() => {
      timedOut = true;
      killProbe(pidFile, child);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(-1);
    }, Math.max(1, Math.round(timeout / 1e6)));
  });
  clearTimeout(timer);
  rmSync(pidFile, { force: true });
  recordContainerEvent(store, config, 'exec_die', { execID, exitCode: String(code) });
  const result: HealthResult = timedOut
    ? { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: -1, Output: `Health check exceeded timeout (${goDuration(timeout)})` }
    : { Start: start.toISOString(), End: new Date().toISOString(), ExitCode: code, Output: Buffer.concat(output).toString('utf8') };
  if (!cancelled()) await recordResult(store, config, state, result);
  return result;
}

/** moby handleProbeResult: the result logged (the last 5), the streak and status updated, a change of status an event. */
async function recordResult(store: ContainerStore, config: ContainerConfigRecord, state: ContainerState, result: HealthResult): Promise<void> {
  await withFileLock(store.path(config.id, 'health.lock'), async () => {
    // The container stopped (or started again) meanwhile: no longer this run's check.
    const now = currentState(store, config.id);
    if (now.status !== 'running' || now.startedAt !== state.startedAt || !existsSync(store.path(config.id))) return;
    const health: Health = readHealth(store, config.id) ?? { Status: 'starting', FailingStreak: 0, Log: [] };
    const old = health.Status;
    health.Log = [...health.Log, result].slice(-MAX_LOG_ENTRIES);
    if (result.ExitCode === 0) {
      health.FailingStreak = 0;
      health.Status = 'healthy';
    } else {
      // Still starting (never healthy yet) within the start period: the failure does not count.
      const sinceStart = Date.parse(result.Start) - Date.parse(state.startedAt ?? result.Start);
      const grace = old === 'starting' && sinceStart < (config.healthcheck?.StartPeriod ?? 0) / 1e6;
      if (!grace) {
        health.FailingStreak++;
        if (health.FailingStreak >= (config.healthcheck?.Retries || DEFAULT_RETRIES)) health.Status = 'unhealthy';
      }
    }
    await writeFileAtomic(healthFile(store, config.id), `${JSON.stringify(health)}\n`);
    if (health.Status !== old) recordContainerEvent(store, config, `health_status: ${health.Status}`);
  });
}

/**
 * A foreground run's checks, from its own process: the first `interval` after now, each next `interval` after the
 * last ended. Returns what stops them (waiting for one that runs; its result is not recorded then).
 */
export function monitorHealth(store: ContainerStore, config: ContainerConfigRecord, root: string): () => Promise<void> {
  const interval = healthInterval(config);
  if (interval === undefined) return async () => {};
  let stopped = false;
  let running: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      running = runHealthCheck(store, config.id, root, () => stopped)
        .catch(() => undefined)
        .finally(() => {
          running = undefined;
          if (!stopped) schedule();
        });
    }, interval);
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

/**
 * cutaway-shim's options for a detached container's checks: `-H MS N CHECK…`, CHECK `cutaway __health ID` as
 * `cutaway` is named (`[node, script]` here, `cutaway` in a --dry-run script); none without a check.
 */
export function healthShimArgs(config: ContainerConfigRecord, cutaway: string[]): string[] {
  const interval = healthInterval(config);
  if (interval === undefined) return [];
  const check = [...cutaway, '__health', config.id];
  return ['-H', String(interval), String(check.length), ...check];
}

/**
 * The lines of a --dry-run script that check a foreground container's health while it runs, as cutaway run does
 * from its own process: a loop in the background, `cutaway __health ID` every interval, ended with the process
 * (`stop`: the lines after it). Nothing for a container without a check.
 */
export function healthLoopLines(config: ContainerConfigRecord, word: (text: string) => string): { start: string[]; stop: string[] } {
  const interval = healthInterval(config);
  if (interval === undefined) return { start: [], stop: [] };
  return {
    start: [
      `# The health check (HEALTHCHECK): every ${goDuration(interval * 1e6)} after the last, one check in the container (cutaway __health ID).`,
      `( while sleep ${interval / 1000}; do cutaway __health ${word(config.id)} || true; done ) &`,
      'health_loop=$!',
    ],
    stop: ['kill "$health_loop" 2>/dev/null || true'],
  };
}

/**
 * `cutaway __health ID`: one health check of a running container, its result recorded; what cutaway-shim runs
 * every interval. Not one of Docker's commands.
 */
export const healthCheck = command(
  {
    name: '__health',
    summary: "Run a container's health check once",
    synopsis: ['ID'],
    description: "Run a running container's health check once and record its result (cutaway-shim runs it every interval).",
    options: [],
    operands: { min: 1, max: 1, names: 'ID' },
    examples: [],
    classic: ['ns-exec --enter PID -- CMD…'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const id = inv.positionals[0]!;
    if (!existsSync(store.path(id, 'config.json'))) return;
    await runHealthCheck(store, id, root);
  },
);
