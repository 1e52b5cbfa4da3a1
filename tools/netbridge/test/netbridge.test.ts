/**
 * netbridge on this machine's kernel: real bridges, veth pairs, network
 * namespaces and nft rules, traffic between them checked with busybox's
 * httpd and wget. The "outside" network that NAT is tested against is one
 * more namespace, joined to the host by a veth pair of the test's own.
 *
 * Every kernel object is named cw…: endpoints cwt<pid>-n (their namespaces
 * too), networks cwtest-<pid>-n with bridges cw-<id>, the outside namespace
 * cwtout-<pid> and its veth cwto<pid>. afterEach takes every endpoint down
 * (netbridge down, then ip by hand if that failed), removes the test's
 * networks and checks that no interface, namespace, route or nft table of
 * the test is left.
 *
 * The records are the host's ($CUTAWAY_RUN, default /run/cutaway), shared
 * with every other root and test file that runs meanwhile: the default
 * network's bridge cw0 and its low addresses may be another's, and are
 * checked for being gone only when no other endpoint is on it.
 * hostwide.test.ts has the tests of two state roots on one host.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { fetchFrom, links, sh } from './host.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';

/** The host's runtime directory, where netbridge keeps its records. */
const RUN = process.env.CUTAWAY_RUN || '/run/cutaway';

let work: string;
let root: string;
let www: string;
let busybox: string;
let counter = 0;
const endpoints = new Set<string>();
const networks = new Set<string>();
const servers: ChildProcess[] = [];
/** The interfaces `up` made (bridges and host ends of veths), to check they are gone afterwards. */
const made = new Set<string>();
const bridgesMade = new Set<string>();

function nb(args: string[]): Promise<CommandResult> {
  return runCommand('netbridge', args, { env: { CUTAWAY_ROOT: root } });
}


function endpointName(): string {
  const name = `cwt${process.pid}-${++counter}`;
  endpoints.add(name);
  return name;
}

/** A network of the test's own, on a /24 of 10.201.0.0/16 that no other test uses. */
async function testNetwork(): Promise<{ name: string; subnet: string; gateway: string }> {
  const name = `cwtest-${process.pid}-${++counter}`;
  const third = (process.pid + counter) % 250;
  const subnet = `10.201.${third}.0/24`;
  const made = await nb(['network', 'create', name, '--subnet', subnet]);
  expect(made.stderr).toBe('');
  networks.add(name);
  return { name, subnet, gateway: `10.201.${third}.1` };
}

type UpResult = { name: string; ifname: string; ip: string; netns: string; gateway: string; bridge: string; veth: string; mac: string; ports: unknown[] };

async function up(args: string[]): Promise<UpResult> {
  const out = await nb(['up', '--json', ...args]);
  expect(out.stderr.replace(/^netbridge: note: net.ipv4.ip_forward.*\n/m, '')).toBe('');
  expect(out.code).toBe(0);
  const result = JSON.parse(out.stdout) as UpResult;
  made.add(result.veth).add(result.bridge);
  bridgesMade.add(result.bridge);
  return result;
}

/** The default network's endpoints on the host (any root's, any test's). */
function defaultEndpoints(): string[] {
  const path = join(RUN, 'networks', 'bridge.json');
  return existsSync(path) ? Object.keys(JSON.parse(readFileSync(path, 'utf8')).endpoints) : [];
}

/** busybox httpd in a namespace, serving `www` (and its cgi-bin) on port 80. */
function serveIn(netns: string): void {
  const server = spawn('ip', ['netns', 'exec', netns, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
  servers.push(server);
}



beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-netbridge-'));
  chmodSync(work, 0o755);
  root = join(work, 'root');
  www = join(work, 'www');
  mkdirSync(join(www, 'cgi-bin'), { recursive: true });
  writeFileSync(join(www, 'index.html'), 'hello from the bridge\n');
  // A CGI that answers with the client's address: what NAT made of the source.
  // httpd listens on IPv6 too and writes an IPv4 client as [::ffff:A.B.C.D]: the CGI prints A.B.C.D.
  writeFileSync(join(www, 'cgi-bin', 'addr'), '#!/bin/busybox sh\necho "Content-Type: text/plain"\necho\necho "$REMOTE_ADDR" | sed "s/^\\[::ffff://; s/\\]$//"\n');
  chmodSync(join(www, 'cgi-bin', 'addr'), 0o755);
  busybox = await busyboxRootfs(work);
});

