/**
 * The verbs that act on a container `create` made, all done here in Node (no new process): `start`, `kill`,
 * `delete`, `pause`, `resume` — runtime.md "Operations", with runc 1.1's checks and error texts, which
 * engines match (containerd's shim: "container not running", "does not exist"; podman: "does not exist").
 */
import { closeSync, constants, openSync, readSync, rmSync, unlinkSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import { cgroupPids, removeCgroups } from './cgroups.ts';
import { freezerState, setFrozen } from './freezer.ts';
import { runHooks } from './run-hooks.ts';
import type { RuntimeContext } from './runtime-context.ts';
import { alive, specState, type ContainerRecord } from './state-dir.ts';

const tick = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(tick, 0, 0, ms);

/** Waits up to `ms` for `pid` to be gone (or a zombie); runc's killContainer waits 10 s the same way. */
function waitGone(pid: number, ms: number): boolean {
  for (let waited = 0; waited < ms; waited += 10) {
    if (!alive(pid)) return true;
    sleep(10);
  }
  return !alive(pid);
}

/** kill(2) that takes a process gone in between as done. */
function signal(pid: number, sig: number): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * `start ID`: runtime.md "start": the container must be `created`; the process waiting at exec.fifo is let
 * go by opening the FIFO for reading (its blocking open for writing returns, it writes one byte and execs).
 * Opened O_NONBLOCK and polled, as runc's exec() polls the process while its open waits, so that a process
 * that died meanwhile is an error and not a hang. Then the FIFO goes (the status reads `running` from then
 * on) and the poststart hooks run.
 */
export function start(ctx: RuntimeContext, id: string): void {
  const record = ctx.state.get(id);
  const { status, pid } = ctx.state.status(record);
  if (status === 'stopped') throw new ToolError('cannot start a container that has stopped');
  if (status === 'running') throw new ToolError('cannot start an already running container');
  if (status !== 'created' || pid === undefined) throw new ToolError(`cannot start a container in the ${status} state`);
  const fifo = ctx.state.fifo(id);
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const byte = Buffer.alloc(1);
    for (;;) {
      let n = 0;
      try {
        n = readSync(fd, byte, 0, 1, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      }
      if (n === 1) break;
      // No byte yet: 0 (no writer has opened it yet) or EAGAIN (opened, not written).
      if (!alive(pid)) throw new ToolError('container process is already dead');
      sleep(2);
    }
  } finally {
    closeSync(fd);
  }
  unlinkSync(fifo);
  runHooks('poststart', record.hooks.poststart, specState(record, 'running', pid), ctx.log);
}

/**
 * `kill [--all] ID [SIGNAL]`: to the container's process, or with --all to every process of its cgroups
 * (runc's signalAllProcesses). A stopped container is runc's "container not running". A frozen process
 * cannot die until thawed (cgroup v1), so SIGKILL to a paused container thaws it after, as runc does.
 */
export function kill(ctx: RuntimeContext, id: string, sig: number, all: boolean): void {
  const record = ctx.state.get(id);
  const { status, pid } = ctx.state.status(record);
  if (status === 'stopped' || pid === undefined) throw new ToolError('container not running');
  const pids = all && record.cgroups.length ? cgroupPids(record.cgroups) : [pid];
  for (const p of pids) signal(p, sig);
  if (status === 'paused' && sig === 9) setFrozen(record.cgroups, false);
}

/** What is left once the process is gone: stray processes, the cgroups, the state directory; then poststop. */
function destroy(ctx: RuntimeContext, record: ContainerRecord): void {
  // Without a pid namespace of its own, the container's other processes outlive its first one (runc's destroy).
  if (!record.ownPidNamespace && record.cgroups.length) for (const p of cgroupPids(record.cgroups)) signal(p, 9);
  removeCgroups(record.cgroups);
  rmSync(ctx.state.dir(record.id), { recursive: true, force: true });
  runHooks('poststop', record.hooks.poststop, specState(record, 'stopped', undefined), ctx.log);
}

/**
 * `delete [--force] ID`: runtime.md "delete" for a stopped container. As runc 1.1: a `created` one is killed
 * and deleted without --force (containerd's shim deletes a task that never started so); a running or paused
 * one needs --force (SIGKILL, then wait until it is gone); with --force a container that does not exist is
 * no error.
 */
export function remove(ctx: RuntimeContext, id: string, force: boolean): void {
  let record: ContainerRecord;
  try {
    record = ctx.state.get(id);
  } catch (e) {
    if (force && (e as Error).message === 'container does not exist') return;
    throw e;
  }
  const { status, pid } = ctx.state.status(record);
  if (status !== 'stopped' && status !== 'created' && !force) throw new ToolError(`cannot delete container ${id} that is not stopped: ${status}`);
  if (pid !== undefined && status !== 'stopped') {
    signal(pid, 9);
    if (status === 'paused') setFrozen(record.cgroups, false);
    if (!waitGone(pid, 10_000)) throw new ToolError('container init still running');
  }
  destroy(ctx, record);
}

/** `pause ID`, `resume ID`: the freezer cgroup (freezer.ts); runc's texts for a container in the wrong state. */
export function pause(ctx: RuntimeContext, id: string, freeze: boolean): void {
  const record = ctx.state.get(id);
  const { status } = ctx.state.status(record);
  if (freeze && status !== 'running' && status !== 'created') throw new ToolError('container not running');
  if (!freeze && status !== 'paused') throw new ToolError('container not paused');
  if (freezerState(record.cgroups) === 'none') throw new ToolError(`cannot ${freeze ? 'pause' : 'resume'} container ${id}: it has no freezer cgroup`, 'give its config.json a linux.cgroupsPath');
  setFrozen(record.cgroups, freeze);
}
