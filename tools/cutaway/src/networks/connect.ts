import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { endpointAddress, endpointOf, networksOf } from '../containers/networks.ts';
import { currentState } from '../containers/state.ts';
import { ContainerStore, type EndpointAddress } from '../containers/store.ts';
import type { UpResult } from '../../../netbridge/src/netbridge.ts';
import { tool } from '../tools.ts';
import { findNetwork, listNetworks, recordNetworkEvent } from './store.ts';

/** docker network connect: a running container gets the interface now, a stopped one when it starts; both keep it in config.json. */
async function connectContainer(store: ContainerStore, env: NodeJS.ProcessEnv, args: [string, string]): Promise<void> {
  const [ref, containerRef] = args;
  const network = findNetwork(await listNetworks(env), ref);
  const id = store.find(containerRef);
  const config = store.config(id);
  const record = config.network;
  // moby runconfig ErrConflictHostNetwork and ErrConflictNoNetwork.
  if (network.name === 'host' || record?.mode === 'host') throw new ToolError('container cannot be disconnected from host network or connected to host network');
  if (network.name === 'none' || record?.mode !== 'bridge') throw new ToolError('container cannot be connected to multiple networks with one of the networks in private (none) mode');
  if (networksOf(config).includes(network.name)) throw new ToolError(`endpoint with name ${config.name} already exists in network ${network.name}`);
  const state = currentState(store, id);
  let address: EndpointAddress = {};
  if (state.status === 'running') {
    // --pid: the container's own namespace, whatever path its first endpoint named it by.
    const up = JSON.parse(await tool('netbridge', ['up', '--json', endpointOf(config), '--network', network.name, '--pid', String(state.pid)], env)) as UpResult;
    address = endpointAddress(up);
  }
  record.connected = [...(record.connected ?? []), { name: network.name, ...address }];
  await store.writeConfig(config);
  recordNetworkEvent(env.CUTAWAY_ROOT!, 'connect', network, { container: id });
}

export const connect = command(
  {
    name: 'network connect',
    summary: 'Connect a container to a network',
    synopsis: ['NETWORK CONTAINER'],
    description: 'Give a container one more interface (eth1, …) on the network, in its own network namespace: now if it runs, when it starts if not; start brings it up again.',
    options: [],
    operands: { min: 2, max: 2, names: 'NETWORK CONTAINER' },
    examples: ['cutaway network connect backend web && cutaway exec web ip -o -4 addr'],
    classic: ['docker network connect', 'netbridge up ID --network NET --pid PID'],
  },
  async (inv, root) => {
    await connectContainer(new ContainerStore(root), { CUTAWAY_ROOT: root }, inv.positionals as [string, string]);
  },
);
