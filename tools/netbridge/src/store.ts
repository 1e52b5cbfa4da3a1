import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { withFileLock } from '@cutaway/libc';
import { writeFileAtomic } from '@cutaway/oci';
import { formatIPv4, formatSubnet, parseSubnet, type Subnet } from './cidr.ts';

/**
 * The state of cutaway's networks: the bridge, the subnet and gateway, and
 * every endpoint with its address lease, MAC, veth and published ports. All
 * of it belongs to the host, not to one state root: every root on the host
 * shares the bridges, the address space, the host's ports and the nft table,
 * as network namespaces (/run/netns/NAME) and interfaces are named host-wide
 * too. So the records live in the runtime directory (DESIGN.md "State":
 * $CUTAWAY_RUN, default /run/cutaway), one file per network,
 * RUN/networks/<name>.json, read and written under one lock
 * (RUN/networks/.lock, flock(2): released by the kernel when its holder
 * dies), which every root's netbridge takes: two roots never lease one
 * address or publish one port twice.
 *
 * RUN/networks/.host stamps the boot the records belong to
 * (/proc/sys/kernel/random/boot_id): after a reboot no veth, namespace or
 * nft element of the old boot is left, so their leases and ports are
 * dropped (the networks stay) — /run is a tmpfs on most hosts, but not on
 * every one.
 *
 * Records an older netbridge kept in a state root (ROOT/networks/*.json) are
 * moved here the first time that root's netbridge runs (see migrate).
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
  /** The state root whose netbridge made it (for the reader: the records are the host's). */
  root?: string;
}

export interface NetworkRecord {
  name: string;
  id: string;
  bridge: string;
  subnet: string;
  gateway: string;
  created: string;
  /** The state root that created it; none for the default network, which every root has. */
  root?: string;
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
export function newNetwork(name: string, subnet: Subnet, gateway?: number, root?: string): NetworkRecord {
  const id = randomBytes(32).toString('hex');
  return {
    name,
    id,
    // IFNAMSIZ is 16 with the NUL: "cw-" and 12 hex digits of the id.
    bridge: name === DEFAULT_NETWORK ? DEFAULT_BRIDGE : `cw-${id.slice(0, 12)}`,
    subnet: formatSubnet(subnet),
    gateway: formatIPv4(gateway ?? subnet.network + 1),
    created: new Date().toISOString(),
    ...(root !== undefined && { root }),
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

/**
 * Makes `dir` and its missing parents root's and 0755, whatever the umask: the runtime directory on a fresh host
 * (/run/cutaway does not exist until netbridge first runs). Writable by root alone: the records name what netbridge
 * deletes.
 */
function makeDirs(dir: string): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    chmodSync(d, 0o755);
    if (d === first || d === dirname(d)) break;
  }
}

/** The boot and the records' stamp of it, in RUN/networks/.host. */
interface HostStamp {
  boot: string;
}

export class NetworkStore {
  /** RUN/networks: the host's records. */
  readonly dir: string;
  /** ROOT/networks: where an older netbridge kept a root's records. */
  readonly legacyDir: string;

  /**
   * @param runDir the runtime directory, $CUTAWAY_RUN
   * @param root the state root this invocation works for (recorded on what it makes; its old records are moved)
   * @param dryRun whether nothing may change (no records moved or reset)
   * @param tell where a warning for a person goes (stderr, for the tool alone)
   */
  constructor(
    readonly runDir: string,
    readonly root: string,
    private readonly dryRun: boolean,
    private readonly tell: (text: string) => void,
  ) {
    this.dir = join(resolve(runDir), 'networks');
    this.legacyDir = join(root, 'networks');
  }

  private path(name: string): string {
    return join(this.dir, `${name}.json`);
  }

