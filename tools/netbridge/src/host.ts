import { readFileSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import { formatSubnet, overlaps, parseIPv4, parseSubnet, type Subnet } from './cidr.ts';
import { exec } from './runner.ts';
import type { NetworkRecord } from './store.ts';

/** What netbridge asks of the host before it acts: its routes, and the interfaces and bridges of its network namespace. */

/** Host routes as `ip -4 -j route` lists them, less those of cutaway's own bridges (`ours`). */
async function hostRoutes(ours: Set<string>): Promise<{ subnet: Subnet; dev: string }[]> {
  const routes = JSON.parse(await exec('ip', ['-4', '-j', 'route', 'show', 'table', 'all'])) as { dst: string; dev?: string; type?: string }[];
  return routes
    .filter((r) => r.dst !== 'default' && (r.type === undefined || r.type === 'unicast') && !(r.dev && ours.has(r.dev)))
    .flatMap((r) => {
      const [addr = '', prefix = '32'] = r.dst.split('/');
      const ip = parseIPv4(addr);
      return ip === undefined ? [] : [{ subnet: { network: ip, prefix: Number(prefix) }, dev: r.dev ?? '' }];
    });
}

/** Why a subnet may not be used: it overlaps a host route (the host would lose that network) or another cutaway network. */
function subnetConflict(subnet: Subnet, routes: { subnet: Subnet; dev: string }[], others: NetworkRecord[]): ToolError | undefined {
  const text = formatSubnet(subnet);
  const route = routes.find((r) => overlaps(subnet, r.subnet));
  if (route) return new ToolError(`subnet ${text} overlaps the host's route to ${formatSubnet(route.subnet)} (dev ${route.dev})`, 'pick a subnet the host does not use');
  const network = others.find((n) => overlaps(subnet, parseSubnet(n.subnet)));
  return network && new ToolError(`subnet ${text} overlaps network ${network.name} (${network.subnet})`);
}

export async function checkSubnetFree(subnet: Subnet, others: NetworkRecord[], ours: Set<string>): Promise<void> {
  const conflict = subnetConflict(subnet, await hostRoutes(ours), others);
  if (conflict) throw conflict;
}

/**
 * docker network create without --subnet takes the first free subnet of the daemon's default address pools
 * (dockerd --default-address-pool; libnetwork ipamutils): 172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/16 in /20s.
 */
export async function freeSubnet(others: NetworkRecord[], ours: Set<string>): Promise<Subnet> {
  const pool: Subnet[] = [
    ...Array.from({ length: 15 }, (_, i) => ({ network: parseIPv4(`172.${17 + i}.0.0`)!, prefix: 16 })),
    ...Array.from({ length: 16 }, (_, i) => ({ network: parseIPv4(`192.168.${16 * i}.0`)!, prefix: 20 })),
  ];
  const routes = await hostRoutes(ours);
  const free = pool.find((s) => !subnetConflict(s, routes, others));
  if (!free) throw new ToolError('no free subnet left in the default pools (172.17-31.0.0/16, 192.168.0.0/16)', 'give one with --subnet CIDR');
  return free;
}

/**
 * The interfaces of this process's network namespace. /proc/self/net is the
 * reader's namespace; /sys/class/net would be the one whoever mounted sysfs
 * was in (under `nsenter --net` without a new sysfs, the host's).
 */
export function interfaces(): Set<string> {
  return new Set(readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean));
}

/** The interfaces enslaved to a bridge (`ip link show master BRIDGE`); none when it does not exist. */
export async function bridgePorts(bridge: string): Promise<string[]> {
  if (!bridgeExists(bridge)) return [];
  const links = JSON.parse(await exec('ip', ['-j', 'link', 'show', 'master', bridge])) as { ifname: string }[];
  return links.map((l) => l.ifname);
}

export function bridgeExists(bridge: string): boolean {
  return interfaces().has(bridge);
}
