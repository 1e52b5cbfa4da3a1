import { createHash } from 'node:crypto';
import { ROOT_OPTION, stateRoot, ToolError, UsageError, type Invocation, type ToolSpec } from '@cutaway/cli';
import type { Command } from '../command.ts';
import { confirmOrCancel } from '../confirm.ts';
import { currentState } from '../containers/state.ts';
import { endpointOf, firstNetwork, networksOf, PREDEFINED_NETWORKS } from '../containers/networks.ts';
import { ContainerStore } from '../containers/store.ts';
import { table } from '../format.ts';
import { tool } from '../tools.ts';

/**
 * docker network create, ls, inspect, rm, connect, disconnect, prune: netbridge's networks
 * ($CUTAWAY_ROOT/networks), with Docker's two networks that are no bridge, host and none, and the
 * containers that use them. connect gives a running container one more interface in its network
 * namespace (`netbridge up ID --network NET --pid PID`: eth1, …) and records the network in its
 * config.json; disconnect takes it away again.
 */

const spec: ToolSpec = {
  name: 'cutaway network',
  version: '0.1.0',
  synopsis: [
    'create [--subnet CIDR [--gateway IP]] NETWORK',
    'ls [-q]',
    'inspect NETWORK…',
    'rm NETWORK…',
    'connect NETWORK CONTAINER',
    'disconnect NETWORK CONTAINER',
    'prune [-f]',
  ],
  description: [
    "Docker's network commands on netbridge's networks. create makes a bridge network (its bridge comes with its first",
    "container; without --subnet, the first free subnet of Docker's default pools); rm and prune refuse or keep a network",
    'a container uses, running or stopped. connect gives a running container one more interface (eth1, …) on the network,',
    'in its own network namespace, and start brings it up again; a stopped one gets it when it starts. disconnect takes',
    "it away; the network a container was run with stays (its eth0, published ports and default route).",
  ].join('\n'),
  options: [
    { name: 'subnet', type: 'string', arg: 'CIDR', help: 'create: the subnet, e.g. 10.89.0.0/24' },
    { name: 'gateway', type: 'string', arg: 'IP', help: "create: the bridge's address (default: the subnet's first)" },
    { name: 'driver', short: 'd', type: 'string', arg: 'DRIVER', help: 'create: bridge, the only one' },
    { name: 'force', short: 'f', type: 'boolean', help: 'prune: do not ask for confirmation' },
    ROOT_OPTION,
  ],
  examples: [
    'cutaway network create --subnet 10.89.0.0/24 backend',
    'cutaway run -d --name db --network backend busybox httpd -f -p 80',
    'cutaway network connect backend web && cutaway exec web ip -o -4 addr',
    'cutaway network inspect backend',
    'cutaway network disconnect backend web && cutaway network rm backend',
  ],
  classic: ['docker network create|ls|inspect|rm|connect|disconnect|prune', 'netbridge network create|ls|inspect|rm', 'netbridge up ID --network NET --pid PID; netbridge down ID --network NET'],
};

/** What `netbridge network ls --json` says of a network (Docker's inspect shape, for the fields that mean something there). */
interface BridgeNetwork {
  Name: string;
  Id: string;
  Created: string;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Options: Record<string, string>;
  Containers: Record<string, { Name: string; MacAddress: string; IPv4Address: string }>;
}

export interface Network {
  name: string;
  id: string;
  driver: 'bridge' | 'host' | 'null';
  /** The bridge network as netbridge has it; none for host and none. */
  bridge?: BridgeNetwork;
}

/** host and none are no netbridge networks; their ids are fixed (a digest of the name) as Docker's stay put. */
function pseudoNetwork(name: 'host' | 'none'): Network {
  return { name, id: createHash('sha256').update(`cutaway network ${name}`).digest('hex'), driver: name === 'host' ? 'host' : 'null' };
}

export async function listNetworks(env: NodeJS.ProcessEnv): Promise<Network[]> {
  const bridges = JSON.parse(await tool('netbridge', ['network', 'ls', '--json'], env)) as BridgeNetwork[];
  const all: Network[] = [...bridges.map((b): Network => ({ name: b.Name, id: b.Id, driver: 'bridge', bridge: b })), pseudoNetwork('host'), pseudoNetwork('none')];
  return all.sort((a, b) => a.name.localeCompare(b.name));
}

/** A network by name, full id or unique id prefix, as Docker looks them up. */
function findNetwork(networks: Network[], ref: string): Network {
  const found = networks.find((n) => n.name === ref) ?? networks.find((n) => n.id === ref);
  if (found) return found;
  const prefixed = ref ? networks.filter((n) => n.id.startsWith(ref)) : [];
  if (prefixed.length > 1) throw new ToolError(`network ${ref} is ambiguous (${prefixed.length} matches found based on ID prefix)`);
  if (!prefixed[0]) throw new ToolError(`No such network: ${ref}`);
  return prefixed[0];
}

/** The containers (by id) configured on the network, running or not. */
function usersOf(store: ContainerStore, network: string): string[] {
  return store.ids().filter((id) => networksOf(store.config(id)).includes(network));
}

/** Whether a network is in use: a container is configured on it, or an endpoint (a running one's, or netbridge's own) is up. */
function inUse(store: ContainerStore, network: Network): boolean {
  return usersOf(store, network.name).length > 0 || Object.keys(network.bridge?.Containers ?? {}).length > 0;
}

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