  /**
   * Runs `work` holding the host's networks lock. The runtime directory is made first (root's, 0755: a fresh
   * host has none), the records of an older boot are cleared and the root's old records moved in.
   */
  async locked<T>(work: () => Promise<T>): Promise<T> {
    // A dry run makes nothing, not even the directory or its lock: with none there, there is nothing to read.
    if (this.dryRun && !existsSync(join(this.dir, '.lock'))) return work();
    makeDirs(this.dir);
    return withFileLock(join(this.dir, '.lock'), async () => {
      if (!this.dryRun) {
        await this.checkBoot();
        await this.migrate();
      }
      return work();
    });
  }

  /** Drops the leases and ports of a previous boot: none of their kernel objects outlived it. */
  private async checkBoot(): Promise<void> {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stampPath = join(this.dir, '.host');
    let stamp: HostStamp | undefined;
    try {
      stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as HostStamp;
    } catch {
      // none yet (a fresh runtime directory), or unreadable: written below
    }
    if (stamp?.boot === boot) return;
    if (stamp) {
      for (const record of this.list()) {
        if (!Object.keys(record.endpoints).length) continue;
        record.endpoints = {};
        if (record.name === DEFAULT_NETWORK) this.remove(record.name);
        else await this.write(record);
      }
    }
    await writeFileAtomic(stampPath, `${JSON.stringify({ boot } satisfies HostStamp)}\n`);
  }

  /**
   * Moves the records an older netbridge kept in this root (ROOT/networks/NET.json) to the host's, once: a
   * network the host does not have yet is moved as it is; one it has (the same id: the default network, whose
   * id is fixed, or a copy) gains the endpoints it lacks, with their addresses as the kernel has them. A network
   * of the same name and another id cannot be both: its record is left as NET.json.unmigrated, with a warning,
   * for a person to sort out (its endpoints can still be taken down by hand: ip link del VETH; ip netns del NAME).
   */
  private async migrate(): Promise<void> {
    if (!existsSync(this.legacyDir)) return;
    for (const file of readdirSync(this.legacyDir).filter((f) => f.endsWith('.json') && !f.startsWith('.'))) {
      const from = join(this.legacyDir, file);
      let old: NetworkRecord;
      try {
        old = JSON.parse(readFileSync(from, 'utf8')) as NetworkRecord;
      } catch {
        continue;
      }
      const endpoints = Object.fromEntries(Object.entries(old.endpoints ?? {}).map(([n, e]) => [n, { ...e, root: e.root ?? this.root }]));
      const here = this.readFile(old.name);
      if (here && here.id !== old.id) {
        renameSync(from, `${from}.unmigrated`);
        this.tell(`netbridge: warning: ${from}: not moved to ${this.dir}: the host has another network named ${old.name} (${here.subnet}); left as ${file}.unmigrated\n`);
        continue;
      }
      if (here) {
        for (const [n, e] of Object.entries(endpoints)) here.endpoints[n] ??= e;
        await this.write(here);
      } else await this.write({ ...old, ...(old.name !== DEFAULT_NETWORK && { root: old.root ?? this.root }), endpoints });
      rmSync(from);
    }
    rmSync(join(this.legacyDir, '.lock'), { force: true });
    try {
      rmdirSync(this.legacyDir);
    } catch {
      // something else is in it (an .unmigrated record): it stays
    }
  }

  private readFile(name: string): NetworkRecord | undefined {
    const path = this.path(name);
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as NetworkRecord) : undefined;
  }

  read(name: string): NetworkRecord | undefined {
    return this.readFile(name) ?? (name === DEFAULT_NETWORK ? defaultNetwork() : undefined);
  }

  /** Every network, the default one included even before its first use. */
  list(): NetworkRecord[] {
    const names = existsSync(this.dir) ? readdirSync(this.dir).filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5)) : [];
    if (!names.includes(DEFAULT_NETWORK)) names.push(DEFAULT_NETWORK);
    return names.sort().map((n) => this.read(n)!);
  }

  async write(record: NetworkRecord): Promise<void> {
    makeDirs(this.dir);
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
