import { ToolError, UsageError } from '@cutaway/cli';
import { command } from '../command.ts';
import { tool } from '../tools.ts';
import { eachInParallel } from './parallel.ts';
import { currentState } from './state.ts';
import { recordContainerEvent } from './events.ts';
import { ContainerStore } from './store.ts';

/** The limits update changes: run's flags, as cg-limit takes them, with the spellings a record may hold. */
const FLAGS = [
  { option: 'memory', flag: '-m', spellings: ['-m', '--memory'] },
  { option: 'cpus', flag: '--cpus', spellings: ['--cpus'] },
  { option: 'pids-limit', flag: '--pids-limit', spellings: ['--pids-limit'] },
] as const;

/** cg-limit's limit words with `changes` in place of what they set before (each flag once, the new value last). */
function merged(limits: string[], changes: string[]): string[] {
  const replaced = new Set(FLAGS.filter((f) => changes.includes(f.flag)).flatMap((f) => f.spellings as readonly string[]));
  const kept: string[] = [];
  for (let i = 0; i < limits.length; i++) {
    const [flag] = limits[i]!.split('=');
    if (replaced.has(flag!)) i += limits[i]!.includes('=') ? 0 : 1;
    else kept.push(limits[i]!);
  }
  return [...kept, ...changes];
}

/**
 * docker update: new memory, CPU and pids limits for containers, running or not. A running one's cgroup gets
 * them now (cg-limit update); the record (config.json's limits, Docker's HostConfig) keeps them, so that
 * start and restart make the cgroup with them. cg-limit checks the values either way (a --dry-run of the
 * update for a stopped container), before anything changes.
 */
export const update = command(
  {
    name: 'update',
    summary: 'Change the limits of containers',
    synopsis: ['[-m BYTES] [--cpus N] [--pids-limit N] CONTAINER…'],
    description: "Change containers' resource limits: a running container's cgroup at once (cg-limit update), and its record, which start and restart use.",
    options: [
      { name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit, e.g. 256m (at least 6m)' },
      { name: 'cpus', type: 'string', arg: 'N', help: 'number of CPUs, e.g. 1.5' },
      { name: 'pids-limit', type: 'string', arg: 'N', help: 'at most N processes (-1: unlimited)' },
    ],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway update -m 512m web', 'cutaway update --cpus 0.5 --pids-limit 100 web db'],
    classic: ['docker update', 'cg-limit update cw-ID12 -m 512m   # echo 536870912 > /sys/fs/cgroup/memory/cw-ID12/memory.limit_in_bytes'],
  },
  async (inv, root) => {
    const changes = FLAGS.flatMap((f) => (inv.options[f.option] !== undefined ? [f.flag, inv.options[f.option]!] : []));
    if (!changes.length) throw new UsageError('you must provide one or more flags when using this command');
    const store = new ContainerStore(root);
    await eachInParallel(inv.positionals, inv.positionals, async (handle) => {
      const id = store.find(handle);
      const config = store.config(id);
      // Rootless: no cgroup delegated (rootless.ts), nothing to hold a limit.
      if (!config.cgroup) throw new ToolError(`Cannot update container ${id}: it has no cgroup (rootless), so no limits`);
      if (currentState(store, id).status === 'running') await tool('cg-limit', ['update', config.cgroup, ...changes]);
      else await tool('cg-limit', ['--dry-run', 'update', config.cgroup, ...changes]);
      await store.writeConfig({ ...store.config(id), limits: merged(config.limits, changes) });
      recordContainerEvent(store, id, 'update');
    });
  },
);
