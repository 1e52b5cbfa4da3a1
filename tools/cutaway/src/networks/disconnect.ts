import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { endpointOf, firstNetwork, networksOf } from '../containers/networks.ts';
import { ContainerStore } from '../containers/store.ts';
import { tool } from '../tools.ts';
import { findNetwork, listNetworks, recordNetworkEvent } from './store.ts';

async function disconnectContainer(store: ContainerStore, env: NodeJS.ProcessEnv, args: [string, string]): Promise<void> {
  const [ref, containerRef] = args;
  const network = findNetwork(await listNetworks(env), ref);
  const id = store.find(containerRef);
  const config = store.config(id);
  if (!networksOf(config).includes(network.name)) throw new ToolError(`container ${id} is not connected to network ${network.name}`);
  if (network.name === firstNetwork(config))
    throw new ToolError(`container ${config.name} was run on network ${network.name}: cutaway keeps that one (its eth0, published ports and default route)`, 'disconnect takes the networks that connect added');
  // Its interface is up while it runs (and was brought up when it started).
  if (network.bridge?.Containers[endpointOf(config)]) await tool('netbridge', ['down', endpointOf(config), '--network', network.name], env);
  const record = config.network!;
  record.connected = record.connected!.filter((c) => c.name !== network.name);
  await store.writeConfig(config);
  recordNetworkEvent(env.CUTAWAY_ROOT!, 'disconnect', network, { container: id });
}

export const disconnect = command(
  {
    name: 'network disconnect',
    summary: 'Disconnect a container from a network',
    synopsis: ['NETWORK CONTAINER'],
    description: 'Take away the interface connect gave; the network a container was run with stays (its eth0, published ports and default route).',
    options: [],
    operands: { min: 2, max: 2, names: 'NETWORK CONTAINER' },
    examples: ['cutaway network disconnect backend web'],
    classic: ['docker network disconnect', 'netbridge down ID --network NET'],
  },
  async (inv, root) => {
    await disconnectContainer(new ContainerStore(root), { CUTAWAY_ROOT: root }, inv.positionals as [string, string]);
  },
);
