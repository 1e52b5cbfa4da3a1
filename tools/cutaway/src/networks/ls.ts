import { command, NO_OPERANDS } from '../command.ts';
import { table } from '../format.ts';
import { listNetworks } from './store.ts';

export const ls = command(
  {
    name: 'network ls',
    synopsis: ['[-q]'],
    description: 'List the networks: the bridge networks, host and none; -q prints only their ids.',
    options: [],
    operands: NO_OPERANDS,
    examples: ['cutaway network ls', 'cutaway network ls -q'],
    classic: ['docker network ls', 'netbridge network ls'],
  },
  async (inv, root) => {
    const networks = await listNetworks({ CUTAWAY_ROOT: root });
    process.stdout.write(inv.options.quiet ? networks.map((n) => `${n.id.slice(0, 12)}\n`).join('') : table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...networks.map((n) => [n.id.slice(0, 12), n.name, n.driver, 'local'])]));
  },
);
