/**
 * Docker's commands on volumes, networks and the whole store — volume,
 * network (connect and disconnect included), system df, system prune, info
 * — on real containers made by cutaway run from the busybox fixture image,
 * on real bridges. The networks are this file's own (cwtest-obj-<pid>-…, on
 * 10.209.x.0/24 and 10.210.x.0/24); afterEach kills every container process
 * by its pid and takes down what it had (endpoints, mounts, cgroup), afterAll
 * removes the networks and checks that no bridge, mount or cgroup is left.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { humanSize } from '../src/format.ts';

let work: string;
let root: string;
const third = process.pid % 250;
/** Each test's networks: name → bridge, removed in afterAll. */
const networks = new Map<string, string>();
/** Every container this file made (its id), to check that none of its cgroups is left. */
const made = new Set<string>();

function cutaway(args: string[], input?: string): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root }, ...(input !== undefined && { input }) });
}

async function network(suffix: string, subnet: string): Promise<string> {
  const name = `cwtest-obj-${process.pid}-${suffix}`;
  const out = await cutaway(['network', 'create', '--subnet', subnet, name]);
  expect(out.stderr).toBe('');
  expect(out.stdout).toMatch(/^[0-9a-f]{64}\n$/);
  networks.set(name, (JSON.parse((await cutaway(['network', 'inspect', name])).stdout) as { Options: Record<string, string> }[])[0]!.Options['com.docker.network.bridge.name']!);
  return name;
}

/**
 * `network ls` as far as this file is concerned: the header, the predefined networks and this file's own. The
 * networks are the host's (netbridge records them in $CUTAWAY_RUN), so other roots' and other test files' come
 * and go meanwhile.
 */
async function ownNetworks(): Promise<string> {
  const lines = (await cutaway(['network', 'ls'])).stdout.split('\n');
  return lines.filter((l, i) => i === 0 || ['bridge', 'host', 'none'].includes(l.split(/\s+/)[1] ?? '') || (l.split(/\s+/)[1] ?? '').startsWith(`cwtest-obj-${process.pid}-`)).join('\n');
}

/** netbridge's record files of this file's networks, in the host's runtime directory. */
function ownRecords(): string[] {
  const dir = join(process.env.CUTAWAY_RUN || '/run/cutaway', 'networks');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith(`cwtest-obj-${process.pid}-`)).sort() : [];
}

/** A detached container; returns its id once it runs. */
async function detached(args: string[]): Promise<string> {
  const out = await cutaway(['run', '-d', ...args]);
  expect(out.stderr).toBe('');
  const id = out.stdout.trim();
  made.add(id);
  return id;
}

/** A container's full id, by name. */
async function idOf(name: string): Promise<string> {
  return (JSON.parse((await cutaway(['inspect', name])).stdout) as { Id: string }[])[0]!.Id;
}

/** A container that ran to its end and stays (no --rm); args begin with --name NAME. */
async function ran(args: string[]): Promise<string> {
  const out = await cutaway(['run', ...args]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  const id = await idOf(args[1]!);
  made.add(id);
  return id;
}

/** A failure that prints one Docker-like error line and changes nothing that `state` looks at. */
async function refused(args: string[], message: RegExp, state: () => Promise<unknown>, code = 1): Promise<void> {
  const before = await state();
  const out = await cutaway(args);
  expect(out.stderr.split('\n').filter((l) => l.includes(': error: '))).toHaveLength(1);
  expect(out.stderr).toMatch(message);
  expect(out.code).toBe(code);
  expect(out.stdout).toBe('');
  expect(await state()).toEqual(before);
}

/** wget from inside a container, retried while the server starts. */
async function fetchInside(container: string, url: string): Promise<string> {
  let last = '';
  for (let i = 0; i < 50; i++) {
    const r = await cutaway(['exec', container, 'wget', '-q', '-O', '-', url]);
    if (r.code === 0) return r.stdout;
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`wget ${url} in ${container}: ${last}`);
}

/**
 * The space the store takes, measured apart from cutaway: every file but directories under blobs, unpacked
 * layers, containers and volumes, each inode once, not across mounts (a running container's merged/).
 */
function diskBytes(): number {
  const dirs = ['images/blobs', 'layers', 'containers', 'volumes'].map((d) => join(root, d)).filter((d) => existsSync(d));
  const listing = execFileSync('find', [...dirs, '-xdev', '!', '-type', 'd', '-printf', '%D:%i %s\n'], { encoding: 'utf8' });
  const sizes = new Map(listing.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
  return [...sizes.values()].reduce((n, s) => n + Number(s), 0);
}

interface DfRow {
  Type: string;
  TotalCount: string;
  Active: string;
  Size: string;
  SizeBytes: number;
  Reclaimable: string;
  ReclaimableBytes: number;
}

async function df(): Promise<Record<string, DfRow>> {
  const out = await cutaway(['system', 'df', '--format', 'json']);
  expect(out.stderr).toBe('');
  return Object.fromEntries(out.stdout.trim().split('\n').map((l) => JSON.parse(l) as DfRow).map((r) => [r.Type, r]));
}

const reclaimable = (rows: Record<string, DfRow>, ...types: string[]) => types.reduce((n, t) => n + rows[t]!.ReclaimableBytes, 0);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-objects-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
});

