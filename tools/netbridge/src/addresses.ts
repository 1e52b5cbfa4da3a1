import { ToolError, UsageError } from '@cutaway/cli';
import { contains, formatIPv4, parseIPv4, parseSubnet, subnetSize } from './cidr.ts';
import type { NetworkRecord } from './store.ts';

/**
 * A network's address leases: an endpoint's address and MAC come from its network's subnet, and the lease is the
 * endpoint's record in networks/<name>.json (store.ts), freed when that record goes.
 */

/** The lowest free address of the subnet, or the one asked for, checked. */
export function leaseAddress(network: NetworkRecord, wanted: string | undefined): number {
  const subnet = parseSubnet(network.subnet);
  const gateway = parseIPv4(network.gateway)!;
  const used = new Set(Object.values(network.endpoints).map((e) => parseIPv4(e.ip)!));
  const first = subnet.network + 1;
  const last = subnet.network + subnetSize(subnet) - 2; // the last address is the broadcast
  if (wanted !== undefined) {
    const ip = parseIPv4(wanted);
    if (ip === undefined) throw new UsageError(`invalid address ${JSON.stringify(wanted)}`);
    if (!contains(subnet, ip) || ip < first || ip > last) throw new ToolError(`address ${wanted} is not a host address of ${network.name}'s subnet ${network.subnet}`);
    if (ip === gateway) throw new ToolError(`address ${wanted} is ${network.name}'s gateway`);
    if (used.has(ip)) throw new ToolError(`address ${wanted} is already leased on ${network.name}`);
    return ip;
  }
  for (let ip = first; ip <= last; ip++) if (ip !== gateway && !used.has(ip)) return ip;
  throw new ToolError(`network ${network.name} has no free address left in ${network.subnet}`);
}

/** Docker's MAC for an address: 02:42 (locally administered) and the four bytes of the IPv4 address. */
export function macOf(ip: number): string {
  return ['02', '42', ...formatIPv4(ip).split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}
