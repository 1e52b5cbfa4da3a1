import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { PREDEFINED_NETWORKS } from '../containers/networks.ts';
import { ContainerStore } from '../containers/store.ts';
import { tool } from '../tools.ts';
import { findNetwork, inUse, listNetworks, recordNetworkEvent, usersOf } from './store.ts';

/** docker network rm: every network checked first; one that is predefined or in use refuses the lot. */
async function remove(store: ContainerStore, env: NodeJS.ProcessEnv, refs: string[]): Promise<void> {
  const networks = await listNetworks(env);
  const doomed = refs.map((ref) => findNetwork(networks, ref));
  for (const n of doomed) {
    if (PREDEFINED_NETWORKS.includes(n.name)) throw new ToolError(`${n.name} is a pre-defined network and cannot be removed`);
    if (inUse(store, n)) {
      const users = usersOf(store, n.name).map((id) => store.config(id).name);
      throw new ToolError(`error while removing network: network ${n.name} id ${n.id.slice(0, 12)} has active endpoints`, users.length ? `used by ${users.join(', ')}: disconnect or remove ${users.length > 1 ? 'them' : 'it'} first` : 'netbridge down its endpoints first');
    }
  }
  await tool('netbridge', ['network', 'rm', ...new Set(doomed.map((n) => n.name))], env);
  for (const n of new Map(doomed.map((d) => [d.id, d])).values()) recordNetworkEvent(env.CUTAWAY_ROOT!, 'destroy', n);
}

export const rm = command(
  {
    name: 'network rm',
    summary: 'Remove networks',
    synopsis: ['NETWORK…'],
    description: 'Remove networks. A predefined network, or one a container uses (running or stopped), refuses the lot.',
    options: [],
    operands: { min: 1, names: 'NETWORK…' },
    examples: ['cutaway network rm backend'],
    classic: ['docker network rm', 'netbridge network rm NETWORK'],
  },
  async (inv, root) => {
    await remove(new ContainerStore(root), { CUTAWAY_ROOT: root }, inv.positionals);
    process.stdout.write(inv.positionals.map((a) => `${a}\n`).join(''));
  },
);
