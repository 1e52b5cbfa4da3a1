/**
 * What belongs to the host is host-wide: two state roots (two temporary
 * CUTAWAY_ROOTs) on one host share the default bridge cw0, its address and
 * MAC leases, the host's ports and the nft table ip cw, through the records
 * in the runtime directory — left at its default, $CUTAWAY_RUN or
 * /run/cutaway, so that these tests share the host's records as real roots
 * do (and as other test files running meanwhile do: every name here is this
 * process's own, and nothing shared is checked for being gone while
 * another endpoint may use it). CUTAWAY_RUN points at a temporary
 * directory only where a test means another host: a fresh one, one after a
 * reboot, or records that do not know what the kernel has.
 *
 * Every kernel object is named cw…: endpoints cwh<pid>-n (their
 * namespaces too), networks cwth-<pid>-n. afterEach takes every endpoint
 * down with the runtime directory it was made with (then ip by hand if that
 * failed), removes the networks, and checks that no interface, namespace,
 * record or port element of this file is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { fetchFrom, links, sh } from './host.ts';

/** The host's runtime directory, as netbridge finds it. */
const RUN = process.env.CUTAWAY_RUN || '/run/cutaway';
const third = process.pid % 250;

let work: string;
let rootA: string;
let rootB: string;
let www: string;
let counter = 0;
/** Every endpoint and network a test made, with the environment (root, runtime directory) to take it down with. */
const endpoints = new Map<string, NodeJS.ProcessEnv>();
const networks = new Map<string, NodeJS.ProcessEnv>();
const servers: ChildProcess[] = [];
/** The host ends of this file's veths and its own bridges: gone after each test. */
const made = new Set<string>();
/** This file's host ports (tcp), whose map elements must be gone after each test. */
const ports = new Set<number>();

function nb(env: NodeJS.ProcessEnv, args: string[]): Promise<CommandResult> {
  return runCommand('netbridge', args, { env });
}

const inA = () => ({ CUTAWAY_ROOT: rootA });
const inB = () => ({ CUTAWAY_ROOT: rootB });


function endpointName(env: NodeJS.ProcessEnv): string {
  const name = `cwh${process.pid}-${++counter}`;
  endpoints.set(name, env);
  return name;
}

type UpResult = { name: string; ifname: string; ip: string; netns: string; gateway: string; bridge: string; veth: string; mac: string; ports: { protocol: string; hostPort: number; containerPort: number }[] };

function upResult(out: CommandResult): UpResult {
  expect(out.stderr.replace(/^netbridge: note: net.ipv4.ip_forward.*\n/m, '')).toBe('');
  expect(out.code).toBe(0);
  const result = JSON.parse(out.stdout) as UpResult;
  made.add(result.veth);
  if (result.bridge !== 'cw0') made.add(result.bridge);
  for (const p of result.ports) if (p.protocol === 'tcp') ports.add(p.hostPort);
  return result;
}

async function up(env: NodeJS.ProcessEnv, args: string[]): Promise<UpResult> {
  return upResult(await nb(env, ['up', '--json', ...args]));
}

async function createNetwork(env: NodeJS.ProcessEnv, subnet: string): Promise<string> {
  const name = `cwth-${process.pid}-${++counter}`;
  const out = await nb(env, ['network', 'create', name, '--subnet', subnet]);
  expect(out.stderr).toBe('');
  networks.set(name, env);
  return name;
}

/** A free TCP port of the host, as the kernel hands one out. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', () => resolve()));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function serveIn(netns: string): void {
  servers.push(spawn('ip', ['netns', 'exec', netns, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' }));
}



/** The host's port map, "8080" → "172.30.0.2 . 80" (empty without the table). */
function tcpPorts(): Map<string, string> {
  const out = sh('nft', ['-j', 'list', 'map', 'ip', 'cw', 'tcp-ports']);
  if (out.status !== 0) return new Map();
  const map = (JSON.parse(out.stdout) as { nftables: { map?: { elem?: [number, { concat: [string, number] }][] } }[] }).nftables.find((e) => e.map)?.map;
  return new Map((map?.elem ?? []).map(([port, { concat: [ip, target] }]) => [String(port), `${ip} . ${target}`]));
}

