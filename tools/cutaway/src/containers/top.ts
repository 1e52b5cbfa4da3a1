import { execFile } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { promisify } from 'node:util';
import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { recordContainerEvent } from './events.ts';
import { runningPid } from './state.ts';
import { ContainerStore } from './store.ts';

/** The processes of a container: every host process in the pid namespace of its PID 1 (exec'd ones too). */
export function containerPids(pid: number): Set<number> {
  const ns = statSync(`/proc/${pid}/ns/pid`).ino;
  const pids = new Set<number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (statSync(`/proc/${entry}/ns/pid`).ino === ns) pids.add(Number(entry));
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return pids;
}

/**
 * docker top: the host's ps(1) with the options given (default -ef), its rows
 * kept where the PID column names one of the container's processes — the way
 * dockerd filters them. The pids are the host's.
 */
export const top = command(
  {
    name: 'top',
    summary: 'Show the processes of a container',
    synopsis: ['CONTAINER [ps OPTIONS]'],
    description: "A running container's processes, as ps shows them on the host (default ps -ef).",
    interspersed: false,
    operands: { min: 1, names: 'CONTAINER [ps OPTIONS]' },
    options: [],
    examples: ['cutaway top web', 'cutaway top web aux'],
    classic: ['docker top', 'ps -ef | grep'],
  },
  async (inv, root) => {
    const [name, ...psArgs] = inv.positionals as [string, ...string[]];
    const store = new ContainerStore(root);
    const id = store.find(name);
    const pids = containerPids(runningPid(store, id));
    let out: string;
    try {
      out = (await promisify(execFile)('ps', psArgs.length ? psArgs : ['-ef'])).stdout;
    } catch (e) {
      throw new ToolError(`ps ${psArgs.join(' ')}: ${(e as { stderr?: string }).stderr?.trim() || (e as Error).message}`);
    }
    const [header = '', ...rows] = out.split('\n').filter(Boolean);
    const column = header.trim().split(/\s+/).indexOf('PID');
    if (column < 0) throw new ToolError(`ps ${psArgs.join(' ')}: its output has no PID column`);
    process.stdout.write([header, ...rows.filter((r) => pids.has(Number(r.trim().split(/\s+/)[column])))].map((l) => `${l}\n`).join(''));
    recordContainerEvent(store, id, 'top');
  },
);
