import { existsSync, readFileSync, statfsSync } from 'node:fs';
import { availableParallelism, hostname, machine, release, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { rootless } from '@cutaway/cli';
import { command, NO_OPERANDS, VERSION } from '../command.ts';
import { currentState } from '../containers/state.ts';
import { ContainerStore } from '../containers/store.ts';
import { ImageStore, isIntermediate } from '../images/store.ts';

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
const CGROUP2_SUPER_MAGIC = 0x63677270;

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

async function printInfo(given: string): Promise<void> {
  const root = resolve(given);
  const store = new ContainerStore(root);
  const states = store.ids().map((id) => currentState(store, id).status);
  const running = states.filter((s) => s === 'running').length;
  const images = (await ImageStore.open(root)).images.filter((i) => !isIntermediate(i)).length;
  // The unified hierarchy alone at /sys/fs/cgroup is v2; v1 or a hybrid (v2 at …/unified) is 1, as Docker says.
  const cgroupVersion = statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC ? 2 : 1;
  const backing = existsSync(root) ? statfsSync(root).type : undefined;
  // Rootless, containers get no cgroup (none is delegated to the user, rootless.ts) and slirp4netns for a bridge:
  // Docker says "Cgroup Driver: none" then.
  const isRootless = rootless();
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
    `Cgroup Version: ${cgroupVersion}`,
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

export const info = command(
  {
    name: 'info',
    synopsis: [''],
    description: [
      'Containers (running, paused, stopped), images (build-cache steps aside, as system df counts them), the storage',
      'driver (overlay: unpacked layers as lower dirs), the cgroup driver and version, the security options (rootless',
      'for an ordinary user), kernel, OS, CPUs, memory and the state root, in the shape of docker info.',
    ].join('\n'),
    options: [],
    operands: NO_OPERANDS,
    examples: ['cutaway info', 'cutaway info | grep "Cgroup Version"'],
    classic: ['docker info', 'uname -r; nproc; stat -f -c %T /sys/fs/cgroup; . /etc/os-release'],
  },
  (_inv, root) => printInfo(root),
);