afterEach(async () => {
  await removeContainers(root);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
  await removeTree(join(root, 'volumes'));
  for (const name of networks.keys()) await runCommand('netbridge', ['network', 'rm', name], { env: { CUTAWAY_ROOT: root } });
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  for (const bridge of networks.values()) if (bridge) expect(links).not.toContain(` ${bridge}:`);
  networks.clear();
});

afterAll(async () => {
  for (const id of made) expect(existsSync(`/sys/fs/cgroup/pids/cw-${id.slice(0, 12)}`)).toBe(false);
  expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(new RegExp([...made].map((id) => id.slice(0, 12)).join('|') || '^$'));
  await removeTree(work);
});

describe('volume', () => {
  it('create, ls, inspect; rm is refused while a container uses the volume, even stopped; prune removes the unused ones', async () => {
    expect((await cutaway(['volume', 'create', 'cw-data'])).stdout).toBe('cw-data\n');
    // create is idempotent, as Docker's.
    expect((await cutaway(['volume', 'create', 'cw-data'])).stdout).toBe('cw-data\n');
    const random = (await cutaway(['volume', 'create'])).stdout.trim();
    expect(random).toMatch(/^[0-9a-f]{64}$/);
    const names = [random, 'cw-data'].sort();
    expect((await cutaway(['volume', 'ls'])).stdout).toBe(`DRIVER    VOLUME NAME\n${names.map((n) => `local     ${n}\n`).join('')}`);
    expect((await cutaway(['volume', 'ls', '-q'])).stdout).toBe(names.map((n) => `${n}\n`).join(''));
    const [inspect] = JSON.parse((await cutaway(['volume', 'inspect', 'cw-data'])).stdout) as Record<string, unknown>[];
    expect(inspect).toEqual({ CreatedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/), Driver: 'local', Labels: null, Mountpoint: join(root, 'volumes', 'cw-data', '_data'), Name: 'cw-data', Options: null, Scope: 'local' });
    expect(Math.abs(Date.parse(inspect!.CreatedAt as string) - Date.now())).toBeLessThan(60_000);

    // A container writes into the volume and exits: it still uses it.
    const user = await ran(['--name', 'cw-vol-user', '--network', 'none', '-v', 'cw-data:/data', BUSYBOX_REF, 'sh', '-c', 'echo 12345 > /data/f']);
    expect(readFileSync(join(root, 'volumes', 'cw-data', '_data', 'f'), 'utf8')).toBe('12345\n');
    const volumes = async () => (await cutaway(['volume', 'ls', '-q'])).stdout;
    await refused(['volume', 'rm', 'cw-data'], new RegExp(`^cutaway volume rm: error: remove cw-data: volume is in use - \\[${user}\\]$`, 'm'), volumes);
    // One refused name refuses them all.
    await refused(['volume', 'rm', random, 'cw-data'], /volume is in use/, volumes);

    // prune: the unused one goes, with the space its files took; the one in use stays.
    writeFileSync(join(root, 'volumes', random, '_data', 'blob'), Buffer.alloc(1500));
    const pruned = await cutaway(['volume', 'prune', '-f']);
    expect(pruned.stdout).toBe(`Deleted Volumes:\n${random}\n\nTotal reclaimed space: 1.5kB\n`);
    expect(await volumes()).toBe('cw-data\n');
    expect((await cutaway(['volume', 'prune', '-f'])).stdout).toBe('Total reclaimed space: 0B\n');

    expect((await cutaway(['rm', 'cw-vol-user'])).code).toBe(0);
    expect((await cutaway(['volume', 'rm', 'cw-data'])).stdout).toBe('cw-data\n');
    expect(existsSync(join(root, 'volumes', 'cw-data'))).toBe(false);
    expect(await volumes()).toBe('');
  });

  it('bad input: one Docker-like line, nothing changed', async () => {
    await cutaway(['volume', 'create', 'cw-keep']);
    const state = async () => [(await cutaway(['volume', 'ls'])).stdout, readdirSync(join(root, 'volumes'))];
    await refused(['volume', 'create', 'a'], /^cutaway volume create: error: create a: "a" includes invalid characters for a local volume name/m, state);
    await refused(['volume', 'create', '../x'], /includes invalid characters/, state);
    await refused(['volume', 'create', 'x', 'y'], /"cutaway volume create" requires at most 1 argument/, state, 125);
    await refused(['volume', 'inspect', 'cw-keep', 'cw-nothing'], /^cutaway volume inspect: error: No such volume: cw-nothing$/m, state);
    await refused(['volume', 'rm', 'cw-keep', 'cw-nothing'], /No such volume: cw-nothing/, state);
    await refused(['volume', 'rm'], /requires at least 1 argument/, state, 125);
    // docker/cli cli/required.go NoArgs: a group's unknown verb is a plain error, status 1.
    expect(await cutaway(['volume', 'frob'])).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^cutaway: unknown command: cutaway volume frob\n/) });
    await refused(['volume', 'ls', '--bogus'], /unknown option --bogus/, state, 125);
    // prune asks first; anything but yes (here: no terminal, stdin at its end) removes nothing.
    const asked = await cutaway(['volume', 'prune']);
    expect(asked.stderr).toMatch(/^WARNING! This will remove all local volumes not used by at least one container\.\nAre you sure you want to continue\? \[y\/N\] \ncutaway volume prune: error: volume prune has been cancelled/);
    expect(asked.code).toBe(1);
    expect((await cutaway(['volume', 'prune'], 'n\n')).code).toBe(1);
    expect((await cutaway(['volume', 'ls', '-q'])).stdout).toBe('cw-keep\n');
    // rm -f: a missing volume is no error.
    expect((await cutaway(['volume', 'rm', '-f', 'cw-keep', 'cw-nothing'])).stdout).toBe('cw-keep\ncw-nothing\n');
    expect((await cutaway(['volume', 'ls', '-q'])).stdout).toBe('');
  });
});

