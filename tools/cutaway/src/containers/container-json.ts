import { basename, dirname } from 'node:path';
import { parseBytes, readMountRecord } from '@cutaway/cli';
import type { Digest } from '@cutaway/oci';
import { GRAPH_DRIVER, lowerDir, ZERO_TIME } from '../images/inspect.ts';
import type { ImageStore } from '../images/store.ts';
import { VolumeStore } from '../volumes/store.ts';
import { healthOf } from './health.ts';
import { endpointOf, firstNetwork } from './networks.ts';
import { boundPorts, publishedPorts } from './ports.ts';
import { currentState, exitCodeOf, isPaused, statusName } from './state.ts';
import type { ContainerConfigRecord, ContainerStore, EndpointAddress } from './store.ts';

/**
 * docker inspect's document for a container: moby's ContainerJSON (API 1.44's keys, in its order), from the
 * container's record (config.json: what run decided), its state, its image's config and overlay-mount's
 * record. A container that does not run has no address, as Docker's: its endpoint is down. What cutaway
 * does not have (restart policies, SELinux and AppArmor labels) has Docker's empty value;
 * README.md's inspect section lists where cutaway differs on purpose.
 */

/** What inspect looks up once for all containers: the images (for Image and the image config) and the networks' IDs by name. */
export interface InspectContext {
  root: string;
  images: ImageStore | undefined;
  networkIds: Map<string, string>;
}

/** The values of one ns-exec option (`-e`, `-v`, …) in the order given. */
function optionValues(options: readonly string[], flag: string): string[] {
  return options.flatMap((o, i) => (o === flag && i + 1 < options.length ? [options[i + 1]!] : []));
}

const envKey = (entry: string): string => entry.split('=')[0]!;

/**
 * Docker's Config.Env: the variables of --env-file and -e as its CLI resolved them, then the image's that they do
 * not name (moby daemon/commit.go merge). The image's are ns-exec's first -e options, before the container's own.
 * A record made before `env` was kept: the image's, each -e replacing a variable of the same name in place.
 */
function configEnv(c: ContainerConfigRecord): string[] {
  const all = optionValues(c.nsExecOptions, '-e');
  if (c.env) {
    const image = all.slice(0, all.length - c.env.filter((e) => e.includes('=')).length);
    const named = new Set(c.env.map(envKey));
    return [...c.env, ...image.filter((e) => !named.has(envKey(e)))];
  }
  const env: string[] = [];
  for (const e of all) {
    const at = env.findIndex((x) => envKey(x) === envKey(e));
    if (at < 0) env.push(e);
    else env[at] = e;
  }
  return env;
}

/** Mounts: each -v ns-exec got (a named volume resolved to volumes/NAME/_data), as Docker's MountPoint. --tmpfs is HostConfig.Tmpfs only. */
function mountsOf(c: ContainerConfigRecord, root: string): Record<string, unknown>[] {
  const volumes = new VolumeStore(root);
  return optionValues(c.nsExecOptions, '-v').map((spec) => {
    const [source = '', destination = '', mode] = spec.split(':');
    const rw = !(mode ?? '').split(',').includes('ro');
    const volume = basename(dirname(source));
    // An anonymous volume (the image's VOLUME, -v /DST) has no mode, as under Docker; a named one's is z.
    return volumes.mountpoint(volume) === source
      ? { Type: 'volume', Name: volume, Source: source, Destination: destination, Driver: 'local', Mode: mode ?? (c.anonymousVolumes?.includes(volume) ? '' : 'z'), RW: rw, Propagation: '' }
      : { Type: 'bind', Source: source, Destination: destination, Mode: mode ?? '', RW: rw, Propagation: 'rprivate' };
  });
}

/** --device HOST[:CTR][:rwm] as Docker's DeviceMapping. */
function deviceOf(spec: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const [host = '', ...rest] = spec.split(':');
  const permissions = rest.length && /^[rwm]+$/.test(rest.at(-1)!) ? rest.pop()! : 'rwm';
  return { PathOnHost: host, PathInContainer: rest[0] ?? host, CgroupPermissions: permissions };
}

/** The value after a cg-limit option in the recorded limits. */
const limit = (c: ContainerConfigRecord, flag: string): string | undefined => optionValues(c.limits, flag).at(-1);

