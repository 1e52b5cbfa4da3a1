import { exec } from './runner.ts';
import type { NetworkRecord, PortMapping } from './store.ts';

/**
 * cutaway's packet rules: one nftables table, `ip cw`, and nothing anywhere
 * else in the host's ruleset. The rules are fixed; what changes is data in
 * its sets and maps, so an endpoint or a network is added and removed as
 * elements, never by finding a rule's handle:
 *
 *   bridges, subnets       every cw bridge and its subnet: traffic from a subnet
 *                          leaving by another interface is masqueraded (NAT out)
 *   tcp-ports, udp-ports   host port → container address . port: DNAT of
 *                          traffic to any local address, from outside
 *                          (prerouting) or from the host itself (output)
 *
 * A packet from 127.0.0.1 DNATed to a container is masqueraded to the
 * bridge's address on its way out (the bridge also has route_localnet=1), so
 * that the container can answer it — what Docker's userland proxy is for.
 */
export const TABLE = 'cw';

/** Priorities as numbers: nft 1.0.6 refuses the name `dstnat` for the output hook. dstnat = -100, srcnat = 100. */
export function tableCommands(): string[] {
  const t = `ip ${TABLE}`;
  return [
    `add table ${t}`,
    `add set ${t} bridges { type ifname; }`,
    `add set ${t} subnets { type ipv4_addr; flags interval; }`,
    `add map ${t} tcp-ports { type inet_service : ipv4_addr . inet_service; }`,
    `add map ${t} udp-ports { type inet_service : ipv4_addr . inet_service; }`,
    `add chain ${t} prerouting { type nat hook prerouting priority -100; policy accept; }`,
    `add chain ${t} output { type nat hook output priority -100; policy accept; }`,
    `add chain ${t} postrouting { type nat hook postrouting priority 100; policy accept; }`,
    `add chain ${t} published`,
    `add rule ${t} prerouting fib daddr type local jump published`,
    `add rule ${t} output fib daddr type local jump published`,
    `add rule ${t} published dnat to tcp dport map @tcp-ports`,
    `add rule ${t} published dnat to udp dport map @udp-ports`,
    `add rule ${t} postrouting ip saddr @subnets oifname != @bridges masquerade`,
    `add rule ${t} postrouting ip saddr 127.0.0.0/8 oifname @bridges masquerade`,
  ];
}

export async function tableExists(): Promise<boolean> {
  try {
    await exec('nft', ['list', 'table', 'ip', TABLE]);
    return true;
  } catch {
    return false;
  }
}

/**
 * The bridges the table serves, as the kernel has them: another state root
 * (CUTAWAY_ROOT) may share the table, so whether it is still needed is asked
 * of the kernel, not of this root's records. Undefined: there is no table.
 */
export async function tableBridges(): Promise<string[] | undefined> {
  try {
    const listing = JSON.parse(await exec('nft', ['-j', 'list', 'set', 'ip', TABLE, 'bridges'])) as { nftables: { set?: { elem?: string[] } }[] };
    return listing.nftables.find((e) => e.set)?.set?.elem ?? [];
  } catch {
    return undefined;
  }
}

export function networkElements(verb: 'add' | 'delete', network: NetworkRecord): string[] {
  return [`${verb} element ip ${TABLE} bridges { "${network.bridge}" }`, `${verb} element ip ${TABLE} subnets { ${network.subnet} }`];
}

export function portElements(verb: 'add' | 'delete', ip: string, ports: PortMapping[]): string[] {
  return ports.map((p) => `${verb} element ip ${TABLE} ${p.protocol}-ports { ${p.hostPort}${verb === 'add' ? ` : ${ip} . ${p.containerPort}` : ''} }`);
}

export function deleteTable(): string {
  return `delete table ip ${TABLE}`;
}
