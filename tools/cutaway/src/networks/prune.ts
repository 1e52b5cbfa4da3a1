import { command, NO_OPERANDS } from '../command.ts';
import { confirmOrCancel, FORCE_OPTION } from '../confirm.ts';
import { ContainerStore } from '../containers/store.ts';
import { tool } from '../tools.ts';
import { listNetworks, recordNetworkEvent, unusedNetworks } from './store.ts';

async function pruneNetworks(force: boolean, store: ContainerStore, env: NodeJS.ProcessEnv): Promise<string> {
  await confirmOrCancel(force, 'This will remove all custom networks not used by at least one container.', 'network prune');
  const unused = unusedNetworks(store, await listNetworks(env));
  if (unused.length) await tool('netbridge', ['network', 'rm', ...unused.map((n) => n.name)], env);
  for (const n of unused) recordNetworkEvent(env.CUTAWAY_ROOT!, 'destroy', n);
  return unused.length ? `Deleted Networks:\n${unused.map((n) => `${n.name}\n`).join('')}` : '';
}

export const prune = command(
  {
    name: 'network prune',
    summary: 'Remove the networks no container uses',
    synopsis: ['[-f]'],
    description: 'Remove every network no container uses (running or stopped) and no endpoint is on.',
    options: [FORCE_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway network prune -f'],
    classic: ['docker network prune'],
  },
  async (inv, root) => {
    process.stdout.write(await pruneNetworks(inv.options.force, new ContainerStore(root), { CUTAWAY_ROOT: root }));
  },
);