function create(inv: Invocation, env: NodeJS.ProcessEnv, args: string[]): Promise<string> {
  const [name, ...extra] = args;
  if (!name || extra.length) throw new UsageError('"cutaway network create" requires exactly 1 argument: NETWORK');
  const o = inv.options;
  if (typeof o.driver === 'string' && o.driver !== 'bridge') throw new ToolError(`plugin "${o.driver}" not found`, 'cutaway networks are bridges');
  if (PREDEFINED_NETWORKS.includes(name)) throw new ToolError(`network with name ${name} already exists`);
  const options = [...(typeof o.subnet === 'string' ? ['--subnet', o.subnet] : []), ...(typeof o.gateway === 'string' ? ['--gateway', o.gateway] : [])];
  return tool('netbridge', ['network', 'create', name, ...options], env);
}

/** docker network rm: every network checked first; one that is predefined or in use refuses the lot. */
async function remove(store: ContainerStore, env: NodeJS.ProcessEnv, refs: string[]): Promise<void> {
  if (!refs.length) throw new UsageError('"cutaway network rm" requires at least 1 argument: NETWORK…');
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
}

/** docker network connect: a running container gets the interface now, a stopped one when it starts; both keep it in config.json. */
async function connect(store: ContainerStore, env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  const [ref, containerRef, ...extra] = args;
  if (!ref || !containerRef || extra.length) throw new UsageError('"cutaway network connect" requires exactly 2 arguments: NETWORK CONTAINER');
  const network = findNetwork(await listNetworks(env), ref);
  const id = store.find(containerRef);
  const config = store.config(id);
  const record = config.network;
  // moby runconfig ErrConflictHostNetwork and ErrConflictNoNetwork.
  if (network.name === 'host' || record?.mode === 'host') throw new ToolError('container cannot be disconnected from host network or connected to host network');
  if (network.name === 'none' || record?.mode !== 'bridge') throw new ToolError('container cannot be connected to multiple networks with one of the networks in private (none) mode');
  if (networksOf(config).includes(network.name)) throw new ToolError(`endpoint with name ${config.name} already exists in network ${network.name}`);
  const state = currentState(store, id);
  let ip: string | undefined;
  if (state.status === 'running') {
    // --pid: the container's own namespace, whatever path its first endpoint named it by.
    const up = JSON.parse(await tool('netbridge', ['up', '--json', endpointOf(config), '--network', network.name, '--pid', String(state.pid)], env)) as { ip: string };
    ip = up.ip;
  }
  record.connected = [...(record.connected ?? []), { name: network.name, ...(ip !== undefined && { ip }) }];
  await store.writeConfig(config);
}

async function disconnect(store: ContainerStore, env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  const [ref, containerRef, ...extra] = args;
  if (!ref || !containerRef || extra.length) throw new UsageError('"cutaway network disconnect" requires exactly 2 arguments: NETWORK CONTAINER');
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
}

/** The networks docker network prune removes: not predefined, and neither a container nor an endpoint on them. */
export function unusedNetworks(store: ContainerStore, networks: Network[]): Network[] {
  return networks.filter((n) => !PREDEFINED_NETWORKS.includes(n.name) && !inUse(store, n));
}

async function prune(inv: Invocation, store: ContainerStore, env: NodeJS.ProcessEnv): Promise<string> {
  await confirmOrCancel(Boolean(inv.options.force), 'This will remove all custom networks not used by at least one container.', 'network prune');
  const unused = unusedNetworks(store, await listNetworks(env));
  if (unused.length) await tool('netbridge', ['network', 'rm', ...unused.map((n) => n.name)], env);
  return unused.length ? `Deleted Networks:\n${unused.map((n) => `${n.name}\n`).join('')}` : '';
}

async function networkCommand(inv: Invocation): Promise<number> {
  const root = stateRoot(inv.options.root);
  const env = { CUTAWAY_ROOT: root };
  const store = new ContainerStore(root);
  const [verb, ...args] = inv.positionals;
  let out = '';
  switch (verb) {
    case 'create':
      out = `${await create(inv, env, args)}\n`;
      break;
    case 'ls': {
      if (args.length) throw new UsageError('"cutaway network ls" accepts no arguments');
      const networks = await listNetworks(env);
      out = inv.options.quiet ? networks.map((n) => `${n.id.slice(0, 12)}\n`).join('') : table([['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], ...networks.map((n) => [n.id.slice(0, 12), n.name, n.driver, 'local'])]);
      break;
    }
    case 'inspect': {
      if (!args.length) throw new UsageError('"cutaway network inspect" requires at least 1 argument: NETWORK…');
      const networks = await listNetworks(env);
      out = `${JSON.stringify(args.map((ref) => inspectOf(store, findNetwork(networks, ref))), null, 2)}\n`;
      break;
    }
    case 'rm':
      await remove(store, env, args);
      out = args.map((a) => `${a}\n`).join('');
      break;
    case 'connect':
      await connect(store, env, args);
      break;
    case 'disconnect':
      await disconnect(store, env, args);
      break;
    case 'prune':
      if (args.length) throw new UsageError('"cutaway network prune" accepts no arguments');
      out = await prune(inv, store, env);
      break;
    default:
      throw new UsageError(`cutaway network ${verb ? `${verb}: no such command` : 'COMMAND'}: create, ls, inspect, rm, connect, disconnect or prune`);
  }
  process.stdout.write(out);
  return 0;
}

export const networkCommands: Record<string, Command> = { network: { spec, run: networkCommand } };
