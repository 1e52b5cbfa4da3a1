import { existsSync, writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { rootless, ToolError, UsageError } from '@cutaway/cli';
import type { ContainerConfig } from '@cutaway/oci';
import { command } from '../command.ts';
import { recordContainerEvent } from './events.ts';
import { teardown } from './lifecycle.ts';
import { thawIfPaused } from './pause.ts';
import { signalNumber, signalPid } from './signals.ts';
import { currentState, shimAlive } from './state.ts';
import { ContainerStore, type ContainerConfigRecord } from './store.ts';
import { waitForExit } from './wait.ts';

/** --time, docker stop's grace period in seconds (default 10). */
export const TIME_OPTION = { name: 'time', short: 't', type: 'string', arg: 'SECONDS', help: 'how long to wait before SIGKILL' } as const;

export function graceSeconds(time: string | undefined): number {
  const seconds = time !== undefined ? Number(time) : 10;
  if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--time ${time}: want seconds`);
  return seconds;
}

/** run's and create's options of how the container is stopped (Docker's). */
export const STOP_OPTIONS = [
  { name: 'stop-signal', type: 'string', arg: 'SIGNAL', help: "the signal stop sends first (default: the image's STOPSIGNAL, else SIGTERM)" },
  { name: 'stop-timeout', type: 'string', arg: 'SECONDS', help: 'how long stop waits before SIGKILL (default 10; -1: no limit)' },
] as const;

/** The container's StopSignal (--stop-signal, else the image's STOPSIGNAL) and StopTimeout, as its record keeps them. */
export function stopSettings(image: ContainerConfig | undefined, o: { 'stop-signal'?: string; 'stop-timeout'?: string }): Pick<ContainerConfigRecord, 'stopSignal' | 'stopTimeout'> {
  const timeout = o['stop-timeout'];
  if (timeout !== undefined && !/^-?\d+$/.test(timeout)) throw new UsageError(`invalid argument "${timeout}" for "--stop-timeout" flag: strconv.ParseInt: parsing "${timeout}": invalid syntax`);
  // The daemon's check (moby/sys/signal ParseSignal): its error, not a usage one.
  if (o['stop-signal'] !== undefined && !/^\d+$/.test(o['stop-signal']) && signalOrUndefined(o['stop-signal']) === undefined) throw new ToolError(`Invalid signal: ${o['stop-signal']}`);
  const signal = o['stop-signal'] ?? image?.StopSignal;
  return { ...(signal && { stopSignal: signal }), ...(timeout !== undefined && { stopTimeout: Number(timeout) }) };
}

function signalOrUndefined(name: string): number | undefined {
  try {
    return signalNumber(name);
  } catch {
    return undefined;
  }
}

/** The signal stop sends a container first: its StopSignal, SIGTERM when it has none (or one that is no signal: moby container.StopSignal). */
export function stopSignalOf(config: ContainerConfigRecord): number {
  return (config.stopSignal ? signalOrUndefined(config.stopSignal) : undefined) ?? osConstants.signals.SIGTERM;
}

/** How long stop waits for a container: -t when given, else its --stop-timeout, else 10 s (negative: no limit). */
export function stopSeconds(store: ContainerStore, id: string, time: string | undefined): number {
  return time !== undefined ? graceSeconds(time) : (store.config(id).stopTimeout ?? 10);
}

/**
 * The file that tells a container's shim that the process stopping the container takes it down itself
 * (cutaway-shim.c: the shim then ends once it has recorded the exit, instead of becoming `cutaway __teardown`).
 */
export const TEARDOWN_CLAIM = 'teardown.claim';

/**
 * Its stop signal (or `signal`: rm -f's SIGKILL) to PID 1, SIGKILL after `seconds` (negative: no limit); returns
 * once the container's shim has ended: it has recorded the exit and taken down what the container had — unless
 * `claimTeardown`, when the caller takes it down (`state.down` is unset if the shim left it, see TEARDOWN_CLAIM):
 * one Node start fewer per container, and what makes `rm -f` of many containers one process's work.
 */
export async function stopContainer(store: ContainerStore, id: string, seconds: number, signal?: number, claimTeardown = false): Promise<void> {
  const s = currentState(store, id);
  if (s.status !== 'running') return;
  const first = signal ?? stopSignalOf(store.config(id));
  // Before any signal: the shim reads it once PID 1 has ended (a shim that read it earlier has taken it down itself).
  if (claimTeardown) writeFileSync(store.path(id, TEARDOWN_CLAIM), `${process.pid}\n`);
  recordContainerEvent(store, id, 'kill', { signal: String(first) });
  signalPid(s.pid!, first);
  const deadline = seconds < 0 ? Infinity : Date.now() + seconds * 1000;
  while (first !== osConstants.signals.SIGKILL && Date.now() < deadline && currentState(store, id).status === 'running') await new Promise((r) => setTimeout(r, 50));
  // (SIGKILL first, as rm -f sends it: nothing more to send; a paused container is thawed so that it ends.)
  if (first === osConstants.signals.SIGKILL) await thawIfPaused(store, id);
  else if (currentState(store, id).status === 'running') {
    recordContainerEvent(store, id, 'kill', { signal: String(osConstants.signals.SIGKILL) });
    signalPid(s.pid!, 'SIGKILL');
    await thawIfPaused(store, id);
  }
  // The die is recorded by whoever takes the container down: with the claim, the caller, after this returns.
  if (claimTeardown) while (currentState(store, id).status === 'running') await new Promise((r) => setTimeout(r, 20));
  else await waitForExit(store, id);
  // As docker stop returns once the container is cleaned up.
  for (let i = 0; i < 300 && shimAlive(store, id); i++) await new Promise((r) => setTimeout(r, 20));
}

/**
 * docker stop of one container, and its `stop` event: after its kill and die, and only if it was running (moby
 * daemon/stop.go). What the container had is taken down here, in this process, rather than by a Node start of
 * its shim — except rootless, where the overlay is mounted in the namespace the shim holds (rootless.ts).
 */
export async function stopWithEvent(store: ContainerStore, id: string, seconds: number): Promise<void> {
  const running = currentState(store, id).status === 'running';
  const claim = running && !rootless();
  await stopContainer(store, id, seconds, undefined, claim);
  if (claim && existsSync(store.path(id)) && !store.state(id).down) {
    const config = store.config(id);
    await teardown(store, config, { CUTAWAY_ROOT: dirname(store.dir) }, config.autoRemove);
  }
  if (running) recordContainerEvent(store, id, 'stop');
}

export const stop = command(
  {
    name: 'stop',
    summary: 'Stop running containers',
    synopsis: ['[-t SECONDS] CONTAINER…'],
    description: "Its stop signal to PID 1 (--stop-signal, the image's STOPSIGNAL, else SIGTERM), then SIGKILL after the timeout (-t, its --stop-timeout, else 10 s).",
    options: [TIME_OPTION],
    operands: { min: 1, names: 'CONTAINER…' },
    dryRun: true,
    examples: ['cutaway stop web', 'cutaway stop -t 0 web db', 'cutaway stop --dry-run web   # the kill, wait, kill, as a script'],
    classic: ['docker stop', 'kill -TERM "$(cat $CUTAWAY_ROOT/containers/ID/pid)"; sleep 10; kill -KILL …'],
  },
  async (inv, root, r) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    const seconds = (id: string) => stopSeconds(store, id, inv.options.time);
    await r.each(ids, inv.positionals, (id) => (r.dryRun ? r.stopContainer(store, id, seconds(id)) : stopWithEvent(store, id, seconds(id))));
  },
);
