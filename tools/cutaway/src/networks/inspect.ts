import { command } from '../command.ts';
import { formatInspect, INSPECT_FORMAT_OPTION } from '../format.ts';
import { endpointOf } from '../containers/networks.ts';
import { currentState } from '../containers/state.ts';
import { ContainerStore } from '../containers/store.ts';
import { findNetwork, listNetworks, usersOf, type Network } from './store.ts';

/** docker network inspect's shape. Containers: the endpoints on it, by container id where one is a container's. */
function inspectOf(store: ContainerStore, n: Network): unknown {
  const ids = store.ids();
  const containers = n.bridge
    ? Object.fromEntries(
        Object.entries(n.bridge.Containers).map(([endpoint, e]) => {
          const id = ids.find((i) => endpointOf(store.config(i)) === endpoint);
          return [id ?? endpoint, { Name: id ? store.config(id).name : e.Name, EndpointID: endpoint, MacAddress: e.MacAddress, IPv4Address: e.IPv4Address, IPv6Address: '' }];
        }),
      )
    : Object.fromEntries(usersOf(store, n.name).filter((id) => currentState(store, id).status === 'running').map((id) => [id, { Name: store.config(id).name, EndpointID: '', MacAddress: '', IPv4Address: '', IPv6Address: '' }]));
  return {
    Name: n.name,
    Id: n.id,
    Created: n.bridge?.Created ?? '0001-01-01T00:00:00Z',
    Scope: 'local',
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: n.bridge?.IPAM.Config ?? [] },
    Internal: false,
    Attachable: false,
    Ingress: false,
    Containers: containers,
    Options: n.bridge?.Options ?? {},
    Labels: {},
  };
}

export const inspect = command(
  {
    name: 'network inspect',
    summary: 'Show networks in detail, as JSON',
    synopsis: ['[-f FORMAT] NETWORK…'],
    description: 'Networks as docker network inspect shows them: subnet, gateway, options, and the containers on each.',
    options: [INSPECT_FORMAT_OPTION],
    operands: { min: 1, names: 'NETWORK…' },
    examples: ['cutaway network inspect backend', "cutaway network inspect bridge | jq '.[0].Containers'"],
    classic: ['docker network inspect', 'netbridge network inspect NETWORK'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const networks = await listNetworks({ CUTAWAY_ROOT: root });
    process.stdout.write(formatInspect(inv.options.format, inv.positionals.map((ref) => inspectOf(store, findNetwork(networks, ref)))));
  },
);
