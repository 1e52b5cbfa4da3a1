import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ROOT_OPTION, rootless, runTool, runtimeDir, shellQuote, stateRoot, ToolError, UsageError, toolSpec, type Invocation } from '@cutaway/cli';
import pkg from '../package.json' with { type: 'json' };
import { leaseAddress, macOf } from './addresses.ts';
import { checkUsable, contains, formatIPv4, formatSubnet, overlaps, parseIPv4, parseSubnet, subnetSize, type Subnet } from './cidr.ts';
import { deleteTable, networkElements, portElements, portTarget, TABLE, tableCommands, tableState } from './firewall.ts';
import { allocatePorts, portKey } from './ports.ts';
import { exec, Runner } from './runner.ts';
import { refuseRootlessOptions, slirpDown, slirpUp } from './slirp.ts';
import {
  addEndpointScript,
  checkEndpointScript,
  createNetworkScript,
  deletePortsScript,
  inheritScript,
  lockScript,
  networkEndScript,
  removeEndpointScript,
  removeNetworkScript,
  withCommandCheck,
} from './script.ts';
import { checkName, DEFAULT_NETWORK, NetworkStore, newNetwork, vethName, type Endpoint, type NetworkRecord } from './store.ts';

const spec = toolSpec({
  name: 'netbridge',
  version: pkg.version,
  synopsis: [
    'up NAME [--network NET] [-p HOST:CTR[/tcp|udp]]… [--ip ADDR] [--netns PATH | --pid PID]',
    'up NAME --network NET2 [--ifname IF]      (one more interface in NAME\'s namespace)',
    'down NAME [--network NET]',
    'network create NET [--subnet CIDR [--gateway IP]]',
    'network ls | inspect NET… | rm NET…',
  ],
  description: [
    "Docker's bridge network as its own tool. up gives a network namespace (/run/netns/NAME, made unless --netns",
    'or --pid names one) an eth0 on the network: a veth pair whose host end is on the bridge, an address leased',
    'from the subnet, lo up, a default route through the bridge, NAT out, and the published ports in (reachable',
    "at the host's addresses and at 127.0.0.1). It prints the namespace's path. up NAME again with another",
    "--network adds an interface (eth1, …; no second default route) to NAME's namespace, as docker network",
    'connect does. down undoes all of it, or with --network only that interface. The default network, "bridge"',
    '(cw0, 172.30.0.0/16), exists without being created. Networks, their address leases and the published ports',
    "belong to the host, not to one state root: they are recorded in $CUTAWAY_RUN/networks (default /run/cutaway),",
    "under one lock, where every root's netbridge sees them, so two roots never get one address, MAC or host port.",
    "A state root's records from an older netbridge ($CUTAWAY_ROOT/networks) are moved there on its first run.",
    'Every packet rule is in the nftables table ip cw; down removes only its own endpoint\'s elements.',
    'Rootless (an ordinary user, or root of a user namespace), as rootless podman: up makes a network namespace',
    '(bind-mounted on $CUTAWAY_RUN/slirp4netns/netns/NAME) and attaches slirp4netns to it (eth0 10.0.2.100/24, via',
    '10.0.2.2, --disable-host-loopback), each -p a forward added through its API socket; down kills it.',
  ].join('\n'),
  options: [
    { name: 'network', type: 'string', arg: 'NET', help: 'up: the network to join (default: bridge); down: only the endpoint on NET' },
    { name: 'ifname', type: 'string', arg: 'IF', help: "up: the interface's name inside (default: eth0, or the next free ethN of NAME's)" },
    { name: 'publish', short: 'p', type: 'list', arg: 'HOST:CTR[/PROTO]', help: 'up: publish a port; CTR alone picks a free host port (repeat)' },
    { name: 'ip', type: 'string', arg: 'ADDR', help: 'up: this address instead of the next free one' },
    { name: 'netns', type: 'string', arg: 'PATH', help: 'up: configure this existing network namespace' },
    { name: 'pid', type: 'string', arg: 'PID', help: "up: configure this process's network namespace" },
    { name: 'ip-forward', type: 'boolean', help: 'up: set net.ipv4.ip_forward=1, as Docker does, so endpoints reach other networks' },
    { name: 'subnet', type: 'string', arg: 'CIDR', help: "network create: the subnet, e.g. 10.89.0.0/24 (default: a free one of Docker's default pools)" },
    { name: 'gateway', type: 'string', arg: 'IP', help: "network create: the bridge's address (default: the subnet's first)" },
    { ...ROOT_OPTION, help: 'the state root whose endpoints these are (default $CUTAWAY_ROOT or /var/lib/cutaway); the records are $CUTAWAY_RUN\'s' },
  ],
  examples: [
    'ns=$(netbridge up web -p 8080:80)                       # /run/netns/web, eth0 172.30.0.2',
    'ns-exec --netns "$ns" --rootfs R -- httpd -f -p 80 &  curl http://127.0.0.1:8080/',
    'netbridge up --json db --network backend | jq .ip',
    'netbridge up web --network backend                    # web gets eth1 on backend too',
    'netbridge down web --network backend                  # and loses it again',
    'netbridge network create backend --subnet 10.89.0.0/24',
    'netbridge --dry-run up web -p 8080:80                   # the ip, sysctl and nft commands',
    'CUTAWAY_ROOT=/srv/b netbridge up api -p 8080:80         # another root: "port is already allocated"',
    'cat /run/cutaway/networks/bridge.json                   # every root\'s leases on cw0',
    'netbridge down web',
    'ns=$(netbridge up web -p 8080:80)                       # rootless: slirp4netns, 10.0.2.100',
  ],
  classic: [
    'ip netns add web',
    'ip link add cw0 type bridge; ip addr add 172.30.0.1/16 dev cw0; ip link set cw0 up',
    'ip link add cwv… type veth peer name eth0 netns web; ip link set cwv… master cw0 up',
    'ip -n web addr add 172.30.0.2/16 dev eth0; ip -n web link set eth0 up; ip -n web route add default via 172.30.0.1',
    "nft 'add rule ip cw postrouting ip saddr 172.30.0.0/16 oifname != cw0 masquerade'",
    "nft 'add rule ip cw prerouting fib daddr type local tcp dport 8080 dnat to 172.30.0.2:80'",
  ],
});

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

