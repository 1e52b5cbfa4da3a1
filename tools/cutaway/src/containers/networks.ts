import type { ContainerConfigRecord, EndpointAddress } from './store.ts';

/**
 * The networks a container is on, from its config.json: the one it was run
 * with (eth0: --network, default `bridge`; or `host`, or `none`) and those
 * `cutaway network connect` added (eth1, …), kept in the network record as
 * `connected` so that start can bring them up again.
 */

/** Docker's predefined networks: cutaway's default bridge network, the host's own, and none (lo only). */
export const PREDEFINED_NETWORKS = ['bridge', 'host', 'none'];

/** The network the container was run with: its eth0, its published ports and default route. */
export function firstNetwork(config: ContainerConfigRecord): string {
  const record = config.network;
  return record?.mode === 'bridge' ? (record.name ?? 'bridge') : (record?.mode ?? 'none');
}

export function networksOf(config: ContainerConfigRecord): string[] {
  return [firstNetwork(config), ...(config.network?.connected ?? []).map((c) => c.name)];
}

/** Its endpoint's name in netbridge (the 12-digit id, as lifecycle's prepare names it). */
export function endpointOf(config: ContainerConfigRecord): string {
  return config.network?.endpoint ?? config.id.slice(0, 12);
}

/** netbridge up --json's fields that inspect shows of an endpoint (NetworkSettings: IPAddress, IPPrefixLen, Gateway, MacAddress). */
export const ENDPOINT_FIELDS = ['ip', 'prefix', 'gateway', 'mac'] as const;

/** An endpoint's address, from what netbridge up printed, for the container's record. */
export function endpointAddress(up: Record<(typeof ENDPOINT_FIELDS)[number], string | number>): EndpointAddress {
  return { ip: String(up.ip), prefix: up.prefix, gateway: String(up.gateway), mac: String(up.mac) };
}
