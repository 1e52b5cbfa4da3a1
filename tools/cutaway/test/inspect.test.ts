/**
 * cutaway inspect and image inspect against podman's on the same image and an equivalent container (podman
 * follows Docker's shapes). podman gets a throwaway store (test/fixtures/podman.ts: vfs, runc, cgroupfs under a
 * cw-named cgroup parent, no events, the busybox fixture under its name, its default `podman` CNI network).
 * Keys podman has that Docker's API lacks are ignored: each section is compared on Docker's keys (moby api/types
 * ContainerJSON, ImageInspect), listed below. Everything is removed afterwards: podman's containers, mounts,
 * cgroups and CNI bridge (the fixture's remove), then the work directory.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { HAVE_PODMAN, podmanStore, type PodmanStore } from '../../../test/fixtures/podman.ts';

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

const tag = `cw-insp-${process.pid}`;
let work: string;
let root: string;
let network: string;
let podmanHere: PodmanStore | undefined;
let bindDir: string;
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

function podman(args: string[]): Promise<CommandResult> {
  return podmanHere!.run(args);
}

/** Docker's keys of a section that podman's document has too: ours must have them all, and all Docker's. */
function expectKeys(ours: Doc, theirs: Doc | undefined, docker: string[], what: string): void {
  const keys = Object.keys(ours);
  expect(docker.filter((k) => !keys.includes(k)), `${what}: Docker's keys missing`).toEqual([]);
  if (theirs) expect(Object.keys(theirs).filter((k) => docker.includes(k) && !keys.includes(k)), `${what}: podman's Docker keys missing`).toEqual([]);
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
  if (HAVE_PODMAN) podmanHere = await podmanStore(join(work, 'podman'), tag);
});

afterEach(async () => {
  await removeContainers(root);
  await podmanHere?.removeContainers();
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: root } });
  await podmanHere?.remove();
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
    // Docker's order is the container's variables, then the image's it does not name (moby daemon/commit.go merge); podman's its own.
    expect(ours.Config.Env).toEqual(['FOO=bar', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
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

describe('inspect of what run resolved', () => {
  it.skipIf(!HAVE_PODMAN)('-p 80: the host port chosen in NetworkSettings.Ports (and port, ps), "" in HostConfig.PortBindings as Docker keeps the request', async () => {
    const ran = await cutaway(['run', '-d', '--name', 'cw-anyport', '--network', network, '-p', '80', '-p', `${port}:81`, BUSYBOX_REF, 'sleep', '1000']);
    expect(ran.code, ran.stderr).toBe(0);
    const pran = await podman(['run', '-d', '--cgroup-parent', tag, '--name', 'cw-anyport-p', '-p', '80', BUSYBOX_REF, 'sleep', '1000']);
    expect(pran.code, pran.stderr).toBe(0);
    const ours = await inspectOne(cutaway, ['inspect', 'cw-anyport']);
    const theirs = await inspectOne(podman, ['inspect', 'cw-anyport-p']);
    const chosen = ours.NetworkSettings.Ports['80/tcp'][0].HostPort as string;
    expect(chosen).toMatch(/^\d+$/);
    expect(chosen).not.toBe(String(port));
    expect(ours.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: chosen }], '81/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });
    // podman shows its chosen port in NetworkSettings.Ports as well (and, unlike Docker, in PortBindings too).
    expect(theirs.NetworkSettings.Ports['80/tcp'][0].HostPort).toMatch(/^\d+$/);
    expect(ours.HostConfig.PortBindings).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '' }], '81/tcp': [{ HostIp: '', HostPort: String(port) }] });
    expect((await cutaway(['port', 'cw-anyport'])).stdout).toBe(`80/tcp -> 0.0.0.0:${chosen}\n81/tcp -> 0.0.0.0:${port}\n`);
    expect((await cutaway(['port', 'cw-anyport', '80/tcp'])).stdout).toBe(`0.0.0.0:${chosen}\n`);
    expect((await cutaway(['ps', '--format', '{{.Ports}}'])).stdout).toBe(`0.0.0.0:${chosen}->80/tcp, 0.0.0.0:${port}->81/tcp\n`);
    // Docker's error for a port not published; a stopped container publishes none.
    expect(await cutaway(['port', 'cw-anyport', '82'])).toMatchObject({ code: 1, stderr: "cutaway port: error: No public port '82/tcp' published for cw-anyport\n" });
    expect((await cutaway(['stop', '-t', '0', 'cw-anyport'])).code).toBe(0);
    expect(await cutaway(['port', 'cw-anyport'])).toMatchObject({ code: 0, stdout: '' });
    expect((await cutaway(['ps', '-a', '--format', '[{{.Ports}}]'])).stdout).toBe('[]\n');
  });

  it.skipIf(!HAVE_PODMAN)('--env-file: its variables in Config.Env as Docker\'s CLI reads them, before -e, then the image\'s', async () => {
    const file = join(work, 'cw.env');
    writeFileSync(file, ['# a comment', '', 'FROM_FILE=one two', '  INDENTED=x', 'QUOTED="kept"', 'PASSED', 'PATH=/usr/bin:/bin', ''].join('\n'));
    const common = ['--env-file', file, '-e', 'FROM_FLAG=2'];
    const env = { CUTAWAY_ROOT: root, PASSED: 'from the caller' };
    const ran = await runCommand('cutaway', ['run', '--name', 'cw-envfile', '--network', 'none', ...common, BUSYBOX_REF, 'env'], { env });
    expect(ran.code, ran.stderr).toBe(0);
    const pran = await runCommand('/usr/bin/podman', [...podmanHere!.globalArgs, 'run', '--cgroup-parent', tag, '--network', 'none', '--name', 'cw-envfile-p', ...common, BUSYBOX_REF, 'env'], { env: { ...podmanHere!.env, PASSED: 'from the caller' } });
    expect(pran.code, pran.stderr).toBe(0);
    const expected = ['FROM_FILE=one two', 'INDENTED=x', 'QUOTED="kept"', 'PASSED=from the caller', 'PATH=/usr/bin:/bin', 'FROM_FLAG=2'];
    const ours = await inspectOne(cutaway, ['inspect', 'cw-envfile']);
    const theirs = await inspectOne(podman, ['inspect', 'cw-envfile-p']);
    // The image's PATH is named by the file: not added again.
    expect(ours.Config.Env).toEqual(expected);
    expect([...ours.Config.Env].sort()).toEqual(theirs.Config.Env.filter((e: string) => !PODMAN_ENV.test(e)).sort());
    // What the process had, each variable once.
    expect(ran.stdout.split('\n').filter((l) => expected.includes(l)).sort()).toEqual([...expected].sort());
    // Read once, at run: a start after the file has changed has them as they were.
    writeFileSync(file, 'FROM_FILE=changed\n');
    expect((await cutaway(['start', '-a', 'cw-envfile'])).stdout).toContain('FROM_FILE=one two\n');
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
