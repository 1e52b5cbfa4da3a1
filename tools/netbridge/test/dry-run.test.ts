/**
 * netbridge's --dry-run scripts do what netbridge does: each script, run by
 * bash, leaves the host as the tool leaves it — the namespace's interfaces,
 * addresses, MACs and routes, the veth on its bridge, the bridge with its
 * address and sysctls, the nft elements, and the host's records in
 * $CUTAWAY_RUN/networks — and `down`'s script removes only its endpoint's
 * elements, never another's or the table another uses.
 *
 * The comparison, for each step and its undoing (up and down, network create
 * and rm): the step's script is made first; the tool does the step (state
 * T1) and undoes it (back to the state before, T0); then the step's script
 * must give T1 again, and the undoing's script (made at T1) T0 again.
 *
 * The kernel and the records are the host's, shared with the test files
 * running meanwhile: every name here is this process's own (endpoints
 * cwd<pid>-n, networks cwdtest-<pid>-n on 10.213.x.0/24, host ports from
 * 45000 + pid), only those are compared, and afterEach takes down whatever a
 * test left and checks that none of its interfaces, namespaces, records or
 * elements remain.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';

const RUN = process.env.CUTAWAY_RUN || '/run/cutaway';
const PORT_BASE = 45000 + (process.pid % 5000) * 2;

let work: string;
let root: string;
let www: string;
let counter = 0;
const endpoints = new Set<string>();
const networks = new Set<string>();
const veths = new Set<string>();
const bridges = new Set<string>();
const ports = new Set<number>();
const servers: ChildProcess[] = [];

function nb(args: string[]): Promise<CommandResult> {
  return runCommand('netbridge', args, { env: { CUTAWAY_ROOT: root } });
}

async function nbOk(args: string[]): Promise<string> {
  const out = await nb(args);
  expect(out.stderr.replace(/^netbridge: note: net.ipv4.ip_forward.*\n/m, ''), args.join(' ')).toBe('');
  expect(out.code).toBe(0);
  return out.stdout;
}

function sh(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function endpointName(): string {
  const name = `cwd${process.pid}-${++counter}`;
  endpoints.add(name);
  return name;
}

async function testNetwork(): Promise<{ name: string; subnet: string; gateway: string; bridge: string }> {
  const name = `cwdtest-${process.pid}-${++counter}`;
  const third = (process.pid + counter) % 250;
  const subnet = `10.213.${third}.0/24`;
  networks.add(name);
  await nbOk(['network', 'create', name, '--subnet', subnet]);
  const bridge = record(name)!.bridge as string;
  bridges.add(bridge);
  return { name, subnet, gateway: `10.213.${third}.1`, bridge };
}

function record(network: string): Record<string, unknown> | undefined {
  const path = join(RUN, 'networks', `${network}.json`);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>) : undefined;
}

/** The tool's --dry-run script, checked to have changed nothing. */
async function dryRun(args: string[], state: () => unknown): Promise<string> {
  const before = state();
  const out = await nb(['--dry-run', ...args]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  expect(out.stdout).toMatch(/^#!\/bin\/sh\nset -eu\nfor command in /);
  expect(state()).toEqual(before);
  return out.stdout;
}

async function runScript(script: string): Promise<CommandResult> {
  const file = join(work, `script-${++counter}.sh`);
  writeFileSync(file, script);
  return runCommand('/bin/bash', [file]);
}

async function scriptOk(script: string): Promise<void> {
  const out = await runScript(script);
  expect(out.stderr, script).toBe('');
  expect(out.code).toBe(0);
}

function ipJson(args: string[]): Record<string, unknown>[] {
  const r = sh('ip', ['-j', ...args]);
  return r.status === 0 ? (JSON.parse(r.stdout || '[]') as Record<string, unknown>[]) : [];
}

type Link = { ifname: string; address?: string; flags?: string[]; master?: string; addr_info?: { family: string; local: string; prefixlen: number }[] };

/** An interface as both runs must leave it: name, MAC, up or not, IPv4 addresses, its bridge. */
function linkState(l: Link) {
  return {
    ifname: l.ifname,
    mac: l.address,
    up: l.flags?.includes('UP') ?? false,
    master: l.master,
    inet: (l.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  };
}

function sysctl(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

/**
 * What this test's networks and endpoints are on the host: their records (without the time they were written),
 * each namespace's interfaces and routes, the veths, the test's bridges with their addresses and sysctls, and
 * the nft elements of the test's bridges, subnets and ports.
 */
function hostState(opts: { networks: string[]; endpoints: string[]; defaultEndpoints?: string[] }) {
  const records: Record<string, unknown> = {};
  for (const n of opts.networks) {
    const r = record(n);
    records[n] = r && { ...r, created: typeof r.created };
  }
  if (opts.defaultEndpoints) {
    const r = record('bridge') as { endpoints: Record<string, unknown> } | undefined;
    records.bridge = Object.fromEntries(opts.defaultEndpoints.map((e) => [e, r?.endpoints[e]]));
  }
  const namespaces = Object.fromEntries(
    opts.endpoints.map((e) => [
      e,
      existsSync(`/run/netns/${e}`) ? { links: ipJson(['-n', e, 'addr', 'show']).map((l) => linkState(l as Link)), routes: ipJson(['-n', e, 'route', 'show']) } : null,
    ]),
  );
  const links = Object.fromEntries([...veths, ...bridges].sort().map((name) => {
    const [l] = ipJson(['addr', 'show', 'dev', name]);
    if (!l) return [name, null];
    const { mac: _mac, ...rest } = linkState(l as Link);
    const conf = `/proc/sys/net/ipv4/conf/${name}`;
    // A bridge's MAC is the kernel's choice; a veth's host end is random too: compared are the rest.
    return [name, { ...rest, forwarding: sysctl(`${conf}/forwarding`), route_localnet: sysctl(`${conf}/route_localnet`) }];
  }));
  const listing = sh('nft', ['-j', 'list', 'table', 'ip', 'cw']);
  const nftables = listing.status === 0 ? (JSON.parse(listing.stdout).nftables as { set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: [number, unknown][] } }[]) : [];
  const elems = (name: string) => nftables.find((e) => (e.set ?? e.map)?.name === name)?.[name.endsWith('ports') ? 'map' : 'set']?.elem ?? [];
  const ours = new Set<unknown>([...bridges]);
  const subnets = opts.networks.map((n) => (record(n)?.subnet as string | undefined) ?? '').filter(Boolean);
  return {
    records,
    namespaces,
    links,
    nft: {
      bridges: elems('bridges').filter((b) => ours.has(b)),
      subnets: elems('subnets').filter((s) => subnets.some((t) => JSON.stringify(s) === JSON.stringify({ prefix: { addr: t.split('/')[0], len: Number(t.split('/')[1]) } }))),
      ports: (elems('tcp-ports') as [number, unknown][]).filter(([p]) => ports.has(p)),
    },
  };
}

/**
 * The comparison: `step`'s script made first; the tool does the step and `undo`; then the step's script gives
 * the tool's state, and the undoing's script (made after the tool's step) the state from before.
 */
async function sameAsTool(step: string[], undo: string[], state: () => unknown): Promise<{ before: unknown; after: unknown }> {
  const before = state();
  const stepScript = await dryRun(step, state);
  await nbOk(step);
  const after = state();
  expect(after).not.toEqual(before);
  const undoScript = await dryRun(undo, state);
  await nbOk(undo);
  expect(state()).toEqual(before);
  await scriptOk(stepScript);
  expect(state()).toEqual(after);
  await scriptOk(undoScript);
  expect(state()).toEqual(before);
  return { before, after };
}

function freePort(): number {
  const port = PORT_BASE + ports.size;
  ports.add(port);
  return port;
}

function veth(networkId: string, name: string): string {
  // netbridge's name for the host end (store.ts vethName): recorded here so that its state is compared and it is checked gone.
  const v = `cwv${createHash('sha256').update(`${networkId}/${name}`).digest('hex').slice(0, 12)}`;
  veths.add(v);
  return v;
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cw-netbridge-dry-'));
  chmodSync(work, 0o755);
  root = join(work, 'root');
  www = join(work, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'index.html'), 'made by the script\n');
});

afterEach(async () => {
  for (const s of servers.splice(0)) s.kill('SIGKILL');
  for (const name of endpoints) {
    await nb(['down', name]);
    if (existsSync(`/run/netns/${name}`)) sh('ip', ['netns', 'del', name]);
  }
  for (const v of veths) sh('ip', ['link', 'del', v]);
  endpoints.clear();
  for (const name of networks) await nb(['network', 'rm', name]);
  for (const name of networks) expect(record(name), `record of ${name}`).toBeUndefined();
  // Nor a temporary file of a record the script refused to change.
  expect(readdirSync(join(RUN, 'networks')).filter((f) => f.startsWith(`cwdtest-${process.pid}-`))).toEqual([]);
  networks.clear();
  const links = sh('ip', ['-o', 'link', 'show']).stdout;
  for (const l of [...veths, ...bridges]) expect(links).not.toContain(`: ${l}`);
  expect(sh('ip', ['netns', 'list']).stdout).not.toMatch(new RegExp(`cwd${process.pid}-`));
  const table = sh('nft', ['list', 'table', 'ip', 'cw']).stdout;
  for (const b of bridges) expect(table).not.toContain(`"${b}"`);
  for (const p of ports) expect(table).not.toMatch(new RegExp(`\\b${p} :`));
  veths.clear();
  bridges.clear();
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('netbridge --dry-run: the script leaves the host as the tool leaves it', () => {
  it('network create and rm: the same record (its own id), then none', async () => {
    const name = `cwdtest-${process.pid}-${++counter}`;
    networks.add(name);
    const subnet = `10.213.${(process.pid + counter) % 250}.0/24`;
    const state = () => {
      const r = record(name);
      // Each run makes its own id, and the bridge's name comes from it.
      return r && { ...r, id: typeof r.id, bridge: typeof r.bridge, created: typeof r.created };
    };
    const { after } = await sameAsTool(['network', 'create', name, '--subnet', subnet], ['network', 'rm', name], state);
    expect(after).toEqual({ name, id: 'string', bridge: 'string', subnet, gateway: subnet.replace(/0\/24$/, '1'), created: 'string', root, endpoints: {} });
  });

  it("up and down, the network's first endpoint: bridge, veth, namespace, address, MAC, route, nft elements, record", async () => {
    const net = await testNetwork();
    const name = endpointName();
    veth(record(net.name)!.id as string, name);
    const port = freePort();
    const state = () => hostState({ networks: [net.name], endpoints: [name] });
    const { after } = await sameAsTool(['up', name, '--network', net.name, '-p', `${port}:80`], ['down', name], state);
    const ip = net.gateway.replace(/1$/, '2');
    expect(after).toMatchObject({
      namespaces: { [name]: { links: expect.arrayContaining([expect.objectContaining({ ifname: 'eth0', mac: `02:42:0a:d5:${Number(net.gateway.split('.')[2]).toString(16).padStart(2, '0')}:02`, up: true, inet: [`${ip}/24`] })]) } },
      links: { [net.bridge]: { up: true, inet: [`${net.gateway}/24`], forwarding: '1', route_localnet: '1' } },
      nft: { bridges: [net.bridge], ports: [[port, { concat: [ip, 80] }]] },
    });

    // What the script made works: its published port answers at 127.0.0.1.
    const made = (await runScript(await dryRun(['up', name, '--network', net.name, '-p', `${port}:80`], state))).code;
    expect(made).toBe(0);
    servers.push(spawn('ip', ['netns', 'exec', name, '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' }));
    let answer = '';
    for (let i = 0; i < 50 && !answer; i++) {
      const r = await runCommand('/bin/busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`]);
      if (r.code === 0) answer = r.stdout;
      else await new Promise((res) => setTimeout(res, 100));
    }
    expect(answer).toBe('made by the script\n');
  });

  it("down of one endpoint leaves another's: its port element, the bridge, the network's elements, its record", async () => {
    const net = await testNetwork();
    const id = record(net.name)!.id as string;
    const stays = endpointName();
    veth(id, stays);
    const stayPort = freePort();
    await nbOk(['up', stays, '--network', net.name, '-p', `${stayPort}:8080`]);
    const name = endpointName();
    veth(id, name);
    const port = freePort();
    const state = () => hostState({ networks: [net.name], endpoints: [stays, name] });
    const { before } = await sameAsTool(['up', name, '--network', net.name, '-p', `${port}:80`, '-p', `${freePort()}:81`], ['down', name], state);
    expect(before).toMatchObject({
      nft: { bridges: [net.bridge], ports: [[stayPort, { concat: [net.gateway.replace(/1$/, '2'), 8080] }]] },
      links: { [net.bridge]: { up: true } },
      records: { [net.name]: { endpoints: { [stays]: { ip: net.gateway.replace(/1$/, '2') } } } },
    });
    // The last endpoint's down: the bridge and the network's elements go too, by the script as by the tool.
    const last = () => hostState({ networks: [net.name], endpoints: [stays] });
    const { after } = await sameAsTool(['down', stays], ['up', stays, '--network', net.name, '-p', `${stayPort}:8080`], last);
    expect(after).toMatchObject({ links: { [net.bridge]: null }, nft: { bridges: [], subnets: [], ports: [] }, namespaces: { [stays]: null } });
  });

  it('a second interface: up NAME --network NET2 gives eth1 (no second default route), down --network NET2 takes only it', async () => {
    const [one, two] = [await testNetwork(), await testNetwork()];
    const name = endpointName();
    veth(record(one.name)!.id as string, name);
    veth(record(two.name)!.id as string, name);
    await nbOk(['up', name, '--network', one.name]);
    const state = () => hostState({ networks: [one.name, two.name], endpoints: [name] });
    const { after } = await sameAsTool(['up', name, '--network', two.name], ['down', name, '--network', two.name], state);
    const inside = (after as { namespaces: Record<string, { links: { ifname: string }[]; routes: { dst: string }[] }> }).namespaces[name]!;
    expect(inside.links.map((l) => l.ifname).sort()).toEqual(['eth0', 'eth1', 'lo']);
    expect(inside.routes.filter((r) => r.dst === 'default')).toHaveLength(1);
    // Both at once: down NAME takes every interface, the namespace last. The script is made with both up; the
    // tool takes them down, they are made again as they were, and the script takes them down.
    const rebuild = async () => {
      await nbOk(['up', name, '--network', one.name]);
      await nbOk(['up', name, '--network', two.name]);
    };
    await nbOk(['up', name, '--network', two.name]);
    const both = state();
    const downAll = await dryRun(['down', name], state);
    await nbOk(['down', name]);
    const gone = state();
    expect(gone).toMatchObject({ namespaces: { [name]: null } });
    await rebuild();
    expect(state()).toEqual(both);
    await scriptOk(downAll);
    expect(state()).toEqual(gone);
    // The namespace's maker (eth0's network) first: the interface that stays inherits the namespace in its record.
    await rebuild();
    const heirScript = await dryRun(['down', name, '--network', one.name], state);
    await nbOk(['down', name, '--network', one.name]);
    const heir = state();
    expect(heir).toMatchObject({ records: { [two.name]: { endpoints: { [name]: { madeNetns: true, netns: `/run/netns/${name}` } } } } });
    await nbOk(['down', name]);
    await rebuild();
    await scriptOk(heirScript);
    expect(state()).toEqual(heir);
  });

  it('the default network: an endpoint with its own address and port, its entry in bridge.json', async () => {
    const name = endpointName();
    const ip = `172.30.${200 + (process.pid % 50)}.${2 + (process.pid % 250)}`;
    const id = JSON.parse(await nbOk(['network', 'inspect', 'bridge']))[0].Id as string;
    veth(id, name);
    const port = freePort();
    // cw0 and the rest of bridge.json may be another test's meanwhile: only this endpoint's part is compared.
    const state = () => {
      const s = hostState({ networks: [], endpoints: [name], defaultEndpoints: [name] });
      return { ...s, links: Object.fromEntries(Object.entries(s.links).filter(([l]) => veths.has(l))) };
    };
    const { after } = await sameAsTool(['up', name, '--ip', ip, '-p', `${port}:80`], ['down', name], state);
    expect(after).toMatchObject({ records: { bridge: { [name]: { ip, mac: expect.stringMatching(/^02:42:ac:1e:/), ports: [{ protocol: 'tcp', hostPort: port, containerPort: 80 }] } } } });
  });
});

describe('netbridge --dry-run scripts stop where the tool would refuse', () => {
  it('a lease taken since the script was made: the address is refused before anything is made', async () => {
    const net = await testNetwork();
    const [a, b] = [endpointName(), endpointName()];
    const id = record(net.name)!.id as string;
    veth(id, a);
    veth(id, b);
    const script = await dryRun(['up', a, '--network', net.name], () => record(net.name));
    await nbOk(['up', b, '--network', net.name]); // takes .2, the script's address
    const out = await runScript(script);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/address 10\.213\.\d+\.2 is already leased on cwdtest-/);
    expect(existsSync(`/run/netns/${a}`)).toBe(false);
    expect(Object.keys((record(net.name) as { endpoints: object }).endpoints)).toEqual([b]);
  });

  it("a down script made for an endpoint that is another by then removes nothing", async () => {
    const net = await testNetwork();
    const name = endpointName();
    const id = record(net.name)!.id as string;
    veth(id, name);
    const port = freePort();
    await nbOk(['up', name, '--network', net.name, '-p', `${port}:80`]);
    const script = await dryRun(['down', name], () => record(net.name));
    await nbOk(['down', name]);
    await nbOk(['up', name, '--network', net.name, '-p', `${freePort()}:80`]);
    const state = () => hostState({ networks: [net.name], endpoints: [name] });
    const now = state();
    const out = await runScript(script);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/is not as it was when this script was made/);
    expect(state()).toEqual(now);
  });

  it('checks its commands first: a missing one is named, nothing is made', async () => {
    const net = await testNetwork();
    const name = endpointName();
    const script = await dryRun(['up', name, '--network', net.name], () => record(net.name));
    const file = join(work, 'no-path.sh');
    writeFileSync(file, script);
    const out = await runCommand('/bin/bash', [file], { env: { PATH: '/nonexistent' } });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^this script needs ip \(on Debian: apt-get install .*\biproute2\b/);
    expect(existsSync(`/run/netns/${name}`)).toBe(false);
  });
});
