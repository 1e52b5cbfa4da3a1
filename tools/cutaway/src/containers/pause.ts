import { ToolError } from '@cutaway/cli';
import { command, type Command } from '../command.ts';
import { tool } from '../tools.ts';
import { recordContainerEvent } from './events.ts';
import { eachInParallel } from './parallel.ts';
import { currentState, isPaused } from './state.ts';
import { ContainerStore } from './store.ts';

/**
 * docker pause / unpause: the container's cgroup frozen or thawed (cg-limit freeze / thaw: the freezer cgroup,
 * which its processes cannot see or catch, unlike SIGSTOP), and state.json's `paused` set or cleared once the
 * kernel says so. A paused container still runs (ps: `Up … (Paused)`, inspect: Status "paused").
 */

/**
 * After SIGKILL to a paused container's PID 1 (kill, stop, rm -f): its cgroup thawed, so that it dies — on cgroup
 * v1 a frozen task does not until then — as Docker resumes the task after a kill. state.json is left to the
 * exit's record (the shim writes it anew; `paused` means nothing once the container has exited).
 */
export async function thawIfPaused(store: ContainerStore, id: string): Promise<void> {
  if (isPaused(currentState(store, id))) await tool('cg-limit', ['thaw', store.config(id).cgroup]);
}

function verb(name: 'pause' | 'unpause'): Command {
  const pausing = name === 'pause';
  return command(
    {
      name,
      summary: pausing ? 'Suspend every process of containers' : 'Resume the processes of paused containers',
      synopsis: ['CONTAINER…'],
      description: pausing
        ? "Suspend every process of running containers: their cgroup frozen (the freezer cgroup, cg-limit freeze), which they cannot see or catch."
        : 'Let paused containers go on: their cgroup thawed (cg-limit thaw).',
      options: [],
      operands: { min: 1, names: 'CONTAINER…' },
      examples: pausing ? ['cutaway pause web', 'cutaway pause web && cutaway ps   # STATUS: Up 2 minutes (Paused)'] : ['cutaway unpause web'],
      classic: [`docker ${name}`, pausing ? 'cg-limit freeze cw-ID12   # echo FROZEN > /sys/fs/cgroup/freezer/cw-ID12/freezer.state' : 'cg-limit thaw cw-ID12   # echo THAWED > /sys/fs/cgroup/freezer/cw-ID12/freezer.state'],
    },
    async (inv, root) => {
      const store = new ContainerStore(root);
      await eachInParallel(inv.positionals, inv.positionals, async (handle) => {
        const id = store.find(handle);
        const state = currentState(store, id);
        // Docker's errors (moby daemon/pause.go, unpause.go).
        if (state.status !== 'running') throw new ToolError(`Container ${id} is not running`);
        if (pausing && isPaused(state)) throw new ToolError(`Container ${id} is already paused`);
        if (!pausing && !isPaused(state)) throw new ToolError(`Container ${id} is not paused`);
        const cgroup = store.config(id).cgroup;
        // Rootless has no cgroup delegated (rootless.ts): Docker refuses pause there on cgroup v1 too.
        if (!cgroup) throw new ToolError(`cannot ${name} container ${id}: it has no cgroup (rootless), so no freezer`);
        await tool('cg-limit', [pausing ? 'freeze' : 'thaw', cgroup]);
        await store.writeState(id, { ...store.state(id), paused: pausing });
        recordContainerEvent(store, id, name);
      });
    },
  );
}

export const pause = verb('pause');
export const unpause = verb('unpause');