afterEach(async () => {
  for (const s of servers.splice(0)) s.kill('SIGKILL');
  for (const name of endpoints) {
    await nb(['down', name]);
    if (existsSync(`/run/netns/${name}`)) sh('ip', ['netns', 'del', name]);
  }
  endpoints.clear();
  for (const name of networks) await nb(['network', 'rm', name]);
  networks.clear();
  // Other test files may use netbridge at the same time: only what this one made is checked, and the shared
  // default bridge only while no other endpoint is on it.
  if (defaultEndpoints().length) {
    made.delete('cw0');
    bridgesMade.delete('cw0');
  }
  const left = links().filter((l) => made.has(l));
  expect(left).toEqual([]);
  made.clear();
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(new RegExp(`cwt${process.pid}-`));
  const table = sh('nft', ['list', 'set', 'ip', 'cw', 'bridges']).stdout;
  for (const b of bridgesMade) expect(table).not.toContain(`"${b}"`);
});

afterAll(async () => {
  await removeTree(work);
});

describe('endpoints on a bridge', () => {
  it('gives each endpoint eth0 with an address, lo up and a default route; two endpoints talk over TCP; each reaches its gateway', async () => {
    const net = await testNetwork();
    const a = await up([endpointName(), '--network', net.name]);
    const b = await up([endpointName(), '--network', net.name]);
    expect(a.netns).toBe(`/run/netns/${a.name}`);
    expect(a.ip).toBe(net.gateway.replace(/\.1$/, '.2'));
    expect(b.ip).toBe(net.gateway.replace(/\.1$/, '.3'));
    expect(a.mac).toMatch(/^02:42:0a:c9:[0-9a-f]{2}:02$/);
    const inside = sh('ip', ['-n', a.name, '-o', 'addr', 'show']).stdout;
    expect(inside).toMatch(new RegExp(`eth0\\s+inet ${a.ip.replace(/\./g, '\\.')}/24`));
    expect(inside).toMatch(/lo\s+inet 127\.0\.0\.1\/8/);
    expect(sh('ip', ['-n', a.name, 'route']).stdout).toContain(`default via ${net.gateway} dev eth0`);
    serveIn(a.name);
    expect(await fetchFrom(b.name, `http://${a.ip}/`, 20)).toBe('hello from the bridge\n');
    // The gateway is the host's side of the bridge: a server on the host answers there.
    const server = await listenOnHost(net.gateway);
    try {
      expect(await fetchFrom(a.name, `http://${net.gateway}:${(server.address() as { port: number }).port}/`, 20)).toBe('host\n');
    } finally {
      server.close();
    }
  });

  it('publishes ports: HOST:CTR answers at 127.0.0.1 and at the bridge address', async () => {
    const net = await testNetwork();
    const hostPort = 20000 + (process.pid % 10000);
    const a = await up([endpointName(), '--network', net.name, '-p', `${hostPort}:80`]);
    expect(a.ports).toEqual([{ protocol: 'tcp', hostPort, containerPort: 80 }]);
    serveIn(a.name);
    expect(await fetchFrom(undefined, `http://127.0.0.1:${hostPort}/`, 20)).toBe('hello from the bridge\n');
    expect(await fetchFrom(undefined, `http://${net.gateway}:${hostPort}/`, 20)).toBe('hello from the bridge\n');
    // The container sees a request from 127.0.0.1 come from the bridge (masqueraded), so it can answer it.
    expect(await fetchFrom(undefined, `http://127.0.0.1:${hostPort}/cgi-bin/addr`, 20)).toBe(`${net.gateway}\n`);
  });

  it('NATs traffic out: a host on another network sees it come from the host address', async () => {
    const net = await testNetwork();
    const a = await up([endpointName(), '--network', net.name]);
    // The outside network: a namespace behind a veth pair of the test's own, 10.202.x.0/24.
    const outside = `cwtout-${process.pid}`;
    const hostEnd = `cwto${process.pid}`.slice(0, 15);
    const third = process.pid % 250;
    const hostAddr = `10.202.${third}.1`;
    const outsideAddr = `10.202.${third}.2`;
    try {
      expect(sh('ip', ['netns', 'add', outside]).status).toBe(0);
      for (const cmd of [
        ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside],
        ['addr', 'add', `${hostAddr}/24`, 'dev', hostEnd],
        ['link', 'set', hostEnd, 'up'],
        ['-n', outside, 'addr', 'add', `${outsideAddr}/24`, 'dev', 'eth0'],
        ['-n', outside, 'link', 'set', 'eth0', 'up'],
        ['-n', outside, 'link', 'set', 'lo', 'up'],
      ]) expect(sh('ip', cmd).stderr).toBe('');
      // Replies arrive on the test's veth and are forwarded back to the bridge: forwarding on that one interface only.
      writeFileSync(`/proc/sys/net/ipv4/conf/${hostEnd}/forwarding`, '1');
      serveIn(outside);
      expect(await fetchFrom(a.name, `http://${outsideAddr}/cgi-bin/addr`, 20)).toBe(`${hostAddr}\n`);
    } finally {
      servers.splice(0).forEach((s) => s.kill('SIGKILL'));
      sh('ip', ['link', 'del', hostEnd]);
      sh('ip', ['netns', 'del', outside]);
    }
  });

  it('configures an existing namespace with --netns or --pid, and down leaves that namespace', async () => {
    const name = endpointName();
    expect(sh('ip', ['netns', 'add', name]).status).toBe(0);
    const existing = `cwt${process.pid}-existing`;
    const a = await up([existing, '--netns', `/run/netns/${name}`]);
    endpoints.add(existing);
    expect(a.netns).toBe(`/run/netns/${name}`);
    expect(sh('ip', ['-n', name, '-o', 'addr', 'show', 'eth0']).stdout).toContain(a.ip);
    expect((await nb(['down', existing])).code).toBe(0);
    expect(existsSync(`/run/netns/${name}`)).toBe(true);
    expect(sh('ip', ['-n', name, 'link', 'show', 'eth0']).status).not.toBe(0);
    sh('ip', ['netns', 'del', name]);

    const sleeper = spawn('unshare', ['--net', 'sleep', '30'], { stdio: 'ignore' });
    servers.push(sleeper);
    while (readFileSync(`/proc/${sleeper.pid}/cmdline`, 'utf8').startsWith('unshare')) await new Promise((r) => setTimeout(r, 10));
    const byPidName = `cwt${process.pid}-pid`;
    const byPid = await up([byPidName, '--pid', String(sleeper.pid)]);
    endpoints.add(byPidName);
    expect(byPid.netns).toBe(`/proc/${sleeper.pid}/ns/net`);
    expect(sh('nsenter', [`--net=/proc/${sleeper.pid}/ns/net`, 'ip', '-o', 'addr', 'show', 'eth0']).stdout).toContain(byPid.ip);
  });

  it('down leaves no interface, namespace, rule, route or lease behind', async () => {
    const net = await testNetwork();
    const a = await up([endpointName(), '--network', net.name, '-p', `${21000 + (process.pid % 10000)}:80`]);
    expect(links()).toEqual(expect.arrayContaining([a.bridge, a.veth]));
    expect(sh('nft', ['list', 'map', 'ip', 'cw', 'tcp-ports']).stdout).toContain(`: ${a.ip} . 80`);
    const down = await nb(['down', a.name]);
    expect(down.code).toBe(0);
    endpoints.delete(a.name);
    expect(links()).not.toContain(a.veth);
    expect(links()).not.toContain(a.bridge);
    expect(existsSync(a.netns)).toBe(false);
    expect(sh('ip', ['route']).stdout).not.toContain(net.subnet);
    expect(sh('nft', ['list', 'set', 'ip', 'cw', 'bridges']).stdout).not.toContain(`"${a.bridge}"`);
    const inspect = JSON.parse((await nb(['network', 'inspect', net.name])).stdout);
    expect(inspect[0].Containers).toEqual({});
    expect((await nb(['down', a.name])).stderr).toMatch(/^netbridge: error: no endpoint named/);
  });

  it('takes the address asked for with --ip, and refuses one leased already or outside the subnet', async () => {
    const net = await testNetwork();
    const wanted = net.gateway.replace(/\.1$/, '.77');
    const a = await up([endpointName(), '--network', net.name, '--ip', wanted]);
    expect(a.ip).toBe(wanted);
    expect(sh('ip', ['-n', a.name, '-o', '-4', 'addr', 'show', 'eth0']).stdout).toContain(`${wanted}/24`);
    const taken = await nb(['up', endpointName(), '--network', net.name, '--ip', wanted]);
    expect(taken.stderr).toMatch(new RegExp(`^netbridge: error: address ${wanted.replace(/\./g, '\\.')} is already leased on ${net.name}$`, 'm'));
    const outside = await nb(['up', endpointName(), '--network', net.name, '--ip', '192.0.2.200']);
    expect(outside.stderr).toMatch(/is not a host address of/);
    const gateway = await nb(['up', endpointName(), '--network', net.name, '--ip', net.gateway]);
    expect(gateway.stderr).toMatch(/is .*'s gateway/);
  });

  it('gives twenty concurrent ups twenty distinct addresses', async () => {
    const net = await testNetwork();
    const names = Array.from({ length: 20 }, () => endpointName());
    const results = await Promise.all(names.map((n) => nb(['up', '--json', n, '--network', net.name])));
    for (const r of results) expect(r.code).toBe(0);
    const ips = results.map((r) => JSON.parse(r.stdout).ip as string);
    expect(new Set(ips).size).toBe(20);
    const downs = await Promise.all(names.map((n) => nb(['down', n])));
    for (const d of downs) expect(d.code).toBe(0);
    names.forEach((n) => endpoints.delete(n));
  });

  it('the default network exists without being created, and its bridge goes with its last endpoint', async () => {
    const ls = await nb(['network', 'ls']);
    expect(ls.stdout).toMatch(/^\S+\s+bridge\s+bridge\s+local\s+172\.30\.0\.0\/16\s+\d+$/m);
    const a = await up([endpointName()]);
    expect(a.bridge).toBe('cw0');
    // The lowest free address: .2 unless another endpoint on the host has it.
    expect(a.ip).toMatch(/^172\.30\.\d+\.\d+$/);
    expect(a.ip).not.toBe('172.30.0.1');
    expect(defaultEndpoints()).toContain(a.name);
    expect((await nb(['network', 'rm', 'bridge'])).stderr).toMatch(/bridge is a pre-defined network and cannot be removed/);
  });

  it('ns-exec --netns runs a container that reaches a server on the bridge', async () => {
    const net = await testNetwork();
    const server = await up([endpointName(), '--network', net.name]);
    const client = await up([endpointName(), '--network', net.name]);
    serveIn(server.name);
    await fetchFrom(client.name, `http://${server.ip}/`, 20);
    const out = await runCommand('ns-exec', ['--netns', client.netns, '--rootfs', busybox, '--', 'wget', '-q', '-O', '-', `http://${server.ip}/`]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('hello from the bridge\n');
  });
});

async function listenOnHost(address: string): Promise<Server> {
  const server = createServer((socket) => socket.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhost\n'));
  await new Promise<void>((resolve) => server.listen(0, address, () => resolve()));
  return server;
}

describe('one namespace on several networks (docker network connect)', () => {
  it('up NAME on a second network adds eth1 to the same namespace, without a second default route; down --network takes only it', async () => {
    const [one, two] = [await testNetwork(), await testNetwork()];
    const name = endpointName();
    const first = await up([name, '--network', one.name]);
    const second = await up([name, '--network', two.name]);
    expect(first.ifname).toBe('eth0');
    expect(second).toMatchObject({ ifname: 'eth1', netns: first.netns, ip: two.gateway.replace(/\.1$/, '.2') });
    expect(sh('ip', ['-n', name, '-o', '-4', 'addr', 'show', 'eth1']).stdout).toContain(`inet ${second.ip}/24`);
    expect(sh('ip', ['-n', name, 'route', 'show', 'default']).stdout.trim()).toBe(`default via ${one.gateway} dev eth0`);
    // Through eth1: a server that is only on the second network.
    const server = await up([endpointName(), '--network', two.name]);
    serveIn(server.name);
    expect(await fetchFrom(name, `http://${server.ip}/`, 20)).toBe('hello from the bridge\n');
    const inspect = JSON.parse((await nb(['network', 'inspect', two.name])).stdout);
    expect(inspect[0].Containers[name]).toMatchObject({ Interface: 'eth1', IPv4Address: `${second.ip}/24` });

    expect((await nb(['down', name, '--network', two.name])).code).toBe(0);
    expect(sh('ip', ['-n', name, 'link', 'show', 'eth1']).status).not.toBe(0);
    expect(sh('ip', ['-n', name, '-o', '-4', 'addr', 'show', 'eth0']).stdout).toContain(first.ip);
    expect(links()).not.toContain(second.veth);
    // The namespace up made outlives its first interface while another is in it.
    await up([name, '--network', two.name]);
    expect((await nb(['down', name, '--network', one.name])).code).toBe(0);
    expect(existsSync(first.netns)).toBe(true);
    expect(sh('ip', ['-n', name, '-o', '-4', 'addr', 'show', 'eth1']).stdout).toContain(second.ip);
    expect((await nb(['down', name])).code).toBe(0);
    expect(existsSync(first.netns)).toBe(false);
    expect(JSON.parse((await nb(['network', 'inspect', one.name, two.name])).stdout).map((n: { Containers: object }) => Object.keys(n.Containers))).toEqual([[], [server.name]]);
  });

  it('--pid joins the namespace the name lives in; another namespace, the same network twice, a bad --ifname are refused', async () => {
    const [one, two] = [await testNetwork(), await testNetwork()];
    const name = endpointName();
    const first = await up([name, '--network', one.name]);
    // A process in the endpoint's namespace: --pid names the same namespace by another path.
    const inside = spawn('ip', ['netns', 'exec', name, 'sleep', '30'], { stdio: 'ignore' });
    servers.push(inside);
    while (readFileSync(`/proc/${inside.pid}/cmdline`, 'utf8').startsWith('ip')) await new Promise((r) => setTimeout(r, 10));
    const second = await up([name, '--network', two.name, '--pid', String(inside.pid), '--ifname', 'net1']);
    expect(second).toMatchObject({ ifname: 'net1', netns: `/proc/${inside.pid}/ns/net` });
    expect(sh('ip', ['-n', name, '-o', '-4', 'addr', 'show', 'net1']).stdout).toContain(second.ip);
    // The first interface goes first: the namespace up made stays, and goes with the last one, whose --pid is gone by then.
    expect((await nb(['down', name, '--network', one.name])).code).toBe(0);
    expect(existsSync(first.netns)).toBe(true);
    inside.kill('SIGKILL');
    await new Promise((r) => inside.once('exit', r));
    expect((await nb(['down', name])).code).toBe(0);
    expect(existsSync(first.netns)).toBe(false);

    const other = endpointName();
    await up([other, '--network', one.name]);
    const outside = spawn('unshare', ['--net', 'sleep', '30'], { stdio: 'ignore' });
    servers.push(outside);
    while (readFileSync(`/proc/${outside.pid}/cmdline`, 'utf8').startsWith('unshare')) await new Promise((r) => setTimeout(r, 10));
    const refusals: [string[], RegExp, number][] = [
      [['up', other, '--network', two.name, '--pid', String(outside.pid)], new RegExp(`^netbridge: error: endpoint ${other} lives in the network namespace /run/netns/${other}, and /proc/${outside.pid}/ns/net is another one$`, 'm'), 1],
      [['up', other, '--network', one.name], new RegExp(`^netbridge: error: endpoint ${other} already exists on network ${one.name} \\(hint: `, 'm'), 1],
      [['up', other, '--network', two.name, '--ifname', 'eth0'], new RegExp(`^netbridge: error: endpoint ${other} has an eth0 already$`, 'm'), 1],
      [['up', other, '--network', two.name, '--ifname', 'a/b'], /^netbridge: error: invalid interface name "a\/b"/m, 2],
      [['down', other, '--network', two.name], new RegExp(`^netbridge: error: no endpoint named ${other} on network ${two.name} \\(hint: `, 'm'), 1],
    ];
    // What a refusal could have made: an interface in either network's bridge or the namespaces, a lease.
    const state = async () => {
      const records = JSON.parse((await nb(['network', 'inspect', one.name, two.name])).stdout) as { Options: Record<string, string> }[];
      const bridges = records.map((r) => r.Options['com.docker.network.bridge.name']!);
      const names = (text: string) => text.split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter(Boolean);
      const inside = [`/run/netns/${other}`, `/proc/${outside.pid}/ns/net`].map((ns) => sh('nsenter', [`--net=${ns}`, 'ip', '-o', '-4', 'addr']).stdout);
      return { records, ports: bridges.map((b) => names(sh('ip', ['-o', 'link', 'show', 'master', b]).stdout)), inside };
    };
    for (const [args, message, code] of refusals) {
      const before = await state();
      const out = await nb(args);
      expect(out.stderr).toMatch(message);
      expect(out.code).toBe(code);
      expect(await state()).toEqual(before);
    }
  });

  it('network create without --subnet takes the first free subnet of Docker\'s default pools', async () => {
    const name = `cwtest-${process.pid}-${++counter}`;
    const made = await nb(['network', 'create', '--json', name]);
    expect(made.code).toBe(0);
    networks.add(name);
    const subnet = JSON.parse(made.stdout).IPAM.Config[0].Subnet as string;
    expect(subnet).toMatch(/^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);
    // Not one the host routes, nor the default network's 172.30.0.0/16.
    expect(subnet).not.toBe('172.30.0.0/16');
    expect(sh('ip', ['-4', 'route', 'show', 'match', subnet]).stdout).not.toContain(subnet.split('/')[0]);
    expect((await nb(['network', 'create', name, '--gateway', '10.0.0.1'])).stderr).toMatch(/--gateway needs --subnet/);
  });
});

describe('networks', () => {
  it('create, ls, inspect; rm is refused while an endpoint uses the network', async () => {
    const net = await testNetwork();
    const inspect = JSON.parse((await nb(['network', 'inspect', net.name])).stdout);
    expect(inspect[0]).toMatchObject({ Name: net.name, Driver: 'bridge', IPAM: { Config: [{ Subnet: net.subnet, Gateway: net.gateway }] } });
    expect((await nb(['network', 'ls'])).stdout).toContain(net.name);
    const a = await up([endpointName(), '--network', net.name]);
    const refused = await nb(['network', 'rm', net.name]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(new RegExp(`^netbridge: error: network ${net.name} has active endpoints \\(${a.name}\\)`));
  });
});

describe('bad input: a clear error, nothing created', () => {
  const bad = `cwtest-${process.pid}-bad`;

  /**
   * What a refused command could have made, of this file's: its namespaces, the veths whose other end is in one
   * (`ip -o link` names the peer's namespace), routes and nft elements of its subnets (10.201.x, 10.203.x), the
   * port map's elements for `ports`, and the host's records of its names. Other test files make and remove their
   * own meanwhile, so the host's whole ruleset or link list is no measure.
   */
  function state(ports: number[]) {
    const mine = (text: string) => text.split('\n').filter((l) => new RegExp(`cwt${process.pid}-|cwtest-${process.pid}-|10\\.20[13]\\.`).test(l));
    const table = sh('nft', ['-j', 'list', 'table', 'ip', 'cw']);
    const entries = table.status === 0 ? (JSON.parse(table.stdout) as { nftables: { set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: [number, unknown][] } }[] }).nftables : [];
    const records = existsSync(join(RUN, 'networks')) ? readdirSync(join(RUN, 'networks')).filter((f) => f.endsWith('.json')).map((f) => readFileSync(join(RUN, 'networks', f), 'utf8')) : [];
    return {
      links: mine(sh('ip', ['-o', 'link', 'show']).stdout).map((l) => l.split(': ')[1]),
      netns: mine(sh('ip', ['netns', 'list']).stdout),
      routes: mine(sh('ip', ['route']).stdout),
      subnets: (JSON.stringify(entries.find((e) => e.set?.name === 'subnets')?.set?.elem ?? []).match(/10\.20[13]\.\d+\.\d+/g) ?? []).sort(),
      ports: entries.flatMap((e) => (e.map?.elem ?? []).filter(([key]) => ports.includes(key)).map((el) => `${e.map!.name} ${JSON.stringify(el)}`)).sort(),
      records: mine(records.join('\n')),
    };
  }

  async function nothingMade(args: string[], message: RegExp, code = 1): Promise<void> {
    const ports = args.flatMap((a, i) => (args[i - 1] === '-p' ? [Number(a.split(':')[0])] : []));
    const before = state(ports);
    const out = await nb(args);
    expect(out.stderr).toMatch(message);
    expect(out.stderr.trim().split('\n').filter((l) => l.startsWith('netbridge: error:'))).toHaveLength(1);
    expect(out.code).toBe(code);
    expect(state(ports)).toEqual(before);
  }

  it("the host's own network namespace, by path or by a host process", async () => {
    await nothingMade(['up', endpointName(), '--netns', '/proc/self/ns/net'], /\/proc\/self\/ns\/net is in the host's network namespace/);
    await nothingMade(['up', endpointName(), '--pid', String(process.pid)], new RegExp(`process ${process.pid} is in the host's network namespace`));
  });

  it('a port in use on the host', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', () => resolve()));
    const port = (server.address() as { port: number }).port;
    try {
      await nothingMade(['up', endpointName(), '-p', `${port}:80`], new RegExp(`port ${port}/tcp is already in use on this host`));
    } finally {
      server.close();
    }
  });

  it('a port published by another endpoint', async () => {
    const net = await testNetwork();
    const port = 22000 + (process.pid % 10000);
    await up([endpointName(), '--network', net.name, '-p', `${port}:80`]);
    await nothingMade(['up', endpointName(), '--network', net.name, '-p', `${port}:8080`], new RegExp(`^netbridge: error: Bind for 0\\.0\\.0\\.0:${port} failed: port is already allocated$`, 'm'));
  });

  it('bad CIDRs, an overlapping subnet, a bad port mapping, a missing network', async () => {
    await nothingMade(['network', 'create', bad, '--subnet', '10.0.0.0/33'], /invalid subnet "10.0.0.0\/33"/, 2);
    await nothingMade(['network', 'create', bad, '--subnet', '10.203.0.1/24'], /has host bits set; the network is 10.203.0.0\/24/, 2);
    await nothingMade(['network', 'create', bad, '--subnet', 'banana'], /invalid subnet "banana"/, 2);
    // The host's own network (eth0's route) may not be taken.
    const hostRoute = sh('ip', ['-4', 'route', 'show', 'scope', 'link']).stdout.split('\n').find((l) => /^\d/.test(l) && !l.includes(' cw'))!.split(' ')[0]!;
    await nothingMade(['network', 'create', bad, '--subnet', hostRoute], /overlaps the host's route/);
    const net = await testNetwork();
    await nothingMade(['network', 'create', bad, '--subnet', net.subnet.replace(/\/24$/, '/25')], new RegExp(`overlaps network ${net.name}`));
    await nothingMade(['up', endpointName(), '-p', '80:99999'], /invalid port mapping "80:99999"/, 2);
    await nothingMade(['up', endpointName(), '--network', 'cwtest-none'], /network cwtest-none not found/);
    await nothingMade(['up', endpointName(), '--netns', '/run/netns/cwt-missing'], /no such network namespace/);
    expect(existsSync(join(RUN, 'networks', `${bad}.json`))).toBe(false);
    expect(existsSync(join(root, 'networks'))).toBe(false);
  });
});

describe('--dry-run and --trace', () => {
  it('--dry-run prints the ip, sysctl and nft commands and makes nothing', async () => {
    const name = endpointName();
    const port = 23000 + (process.pid % 10000);
    const fresh = !links().includes('cw0');
    const out = await nb(['--dry-run', 'up', name, '-p', `${port}:80`]);
    expect(out.code).toBe(0);
    // The address is the lowest one free on the host (172.30.0.2 unless another endpoint has it).
    const ip = new RegExp(`^ip -n ${name} addr add (172\\.30\\.\\d+\\.\\d+)/16 dev eth0$`, 'm').exec(out.stdout)?.[1];
    expect(ip).toBeDefined();
    for (const line of [`ip netns add ${name}`, `ip link add cwv`, `ip -n ${name} route add default via 172.30.0.1`, `nft 'add element ip cw tcp-ports { ${port} : ${ip} . 80 }'`]) expect(out.stdout).toContain(line);
    // The bridge is made by the first endpoint only.
    if (fresh) for (const line of ['ip link add cw0 type bridge', 'sysctl -qw net.ipv4.conf.cw0.forwarding=1']) expect(out.stdout).toContain(line);
    expect(existsSync(`/run/netns/${name}`)).toBe(false);
    expect(defaultEndpoints()).not.toContain(name);
    expect(existsSync(join(root, 'networks'))).toBe(false);
  });

  it('--trace shows each command as it runs', async () => {
    const net = await testNetwork();
    const name = endpointName();
    const out = await runCommand('netbridge', ['--trace', 'up', name, '--network', net.name], { env: { CUTAWAY_ROOT: root } });
    expect(out.stdout).toBe(`/run/netns/${name}\n`);
    expect(out.stderr).toContain(`+ ip netns add ${name}`);
    expect(out.stderr).toMatch(/^\+ ip link add cw-[0-9a-f]{12} type bridge$/m);
  });
});
