import { UsageError } from '@cutaway/cli';

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
