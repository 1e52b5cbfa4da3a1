/**
 * cutaway inspect and image inspect against podman's on the same image and an equivalent container (podman
 * follows Docker's shapes). podman gets a throwaway store (vfs, runc, cgroupfs under a cw-named cgroup
 * parent, no events), the busybox fixture from an OCI layout (skopeo copy, under the fixture's name), and our
 * containers.conf (this host's ulimits, an empty CNI dir: its default `podman` network). Keys podman has that
 * Docker's API lacks are ignored: each section is compared on Docker's keys (moby api/types ContainerJSON,
 * ImageInspect), listed below. Everything is removed afterwards: podman's containers by id, mounts under the
 * work directory, its cgroups, its CNI bridge when this file made it.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, commandExists, removeTree } from '../../../test/fixtures/images.ts';

type Doc = Record<string, any>;

/** Docker's keys (moby api/types: ContainerJSONBase + Mounts, Config, NetworkSettings; omitempty ones left out). */
const DOCKER_CONTAINER_KEYS = ['Id', 'Created', 'Path', 'Args', 'State', 'Image', 'ResolvConfPath', 'HostnamePath', 'HostsPath', 'LogPath', 'Name', 'RestartCount', 'Driver', 'Platform', 'MountLabel', 'ProcessLabel', 'AppArmorProfile', 'ExecIDs', 'HostConfig', 'GraphDriver', 'Mounts', 'Config', 'NetworkSettings'];
const DOCKER_STATE_KEYS = ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'Pid', 'ExitCode', 'Error', 'StartedAt', 'FinishedAt'];
const DOCKER_CONFIG_KEYS = ['Hostname', 'Domainname', 'User', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'ExposedPorts', 'Tty', 'OpenStdin', 'StdinOnce', 'Env', 'Cmd', 'Image', 'Volumes', 'WorkingDir', 'Entrypoint', 'OnBuild', 'Labels'];
const DOCKER_HOST_CONFIG_KEYS = ['Binds', 'ContainerIDFile', 'LogConfig', 'NetworkMode', 'PortBindings', 'RestartPolicy', 'AutoRemove', 'VolumeDriver', 'VolumesFrom', 'ConsoleSize', 'CapAdd', 'CapDrop', 'CgroupnsMode', 'Dns', 'DnsOptions', 'DnsSearch', 'ExtraHosts', 'GroupAdd', 'IpcMode', 'Cgroup', 'Links', 'OomScoreAdj', 'PidMode', 'Privileged', 'PublishAllPorts', 'ReadonlyRootfs', 'SecurityOpt', 'UTSMode', 'UsernsMode', 'ShmSize', 'Runtime', 'Isolation', 'CpuShares', 'Memory', 'NanoCpus', 'CgroupParent', 'BlkioWeight', 'CpuPeriod', 'CpuQuota', 'CpusetCpus', 'CpusetMems', 'Devices', 'MemoryReservation', 'MemorySwap', 'MemorySwappiness', 'OomKillDisable', 'PidsLimit', 'Ulimits'];
const DOCKER_NETWORK_KEYS = ['Bridge', 'SandboxID', 'SandboxKey', 'Ports', 'HairpinMode', 'LinkLocalIPv6Address', 'LinkLocalIPv6PrefixLen', 'SecondaryIPAddresses', 'SecondaryIPv6Addresses', 'EndpointID', 'Gateway', 'GlobalIPv6Address', 'GlobalIPv6PrefixLen', 'IPAddress', 'IPPrefixLen', 'IPv6Gateway', 'MacAddress', 'Networks'];
const DOCKER_ENDPOINT_KEYS = ['IPAMConfig', 'Links', 'Aliases', 'MacAddress', 'DriverOpts', 'NetworkID', 'EndpointID', 'Gateway', 'IPAddress', 'IPPrefixLen', 'IPv6Gateway', 'GlobalIPv6Address', 'GlobalIPv6PrefixLen', 'DNSNames'];
const DOCKER_BIND_KEYS = ['Type', 'Source', 'Destination', 'Mode', 'RW', 'Propagation'];
const DOCKER_IMAGE_KEYS = ['Id', 'RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'DockerVersion', 'Author', 'Config', 'Architecture', 'Os', 'Size', 'GraphDriver', 'RootFS', 'Metadata'];
/** The address fields of an endpoint, empty once a container has stopped (Docker's and podman's). */
const ADDRESS_KEYS = ['EndpointID', 'Gateway', 'IPAddress', 'IPPrefixLen', 'MacAddress'];
/** What podman adds to Config.Env that Docker does not (Docker adds no variable to a container's config). */
const PODMAN_ENV = /^(TERM|container|HOME|HOSTNAME)=/;
const ZERO_TIME = '0001-01-01T00:00:00Z';

const HAVE_PODMAN = (await commandExists('podman')) && (await commandExists('skopeo'));
const tag = `cw-insp-${process.pid}`;
let work: string;
let root: string;
let network: string;
let podmanEnv: NodeJS.ProcessEnv;
let bindDir: string;
let cniBridgeBefore = false;
const port = 25000 + (process.pid % 10000);
const podmanPort = port + 1;

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root } });
}

