import { ToolError, UsageError } from '@cutaway/cli';

/** An IPv4 subnet: the network address as an unsigned 32-bit number, and the prefix length. */
export interface Subnet {
  network: number;
  prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff - (2 ** (32 - prefix) - 1));
}

export function subnetSize(s: Subnet): number {
  return 2 ** (32 - s.prefix);
}

/** `172.30.0.0/16`: the address must be the network's own (no host bits), as docker network create insists. */
export function parseSubnet(text: string, what = 'subnet'): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text);
  const ip = m ? parseIPv4(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (ip === undefined || !(prefix >= 0 && prefix <= 32)) throw new UsageError(`invalid ${what} ${JSON.stringify(text)}: expected an IPv4 CIDR such as 172.30.0.0/16`);
  if (prefix < 8 || prefix > 29) throw new UsageError(`invalid ${what} ${text}: the prefix must be between /8 and /29 (room for a gateway and endpoints)`);
  const network = (ip & mask(prefix)) >>> 0;
  if (network !== ip) throw new UsageError(`invalid ${what} ${text}: it has host bits set; the network is ${formatIPv4(network)}/${prefix}`);
  return { network, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIPv4(s.network)}/${s.prefix}`;
}

export function contains(s: Subnet, ip: number): boolean {
  return ip >= s.network && ip < s.network + subnetSize(s);
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  return contains(a, b.network) || contains(b, a.network);
}

/**
 * The ranges no bridge network may use, as Docker's IPAM refuses them: addresses that name no host on a link
 * (RFC 6890's special-purpose registry, less the private and documentation ranges a network may well use).
 */
const SPECIAL: { range: string; what: string }[] = [
  { range: '255.255.255.255/32', what: 'the limited broadcast address (RFC 919)' },
  { range: '0.0.0.0/8', what: '"this network" (RFC 1122): no host is addressed there' },
  { range: '127.0.0.0/8', what: "loopback (RFC 1122): its addresses never leave a host's lo" },
  { range: '169.254.0.0/16', what: 'link-local (RFC 3927): its addresses are never routed' },
  { range: '224.0.0.0/4', what: 'multicast (RFC 5771): its addresses name groups, not hosts' },
  { range: '240.0.0.0/4', what: 'reserved (RFC 1112): hosts and routers do not use it' },
];

/** Refuses a subnet that overlaps a special-purpose range (exit 1: the value is well-formed, and refused). */
export function checkUsable(subnet: Subnet, what = 'subnet'): void {
  for (const { range, what: why } of SPECIAL) {
    const [addr = '', prefix = ''] = range.split('/');
    if (overlaps(subnet, { network: parseIPv4(addr)!, prefix: Number(prefix) }))
      throw new ToolError(`${what} ${formatSubnet(subnet)} overlaps ${range === '255.255.255.255/32' ? '255.255.255.255' : range}, ${why}`, 'pick a private range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16');
  }
}
