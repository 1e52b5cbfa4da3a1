import { rootless, ToolError, UsageError } from '@cutaway/cli';
import { checkUsable, contains, parseIPv4, parseSubnet, subnetSize } from './cidr.ts';
import { checkSubnetFree, freeSubnet } from './host.ts';
import type { Runner } from './runner.ts';
import { createNetworkScript, lockScript, removeNetworkScript } from './script.ts';
import type { NetbridgeInvocation } from './spec.ts';
import { checkName, DEFAULT_NETWORK, newNetwork, type NetworkRecord, type NetworkStore } from './store.ts';

/** network create, ls, inspect and rm; what they print goes to `print`. */
export async function networkCommand(inv: NetbridgeInvocation, store: NetworkStore, run: Runner, print: (text: string) => void): Promise<void> {
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

/** What `netbridge network ls --json` and `inspect` print of a network: Docker's inspect shape (cutaway reads it). */
export type NetworkInspect = ReturnType<typeof inspectOf>;

/** `docker network inspect`'s shape, for the fields that mean something here. */
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