async function checkSubnetFree(subnet: Subnet, others: NetworkRecord[], ours: Set<string>): Promise<void> {
  const conflict = subnetConflict(subnet, await hostRoutes(ours), others);
  if (conflict) throw conflict;
}

/**
 * docker network create without --subnet takes the first free subnet of the daemon's default address pools
 * (dockerd --default-address-pool; libnetwork ipamutils): 172.17.0.0/16 to 172.31.0.0/16, then 192.168.0.0/16 in /20s.
 */
async function freeSubnet(others: NetworkRecord[], ours: Set<string>): Promise<Subnet> {
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
function interfaces(): Set<string> {
  return new Set(readFileSync('/proc/self/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean));
}

/** The interfaces enslaved to a bridge (`ip link show master BRIDGE`); none when it does not exist. */
async function bridgePorts(bridge: string): Promise<string[]> {
  if (!bridgeExists(bridge)) return [];
  const links = JSON.parse(await exec('ip', ['-j', 'link', 'show', 'master', bridge])) as { ifname: string }[];
  return links.map((l) => l.ifname);
}

function bridgeExists(bridge: string): boolean {
  return interfaces().has(bridge);
}

/** The bridge with its gateway address, forwarding on, and loopback sources allowed out (for ports published at 127.0.0.1). */
async function bridgeUp(run: Runner, network: NetworkRecord): Promise<void> {
  const prefix = parseSubnet(network.subnet).prefix;
  await run.ip([
    ['link', 'add', network.bridge, 'type', 'bridge'],
    ['addr', 'add', `${network.gateway}/${prefix}`, 'dev', network.bridge],
    ['link', 'set', network.bridge, 'up'],
  ]);
  await run.sysctl(`net.ipv4.conf.${network.bridge}.forwarding`, '1');
  await run.sysctl(`net.ipv4.conf.${network.bridge}.route_localnet`, '1');
}

/** What `netbridge up --json` prints (cutaway reads it). */
export interface UpResult {
  name: string;
  network: string;
  netns: string;
  ifname: string;
  ip: string;
  prefix: number;
  gateway: string;
  mac: string;
  bridge: string;
  veth: string;
  ports: Endpoint['ports'];
  /** A nameserver the network serves itself, for the container's resolv.conf: slirp4netns's DNS forwarder; '' on a bridge, as on Docker's default one. */
  dns: string;
}

/** Whether two paths are one network namespace: nsfs gives each namespace one inode, however it is reached (namespaces(7)). */
function sameNamespace(a: string, b: string): boolean {
  try {
    const [x, y] = [statSync(a), statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** An interface name the kernel takes (dev_valid_name: at most IFNAMSIZ-1 = 15 bytes, no "/", ":" or blanks). */
function checkIfname(ifname: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(ifname)) throw new UsageError(`invalid interface name ${JSON.stringify(ifname)}: letters, digits, "_", "." and "-", at most 15`);
}

async function up(inv: Invocation<typeof spec.options>, store: NetworkStore, run: Runner): Promise<UpResult> {
  const o = inv.options;
  const [name, ...extra] = inv.positionals.slice(1);
  if (!name || extra.length) throw new UsageError('up takes one NAME: netbridge up NAME [--network NET] [-p HOST:CTR]…');
  checkName(name, 'endpoint');
  if (o.netns !== undefined && o.pid !== undefined) throw new UsageError('--netns and --pid exclude each other');
  if (o.pid !== undefined && !/^\d+$/.test(o.pid)) throw new UsageError(`--pid ${o.pid}: not a process id`);
  if (o.ifname !== undefined) checkIfname(o.ifname);
  const given = o.netns ?? (o.pid !== undefined ? `/proc/${o.pid}/ns/net` : undefined);
  // netbridge's own namespace, where it makes the bridge (the host's), is never an endpoint's: it would give the
  // host an address and routes.
  if (given !== undefined && sameNamespace(given, '/proc/self/ns/net')) throw new ToolError(`${o.pid !== undefined ? `process ${o.pid}` : given} is in the host's network namespace: netbridge gives a network only to a namespace of its own`);
  const networkName = o.network ?? DEFAULT_NETWORK;

  return store.locked(async () => {
    const networks = store.list();
    const network = networks.find((n) => n.name === networkName);
    if (!network) throw new ToolError(`network ${networkName} not found`, 'netbridge network ls lists them');
    if (network.endpoints[name]) throw new ToolError(`endpoint ${name} already exists on network ${network.name}`, `netbridge down ${name} --network ${network.name} removes it`);
    // The name on other networks: the same namespace's other interfaces (docker network connect), joined by this one.
    const siblings = networks.flatMap((n) => (n.endpoints[name] ? [n.endpoints[name]] : []));
    const netns = given ?? siblings[0]?.netns ?? `/run/netns/${name}`;
    const makeNetns = given === undefined && !siblings.length;
    if (makeNetns && existsSync(netns)) throw new ToolError(`network namespace ${name} exists already`, `netbridge up ${name} --netns ${netns} configures it`);
    if (!makeNetns && !existsSync(netns)) throw new ToolError(`${o.pid !== undefined ? `process ${o.pid}` : netns}: no such network namespace`);
    if (siblings.length && given !== undefined && !sameNamespace(given, siblings[0]!.netns)) throw new ToolError(`endpoint ${name} lives in the network namespace ${siblings[0]!.netns}, and ${given} is another one`);
    const taken = new Set(siblings.map((s) => s.ifname));
    const ifname = o.ifname ?? `eth${[...Array(taken.size + 1).keys()].find((i) => !taken.has(`eth${i}`))}`;
    if (taken.has(ifname)) throw new ToolError(`endpoint ${name} has an ${ifname} already`);
    const firstUse = !bridgeExists(network.bridge);
    if (firstUse) {
      checkUsable(parseSubnet(network.subnet), `network ${network.name}'s subnet`);
      await checkSubnetFree(parseSubnet(network.subnet), networks.filter((n) => n !== network && bridgeExists(n.bridge)), new Set(networks.map((n) => n.bridge)));
    }
    const ip = leaseAddress(network, o.ip);
    // A host port is taken when any root's endpoint publishes it (the host's records), or the kernel's port maps
    // have it (a record lost, or another runtime directory on this kernel): refused before anything is made.
    const table = await tableState();
    const published = new Set([...networks.flatMap((n) => Object.values(n.endpoints).flatMap((e) => e.ports.map((p) => portKey(p.protocol, p.hostPort)))), ...(table?.ports.keys() ?? [])]);
    const ports = await allocatePorts(o.publish, published);
    const prefix = parseSubnet(network.subnet).prefix;
    const endpoint: Endpoint = { name, ifname, ip: formatIPv4(ip), mac: macOf(ip), netns, madeNetns: makeNetns, veth: vethName(network, name), ports, root: store.root };

    // The lease is written first: a run killed half-way leaves a record that `down` cleans up from.
    if (run.dryRun) {
      run.note(`up ${name} on ${network.name}: ${endpoint.ip}/${prefix}, ${endpoint.mac}, ${ifname} ↔ ${endpoint.veth} on ${network.bridge}`);
      lockScript(run, store);
      addEndpointScript(run, store, network, endpoint);
    }
    network.endpoints[name] = endpoint;
    if (!run.dryRun) await store.write(network);
    try {
      if (makeNetns) await run.ip([['netns', 'add', name]]);
      // The script asks for the bridge as it runs: the first endpoint makes it, whenever that is.
      await run.when(`! ip link show ${network.bridge} >/dev/null 2>&1`, firstUse, () => bridgeUp(run, network));
      await run.ip([
        ['link', 'add', endpoint.veth, 'type', 'veth', 'peer', 'name', ifname, 'netns', netns],
        ['link', 'set', endpoint.veth, 'master', network.bridge],
        ['link', 'set', endpoint.veth, 'up'],
      ]);
      // One default route per namespace: the first interface's, as Docker's first network gives the gateway.
      await run.ip([
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', ifname, 'address', endpoint.mac],
        ['addr', 'add', `${endpoint.ip}/${prefix}`, 'dev', ifname],
        ['link', 'set', ifname, 'up'],
        ...(siblings.length ? [] : [['route', 'add', 'default', 'via', network.gateway]]),
      ], netns);
      if (o['ip-forward']) await run.sysctl('net.ipv4.ip_forward', '1');
      if (run.dryRun) {
        // The table is made once, by whoever finds none: its rules must not be added twice.
        await run.when(`! nft list table ip ${TABLE} >/dev/null 2>&1`, true, () => run.nft(tableCommands()));
        await run.nft([...networkElements('add', network), ...portElements('add', endpoint.ip, ports)]);
      } else await run.nft([...(!table ? tableCommands() : []), ...networkElements('add', network), ...portElements('add', endpoint.ip, ports)]);
    } catch (e) {
      await teardown(run, store, network, endpoint);
      // The kernel's map has the port after all (published meanwhile from another runtime directory): Docker's line.
      const port = e instanceof Error ? /File exists; add element ip cw (?:tcp|udp)-ports \{ (\d+) :/.exec(e.message)?.[1] : undefined;
      throw port ? new ToolError(`Bind for 0.0.0.0:${port} failed: port is already allocated`) : e;
    }
    if (!run.dryRun && readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim() === '0')
      process.stderr.write(`netbridge: note: net.ipv4.ip_forward is 0: ${name} reaches this host and cutaway's networks, not other networks (--ip-forward sets it, as Docker does)\n`);
    return { name, network: network.name, netns, ifname, ip: endpoint.ip, prefix, gateway: network.gateway, mac: endpoint.mac, bridge: network.bridge, veth: endpoint.veth, ports, dns: '' };
  });
}

/**
 * Removes an endpoint and whatever it leaves unused, each step harmless when
 * its object is gone already: its port elements, its veth (the pair goes with
 * it), its netns if up made it, its lease; the bridge and the network's
 * elements with the network's last endpoint; the table once no bridge is
 * left in it.
 */
async function teardown(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): Promise<void> {
  if (run.dryRun) return teardownScript(run, store, network, endpoint);
  const table = await tableState();
  // Only the elements that point at this endpoint: another's mapping of the same host port stays.
  const own = endpoint.ports.filter((p) => table?.ports.get(portKey(p.protocol, p.hostPort)) === portTarget(endpoint.ip, p));
  if (own.length) await run.nft(portElements('delete', endpoint.ip, own)).catch(() => {});
  if (interfaces().has(endpoint.veth)) await run.tryIp(['link', 'del', endpoint.veth]);
  if (endpoint.madeNetns && existsSync(endpoint.netns)) await run.tryIp(['netns', 'del', endpoint.name]);
  delete network.endpoints[endpoint.name];
  // The bridge goes with the network's last endpoint, unless the kernel says another state root's endpoints are on it.
  if (!Object.keys(network.endpoints).length && !(await bridgePorts(network.bridge)).length) {
    if (bridgeExists(network.bridge)) await run.tryIp(['link', 'del', network.bridge]);
    // The table goes as a whole once no bridge is left in it; its elements need no deleting first.
    const others = (table?.bridges ?? []).filter((b) => b !== network.bridge);
    if (table) await run.nft(others.length ? networkElements('delete', network) : [deleteTable()]).catch(() => {});
  }
  // The default network leaves no file behind once nothing uses it: it exists without one.
  if (network.name === DEFAULT_NETWORK && !Object.keys(network.endpoints).length) store.remove(network.name);
  else await store.write(network);
}

/**
 * teardown as the dry-run script does it: the same steps, each asking the host first what teardown asks it (the
 * kernel's table, the interfaces, the records), so that a script made now acts on the host as it is when it runs.
 */
async function teardownScript(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): Promise<void> {
  run.note(`${endpoint.name} on ${network.name}: ${endpoint.ip}, veth ${endpoint.veth}${endpoint.ports.length ? `, ports ${endpoint.ports.map((p) => `${p.hostPort}/${p.protocol}`).join(' ')}` : ''}`);
  await deletePortsScript(run, endpoint, (ports) => run.nft(portElements('delete', endpoint.ip, ports)));
  await run.when(`ip link show ${endpoint.veth} >/dev/null 2>&1`, true, () => run.tryIp(['link', 'del', endpoint.veth]));
  if (endpoint.madeNetns) await run.when(`[ -e ${shellQuote(endpoint.netns)} ]`, true, () => run.tryIp(['netns', 'del', endpoint.name]));
  await networkEndScript(run, store, network, endpoint, {
    deleteBridge: () => run.tryIp(['link', 'del', network.bridge]),
    deleteElements: (which) => run.nft(networkElements('delete', network).filter((_, i) => which.includes(i === 0 ? 'bridge' : 'subnet'))),
    deleteTable: () => run.nft([deleteTable()]),
  });
  removeEndpointScript(run, store, network, endpoint);
  delete network.endpoints[endpoint.name];
}

/**
 * Takes NAME's endpoints down: all of them, or with --network the one on that network. The namespace `up` made
 * lives as long as any of NAME's interfaces: when its maker goes first, a staying endpoint inherits it.
 */
async function down(inv: Invocation<typeof spec.options>, store: NetworkStore, run: Runner): Promise<string> {
  const [name, ...extra] = inv.positionals.slice(1);
  if (!name || extra.length) throw new UsageError('down takes one NAME: netbridge down NAME [--network NET]');
  const only = inv.options.network;
  return store.locked(async () => {
    const all = store.findEndpoints(name);
    const going = all.filter((f) => only === undefined || f.network.name === only);
    if (!going.length) throw new ToolError(`no endpoint named ${name}${only === undefined ? '' : ` on network ${only}`}`, 'netbridge network inspect NET lists a network\'s endpoints');
    const staying = all.filter((f) => !going.includes(f));
    if (run.dryRun) {
      run.note(`down ${name}${only === undefined ? '' : ` on ${only}`}`);
      lockScript(run, store);
      for (const f of going) checkEndpointScript(run, store, f.network, f.endpoint);
    }
    const maker = going.find((f) => f.endpoint.madeNetns);
    if (maker && staying.length) {
      maker.endpoint.madeNetns = false;
      // The heir may know the namespace by another path (/proc/PID/ns/net): the one up made is the one to delete.
      Object.assign(staying[0]!.endpoint, { madeNetns: true, netns: maker.endpoint.netns });
      if (run.dryRun) inheritScript(run, store, staying[0]!.network, staying[0]!.endpoint);
      else await store.write(staying[0]!.network);
    }
    // The namespace's maker last: its interfaces go before the namespace does.
    for (const f of going.sort((a, b) => Number(a.endpoint.madeNetns) - Number(b.endpoint.madeNetns))) await teardown(run, store, f.network, f.endpoint);
    return name;
  });
}

async function networkCommand(inv: Invocation<typeof spec.options>, store: NetworkStore, run: Runner, print: (text: string) => void): Promise<void> {
  const [, verb, ...names] = inv.positionals;
  const o = inv.options;
  switch (verb) {
    case 'create': {
      if (rootless()) throw new ToolError('network create needs root: rootless, containers get slirp4netns on the default network');
      const [name, ...extra] = names;
      if (!name || extra.length) throw new UsageError('network create takes one NET: netbridge network create NET [--subnet CIDR]');
      checkName(name, 'network');
      const subnet = o.subnet !== undefined ? parseSubnet(o.subnet) : undefined;
      if (subnet) checkUsable(subnet);
      let gateway: number | undefined;
      if (o.gateway !== undefined) {
        if (!subnet) throw new UsageError('--gateway needs --subnet');
        gateway = parseIPv4(o.gateway);
        const last = subnet.network + subnetSize(subnet) - 1;
        if (gateway === undefined) throw new UsageError(`invalid gateway ${JSON.stringify(o.gateway)}`);
        if (!contains(subnet, gateway) || gateway === subnet.network || gateway === last) throw new ToolError(`gateway ${o.gateway} is not a host address of ${o.subnet}`);
      }
      const record = await store.locked(async () => {
        const networks = store.list();
        if (networks.some((n) => n.name === name)) throw new ToolError(`network with name ${name} already exists`);
        const ours = new Set(networks.map((n) => n.bridge));
        if (subnet) await checkSubnetFree(subnet, networks, ours);
        const created = newNetwork(name, subnet ?? (await freeSubnet(networks, ours)), gateway, store.root);
        inv.steps.note(`network ${name}: ${created.subnet}, gateway ${created.gateway}, bridge ${created.bridge} (made when the first endpoint joins)`);
        if (run.dryRun) {
          // The subnet was checked against the host's routes and networks when this script was made.
          lockScript(run, store);
          createNetworkScript(run, store, created);
        } else await store.write(created);
        return created;
      });
      print(inv.json ? `${JSON.stringify(inspectOf(record))}\n` : `${record.id}\n`);
      return;
    }
    case 'ls': {
      const networks = await store.locked(async () => store.list());
      if (inv.json) print(`${JSON.stringify(networks.map(inspectOf))}\n`);
      else {
        const rows = [['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET', 'ENDPOINTS'], ...networks.map((n) => [n.id.slice(0, 12), n.name, 'bridge', 'local', n.subnet, String(Object.keys(n.endpoints).length)])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)) + 3);
        print(`${rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('')).join('\n')}\n`);
      }
      return;
    }
    case 'inspect': {
      if (!names.length) throw new UsageError('network inspect takes NET…');
      const records = await store.locked(async () =>
        names.map((n) => {
          const record = store.read(n);
          if (!record) throw new ToolError(`network ${n} not found`);
          return record;
        }),
      );
      print(`${JSON.stringify(records.map(inspectOf), null, 2)}\n`);
      return;
    }
    case 'rm': {
      if (!names.length) throw new UsageError('network rm takes NET…');
      await store.locked(async () => {
        if (run.dryRun) lockScript(run, store);
        for (const name of names) {
          const record = store.read(name);
          if (!record) throw new ToolError(`network ${name} not found`);
          if (name === DEFAULT_NETWORK) throw new ToolError(`${name} is a pre-defined network and cannot be removed`);
          const used = Object.keys(record.endpoints);
          if (used.length) throw new ToolError(`network ${name} has active endpoints (${used.join(', ')})`, `netbridge down ${used[0]} first`);
          inv.steps.note(`remove network ${name}`);
          if (run.dryRun) removeNetworkScript(run, store, name);
          else store.remove(name);
        }
      });
      print(`${names.join('\n')}\n`);
      return;
    }
    default:
      throw new UsageError(`network takes create, ls, inspect or rm${verb ? `, not ${verb}` : ''}`);
  }
}

/** `docker network inspect`'s shape, for the fields that mean something here. */
/** What `netbridge network ls --json` and `inspect` print of a network: Docker's inspect shape (cutaway reads it). */
export type NetworkInspect = ReturnType<typeof inspectOf>;

function inspectOf(n: NetworkRecord) {
  const prefix = n.subnet.split('/')[1];
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: 'bridge',
    IPAM: { Driver: 'default', Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Options: { 'com.docker.network.bridge.name': n.bridge },
    /** The state root that created it (none: the default network); the network itself is the host's. */
    Root: n.root,
    Containers: Object.fromEntries(Object.values(n.endpoints).map((e) => [e.name, { Name: e.name, Interface: e.ifname, MacAddress: e.mac, IPv4Address: `${e.ip}/${prefix}`, NetNS: e.netns, Veth: e.veth, Ports: e.ports, Root: e.root }])),
  };
}

void runTool(spec, async (inv) => {
  const run = new Runner(inv.steps);
  const store = new NetworkStore(runtimeDir(), resolve(stateRoot(inv.options.root)), run.dryRun);
  const verb = inv.positionals[0];
  let output = '';
  // Rootless: no bridge, veth or nft rule can be made in the host's network namespace; slirp4netns instead (slirp.ts).
  const slirp = rootless() && (verb === 'up' || verb === 'down');
  if (slirp && verb === 'up') {
    const [name, ...extra] = inv.positionals.slice(1);
    if (!name || extra.length) throw new UsageError('up takes one NAME: netbridge up NAME [-p HOST:CTR]…');
    refuseRootlessOptions(inv.options, DEFAULT_NETWORK);
    const result = await slirpUp(run, runtimeDir(), resolve(stateRoot(inv.options.root)), name, inv.options.publish);
    output = inv.json ? `${JSON.stringify(result)}\n` : `${result.netns}\n`;
  } else if (slirp) {
    const [name, ...extra] = inv.positionals.slice(1);
    if (!name || extra.length) throw new UsageError('down takes one NAME: netbridge down NAME');
    await slirpDown(run, runtimeDir(), name);
    output = inv.json ? `${JSON.stringify({ name })}\n` : '';
  } else if (verb === 'network') await networkCommand(inv, store, run, (text) => (output += text));
  else if (verb === 'up') {
    const result = await up(inv, store, run);
    output = inv.json ? `${JSON.stringify(result)}\n` : `${result.netns}\n`;
  } else if (verb === 'down') {
    const name = await down(inv, store, run);
    output = inv.json ? `${JSON.stringify({ name })}\n` : '';
  } else throw new UsageError(verb ? `unknown command ${verb}: up, down or network` : 'what? netbridge up NAME | down NAME | network …');
  // --dry-run: the commands are the output; nothing was made, so there is no handle to print.
  process.stdout.write(run.dryRun ? withCommandCheck(inv.steps.toScript()) : output);
});
