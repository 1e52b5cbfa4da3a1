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
 * Every state root on the host shares the table (its records are host-wide,
 * under the runtime directory), and what is in it is read from the kernel
 * before anything is added or removed: an element is removed only when it
 * is this endpoint's own.
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

/** What the kernel's table holds that is not fixed: its bridges, and every published port's target. */
export interface TableState {
  /** Every bridge the table serves, of whichever state root. */
  bridges: string[];
  /** "tcp/8080" → "172.30.0.2 . 80": the port maps' elements. */
  ports: Map<string, string>;
}

type Listing = { nftables: { set?: { name: string; elem?: string[] }; map?: { name: string; elem?: [number, { concat: [string, number] }][] } }[] };

/**
 * The table as the kernel has it, in one `nft -j list table`; undefined when there is none. Every state root on
 * the host shares the table, and a record may be lost or stale, so what is in it is asked of the kernel.
 */
export async function tableState(): Promise<TableState | undefined> {
  let listing: Listing;
  try {
    listing = JSON.parse(await exec('nft', ['-j', 'list', 'table', 'ip', TABLE])) as Listing;
  } catch {
    return undefined;
  }
  const bridges = listing.nftables.find((e) => e.set?.name === 'bridges')?.set?.elem ?? [];
  const ports = new Map<string, string>();
  for (const protocol of ['tcp', 'udp'])
    for (const [port, { concat: [ip, target] }] of listing.nftables.find((e) => e.map?.name === `${protocol}-ports`)?.map?.elem ?? []) ports.set(`${protocol}/${port}`, `${ip} . ${target}`);
  return { bridges, ports };
}

/** A port map element's target, as tableState has it: "172.30.0.2 . 80". */
export function portTarget(ip: string, port: PortMapping): string {
  return `${ip} . ${port.containerPort}`;
}

export function networkElements(verb: 'add' | 'delete', network: NetworkRecord): string[] {
  return [`${verb} element ip ${TABLE} bridges { "${network.bridge}" }`, `${verb} element ip ${TABLE} subnets { ${network.subnet} }`];
}

/**
 * An endpoint's port elements. nft deletes a map element by its key alone (the target in a delete is not
 * compared), so a delete is given only the elements that tableState shows pointing at this endpoint: another
 * endpoint's mapping of the same host port is never removed.
 */
export function portElements(verb: 'add' | 'delete', ip: string, ports: PortMapping[]): string[] {
  return ports.map((p) => `${verb} element ip ${TABLE} ${p.protocol}-ports { ${p.hostPort}${verb === 'add' ? ` : ${portTarget(ip, p)}` : ''} }`);
}

export function deleteTable(): string {
  return `delete table ip ${TABLE}`;
}
