import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { PREDEFINED_NETWORKS } from '../containers/networks.ts';
import { tool } from '../tools.ts';
import { recordNetworkEvent } from './store.ts';

export const create = command(
  {
    name: 'network create',
    summary: 'Make a network',
    synopsis: ['[--subnet CIDR [--gateway IP]] NETWORK'],
    description: 'Make a bridge network (netbridge network create). Its bridge comes with its first container; without --subnet, the first free subnet of Docker\'s default pools.',
    options: [
      { name: 'subnet', type: 'string', arg: 'CIDR', help: 'the subnet, e.g. 10.89.0.0/24' },
      { name: 'gateway', type: 'string', arg: 'IP', help: "the bridge's address (default: the subnet's first)" },
      { name: 'driver', short: 'd', type: 'string', arg: 'DRIVER', help: 'bridge, the only one' },
    ],
    operands: { min: 1, max: 1, names: 'NETWORK' },
    examples: ['cutaway network create --subnet 10.89.0.0/24 backend', 'cutaway run -d --name db --network backend busybox httpd -f -p 80'],
    classic: ['docker network create', 'netbridge network create NETWORK --subnet CIDR'],
  },
  async (inv, root) => {
    const name = inv.positionals[0]!;
    const o = inv.options;
    if (o.driver !== undefined && o.driver !== 'bridge') throw new ToolError(`plugin "${o.driver}" not found`, 'cutaway networks are bridges');
    if (PREDEFINED_NETWORKS.includes(name)) throw new ToolError(`network with name ${name} already exists`);
    const options = [...(o.subnet !== undefined ? ['--subnet', o.subnet] : []), ...(o.gateway !== undefined ? ['--gateway', o.gateway] : [])];
    const id = await tool('netbridge', ['network', 'create', name, ...options], { CUTAWAY_ROOT: root });
    recordNetworkEvent(root, 'create', { id, name });
    process.stdout.write(`${id}\n`);
  },
);
