import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { withFileLock } from '@cutaway/libc';
import { writeFileAtomic } from '@cutaway/oci';
import { formatIPv4, formatSubnet, parseSubnet, type Subnet } from './cidr.ts';

/**
 * The state of cutaway's networks, DESIGN.md's networks/<name>.json: the
 * bridge, the subnet and gateway, and every endpoint with its address lease,
 * veth and published ports. All of it is read and written under one lock
 * (networks/.lock), so concurrent `up`s never hand out one address twice.
 */

export interface PortMapping {
  protocol: 'tcp' | 'udp';
  hostPort: number;
  containerPort: number;
}

export interface Endpoint {
  name: string;
  /** Its interface inside the namespace: eth0, or eth1, … for the same name's later networks. */
  ifname: string;
  ip: string;
  mac: string;
  /** The network namespace it lives in. */
  netns: string;
  /** Whether `up` made that namespace (then `down` removes it). */
  madeNetns: boolean;
  /** The host end of the veth pair (the other end is `ifname` inside). */
  veth: string;
  ports: PortMapping[];
}

export interface NetworkRecord {
  name: string;
  id: string;
  bridge: string;
  subnet: string;
  gateway: string;
  created: string;
  endpoints: Record<string, Endpoint>;
}

/** Docker's default network is `bridge` (docker0); ours is cw0 on a subnet Docker does not use by default. */
export const DEFAULT_NETWORK = 'bridge';
export const DEFAULT_BRIDGE = 'cw0';
export const DEFAULT_SUBNET = '172.30.0.0/16';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkName(name: string, what: string): void {
  if (!NAME.test(name)) throw new ToolError(`invalid ${what} name ${JSON.stringify(name)}: letters, digits, "_", "." and "-", at most 64`);
}

/** A network's record before it exists on disk: the default network is made this way on first use. */
export function newNetwork(name: string, subnet: Subnet, gateway?: number): NetworkRecord {
  const id = randomBytes(32).toString('hex');
  return {
    name,
    id,
    // IFNAMSIZ is 16 with the NUL: "cw-" and 12 hex digits of the id.
    bridge: name === DEFAULT_NETWORK ? DEFAULT_BRIDGE : `cw-${id.slice(0, 12)}`,
    subnet: formatSubnet(subnet),
    gateway: formatIPv4(gateway ?? subnet.network + 1),
    created: new Date().toISOString(),
    endpoints: {},
  };
}

/** The default network's id is fixed (a digest of its name), so that it does not change while it has no file. */
export function defaultNetwork(): NetworkRecord {
  return { ...newNetwork(DEFAULT_NETWORK, parseSubnet(DEFAULT_SUBNET)), id: createHash('sha256').update(`cutaway network ${DEFAULT_NETWORK}`).digest('hex') };
}

/** The host end of an endpoint's veth pair: "cwv" and 12 hex digits, unique per network and endpoint. */
export function vethName(network: NetworkRecord, endpoint: string): string {
  return `cwv${createHash('sha256').update(`${network.id}/${endpoint}`).digest('hex').slice(0, 12)}`;
}

export class NetworkStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'networks');
  }

  private path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /** Runs `work` holding the networks lock; the directory is made first. */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true });
    return withFileLock(join(this.dir, '.lock'), work);
  }

  read(name: string): NetworkRecord | undefined {
    const path = this.path(name);
    if (!existsSync(path)) return name === DEFAULT_NETWORK ? defaultNetwork() : undefined;
    return JSON.parse(readFileSync(path, 'utf8')) as NetworkRecord;
  }

  /** Every network, the default one included even before its first use. */
  list(): NetworkRecord[] {
    const names = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5)) : [];
    if (!names.includes(DEFAULT_NETWORK)) names.push(DEFAULT_NETWORK);
    return names.sort().map((n) => this.read(n)!);
  }

  async write(record: NetworkRecord): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await writeFileAtomic(this.path(record.name), `${JSON.stringify(record, null, 2)}\n`);
  }

  remove(name: string): void {
    rmSync(this.path(name), { force: true });
  }

  /** The endpoints called `name`, one per network that has one: a namespace's interfaces. */
  findEndpoints(name: string): { network: NetworkRecord; endpoint: Endpoint }[] {
    return this.list().flatMap((network) => (network.endpoints[name] ? [{ network, endpoint: network.endpoints[name] }] : []));
  }
}
