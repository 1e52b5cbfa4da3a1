import { existsSync, readFileSync, statSync } from 'node:fs';
import { shellQuote, ToolError, UsageError } from '@cutaway/cli';
import { leaseAddress, macOf } from './addresses.ts';
import { checkUsable, formatIPv4, parseSubnet } from './cidr.ts';
import { deleteTable, networkElements, portElements, portTarget, TABLE, tableCommands, tableState } from './firewall.ts';
import { bridgeExists, bridgePorts, checkSubnetFree, interfaces } from './host.ts';
import { allocatePorts, portKey } from './ports.ts';
import type { Runner } from './runner.ts';
import { addEndpointScript, checkEndpointScript, deletePortsScript, inheritScript, lockScript, networkEndScript, removeEndpointScript } from './script.ts';
import type { NetbridgeInvocation } from './spec.ts';
import { checkName, DEFAULT_NETWORK, vethName, type Endpoint, type NetworkRecord, type NetworkStore } from './store.ts';

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

/** up NAME: an endpoint for NAME on --network (the default one), made whole or not at all; notes for a person go to `tell`. */
export async function up(inv: NetbridgeInvocation, store: NetworkStore, run: Runner, tell: (text: string) => void): Promise<UpResult> {
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
      tell(`netbridge: note: net.ipv4.ip_forward is 0: ${name} reaches this host and cutaway's networks, not other networks (--ip-forward sets it, as Docker does)\n`);
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
export async function down(inv: NetbridgeInvocation, store: NetworkStore, run: Runner): Promise<string> {
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
