import { existsSync, readFileSync, statSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import type { ContainerState, ContainerStore } from './store.ts';

/**
 * The exit code shown for a container whose process is gone with nothing left that tells how it ended: what
 * Docker shows when containerd has lost the task (moby daemon/daemon.go, restore: `ces.ExitCode = 255` when
 * the task has no exit status).
 */
export const UNKNOWN_EXIT_CODE = 255;

/** inspect's State.Error for such a container. */
export const UNKNOWN_EXIT_ERROR = 'the container\'s process is gone and its exit status was not recorded: the process that waited for it (cutaway-shim, cutaway run, ns-exec) was killed';

/** The exit code ps, wait and inspect show for a container: its own, 255 when it is not known, 0 before any exit. */
export function exitCodeOf(state: ContainerState): number {
  return state.exitCode ?? (state.exitUnknown ? UNKNOWN_EXIT_CODE : 0);
}

/** proc(5) stat's state letter of a process ('Z' a zombie: ended, not yet reaped), or undefined when there is none. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/** Whether a process runs: a zombie (ended, not yet reaped by whoever waits for it or adopted it) does not. */
function pidAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z';
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * containers/<id>/exit: what ns-exec (--exit-file) wrote once PID 1 had ended, before it reaped it — the
 * status, and by the file's time when. ns-exec removes the file of an earlier run before the new PID 1 starts.
 */
function recordedExit(store: ContainerStore, id: string): { code: number; at: string } | undefined {
  const file = store.path(id, 'exit');
  try {
    const code = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(code) || code < 0 || code > 255) return undefined;
    return { code, at: statSync(file).mtime.toISOString() };
  } catch {
    return undefined;
  }
}

/**
 * The state as it really is. A container recorded as running (or created with a pid file: ns-exec wrote it,
 * the shim has not recorded it yet) is running while its PID 1 runs. Once PID 1 is gone:
 * - while its keeper (cutaway-shim) lives, as recorded: the keeper is about to record the exit, after the
 *   last of the output is logged;
 * - the exit file holds its status (ns-exec writes it before it reaps PID 1): exited with that code, also
 *   when the keeper or the foreground `cutaway run` that would have recorded it was killed;
 * - PID 1 a zombie: the ns-exec that waits for it is about to write that file; as recorded until then;
 * - else nothing will ever tell: exited, the code unknown (exitUnknown; shown as 255, as Docker shows a
 *   container whose task containerd lost) — never "running", never a made-up code.
 */
export function currentState(store: ContainerStore, id: string): ContainerState {
  const state = store.state(id);
  const pidFile = store.path(id, 'pid');
  const started = state.status === 'created' && existsSync(pidFile);
  if (!(state.status === 'running' || started)) return state;
  const pid = state.pid ?? readPid(pidFile);
  const pid1 = pid !== undefined ? processState(pid) : undefined;
  if ((pid1 !== undefined && pid1 !== 'Z') || shimAlive(store, id)) return state;
  const exit = recordedExit(store, id);
  if (exit) return { ...state, status: 'exited', exitCode: exit.code, finishedAt: exit.at };
  if (pid1 === 'Z') return state;
  const { pid: _gone, ...rest } = state;
  return { ...rest, status: 'exited', exitCode: undefined, exitUnknown: true, error: UNKNOWN_EXIT_ERROR };
}

/** Whether the container's shim (cutaway-shim, then the teardown it becomes) still runs. */
export function shimAlive(store: ContainerStore, id: string): boolean {
  const pid = readPid(store.path(id, 'shim.pid'));
  return pid !== undefined && pidAlive(pid);
}

/** The running container's PID 1, as the host sees it. */
export function runningPid(store: ContainerStore, id: string): number {
  const s = currentState(store, id);
  if (s.status !== 'running') throw new ToolError(`container ${store.config(id).name} is not running`);
  return s.pid!;
}

/** Whether the container is paused (cutaway pause: its cgroup frozen): only one that runs can be. */
export function isPaused(state: ContainerState): boolean {
  return state.status === 'running' && state.paused === true;
}

/** Docker's State.Status: created, running, paused or exited. */
export function statusName(state: ContainerState): string {
  return isPaused(state) ? 'paused' : state.status;
}