describe('network', () => {
  it('create, ls, inspect, rm; without --subnet a free subnet is taken', async () => {
    const name = await network('ls', `10.209.${third}.0/24`);
    const ls = (await cutaway(['network', 'ls'])).stdout;
    expect(ls.split('\n')[0]).toMatch(/^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    for (const [n, driver] of [['bridge', 'bridge'], ['host', 'host'], ['none', 'null'], [name, 'bridge']]) expect(ls).toMatch(new RegExp(`^[0-9a-f]{12}\\s+${n}\\s+${driver}\\s+local$`, 'm'));
    // Ids are stable, also the predefined networks'.
    expect((await cutaway(['network', 'ls', '-q'])).stdout).toBe((await cutaway(['network', 'ls', '-q'])).stdout);
    const [inspect] = JSON.parse((await cutaway(['network', 'inspect', name])).stdout) as Record<string, unknown>[];
    expect(inspect).toMatchObject({ Name: name, Driver: 'bridge', Scope: 'local', IPAM: { Driver: 'default', Config: [{ Subnet: `10.209.${third}.0/24`, Gateway: `10.209.${third}.1` }] }, Containers: {} });
    const id = inspect!.Id as string;
    // By id prefix, as Docker looks networks up.
    expect(JSON.parse((await cutaway(['network', 'inspect', id.slice(0, 8)])).stdout)[0].Name).toBe(name);

    const auto = `cwtest-obj-${process.pid}-auto`;
    expect((await cutaway(['network', 'create', auto])).code).toBe(0);
    networks.set(auto, '');
    const subnet = JSON.parse((await cutaway(['network', 'inspect', auto])).stdout)[0].IPAM.Config[0].Subnet as string;
    expect(subnet).toMatch(/^(172\.(1[7-9]|2\d|3[01])\.0\.0\/16|192\.168\.\d+\.0\/20)$/);

    expect((await cutaway(['network', 'rm', name, auto])).stdout).toBe(`${name}\n${auto}\n`);
    expect((await cutaway(['network', 'ls'])).stdout).not.toContain('cwtest-obj');
  });

  it('connect gives a running container eth1 on the network, which reaches a container there; disconnect takes it away', async () => {
    const [a, b] = [await network('a', `10.209.${third}.0/24`), await network('b', `10.210.${third}.0/24`)];
    const client = await detached(['--name', 'cw-client', '--network', a, BUSYBOX_REF, 'sleep', '600']);
    await detached(['--name', 'cw-server', '--network', b, BUSYBOX_REF, 'sh', '-c', 'mkdir -p /www && echo hello-from-b > /www/index.html && exec httpd -f -p 80 -h /www']);
    const serverIp = (JSON.parse((await cutaway(['inspect', 'cw-server'])).stdout) as { NetworkSettings: { IPAddress: string } }[])[0]!.NetworkSettings.IPAddress;
    expect(serverIp).toMatch(new RegExp(`^10\\.210\\.${third}\\.`));

    const connected = await cutaway(['network', 'connect', b, 'cw-client']);
    expect(connected.stderr).toBe('');
    expect(connected.stdout).toBe('');
    const addrs = (await cutaway(['exec', 'cw-client', 'ip', '-o', '-4', 'addr'])).stdout;
    expect(addrs).toMatch(new RegExp(`^\\d+: eth0\\s+inet 10\\.209\\.${third}\\.\\d+/24 `, 'm'));
    const eth1 = new RegExp(`^\\d+: eth1\\s+inet (10\\.210\\.${third}\\.\\d+)/24 `, 'm').exec(addrs)?.[1];
    expect(eth1).toBeDefined();
    // The default route stays on the first network.
    expect((await cutaway(['exec', 'cw-client', 'ip', 'route'])).stdout.split('\n').filter((l) => l.startsWith('default'))).toEqual([`default via 10.209.${third}.1 dev eth0 `]);
    expect(await fetchInside('cw-client', `http://${serverIp}/`)).toBe('hello-from-b\n');

    const [inspect] = JSON.parse((await cutaway(['network', 'inspect', b])).stdout) as { Containers: Record<string, { Name: string; IPv4Address: string }> }[];
    expect(inspect!.Containers[client]).toMatchObject({ Name: 'cw-client', IPv4Address: `${eth1}/24` });
    const config = JSON.parse(readFileSync(join(root, 'containers', client, 'config.json'), 'utf8'));
    expect(config.network).toMatchObject({ mode: 'bridge', name: a, connected: [{ name: b, ip: eth1 }] });

    const state = async () => [await ownNetworks(), (await cutaway(['network', 'inspect', a, b])).stdout, readFileSync(join(root, 'containers', client, 'config.json'), 'utf8'), (await cutaway(['exec', 'cw-client', 'ip', '-o', '-4', 'addr'])).stdout];
    await refused(['network', 'rm', b], new RegExp(`^cutaway network rm: error: error while removing network: network ${b} id [0-9a-f]{12} has active endpoints \\(hint: used by cw-.*`, 'm'), state);
    await refused(['network', 'connect', b, 'cw-client'], new RegExp(`endpoint with name cw-client already exists in network ${b}$`, 'm'), state);
    await refused(['network', 'disconnect', a, 'cw-client'], new RegExp(`container cw-client was run on network ${a}: cutaway keeps that one`), state);
    await refused(['network', 'connect', 'host', 'cw-client'], /container cannot be disconnected from host network or connected to host network/, state);
    await refused(['network', 'connect', 'cwtest-nothing', 'cw-client'], /^cutaway network connect: error: No such network: cwtest-nothing$/m, state);
    await refused(['network', 'connect', b, 'cw-nothing'], /No such container: cw-nothing/, state);
    await refused(['network', 'connect', b], /requires exactly 2 arguments/, state, 125);

    expect((await cutaway(['network', 'disconnect', b, 'cw-client'])).code).toBe(0);
    const after = (await cutaway(['exec', 'cw-client', 'ip', '-o', 'link'])).stdout;
    expect(after).toMatch(/: eth0@/);
    expect(after).not.toMatch(/: eth1@/);
    expect(JSON.parse(readFileSync(join(root, 'containers', client, 'config.json'), 'utf8')).network.connected).toEqual([]);
    expect(Object.keys(JSON.parse((await cutaway(['network', 'inspect', b])).stdout)[0].Containers)).not.toContain(client);
    await refused(['network', 'disconnect', b, 'cw-client'], new RegExp(`container ${client} is not connected to network ${b}`), state);

    // Stopped: connect and disconnect change only the record (network.connected), which start brings up.
    expect((await cutaway(['stop', '-t', '0', 'cw-client'])).code).toBe(0);
    expect((await cutaway(['network', 'connect', b, 'cw-client'])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'containers', client, 'config.json'), 'utf8')).network.connected).toEqual([{ name: b }]);
    expect((await cutaway(['start', 'cw-client'])).code).toBe(0);
    expect((await cutaway(['exec', 'cw-client', 'ip', '-o', '-4', 'addr'])).stdout).toMatch(new RegExp(`^\\d+: eth1\\s+inet 10\\.210\\.${third}\\.\\d+/24 `, 'm'));
    expect(await fetchInside('cw-client', `http://${serverIp}/`)).toBe('hello-from-b\n');
    expect((await cutaway(['stop', '-t', '0', 'cw-client'])).code).toBe(0);
    // A stopped container keeps its network from going.
    await cutaway(['rm', '-f', 'cw-server']);
    expect((await cutaway(['network', 'rm', b])).stderr).toMatch(/has active endpoints \(hint: used by cw-client/);
    expect((await cutaway(['network', 'disconnect', b, 'cw-client'])).code).toBe(0);
    expect(JSON.parse(readFileSync(join(root, 'containers', client, 'config.json'), 'utf8')).network.connected).toEqual([]);
    await cutaway(['rm', 'cw-client']);
    expect((await cutaway(['network', 'rm', a, b])).code).toBe(0);
  });

  it('bad input: one Docker-like line, nothing changed', async () => {
    const a = await network('bad', `10.209.${third}.0/24`);
    const alone = await detached(['--name', 'cw-alone', '--network', 'none', BUSYBOX_REF, 'sleep', '600']);
    const state = async () => [await ownNetworks(), ownRecords(), readFileSync(join(root, 'containers', alone, 'config.json'), 'utf8')];
    await refused(['network', 'connect', a, 'cw-alone'], /container cannot be connected to multiple networks with one of the networks in private \(none\) mode/, state);
    await refused(['network', 'create', 'host'], /^cutaway network create: error: network with name host already exists$/m, state);
    await refused(['network', 'create', a], new RegExp(`network with name ${a} already exists`), state);
    await refused(['network', 'create', '--subnet', '10.209.0.1/24', 'cwtest-obj-x'], /has host bits set/, state);
    await refused(['network', 'create', '--subnet', `10.209.${third}.128/25`, 'cwtest-obj-x'], new RegExp(`overlaps network ${a}`), state);
    await refused(['network', 'create', '-d', 'overlay', 'cwtest-obj-x'], /plugin "overlay" not found/, state);
    await refused(['network', 'create'], /requires exactly 1 argument/, state, 125);
    await refused(['network', 'rm', 'bridge'], /bridge is a pre-defined network and cannot be removed/, state);
    await refused(['network', 'rm', a, 'cwtest-nothing'], /No such network: cwtest-nothing/, state);
    await refused(['network', 'inspect', 'cwtest-nothing'], /No such network: cwtest-nothing/, state);
    // docker/cli cli/required.go NoArgs: a group's unknown verb is a plain error, status 1.
    expect(await cutaway(['network', 'frob'])).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^cutaway: unknown command: cutaway network frob\n/) });
    expect((await cutaway(['network', 'rm', a])).code).toBe(0);
  });
});