function hostConfig(c: ContainerConfigRecord): Record<string, unknown> {
  const ns = c.nsExecOptions;
  const memory = limit(c, '-m');
  const cpus = limit(c, '--cpus');
  const pids = limit(c, '--pids-limit');
  const securityOpt = optionValues(ns, '--security-opt');
  return {
    Binds: c.binds?.length ? c.binds : optionValues(ns, '-v').length ? optionValues(ns, '-v') : null,
    ContainerIDFile: '',
    LogConfig: { Type: 'json-file', Config: {} },
    NetworkMode: firstNetwork(c),
    PortBindings: Object.fromEntries(publishedPorts(c).map(({ port, hostPort }) => [port, [{ HostIp: '', HostPort: hostPort }]])),
    RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
    AutoRemove: c.autoRemove,
    VolumeDriver: '',
    VolumesFrom: null,
    ConsoleSize: [0, 0],
    CapAdd: null,
    CapDrop: null,
    CgroupnsMode: 'private',
    Dns: [],
    DnsOptions: [],
    DnsSearch: [],
    ExtraHosts: null,
    GroupAdd: null,
    IpcMode: 'private',
    Cgroup: '',
    Links: null,
    OomScoreAdj: 0,
    PidMode: '',
    Privileged: ns.includes('--privileged'),
    PublishAllPorts: false,
    ReadonlyRootfs: ns.includes('--read-only'),
    SecurityOpt: securityOpt.length ? securityOpt : null,
    ...(ns.includes('--tmpfs') && { Tmpfs: Object.fromEntries(optionValues(ns, '--tmpfs').map((t) => [t, ''])) }),
    UTSMode: '',
    UsernsMode: '',
    ShmSize: 67108864,
    Runtime: 'ns-exec',
    Isolation: '',
    CpuShares: 0,
    Memory: memory !== undefined ? parseBytes(memory, '-m') : 0,
    NanoCpus: cpus !== undefined ? Math.round(Number(cpus) * 1e9) : 0,
    // The container's own cgroup is cw-ID12 (cg-limit's NAME); Docker's CgroupParent is the --cgroup-parent asked for.
    CgroupParent: '',
    BlkioWeight: 0,
    CpuPeriod: 0,
    CpuQuota: 0,
    CpusetCpus: '',
    CpusetMems: '',
    Devices: optionValues(ns, '--device').map(deviceOf),
    MemoryReservation: 0,
    // cutaway run sets no swap limit (cg-limit --memory-swap): unlimited, Docker's -1.
    MemorySwap: memory !== undefined ? -1 : 0,
    MemorySwappiness: null,
    OomKillDisable: false,
    PidsLimit: pids !== undefined ? Number(pids) : null,
    Ulimits: null,
  };
}

/** One network's EndpointSettings; a container that does not run has none of its address. */
function endpointSettings(c: ContainerConfigRecord, networkId: string, address: EndpointAddress | undefined, up: boolean): Record<string, unknown> {
  const a = up ? address : undefined;
  return {
    IPAMConfig: null,
    Links: null,
    Aliases: null,
    MacAddress: a?.mac ?? '',
    DriverOpts: null,
    NetworkID: networkId,
    EndpointID: a?.ip ? endpointOf(c) : '',
    Gateway: a?.gateway ?? '',
    IPAddress: a?.ip ?? '',
    IPPrefixLen: Number(a?.prefix ?? 0) || 0,
    IPv6Gateway: '',
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    DNSNames: null,
  };
}

function networkSettings(c: ContainerConfigRecord, up: boolean, networkIds: Map<string, string>): Record<string, unknown> {
  const record = c.network;
  const first = firstNetwork(c);
  const networks: [string, EndpointAddress | undefined][] = [[first, record], ...(record?.connected ?? []).map((n): [string, EndpointAddress] => [n.name, n])];
  const eth0 = endpointSettings(c, '', record, up);
  return {
    Bridge: '',
    SandboxID: '',
    SandboxKey: up ? (record?.netns ?? '') : '',
    // Only while it runs: its ports are published while its endpoint is up.
    Ports: up ? Object.fromEntries(boundPorts(c).map(({ port, hostPort }) => [port, [{ HostIp: '0.0.0.0', HostPort: hostPort }]])) : {},
    HairpinMode: false,
    LinkLocalIPv6Address: '',
    LinkLocalIPv6PrefixLen: 0,
    SecondaryIPAddresses: null,
    SecondaryIPv6Addresses: null,
    EndpointID: eth0.EndpointID,
    Gateway: eth0.Gateway,
    GlobalIPv6Address: '',
    GlobalIPv6PrefixLen: 0,
    IPAddress: eth0.IPAddress,
    IPPrefixLen: eth0.IPPrefixLen,
    IPv6Gateway: '',
    MacAddress: eth0.MacAddress,
    Networks: Object.fromEntries(networks.map(([name, address]) => [name, endpointSettings(c, networkIds.get(name) ?? '', address, up)])),
  };
}