/** A network's record in a runtime directory, as it is on disk (undefined: none). */
function record(run: string, network: string): { endpoints: Record<string, { ip: string; mac: string; root?: string }> } | undefined {
  const path = join(run, 'networks', `${network}.json`);
  return existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cw-hostwide-'));
  chmodSync(work, 0o755);
  rootA = join(work, 'root-a');
  rootB = join(work, 'root-b');
  www = join(work, 'www');
  mkdirSync(www, { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello from root a\n');
});

afterEach(async () => {
  for (const s of servers.splice(0)) s.kill('SIGKILL');
  await Promise.all([...endpoints].map(([name, env]) => nb(env, ['down', name])));
  for (const name of endpoints.keys()) if (existsSync(`/run/netns/${name}`)) sh('ip', ['netns', 'del', name]);
  for (const l of links()) if (made.has(l)) sh('ip', ['link', 'del', l]);
  for (const [name, env] of networks) await nb(env, ['network', 'rm', name]);
  const names = [...endpoints.keys()];
  endpoints.clear();
  networks.clear();
  // Nothing of this file's is left: no interface, namespace, lease in the host's records, or port element.
  expect(links().filter((l) => made.has(l))).toEqual([]);
  made.clear();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(new RegExp(`cwh${process.pid}-`));
  const leased = (existsSync(join(RUN, 'networks')) ? readdirSync(join(RUN, 'networks')) : []).filter((f) => f.endsWith('.json')).flatMap((f) => Object.keys(record(RUN, f.slice(0, -5))?.endpoints ?? {}));
  expect(leased.filter((n) => names.includes(n))).toEqual([]);
  const map = tcpPorts();
  expect([...ports].filter((p) => map.has(String(p)))).toEqual([]);
  ports.clear();
});

afterAll(async () => {
  await removeTree(work);
});

describe('two state roots on one host', () => {
  it('ups from both at once get distinct addresses and MACs on the shared bridge, and reach each other', async () => {
    const names = Array.from({ length: 12 }, (_, i) => endpointName(i % 2 ? inB() : inA()));
    const results = (await Promise.all(names.map((n) => nb(endpoints.get(n)!, ['up', '--json', n])))).map(upResult);
    expect(results.map((r) => r.bridge)).toEqual(names.map(() => 'cw0'));
    expect(new Set(results.map((r) => r.ip)).size).toBe(names.length);
    expect(new Set(results.map((r) => r.mac)).size).toBe(names.length);
    for (const r of results) {
      expect(r.ip).toMatch(/^172\.30\.\d+\.\d+$/);
      expect(r.ip).not.toBe('172.30.0.1');
      // Docker's MAC for the address, and the kernel has both.
      expect(r.mac).toBe(`02:42:${r.ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`);
      expect(sh('ip', ['-n', r.name, '-o', '-4', 'addr', 'show', 'eth0']).stdout).toContain(`inet ${r.ip}/16`);
      expect(sh('ip', ['-n', r.name, '-o', 'link', 'show', 'eth0']).stdout).toContain(`link/ether ${r.mac}`);
    }
    // One record on the host, which names each endpoint's root; none in either root.
    const host = record(RUN, 'bridge')!;
    for (const [i, n] of names.entries()) expect(host.endpoints[n]).toMatchObject({ ip: results[i]!.ip, mac: results[i]!.mac, root: i % 2 ? rootB : rootA });
    expect(existsSync(join(rootA, 'networks'))).toBe(false);
    expect(existsSync(join(rootB, 'networks'))).toBe(false);
    // Each root's netbridge lists the other's endpoints.
    const seen = JSON.parse((await nb(inB(), ['network', 'inspect', 'bridge'])).stdout)[0].Containers as Record<string, { IPv4Address: string }>;
    expect(seen[names[0]!]).toMatchObject({ IPv4Address: `${results[0]!.ip}/16` });
    // A server in root A's namespace answers root B's: no two namespaces share an address on cw0.
    serveIn(names[0]!);
    expect(await fetchFrom(names[1], `http://${results[0]!.ip}/`, 30)).toBe('hello from root a\n');

    const downs = await Promise.all(names.map((n) => nb(endpoints.get(n)!, ['down', n])));
    for (const d of downs) expect(d.code).toBe(0);
    for (const r of results) expect(links()).not.toContain(r.veth);
    for (const n of names) expect(record(RUN, 'bridge')?.endpoints[n]).toBeUndefined();
  });

  it("a host port one root publishes is refused to the other with Docker's line; the first's mapping keeps working and outlives the other's down", async () => {
    const port = await freePort();
    const a = await up(inA(), [endpointName(inA()), '-p', `${port}:80`]);
    serveIn(a.name);
    expect(await fetchFrom(undefined, `http://127.0.0.1:${port}/`, 30)).toBe('hello from root a\n');
    const element = tcpPorts().get(String(port));
    expect(element).toBe(`${a.ip} . 80`);

    // Refused before anything is made: no namespace, veth, lease or element.
    const b = endpointName(inB());
    const before = links().filter((l) => l.startsWith('cwv'));
    const refused = await nb(inB(), ['up', b, '-p', `${port}:80`]);
    expect(refused.stderr).toBe(`netbridge: error: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toBe('');
    expect(existsSync(`/run/netns/${b}`)).toBe(false);
    expect(record(RUN, 'bridge')?.endpoints[b]).toBeUndefined();
    expect(links().filter((l) => l.startsWith('cwv') && !before.includes(l) && made.has(l))).toEqual([]);
    expect(tcpPorts().get(String(port))).toBe(element);
    // The same from a third endpoint of root A's own, and for one port of several.
    const again = await nb(inA(), ['up', endpointName(inA()), '-p', `${await freePort()}:81`, '-p', `${port}:8080`]);
    expect(again.stderr).toBe(`netbridge: error: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
    expect(again.code).toBe(1);

    // Root B publishes another port and the same port over udp (another map, as Docker allows), then goes down.
    const other = await freePort();
    const b2 = await up(inB(), [endpointName(inB()), '-p', `${other}:80`, '-p', `${port}:53/udp`]);
    expect(b2.ports).toEqual([{ protocol: 'tcp', hostPort: other, containerPort: 80 }, { protocol: 'udp', hostPort: port, containerPort: 53 }]);
    expect((await nb(inB(), ['down', b2.name])).code).toBe(0);
    expect(tcpPorts().has(String(other))).toBe(false);
    // Root A's mapping stayed, and answers at 127.0.0.1 and at the bridge's address.
    expect(tcpPorts().get(String(port))).toBe(element);
    expect(await fetchFrom(undefined, `http://127.0.0.1:${port}/`, 30)).toBe('hello from root a\n');
    expect(await fetchFrom(undefined, `http://172.30.0.1:${port}/`, 30)).toBe('hello from root a\n');
    // The refused name has nothing to take down.
    expect((await nb(inB(), ['down', b])).stderr).toMatch(/^netbridge: error: no endpoint named/);
  });

  it("records that do not know (another runtime directory on this kernel): the kernel's port map still refuses, and down removes only its own elements", async () => {
    const port = await freePort();
    const net = await createNetwork(inA(), `10.204.${third}.0/24`);
    const a = await up(inA(), [endpointName(inA()), '--network', net, '-p', `${port}:80`]);
    serveIn(a.name);
    expect(await fetchFrom(undefined, `http://127.0.0.1:${port}/`, 30)).toBe('hello from root a\n');

    // Another host's records, on this kernel: a network of its own, which knows nothing of root A's endpoint.
    const otherRun = join(work, 'other-host-run');
    const elsewhere = { CUTAWAY_ROOT: rootB, CUTAWAY_RUN: otherRun };
    const otherNet = await createNetwork(elsewhere, `10.205.${third}.0/24`);
    const refused = await nb(elsewhere, ['up', endpointName(elsewhere), '--network', otherNet, '-p', `${port}:80`]);
    expect(refused.stderr).toBe(`netbridge: error: Bind for 0.0.0.0:${port} failed: port is already allocated\n`);
    expect(refused.code).toBe(1);

    // A stale record there that claims the port (as a run killed long ago, or an older netbridge, left one):
    // taking it down leaves root A's element alone, as nft would not (it deletes a map element by its key).
    const stale = endpointName(elsewhere);
    const file = join(otherRun, 'networks', `${otherNet}.json`);
    const otherRecord = JSON.parse(readFileSync(file, 'utf8'));
    otherRecord.endpoints[stale] = { name: stale, ifname: 'eth0', ip: `10.205.${third}.2`, mac: '02:42:0a:cd:00:02', netns: `/run/netns/${stale}`, madeNetns: true, veth: 'cwv000000000000', ports: [{ protocol: 'tcp', hostPort: port, containerPort: 80 }] };
    writeFileSync(file, JSON.stringify(otherRecord));
    const down = await nb(elsewhere, ['down', stale]);
    expect(down.stderr).toBe('');
    expect(down.code).toBe(0);
    expect(tcpPorts().get(String(port))).toBe(`${a.ip} . 80`);
    expect(await fetchFrom(undefined, `http://127.0.0.1:${port}/`, 30)).toBe('hello from root a\n');
    // The host's own records were never touched by the other directory's netbridge.
    expect(record(RUN, otherNet)).toBeUndefined();
    expect(Object.keys(record(RUN, net)!.endpoints)).toEqual([a.name]);
  });
});

describe('the runtime directory', () => {
  it('a fresh host: CUTAWAY_RUN is made (0755, root\'s) with the records in it, and nothing in the state root', async () => {
    const fresh = join(work, 'fresh', 'run');
    const env = { CUTAWAY_ROOT: rootA, CUTAWAY_RUN: fresh };
    const net = await createNetwork(env, `10.206.${third}.0/24`);
    for (const dir of [fresh, join(fresh, 'networks')]) {
      const st = statSync(dir);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o755);
      expect(st.uid).toBe(0);
    }
    expect(record(fresh, net)).toMatchObject({ endpoints: {} });
    expect(JSON.parse(readFileSync(join(fresh, 'networks', `${net}.json`), 'utf8')).root).toBe(rootA);
    expect(existsSync(join(rootA, 'networks'))).toBe(false);
    // Another root sees it (and may not create it again), as on one host.
    expect((await nb({ CUTAWAY_ROOT: rootB, CUTAWAY_RUN: fresh }, ['network', 'create', net])).stderr).toBe(`netbridge: error: network with name ${net} already exists\n`);
    const ls = JSON.parse((await nb({ CUTAWAY_ROOT: rootB, CUTAWAY_RUN: fresh }, ['network', 'ls', '--json'])).stdout) as { Name: string; Root?: string }[];
    expect(ls.find((n) => n.Name === net)).toMatchObject({ Root: rootA });
  });

  it('after a reboot the leases and ports of the old boot are dropped, and the networks stay', async () => {
    const rebooted = join(work, 'rebooted-run');
    const env = { CUTAWAY_ROOT: rootA, CUTAWAY_RUN: rebooted };
    const net = await createNetwork(env, `10.207.${third}.0/24`);
    const file = join(rebooted, 'networks', `${net}.json`);
    const kept = JSON.parse(readFileSync(file, 'utf8'));
    kept.endpoints[`cwh${process.pid}-gone`] = { name: `cwh${process.pid}-gone`, ifname: 'eth0', ip: `10.207.${third}.2`, mac: '02:42:0a:cf:00:02', netns: '/run/netns/cwhgone', madeNetns: true, veth: 'cwv000000000001', ports: [{ protocol: 'tcp', hostPort: 1, containerPort: 80 }] };
    writeFileSync(file, JSON.stringify(kept));
    writeFileSync(join(rebooted, 'networks', 'bridge.json'), JSON.stringify({ name: 'bridge', id: 'x', bridge: 'cw0', subnet: '172.30.0.0/16', gateway: '172.30.0.1', created: '', endpoints: { [`cwh${process.pid}-gone2`]: kept.endpoints[`cwh${process.pid}-gone`] } }));
    writeFileSync(join(rebooted, 'networks', '.host'), JSON.stringify({ boot: '00000000-0000-0000-0000-000000000000' }));
    const ls = JSON.parse((await nb(env, ['network', 'ls', '--json'])).stdout) as { Name: string; Containers: object }[];
    expect(ls.find((n) => n.Name === net)).toMatchObject({ Containers: {} });
    expect(ls.find((n) => n.Name === 'bridge')).toMatchObject({ Containers: {} });
    expect(existsSync(join(rebooted, 'networks', 'bridge.json'))).toBe(false);
    expect(JSON.parse(readFileSync(join(rebooted, 'networks', '.host'), 'utf8')).boot).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  });

  it("an older netbridge's records in ROOT/networks are moved to the host's once: new networks as they are, known ones merged, a clash left with a warning", async () => {
    const host = join(work, 'migrated-run');
    const root = join(work, 'old-root');
    const env = { CUTAWAY_ROOT: root, CUTAWAY_RUN: host };
    const clash = await createNetwork({ CUTAWAY_ROOT: rootA, CUTAWAY_RUN: host }, `10.208.${third}.0/24`);
    const legacy = join(root, 'networks');
    mkdirSync(legacy, { recursive: true });
    const old = `cwth-${process.pid}-old`;
    networks.set(old, env);
    const endpoint = (name: string, ip: string) => ({ name, ifname: 'eth0', ip, mac: '02:42:00:00:00:00', netns: `/run/netns/${name}`, madeNetns: true, veth: 'cwv000000000002', ports: [] });
    const moved = `cwh${process.pid}-old1`;
    writeFileSync(join(legacy, `${old}.json`), JSON.stringify({ name: old, id: 'a'.repeat(64), bridge: 'cw-aaaaaaaaaaaa', subnet: `10.212.${third}.0/24`, gateway: `10.212.${third}.1`, created: '', endpoints: { [moved]: endpoint(moved, `10.212.${third}.2`) } }));
    writeFileSync(join(legacy, `${clash}.json`), JSON.stringify({ name: clash, id: 'b'.repeat(64), bridge: 'cw-bbbbbbbbbbbb', subnet: `10.213.${third}.0/24`, gateway: `10.213.${third}.1`, created: '', endpoints: {} }));
    writeFileSync(join(legacy, '.lock'), '');
    // The default network: its id is fixed, so an old root's bridge.json is the host's, and its endpoints join.
    const defaultId = createHash('sha256').update('cutaway network bridge').digest('hex');
    const oldDefault = `cwh${process.pid}-old0`;
    writeFileSync(join(legacy, 'bridge.json'), JSON.stringify({ name: 'bridge', id: defaultId, bridge: 'cw0', subnet: '172.30.0.0/16', gateway: '172.30.0.1', created: '', endpoints: { [oldDefault]: endpoint(oldDefault, '172.30.0.9') } }));

    const ls = await nb(env, ['network', 'ls', '--json']);
    expect(ls.stderr).toBe(`netbridge: warning: ${join(legacy, `${clash}.json`)}: not moved to ${join(host, 'networks')}: the host has another network named ${clash} (10.208.${third}.0/24); left as ${clash}.json.unmigrated\n`);
    expect(ls.code).toBe(0);
    const listed = JSON.parse(ls.stdout) as { Name: string; Id: string; Root?: string; Containers: Record<string, { Root?: string; IPv4Address: string }> }[];
    expect(listed.find((n) => n.Name === old)).toMatchObject({ Id: 'a'.repeat(64), Root: root, Containers: { [moved]: { Root: root, IPv4Address: `10.212.${third}.2/24` } } });
    expect(listed.find((n) => n.Name === clash)!.Id).not.toBe('b'.repeat(64));
    expect(listed.find((n) => n.Name === 'bridge')!.Containers[oldDefault]).toMatchObject({ Root: root, IPv4Address: '172.30.0.9/16' });
    expect(readdirSync(legacy)).toEqual([`${clash}.json.unmigrated`]);
    // Once: the next run finds nothing more to move, and says nothing.
    expect((await nb(env, ['network', 'ls'])).stderr).toBe('');
    // The next lease skips the moved one's address; --dry-run shows it and makes nothing.
    expect((await nb(env, ['--dry-run', 'up', `cwh${process.pid}-dry`])).stdout).toContain(' addr add 172.30.0.2/16 dev eth0');
    expect((await nb(env, ['--dry-run', 'up', `cwh${process.pid}-dry`, '--ip', '172.30.0.9'])).stderr).toBe('netbridge: error: address 172.30.0.9 is already leased on bridge\n');
    // A moved endpoint is taken down as any other (nothing of it is in the kernel: each step finds it gone).
    expect((await nb(env, ['down', moved])).code).toBe(0);
    expect(Object.keys(record(host, old)!.endpoints)).toEqual([]);
  });
});

describe('special-purpose subnets', () => {
  async function refused(args: string[], message: string, code: number): Promise<void> {
    const out = await nb(inA(), args);
    // A usage error points at --help on a second line.
    expect(out.stderr).toBe(`netbridge: error: ${message}\n${code === 2 ? "Try 'netbridge --help' for more information.\n" : ''}`);
    expect(out.code).toBe(code);
    expect(out.stdout).toBe('');
  }
  const hint = ' (hint: pick a private range: 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)';

  it('loopback, multicast, reserved, "this network", link-local and the limited broadcast are refused (exit 1), nothing recorded', async () => {
    const name = `cwth-${process.pid}-special`;
    const cases: [string, string][] = [
      ['127.0.0.0/8', "127.0.0.0/8, loopback (RFC 1122): its addresses never leave a host's lo"],
      ['127.5.0.0/16', "127.0.0.0/8, loopback (RFC 1122): its addresses never leave a host's lo"],
      ['224.0.0.0/24', '224.0.0.0/4, multicast (RFC 5771): its addresses name groups, not hosts'],
      ['239.255.0.0/16', '224.0.0.0/4, multicast (RFC 5771): its addresses name groups, not hosts'],
      ['240.0.0.0/8', '240.0.0.0/4, reserved (RFC 1112): hosts and routers do not use it'],
      ['255.255.255.248/29', '255.255.255.255, the limited broadcast address (RFC 919)'],
      ['0.0.0.0/8', '0.0.0.0/8, "this network" (RFC 1122): no host is addressed there'],
      ['169.254.0.0/16', '169.254.0.0/16, link-local (RFC 3927): its addresses are never routed'],
      ['169.254.7.0/24', '169.254.0.0/16, link-local (RFC 3927): its addresses are never routed'],
      ['169.0.0.0/8', '169.254.0.0/16, link-local (RFC 3927): its addresses are never routed'],
    ];
    for (const [subnet, why] of cases) await refused(['network', 'create', name, '--subnet', subnet], `subnet ${subnet} overlaps ${why}${hint}`, 1);
    expect(existsSync(join(RUN, 'networks', `${name}.json`))).toBe(false);
    // Malformed is a usage error (exit 2), as before.
    await refused(['network', 'create', name, '--subnet', '127.0.0.1/8'], 'invalid subnet 127.0.0.1/8: it has host bits set; the network is 127.0.0.0/8', 2);
    await refused(['network', 'create', name, '--subnet', '224.0.0.0'], 'invalid subnet "224.0.0.0": expected an IPv4 CIDR such as 172.30.0.0/16', 2);
    // Special-purpose ranges whose addresses name hosts are fine (198.18.0.0/15: for benchmarks, RFC 2544).
    const ok = await createNetwork(inA(), `198.18.${third}.0/24`);
    expect(JSON.parse((await nb(inA(), ['network', 'inspect', ok])).stdout)[0].IPAM.Config[0].Subnet).toBe(`198.18.${third}.0/24`);
  });

  it('a gateway or --ip that is no usable host of the subnet is refused (exit 1), a malformed one is a usage error (exit 2)', async () => {
    const name = `cwth-${process.pid}-gw`;
    const subnet = `10.211.${third}.0/24`;
    await refused(['network', 'create', name, '--subnet', subnet, '--gateway', `10.211.${third}.0`], `gateway 10.211.${third}.0 is not a host address of ${subnet}`, 1);
    await refused(['network', 'create', name, '--subnet', subnet, '--gateway', `10.211.${third}.255`], `gateway 10.211.${third}.255 is not a host address of ${subnet}`, 1);
    await refused(['network', 'create', name, '--subnet', subnet, '--gateway', '127.0.0.1'], `gateway 127.0.0.1 is not a host address of ${subnet}`, 1);
    await refused(['network', 'create', name, '--subnet', subnet, '--gateway', '10.211.1'], 'invalid gateway "10.211.1"', 2);
    const net = await createNetwork(inA(), subnet);
    const ep = endpointName(inA());
    await refused(['up', ep, '--network', net, '--ip', `10.211.${third}.0`], `address 10.211.${third}.0 is not a host address of ${net}'s subnet ${subnet}`, 1);
    await refused(['up', ep, '--network', net, '--ip', `10.211.${third}.255`], `address 10.211.${third}.255 is not a host address of ${net}'s subnet ${subnet}`, 1);
    await refused(['up', ep, '--network', net, '--ip', '224.0.0.1'], `address 224.0.0.1 is not a host address of ${net}'s subnet ${subnet}`, 1);
    await refused(['up', ep, '--network', net, '--ip', '10.211.x.2'], 'invalid address "10.211.x.2"', 2);
    expect(existsSync(`/run/netns/${ep}`)).toBe(false);
  });
});