describe('system df, system prune, info', () => {
  it('df counts what is there and what is reclaimable; prune frees exactly that, measured on disk', async () => {
    const [a, unused] = [await network('df', `10.209.${third}.0/24`), await network('unused', `10.210.${third}.0/24`)];
    // A running container with a volume; a stopped one that wrote 300 kB into its upper dir and into a volume; a volume nobody uses.
    const running = await detached(['--name', 'cw-running', '--network', a, '-v', 'cw-kept:/data', BUSYBOX_REF, 'sleep', '600']);
    const stopped = await ran(['--name', 'cw-stopped', '--network', 'none', '-v', 'cw-old:/data', BUSYBOX_REF, 'sh', '-c', 'head -c 300000 /dev/urandom > /big; echo old > /data/f']);
    await cutaway(['volume', 'create', 'cw-lonely']);
    writeFileSync(join(root, 'volumes', 'cw-lonely', '_data', 'blob'), Buffer.alloc(20_000, 1));
    // An image of its own (a tag, and build-cache steps), which no container uses.
    const context = join(work, 'context');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'payload'), randomBytes(50_000));
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nCOPY payload /payload\nENV CW=1\n`);
    const built = await cutaway(['build', '-q', '-t', 'cwtest-obj/app:1', context]);
    expect(built.code).toBe(0);

    const rows = await df();
    expect(rows.Images).toMatchObject({ TotalCount: '2', Active: '1' });
    expect(rows.Containers).toMatchObject({ TotalCount: '2', Active: '1' });
    expect(rows['Local Volumes']).toMatchObject({ TotalCount: '3', Active: '2' });
    expect(Number(rows['Build Cache']!.TotalCount)).toBeGreaterThan(0);
    // The stopped container's 300 kB, the two volumes nobody running uses, the app image's 50 kB layer.
    expect(rows.Containers!.ReclaimableBytes).toBeGreaterThan(300_000);
    expect(rows['Local Volumes']!.ReclaimableBytes).toBe(20_004);
    expect(rows.Images!.ReclaimableBytes).toBeGreaterThan(50_000);
    for (const r of Object.values(rows)) expect(r.ReclaimableBytes).toBeLessThanOrEqual(r.SizeBytes);
    const table = (await cutaway(['system', 'df'])).stdout.split('\n');
    expect(table[0]).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE$/);
    expect(table[1]).toBe(`Images          2         1         ${rows.Images!.Size.padEnd(10)}${rows.Images!.Reclaimable}`);
    expect(table[2]).toMatch(/^Containers\s+2\s+1\s+\S+\s+\S+ \(\d+%\)$/);
    const verbose = (await cutaway(['system', 'df', '-v'])).stdout;
    for (const heading of ['Images space usage:', 'Containers space usage:', 'Local Volumes space usage:', 'Build cache usage: ']) expect(verbose).toContain(heading);
    expect(verbose).toMatch(/^cwtest-obj\/app\s+1\s+[0-9a-f]{12}\s+/m);
    expect(verbose).toMatch(/^cw-lonely\s+0\s+20kB$/m);

    const info = (await cutaway(['info'])).stdout;
    expect(info).toMatch(/^Containers: 2\n Running: 1\n Paused: 0\n Stopped: 1\nImages: 2\n/);
    expect(info).toContain('\nStorage Driver: overlay\n');
    expect(info).toMatch(/\nCgroup Driver: cgroupfs\nCgroup Version: [12]\n/);
    expect(info).toContain(`\nKernel Version: ${execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim()}\n`);
    expect(info).toContain(`\nCPUs: ${execFileSync('nproc', { encoding: 'utf8' }).trim()}\n`);
    expect(info).toContain(`\nCutaway Root Dir: ${root}\n`);

    // Asked, and not answered yes: nothing goes.
    const before = diskBytes();
    expect((await cutaway(['system', 'prune'])).stderr).toMatch(/^WARNING! This will remove:\n {2}- all stopped containers\n {2}- all networks not used by at least one container\n {2}- all dangling images\n {2}- unused build cache\n\nAre you sure you want to continue\? \[y\/N\] \ncutaway system prune: error: system prune has been cancelled/);
    expect(diskBytes()).toBe(before);

    // Without -a and --volumes: the stopped container, the unused network and the build cache go; the tagged image and the volumes stay.
    const first = await cutaway(['system', 'prune', '-f']);
    expect(first.stderr).toBe('');
    const freed = before - diskBytes();
    expect(freed).toBe(reclaimable(rows, 'Containers', 'Build Cache'));
    expect(first.stdout).toMatch(new RegExp(`^Deleted Containers:\n${stopped}\n\nDeleted Networks:\n${unused}\n\nDeleted build cache objects:\n([0-9a-f]{64}\n)+\nTotal reclaimed space: ${humanSize(freed, 4).replace('.', '\\.')}\n$`));
    expect((await cutaway(['volume', 'ls', '-q'])).stdout).toBe('cw-kept\ncw-lonely\ncw-old\n');
    expect((await cutaway(['images', '-q'])).stdout.trim().split('\n')).toHaveLength(2);

    // -a --volumes: everything df calls reclaimable, to the byte.
    const again = await df();
    expect(again.Containers!.ReclaimableBytes).toBe(0);
    expect(again['Build Cache']!.SizeBytes).toBe(0);
    const before2 = diskBytes();
    const second = await cutaway(['system', 'prune', '-a', '--volumes', '-f']);
    expect(second.stderr).toBe('');
    const freed2 = before2 - diskBytes();
    expect(freed2).toBe(reclaimable(again, 'Images', 'Containers', 'Local Volumes', 'Build Cache'));
    expect(freed2).toBeGreaterThan(70_000);
    expect(second.stdout).toMatch(new RegExp(`^Deleted Volumes:\ncw-lonely\ncw-old\n\nDeleted Images:\nuntagged: cwtest-obj/app:1\ndeleted: sha256:[0-9a-f]{64}\n\nTotal reclaimed space: ${humanSize(freed2, 4).replace('.', '\\.')}\n$`));
    for (const r of Object.values(await df())) expect(r.ReclaimableBytes).toBe(0);

    // What is in use stayed and works.
    expect((await cutaway(['exec', 'cw-running', 'sh', '-c', 'echo kept > /data/f && cat /data/f'])).stdout).toBe('kept\n');
    expect((await cutaway(['ps', '-a', '-q'])).stdout).toBe(`${running.slice(0, 12)}\n`);
    expect((await cutaway(['images'])).stdout).toMatch(/^REPOSITORY.*\ncutaway\.test\/busybox\s+latest\s.*\n$/);
    expect((await cutaway(['network', 'ls'])).stdout).toContain(a);
    expect((await cutaway(['system', 'prune', '-a', '-f'])).stdout).toBe('Total reclaimed space: 0B\n');
    await cutaway(['rm', '-f', 'cw-running']);
  });

  it('bad input: one Docker-like line, nothing changed', async () => {
    const state = async () => [diskBytes(), (await cutaway(['system', 'df'])).stdout];
    // docker/cli cli/required.go NoArgs: a group's unknown verb is a plain error, status 1.
    expect(await cutaway(['system', 'frob'])).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(/^cutaway: unknown command: cutaway system frob\n/) });
    await refused(['system', 'df', 'x'], /"cutaway system df" accepts no arguments/, state, 125);
    await refused(['system', 'df', '--format', '{{.Nope}}'], /template parsing error: template: :1:2: executing "" at <\.Nope>: can't evaluate field Nope/, state, 1);
    await refused(['system', 'prune', '--bogus'], /unknown option --bogus/, state, 125);
    await refused(['info', 'x'], /"cutaway info" accepts no arguments/, state, 125);
  });
});