/** State.Health, only for a container with a health check that has started (moby: set by initHealthMonitor). */
const withHealth = (health: ReturnType<typeof healthOf>) => (health ? { Health: health } : {});

export function containerJSON(store: ContainerStore, id: string, ctx: InspectContext): Record<string, unknown> {
  const c = store.config(id);
  const s = currentState(store, id);
  const image = ctx.images?.images.find((i) => i.blobs.has(c.imageDigest as Digest));
  const imageConfig = image?.image.config.config;
  const running = s.status === 'running';
  const ns = c.nsExecOptions;
  const entrypoint = c.entrypoint ?? [];
  const cmd = c.command.slice(entrypoint.length);
  const attached = !c.detached;
  const exposed = [...Object.keys(imageConfig?.ExposedPorts ?? {}), ...publishedPorts(c).map((p) => p.port)];
  const mount = readMountRecord(store.path(id));
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0],
    Args: c.command.slice(1),
    State: {
      Status: statusName(s),
      Running: running,
      Paused: isPaused(s),
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (s.pid ?? 0) : 0,
      ExitCode: exitCodeOf(s),
      Error: s.error ?? '',
      StartedAt: s.startedAt ?? ZERO_TIME,
      FinishedAt: s.finishedAt ?? ZERO_TIME,
      ...withHealth(healthOf(store, c, s)),
    },
    // The image ID (the config's digest); the manifest it was made from, if the store has lost its image.
    Image: image?.id ?? c.imageDigest,
    ResolvConfPath: store.path(id, 'resolv.conf'),
    HostnamePath: store.path(id, 'hostname'),
    HostsPath: store.path(id, 'hosts'),
    LogPath: store.path(id, 'log'),
    Name: `/${c.name}`,
    RestartCount: 0,
    Driver: GRAPH_DRIVER,
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: hostConfig(c),
    GraphDriver: {
      Name: GRAPH_DRIVER,
      Data: {
        LowerDir: mount ? mount.lowers.join(':') : image ? lowerDir(ctx.root, image.image.config.rootfs.diff_ids) : '',
        MergedDir: mount?.merged ?? store.path(id, 'merged'),
        UpperDir: mount?.upper ?? store.path(id, 'upper'),
        WorkDir: mount?.work ?? store.path(id, 'work'),
      },
    },
    Mounts: mountsOf(c, ctx.root),
    Config: {
      Hostname: c.hostname,
      Domainname: '',
      User: optionValues(ns, '-u').at(-1) ?? '',
      AttachStdin: attached && c.interactive,
      AttachStdout: attached,
      AttachStderr: attached,
      ...(exposed.length && { ExposedPorts: Object.fromEntries(exposed.map((p) => [p, {}])) }),
      Tty: c.tty,
      OpenStdin: c.interactive,
      StdinOnce: attached && c.interactive,
      Env: configEnv(c),
      Cmd: cmd.length ? cmd : null,
      Image: c.imageRef ?? c.image,
      Volumes: imageConfig?.Volumes ?? null,
      WorkingDir: optionValues(ns, '-w').at(-1) ?? '',
      Entrypoint: entrypoint.length ? entrypoint : null,
      OnBuild: null,
      Labels: c.labels ?? {},
      ...(c.healthcheck && { Healthcheck: c.healthcheck }),
      // Its own (--stop-signal, else the image's); a record made before it kept one: the image's.
      ...((c.stopSignal ?? imageConfig?.StopSignal) !== undefined && { StopSignal: c.stopSignal ?? imageConfig?.StopSignal }),
      ...(c.stopTimeout !== undefined && { StopTimeout: c.stopTimeout }),
    },
    NetworkSettings: networkSettings(c, running, ctx.networkIds),
  };
}
