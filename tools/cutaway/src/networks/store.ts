import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { stateRoot, ToolError } from '@cutaway/cli';
import { networksOf, PREDEFINED_NETWORKS } from '../containers/networks.ts';
import type { ContainerStore } from '../containers/store.ts';
import type { NetworkInspect } from '../../../netbridge/src/netbridge.ts';
import { recordEvent } from '../system/events-log.ts';
import { tool } from '../tools.ts';

/**
 * The networks Docker's network commands see: netbridge's bridge networks ($CUTAWAY_RUN/networks), with
 * Docker's two that are no bridge, host and none, and the containers that use them.
 */

export interface Network {
  name: string;
  id: string;
  driver: 'bridge' | 'host' | 'null';
  /** The bridge network as netbridge has it; none for host and none. */
  bridge?: NetworkInspect;
}

/** host and none are no netbridge networks; their ids are fixed (a digest of the name) as Docker's stay put. */
function pseudoNetwork(name: 'host' | 'none'): Network {
  return { name, id: createHash('sha256').update(`cutaway network ${name}`).digest('hex'), driver: name === 'host' ? 'host' : 'null' };
}

/**
 * The networks of a root (env's CUTAWAY_ROOT), as a Docker daemon has its own: the default `bridge` (the
 * host's, shared by every root), those this root made, and host and none. netbridge's records are the host's
 * ($CUTAWAY_RUN), each saying which root made it.
 */
export async function listNetworks(env: NodeJS.ProcessEnv, everyRoot = false): Promise<Network[]> {
  const root = resolve(stateRoot(env.CUTAWAY_ROOT));
  // everyRoot: those other roots made too (names are the host's: a container of this root may be on one, inspect says which).
  const bridges = (JSON.parse(await tool('netbridge', ['network', 'ls', '--json'], env)) as NetworkInspect[]).filter((b) => everyRoot || b.Name === 'bridge' || b.Root === root);
  const all: Network[] = [...bridges.map((b): Network => ({ name: b.Name, id: b.Id, driver: 'bridge', bridge: b })), pseudoNetwork('host'), pseudoNetwork('none')];
  return all.sort((a, b) => a.name.localeCompare(b.name));
}

/** A network by name, full id or unique id prefix, as Docker looks them up. */
export function findNetwork(networks: Network[], ref: string): Network {
  const found = networks.find((n) => n.name === ref) ?? networks.find((n) => n.id === ref);
  if (found) return found;
  const prefixed = ref ? networks.filter((n) => n.id.startsWith(ref)) : [];
  if (prefixed.length > 1) throw new ToolError(`network ${ref} is ambiguous (${prefixed.length} matches found based on ID prefix)`);
  if (!prefixed[0]) throw new ToolError(`No such network: ${ref}`);
  return prefixed[0];
}

/** A network's event, as moby's LogNetworkEventWithAttributes makes it: its id, its name and driver. */
export function recordNetworkEvent(root: string, action: string, network: Pick<Network, 'id' | 'name'>, extra: Record<string, string> = {}): void {
  recordEvent(root, 'network', action, network.id, { name: network.name, type: 'bridge', ...extra });
}

/** The containers (by id) configured on the network, running or not. */
export function usersOf(store: ContainerStore, network: string): string[] {
  return store.ids().filter((id) => networksOf(store.config(id)).includes(network));
}

/** Whether a network is in use: a container is configured on it, or an endpoint (a running one's, or netbridge's own) is up. */
export function inUse(store: ContainerStore, network: Network): boolean {
  return usersOf(store, network.name).length > 0 || Object.keys(network.bridge?.Containers ?? {}).length > 0;
}

/** The networks docker network prune removes: not predefined, and neither a container nor an endpoint on them. */
export function unusedNetworks(store: ContainerStore, networks: Network[]): Network[] {
  return networks.filter((n) => !PREDEFINED_NETWORKS.includes(n.name) && !inUse(store, n));
}