async function inspectOne(run: (args: string[]) => Promise<CommandResult>, args: string[]): Promise<Doc> {
  const out = await run(args);
  expect(out.code, out.stderr).toBe(0);
  return (JSON.parse(out.stdout) as Doc[])[0]!;
}

/** podman on its throwaway store. */
function podmanArgs(args: string[]): string[] {
  const store = join(work, 'podman');
  return ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', '--tmpdir', join(store, 'tmp'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--network-config-dir', join(work, 'cni'), ...args];
}

function podman(args: string[]): Promise<CommandResult> {
  return runCommand('/usr/bin/podman', podmanArgs(args), { env: podmanEnv });
}

/** Docker's keys of a section that podman's document has too: ours must have them all, and all Docker's. */
function expectKeys(ours: Doc, theirs: Doc | undefined, docker: string[], what: string): void {
  const keys = Object.keys(ours);
  expect(docker.filter((k) => !keys.includes(k)), `${what}: Docker's keys missing`).toEqual([]);
  if (theirs) expect(Object.keys(theirs).filter((k) => docker.includes(k) && !keys.includes(k)), `${what}: podman's Docker keys missing`).toEqual([]);
}

/** The cgroup directories podman made under our parent, in every v1 hierarchy and the v2 tree. */
function podmanCgroups(): string[] {
  const top = '/sys/fs/cgroup';
  return [join(top, tag), ...readdirSync(top).map((d) => join(top, d, tag))].filter((d) => existsSync(d));
}

