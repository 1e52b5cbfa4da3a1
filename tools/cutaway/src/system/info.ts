import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, hostname, machine, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { rootless } from '@cutaway/cli';
import { command, NO_OPERANDS, VERSION } from '../command.ts';
import { FORMAT_OPTION, formatOutput } from '../format.ts';
import { currentState } from '../containers/state.ts';
import { ContainerStore } from '../containers/store.ts';
import { ImageStore, isIntermediate } from '../images/store.ts';
import { cgroupVersion } from './host.ts';

/** docker info: what there is (containers by state, images) and what it runs on. */

/** statfs(2) f_type magics (linux/magic.h), named as Docker's fsutils names the backing filesystem. */
const FILESYSTEMS: Record<number, string> = {
  0xef53: 'extfs',
  0x01021994: 'tmpfs',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x794c7630: 'overlayfs',
  0x6969: 'nfs',
  0x2fc12fc1: 'zfs',
};

/** go-units BytesSize: binary units, four significant digits ("7.763GiB"). */
function bytesSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${units[unit]}`;
}

function operatingSystem(): string {
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(osRelease)?.[1] ?? 'Linux';
}

async function printInfo(given: string, format: string | undefined): Promise<void> {
  const root = resolve(given);
  const store = new ContainerStore(root);
  const states = store.ids().map((id) => currentState(store, id).status);
  const running = states.filter((s) => s === 'running').length;
  const images = (await ImageStore.open(root)).images.filter((i) => !isIntermediate(i)).length;
  const cgroup = cgroupVersion();
  const backing = existsSync(root) ? statfsSync(root).type : undefined;
  // Rootless, containers get no cgroup (none is delegated to the user, rootless.ts) and slirp4netns for a bridge:
  // Docker says "Cgroup Driver: none" then.
  const isRootless = rootless();
  if (format !== undefined) {
    process.stdout.write(formatOutput(format, infoDocument({ root, containers: states.length, running, images, cgroup, backing, isRootless })));
    return;
  }
  const lines = [
    `Containers: ${states.length}`,
    ` Running: ${running}`,
    // cutaway has no docker pause: nothing is ever paused.
    ' Paused: 0',
    ` Stopped: ${states.length - running}`,
    `Images: ${images}`,
    `Server Version: cutaway ${VERSION}`,
    'Storage Driver: overlay',
    ...(backing !== undefined ? [` Backing Filesystem: ${FILESYSTEMS[backing] ?? `0x${backing.toString(16)}`}`] : []),
    'Logging Driver: json-file',
    // cg-limit writes the cgroup filesystem itself; no systemd in between.
    `Cgroup Driver: ${isRootless ? 'none' : 'cgroupfs'}`,
    `Cgroup Version: ${cgroup}`,
    'Plugins:',
    ' Volume: local',
    ` Network: ${isRootless ? 'slirp4netns' : 'bridge'} host null`,
    'Runtimes: ns-exec',
    'Default Runtime: ns-exec',
    // As docker info lists them: ns-exec's Docker default seccomp profile, its cgroup namespace, and rootless mode.
    'Security Options:',
    ' seccomp',
    '  Profile: builtin',
    ...(isRootless ? [' rootless'] : []),
    ' cgroupns',
    `Kernel Version: ${release()}`,
    `Operating System: ${operatingSystem()}`,
    'OSType: linux',
    `Architecture: ${machine()}`,
    `CPUs: ${availableParallelism()}`,
    `Total Memory: ${bytesSize(totalmem())}`,
    `Name: ${hostname()}`,
    `Cutaway Root Dir: ${root}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

/** What printInfo found, for --format. */
interface Found {
  root: string;
  containers: number;
  running: number;
  images: number;
  cgroup: number;
  backing: number | undefined;
  isRootless: boolean;
}

/** docker info --format's data: the API's Info keys (docker system info's), for what cutaway has. */
function infoDocument(f: Found): Record<string, unknown> {
  return {
    ID: '',
    Containers: f.containers,
    ContainersRunning: f.running,
    ContainersPaused: 0,
    ContainersStopped: f.containers - f.running,
    Images: f.images,
    Driver: 'overlay',
    DriverStatus: f.backing !== undefined ? [['Backing Filesystem', FILESYSTEMS[f.backing] ?? `0x${f.backing.toString(16)}`]] : [],
    Plugins: { Volume: ['local'], Network: [f.isRootless ? 'slirp4netns' : 'bridge', 'host', 'null'], Authorization: null, Log: ['json-file'] },
    LoggingDriver: 'json-file',
    CgroupDriver: f.isRootless ? 'none' : 'cgroupfs',
    CgroupVersion: String(f.cgroup),
    KernelVersion: release(),
    OperatingSystem: operatingSystem(),
    OSType: 'linux',
    Architecture: machine(),
    NCPU: availableParallelism(),
    MemTotal: totalmem(),
    DockerRootDir: f.root,
    Name: hostname(),
    ServerVersion: `cutaway ${VERSION}`,
    Runtimes: { 'ns-exec': { path: 'ns-exec' } },
    DefaultRuntime: 'ns-exec',
    SecurityOptions: ['name=seccomp,profile=builtin', ...(f.isRootless ? ['name=rootless'] : []), 'name=cgroupns'],
  };
}

export const info = command(
  {
    name: 'info',
    summary: 'Show what cutaway holds and what it runs on',
    synopsis: ['[--format FORMAT]'],
    description: [
      'Containers (running, paused, stopped), images (build-cache steps aside, as system df counts them), the storage',
      'driver (overlay: unpacked layers as lower dirs), the cgroup driver and version, the security options (rootless',
      'for an ordinary user), kernel, OS, CPUs, memory and the state root, in the shape of docker info.',
    ].join('\n'),
    options: [{ ...FORMAT_OPTION, help: "a Go template on docker info's data ('{{.CgroupVersion}}'), or json" }],
    operands: NO_OPERANDS,
    examples: ['cutaway info', 'cutaway info | grep "Cgroup Version"', "cutaway info --format '{{.KernelVersion}}'"],
    classic: ['docker info', 'uname -r; nproc; stat -f -c %T /sys/fs/cgroup; . /etc/os-release'],
  },
  (inv, root) => printInfo(root, inv.options.format),
);
