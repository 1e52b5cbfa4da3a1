import { existsSync, readFileSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import type { ContainerState, ContainerStore } from './store.ts';

/** Whether the container's PID 1 is alive (a process left after a reboot is not: its pid file is stale then). */
function alive(state: ContainerState): boolean {
  return state.status === 'running' && state.pid !== undefined && pidAlive(state.pid);
}

/** Whether a process runs: a zombie (killed, not yet reaped by whoever adopted it) does not. proc(5) stat's state. */
function pidAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The state as it really is: "running" with no process behind it is an exit nobody will record (a reboot, a
 * killed shim), unless the container's shim still lives: then it is about to write the real exit code.
 */
export function currentState(store: ContainerStore, id: string): ContainerState {
  const state = store.state(id);
  // Started but not yet recorded as running (ns-exec wrote its pid file, the shim had not read it yet).
  const pidFile = store.path(id, 'pid');
  const started = state.status === 'created' && existsSync(pidFile);
  if (!(state.status === 'running' || started) || alive({ ...state, status: 'running', pid: state.pid ?? Number(readFileSync(pidFile, 'utf8')) })) return state;
  if (shimAlive(store, id)) return state;
  return { ...state, status: 'exited', exitCode: state.exitCode ?? 137 };
}

/** Whether the container's shim (cutaway-shim, then the teardown it becomes) still runs. */
export function shimAlive(store: ContainerStore, id: string): boolean {
  const shimFile = store.path(id, 'shim.pid');
  return existsSync(shimFile) && pidAlive(Number(readFileSync(shimFile, 'utf8')));
}

/** The running container's PID 1, as the host sees it. */
export function runningPid(store: ContainerStore, id: string): number {
  const s = currentState(store, id);
  if (s.status !== 'running') throw new ToolError(`container ${store.config(id).name} is not running`);
  return s.pid!;
}