function removeCgroupTree(dir: string): void {
  for (const sub of readdirSync(dir, { withFileTypes: true })) if (sub.isDirectory()) removeCgroupTree(join(dir, sub.name));
  rmdirSync(dir);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-inspect-'));
  root = join(work, 'root');
  bindDir = join(work, 'bind');
  mkdirSync(bindDir);
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  network = `cwtest-insp-${process.pid}`;
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.209.${process.pid % 250}.0/24`], { env: { CUTAWAY_ROOT: root } });
  expect(made.stderr).toBe('');
  if (!HAVE_PODMAN) return;
  cniBridgeBefore = existsSync('/sys/class/net/cni-podman0');
  for (const d of ['cni', 'tmp', 'podman']) mkdirSync(join(work, d));
  const conf = join(work, 'containers.conf');
  // This host's hard limits (notes/machine.md) are below podman's default ulimits.
  writeFileSync(conf, ['[containers]', 'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]', '[engine]', `image_copy_tmp_dir = "${join(work, 'tmp')}"`, ''].join('\n'));
  podmanEnv = { ...process.env, TMPDIR: join(work, 'tmp'), CONTAINERS_CONF: conf };
  const layout = join(work, 'layout');
  await buildBusyboxImage(await OciLayout.create(layout));
  const store = join(work, 'podman');
  const copied = await runCommand('/usr/bin/skopeo', ['copy', '--quiet', `oci:${layout}:${BUSYBOX_REF}`, `containers-storage:[vfs@${join(store, 'root')}+${join(store, 'run')}]${BUSYBOX_REF}`], { env: podmanEnv });
  expect(copied.code, copied.stderr).toBe(0);
});

afterEach(async () => {
  await removeContainers(root);
  if (HAVE_PODMAN) {
    const left = (await podman(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (left.length) await podman(['rm', '-f', '--time', '0', ...left]);
  }
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: root } });
  if (HAVE_PODMAN) {
    for (const d of podmanCgroups()) removeCgroupTree(d);
    if (!cniBridgeBefore && existsSync('/sys/class/net/cni-podman0')) await runCommand('/usr/sbin/ip', ['link', 'del', 'cni-podman0']);
    // podman's mounts under its store (shm, the vfs layers are plain directories), innermost first.
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => m.startsWith(`${work}/`));
    for (const m of mounts.reverse()) await runCommand('/usr/bin/umount', ['-l', m]);
  }
  await removeTree(work);
});

describe('inspect of a container', () => {
  it.skipIf(!HAVE_PODMAN)("has Docker's keys and podman's values for the same run, running and stopped", async () => {
    const common = ['-e', 'FOO=bar', '-w', '/tmp', '-u', '1000', '-v', `${bindDir}:/data:ro`, '-m', '64m', '--label', 'a=b'];
    const ran = await cutaway(['run', '-d', '--name', 'cw-insp', '--network', network, '-p', `${port}:80`, ...common, BUSYBOX_REF, 'sleep', '1000']);
    expect(ran.code, ran.stderr).toBe(0);
    const id = ran.stdout.trim();
    const pran = await podman(['run', '-d', '--cgroup-parent', tag, '--name', 'cw-insp-p', '-p', `${podmanPort}:80`, ...common, BUSYBOX_REF, 'sleep', '1000']);
    expect(pran.code, pran.stderr).toBe(0);

    const ours = await inspectOne(cutaway, ['inspect', 'cw-insp']);
    const theirs = await inspectOne(podman, ['inspect', 'cw-insp-p']);
    expectKeys(ours, theirs, DOCKER_CONTAINER_KEYS, 'top');
    expectKeys(ours.State, theirs.State, DOCKER_STATE_KEYS, 'State');
    expectKeys(ours.Config, theirs.Config, DOCKER_CONFIG_KEYS, 'Config');
    expectKeys(ours.HostConfig, theirs.HostConfig, DOCKER_HOST_CONFIG_KEYS, 'HostConfig');
    expectKeys(ours.NetworkSettings, theirs.NetworkSettings, DOCKER_NETWORK_KEYS, 'NetworkSettings');
    expectKeys(ours.NetworkSettings.Networks[network], theirs.NetworkSettings.Networks.podman, DOCKER_ENDPOINT_KEYS, 'Networks.NAME');
    expectKeys(ours.Mounts[0], theirs.Mounts[0], DOCKER_BIND_KEYS, 'Mounts[0]');

    // The same values as podman's (podman's Name has no "/", its Image no "sha256:", its Env adds its own variables).
    const pick = (doc: Doc, keys: string[]) => Object.fromEntries(keys.map((k) => [k, doc[k]]));
    expect(pick(ours, ['Path', 'Args'])).toEqual(pick(theirs, ['Path', 'Args']));
    expect(ours).toMatchObject({ Id: id, Name: '/cw-insp', Image: `sha256:${theirs.Image}`, Driver: 'overlay', Platform: 'linux', RestartCount: 0, ExecIDs: null });
    const stateKeys = ['Status', 'Running', 'Paused', 'Restarting', 'OOMKilled', 'Dead', 'ExitCode', 'Error', 'FinishedAt'];
    expect(pick(ours.State, stateKeys)).toEqual(pick(theirs.State, stateKeys));
    expect(ours.State).toMatchObject({ Status: 'running', FinishedAt: ZERO_TIME });
    expect(readFileSync(`/proc/${ours.State.Pid}/cmdline`, 'utf8')).toBe('sleep\u00001000\u0000');
    const configKeys = ['User', 'WorkingDir', 'Cmd', 'Labels', 'Image', 'Tty', 'OpenStdin', 'StdinOnce', 'AttachStdin', 'AttachStdout', 'AttachStderr', 'Domainname', 'Volumes', 'OnBuild'];
    expect(pick(ours.Config, configKeys)).toEqual(pick(theirs.Config, configKeys));
    // Docker's order is the image's, then -e; podman's its own.
    expect(ours.Config.Env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'FOO=bar']);
    expect([...ours.Config.Env].sort()).toEqual(theirs.Config.Env.filter((e: string) => !PODMAN_ENV.test(e)).sort());
    expect(ours.Config).toMatchObject({ Hostname: id.slice(0, 12), Entrypoint: null, ExposedPorts: { '80/tcp': {} } });
    expect(ours.HostConfig).toMatchObject({ Memory: theirs.HostConfig.Memory, NanoCpus: 0, PidsLimit: null, Privileged: false, ReadonlyRootfs: false, AutoRemove: false, NetworkMode: network, Binds: [`${bindDir}:/data:ro`] });
    expect(theirs.HostConfig.Binds[0]).toMatch(new RegExp(`^${bindDir}:/data:ro\\b`));
    expect(ours.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: String(port) }] });
    expect(theirs.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: String(podmanPort) }] });
    const mountKeys = ['Type', 'Source', 'Destination', 'RW', 'Propagation'];
    expect(pick(ours.Mounts[0], mountKeys)).toEqual(pick(theirs.Mounts[0], mountKeys));
    expect(ours.Mounts).toEqual([{ Type: 'bind', Source: bindDir, Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate' }]);
    expect(ours.GraphDriver.Name).toBe('overlay');
    expect(Object.keys(ours.GraphDriver.Data).sort()).toEqual(['LowerDir', 'MergedDir', 'UpperDir', 'WorkDir']);
    expect(ours.GraphDriver.Data.UpperDir).toBe(join(root, 'containers', id, 'upper'));

    // Its address on the network, as netbridge gave it; the network's ID as network inspect shows it.
    const net = (await inspectOne(cutaway, ['network', 'inspect', network])) as Doc;
    const subnet = `10.209.${process.pid % 250}`;
    const endpoint = ours.NetworkSettings.Networks[network];
    expect(endpoint).toMatchObject({ NetworkID: net.Id, Gateway: `${subnet}.1`, IPPrefixLen: 24, EndpointID: id.slice(0, 12) });
    expect(endpoint.IPAddress).toMatch(new RegExp(`^${subnet.replace(/\./g, '\\.')}\\.\\d+$`));
    expect(endpoint.MacAddress).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(net.Containers[id]).toMatchObject({ MacAddress: endpoint.MacAddress, IPv4Address: `${endpoint.IPAddress}/24` });
    expect(pick(ours.NetworkSettings, ADDRESS_KEYS)).toEqual(pick(endpoint, ADDRESS_KEYS));
    for (const doc of [ours, theirs]) expect(doc.NetworkSettings.SandboxKey).not.toBe('');
    expect(ours.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });

    // Stopped (sleep as PID 1 ignores SIGTERM: both kill it): exited, 137, no address left.
    expect((await cutaway(['stop', '-t', '0', 'cw-insp'])).code).toBe(0);
    expect((await podman(['stop', '-t', '0', 'cw-insp-p'])).code).toBe(0);
    const stopped = await inspectOne(cutaway, ['inspect', 'cw-insp']);
    const pstopped = await inspectOne(podman, ['inspect', 'cw-insp-p']);
    expect(pick(stopped.State, [...stateKeys, 'Pid'].filter((k) => k !== 'FinishedAt'))).toEqual(pick(pstopped.State, [...stateKeys, 'Pid'].filter((k) => k !== 'FinishedAt')));
    expect(stopped.State).toMatchObject({ Status: 'exited', Running: false, Pid: 0, ExitCode: 137 });
    expect(stopped.State.FinishedAt).not.toBe(ZERO_TIME);
    expect(Date.parse(stopped.State.FinishedAt)).toBeGreaterThanOrEqual(Date.parse(stopped.State.StartedAt));
    const netKeys = [...ADDRESS_KEYS, 'SandboxKey'];
    expect(pick(stopped.NetworkSettings, netKeys)).toEqual(pick(pstopped.NetworkSettings, netKeys));
    expect(pick(stopped.NetworkSettings.Networks[network], ADDRESS_KEYS)).toEqual(pick(pstopped.NetworkSettings.Networks.podman, ADDRESS_KEYS));
    expect(stopped.NetworkSettings).toMatchObject({ IPAddress: '', Gateway: '', MacAddress: '', IPPrefixLen: 0, Ports: {} });
    expect(stopped.NetworkSettings.Networks[network].NetworkID).toBe(net.Id);
    // What run was asked stays: the port bindings, the config.
    expect(stopped.HostConfig.PortBindings).toEqual(ours.HostConfig.PortBindings);
    expect(stopped.Config).toEqual(ours.Config);
  });

  it('keeps what run decided: entrypoint, labels, tmpfs, limits, named volumes, --network none', async () => {
    const ran = await cutaway(['run', '-d', '--name', 'cw-insp-opts', '--network', 'none', '--entrypoint', 'sh', '-l', 'x=1', '--label', 'y', '-v', 'cwinspvol:/vol', '--tmpfs', '/scratch', '--cpus', '0.5', '--pids-limit', '64', '--read-only', BUSYBOX_REF, '-c', 'sleep 1000']);
    expect(ran.code, ran.stderr).toBe(0);
    const doc = await inspectOne(cutaway, ['inspect', '--type', 'container', 'cw-insp-opts']);
    expect(doc).toMatchObject({ Path: 'sh', Args: ['-c', 'sleep 1000'] });
    expect(doc.Config).toMatchObject({ Entrypoint: ['sh'], Cmd: ['-c', 'sleep 1000'], Labels: { x: '1', y: '' }, AttachStdout: false, Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] });
    expect(doc.Config.ExposedPorts).toBeUndefined();
    expect(doc.HostConfig).toMatchObject({ NetworkMode: 'none', NanoCpus: 500_000_000, PidsLimit: 64, Memory: 0, ReadonlyRootfs: true, Tmpfs: { '/scratch': '' }, Binds: ['cwinspvol:/vol'], PortBindings: {} });
    expect(doc.Mounts).toEqual([{ Type: 'volume', Name: 'cwinspvol', Source: join(root, 'volumes', 'cwinspvol', '_data'), Destination: '/vol', Driver: 'local', Mode: 'z', RW: true, Propagation: '' }]);
    expect(Object.keys(doc.NetworkSettings.Networks)).toEqual(['none']);
    expect(doc.NetworkSettings.Networks.none).toMatchObject({ IPAddress: '', MacAddress: '' });
    expect(doc.NetworkSettings.Networks.none.NetworkID).toMatch(/^[0-9a-f]{64}$/);
    await cutaway(['rm', '-f', 'cw-insp-opts']);
    await cutaway(['volume', 'rm', 'cwinspvol']);
  });
});

describe('image inspect', () => {
  it.skipIf(!HAVE_PODMAN)("has Docker's keys and podman's values for the fixture", async () => {
    const ours = await inspectOne(cutaway, ['image', 'inspect', BUSYBOX_REF]);
    const theirs = await inspectOne(podman, ['image', 'inspect', BUSYBOX_REF]);
    expect(await inspectOne(cutaway, ['inspect', BUSYBOX_REF])).toEqual(ours);
    expectKeys(ours, theirs, DOCKER_IMAGE_KEYS, 'image');
    expect(ours.Id).toBe(`sha256:${theirs.Id}`);
    for (const k of ['RepoTags', 'RepoDigests', 'Parent', 'Comment', 'Created', 'Author', 'Config', 'Architecture', 'Os', 'RootFS']) expect(ours[k], k).toEqual(theirs[k]);
    expect(ours.Metadata).toEqual({ LastTagTime: ZERO_TIME });
    expect(ours.GraphDriver).toMatchObject({ Name: 'overlay', Data: { LowerDir: join(root, 'layers', 'sha256', ours.RootFS.Layers[0].slice('sha256:'.length)) } });
    // Size: cutaway's is what the store holds (config and layers as pulled, what `images` shows); podman's the
    // layers uncompressed (as Docker's graph drivers count them) and the config and manifest it keeps beside them.
    const manifest = JSON.parse(readFileSync(join(root, 'images', 'blobs', 'sha256', theirs.Digest.slice('sha256:'.length)), 'utf8')) as { config: { size: number }; layers: { size: number; digest: string }[] };
    expect(ours.Size).toBe(manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0));
    const uncompressed = manifest.layers.reduce((n, l) => n + gunzipSync(readFileSync(join(root, 'images', 'blobs', 'sha256', l.digest.slice('sha256:'.length)))).length, 0);
    expect(theirs.Size - uncompressed).toBeGreaterThanOrEqual(manifest.config.size);
    expect(theirs.Size - uncompressed).toBeLessThan(4096);
  });
});
