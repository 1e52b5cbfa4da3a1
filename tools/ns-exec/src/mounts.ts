import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { shellCommand, ToolError, UsageError } from '@cutaway/cli';
import { MS_BIND, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_STRICTATIME } from '@cutaway/libc/mount-flags';
import { deviceNumbers, parseDeviceSpec, S_IFCHR } from '@cutaway/libc/dev';
import type { MountEntry } from '@cutaway/libc/mountinfo';
import type { Plan } from './plan.ts';
import { resolveInRootfs } from './rootfs.ts';

/** How the container's filesystem is put together: a rootfs and what the options ask for. */
export interface FilesystemSetup {
  rootfs: string;
  /**
   * In a user namespace other than the initial one: the one ns-exec makes for a non-root caller, or the one
   * root runs ns-exec in (`unshare --user --map-root-user`). There mknod(2) of a device is refused, sysfs
   * mounts only for the owner of the network namespace, and devpts takes only a mapped gid= (user_namespaces(7)).
   */
  rootless: boolean;
  privileged: boolean;
  readOnly: boolean;
  /** A network namespace of its own (new, or joined with --netns): sysfs shows it. */
  ownNetwork: boolean;
  /** Whether gid 5 (tty) exists inside, for devpts' gid=5. */
  ttyGroupMapped: boolean;
  binds: Bind[];
  tmpfs: TmpfsMount[];
  workdir: string;
  terminal: boolean;
  /** --device: host device nodes made in the container. */
  devices: DeviceNode[];
}

/** A host device node and where it goes in the container (docker run --device HOST[:CTR]). */
export interface DeviceNode {
  host: string;
  path: string;
  /** The host node's st_mode: its type and permission bits. */
  mode: number;
  major: number;
  minor: number;
  /** The host node's owner, which the container's node gets (runc createDeviceNode chowns to the device's Uid/Gid). */
  uid: number;
  gid: number;
}

/** A node of the container's /dev: its path below /dev, and `host`, the node a rootless container binds (default /dev + path). */
type DevNode = Omit<DeviceNode, 'host'> & { host?: string };

export interface Bind {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface TmpfsMount {
  target: string;
  options: string[];
}

const FLAG_WORDS: Record<string, number> = {
  ro: MS_RDONLY, rw: 0, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC,
  strictatime: MS_STRICTATIME, relatime: MS_RELATIME, noatime: MS_NOATIME,
};

/** mount(8)'s split of `-o`: flag words become MS_* bits, the rest is the filesystem's data string. */
function splitOptions(options: readonly string[]): { flags: number; data: string } {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) if (o in FLAG_WORDS) flags |= FLAG_WORDS[o]!;
  else data.push(o);
  return { flags, data: data.join(',') };
}

/** Docker's masked paths (moby daemon/pkg/oci/defaults.go): hidden behind /dev/null or an empty read-only tmpfs. */
function maskedPaths(): string[] {
  const paths = ['/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/sched_debug',
    '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap', '/sys/firmware'];
  const cpus = '/sys/devices/system/cpu';
  if (existsSync(cpus)) for (const cpu of readdirSync(cpus)) if (/^cpu\d+$/.test(cpu)) paths.push(`${cpus}/${cpu}/thermal_throttle`);
  // The container's /proc and /sys show the same kernel as ours: what is missing here is missing there.
  return paths.filter((p) => existsSync(p));
}

const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The nodes every container's /dev has (runc's AllowedDevices): char devices, mode 0666. */
const DEVICES: [string, number, number][] = [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]];

/** Docker's sysctls for a container with a network of its own (moby WithCommonOptions). */
const NETWORK_SYSCTLS: [string, string][] = [['net.ipv4.ping_group_range', '0 2147483647'], ['net.ipv4.ip_unprivileged_port_start', '0']];

/** Every device node of the host's /dev, for --privileged (Docker gives a privileged container the host's devices, owners included). */
function hostDevices(dir = '/dev'): DevNode[] {
  const found: DevNode[] = [];
  for (const name of readdirSync(dir)) {
    const path = posix.join(dir, name);
    if (['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/dev/ptmx'].includes(path)) continue;
    const st = lstatSync(path);
    if (st.isDirectory()) found.push(...hostDevices(path));
    else if (st.isCharacterDevice() || st.isBlockDevice()) found.push({ path: path.slice('/dev'.length), mode: st.mode, ...deviceNumbers(st.rdev), uid: st.uid, gid: st.gid });
  }
  return found;
}

export class FilesystemPlanner {
  private readonly root: string;

  constructor(
    private readonly plan: Plan,
    /** The host's mount table (readMountinfo), for its cgroup hierarchies. */
    private readonly hostMounts: MountEntry[],
    private readonly setup: FilesystemSetup,
  ) {
    this.root = setup.rootfs;
  }

  /** A path of the container as the host sees it before pivot_root. */
  private at(path: string): string {
    return posix.join(this.root, path);
  }

  private mkdir(path: string): void {
    if (!existsSync(path)) this.plan.step('mkdir', ['mkdir', '-p', path], path, 0o755);
  }

  private mount(type: string, source: string, target: string, options: readonly string[]): void {
    const { flags, data } = splitOptions(options);
    this.plan.step('mount', ['mount', '-t', type, source, target, ...(options.length ? ['-o', options.join(',')] : [])], source, target, type, flags, data);
  }

  private bind(source: string, target: string, readOnly: boolean): void {
    this.plan.step('mount', ['mount', '--rbind', source, target], source, target, '', MS_BIND | MS_REC, '');
    if (readOnly) this.remount(target, 'ro');
  }

  /** A bind remount adding `ro` or `nodev` (ns-exec.c keeps the flags the mount has). */
  private remount(target: string, option: 'ro' | 'nodev'): void {
    this.plan.step('remount', ['mount', '-o', `remount,bind,${option}`, target], target, option === 'ro' ? MS_RDONLY : MS_NODEV);
  }

  /** Everything from the private mount table to the exec'd command's root: the order runc uses. */
  build(): void {
    const { plan, setup } = this;
    plan.step('mount', 'mount --make-rprivate /', '', '/', '', MS_REC | MS_PRIVATE, '');
    // pivot_root(2) needs the new root to be a mount point. nodev: a device node in the image opens nothing
    // (Docker's devices cgroup allows only its default nodes; see ns-exec.c's device filter).
    this.bind(this.root, this.root, false);
    if (!setup.privileged) this.remount(this.root, 'nodev');
    this.mkdir(this.at('/proc'));
    this.mount('proc', 'proc', this.at('/proc'), ['nosuid', 'noexec', 'nodev']);
    this.mkdir(this.at('/dev'));
    this.mount('tmpfs', 'tmpfs', this.at('/dev'), ['nosuid', 'strictatime', 'mode=755', 'size=65536k']);
    this.devices();
    this.mkdir(this.at('/sys'));
    if (setup.rootless && !setup.ownNetwork) {
      // sysfs can only be mounted by the owner of the network namespace (runc's rootless spec binds it instead).
      this.bind('/sys', this.at('/sys'), true);
    } else {
      this.mount('sysfs', 'sysfs', this.at('/sys'), ['nosuid', 'noexec', 'nodev', setup.privileged ? 'rw' : 'ro']);
      this.cgroups();
    }
    if (setup.ownNetwork && !setup.rootless)
      for (const [key, value] of NETWORK_SYSCTLS)
        plan.step('write', `sysctl -qw ${key}='${value}'`, this.at(`/proc/sys/${key.replaceAll('.', '/')}`), value);
    for (const b of setup.binds) this.userBind(b);
    for (const t of setup.tmpfs) {
      const target = this.target(t.target);
      this.mkdir(target);
      this.mount('tmpfs', 'tmpfs', target, t.options);
    }
    const workdir = resolveInRootfs(this.root, setup.workdir);
    this.mkdir(workdir);
    if (!setup.privileged) {
      for (const p of maskedPaths())
        plan.step('mask', statSync(p).isDirectory() ? ['mount', '-t', 'tmpfs', '-o', 'ro', 'tmpfs', this.at(p)] : ['mount', '--bind', this.at('/dev/null'), this.at(p)], this.at(p), this.at('/dev/null'));
      for (const p of READONLY_PATHS.filter((r) => existsSync(r)))
        plan.step('readonly', `mount --bind ${this.at(p)} ${this.at(p)} && mount -o remount,bind,ro ${this.at(p)}`, this.at(p));
    }
    if (setup.terminal)
      plan.step('pty', `# a terminal of ${this.at('/dev/pts')} becomes stdin, stdout, stderr and /dev/console, in a new session (what script(1) does)`, this.at('/dev/pts/ptmx'), this.at('/dev/console'));
    // --read-only: the rootfs' own mount, before the pivot (nothing writes to it after): the --dry-run script runs
    // nothing of its own after pivot_root (script.ts), and this is the mount that becomes /.
    if (setup.readOnly) this.remount(this.root, 'ro');
    plan.step('pivot', `cd ${this.root} && pivot_root . . && umount -l . && cd /`, this.root);
  }

  /** /dev: a tmpfs with devpts, shm, mqueue, the usual nodes and symlinks (runc's setupDevSymlinks, setupPtmx). */
  private devices(): void {
    const { plan, setup } = this;
    const dev = (name: string) => this.at(`/dev/${name}`);
    for (const dir of ['pts', 'shm', 'mqueue']) plan.step('mkdir', ['mkdir', dev(dir)], dev(dir), 0o755);
    // gid=5 (tty) where that group exists: devpts refuses an id its user namespace does not map (EINVAL), so
    // under `unshare --map-root-user` it is left out, as runc and podman leave it out (new ptys get the caller's gid).
    this.mount('devpts', 'devpts', dev('pts'), ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', ...(setup.ttyGroupMapped ? ['gid=5'] : [])]);
    this.mount('tmpfs', 'shm', dev('shm'), ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']);
    this.mount('mqueue', 'mqueue', dev('mqueue'), ['nosuid', 'noexec', 'nodev']);
    // runc's AllowedDevices are root's (Uid 0, Gid 0).
    let nodes: DevNode[] = DEVICES.map(([name, major, minor]) => ({ path: `/${name}`, mode: S_IFCHR | 0o666, major, minor, uid: 0, gid: 0 }));
    if (setup.privileged && !setup.rootless) nodes.push(...hostDevices().filter((d) => !nodes.some((n) => n.path === d.path)));
    // --device nodes in /dev take the place of any node of the same name; those elsewhere are bound in below.
    const own = setup.devices.filter((d) => d.path.startsWith('/dev/')).map((d) => ({ ...d, path: d.path.slice('/dev'.length) }));
    nodes = [...nodes.filter((n) => !own.some((d) => d.path === n.path)), ...own];
    for (const n of nodes) {
      const path = dev(n.path.slice(1));
      if (posix.dirname(n.path) !== '/') plan.step('mkdir', ['mkdir', '-p', posix.dirname(path)], posix.dirname(path), 0o755);
      if (setup.rootless) {
        // mknod(2) of a device takes CAP_MKNOD in the initial user namespace (user_namespaces(7), mknod(2)): the
        // host's node is bound over an empty file instead, as runc does for a rootless container. One line, both steps.
        // The bound node is the host's own, owner and mode included: nothing to chown.
        const host = n.host ?? `/dev${n.path}`;
        plan.step('touch', `${shellCommand(['touch', path])} && ${shellCommand(['mount', '--bind', host, path])}`, path);
        plan.step('mount', '', host, path, '', MS_BIND, '');
      } else {
        const type = (n.mode & 0o170000) === S_IFCHR ? 'c' : 'b';
        // Then chowned to the host node's owner, as runc's createDeviceNode does (a /dev/kvm stays group kvm's,
        // so a user of that group in the container opens it); mknod by root makes it root's already, so the
        // text says chown only for another owner.
        const text = shellCommand(['mknod', '-m', (n.mode & 0o7777).toString(8), path, type, String(n.major), String(n.minor)]);
        const chown = n.uid || n.gid ? ` && ${shellCommand(['chown', `${n.uid}:${n.gid}`, path])}` : '';
        plan.step('mknod', `${text}${chown}`, path, n.mode, n.major, n.minor, n.uid, n.gid);
      }
    }
    const links: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx']];
    if (existsSync('/proc/kcore')) links.push(['core', '/proc/kcore']);
    for (const [name, target] of links) plan.step('symlink', ['ln', '-s', target, dev(name)], target, dev(name));
    // A --device outside /dev: the rootfs is mounted nodev, so a node made there would not open; the host's node is
    // bound over an empty file instead (a bind mount keeps the device's own mount flags).
    for (const d of setup.devices.filter((x) => !x.path.startsWith('/dev/'))) {
      const target = this.target(d.path);
      this.mkdir(posix.dirname(target));
      if (!existsSync(target)) plan.step('touch', ['touch', target], target);
      plan.step('mount', ['mount', '--bind', d.host, target], d.host, target, '', MS_BIND, '');
    }
  }

  /**
   * /sys/fs/cgroup as seen from a new cgroup namespace. On a cgroup v2 host one
   * cgroup2 mount; on v1 and hybrid hosts a tmpfs holding each v1 hierarchy,
   * mounted afresh (rooted at the namespace's cgroup), and a symlink per
   * controller of a co-mounted one (cpu -> cpu,cpuacct) — what runc does with a
   * cgroup namespace; it leaves the hybrid v2 mount out, and so does this.
   */
  private cgroups(): void {
    const { setup } = this;
    const target = this.at('/sys/fs/cgroup');
    const access = setup.privileged ? 'rw' : 'ro';
    const mounts = this.hostMounts;
    if (setup.rootless) {
      this.bind('/sys/fs/cgroup', target, !setup.privileged);
      return;
    }
    if (mounts.some((m) => m.mountPoint === '/sys/fs/cgroup' && m.fstype === 'cgroup2')) {
      this.mount('cgroup2', 'cgroup', target, [access, 'nosuid', 'noexec', 'nodev']);
      return;
    }
    this.mount('tmpfs', 'tmpfs', target, ['nosuid', 'noexec', 'nodev', 'mode=755']);
    for (const m of mounts.filter((e) => e.fstype === 'cgroup' && posix.dirname(e.mountPoint) === '/sys/fs/cgroup')) {
      const name = posix.basename(m.mountPoint);
      const dir = posix.join(target, name);
      this.plan.step('mkdir', ['mkdir', dir], dir, 0o555);
      const controllers = m.superOptions.filter((o) => o !== 'rw' && o !== 'ro');
      this.mount('cgroup', name === 'systemd' ? 'systemd' : 'cgroup', dir, [access, 'nosuid', 'noexec', 'nodev', ...controllers]);
      if (name.includes(',')) for (const c of name.split(',')) this.plan.step('symlink', ['ln', '-s', name, posix.join(target, c)], name, posix.join(target, c));
    }
    if (!setup.privileged) this.remount(target, 'ro');
  }

  /**
   * A mount target inside the container: symlinks of the rootfs are followed
   * inside it; under /proc, /dev and /sys, which ns-exec mounts afresh, the
   * path is taken as written.
   */
  private target(path: string): string {
    if (!path.startsWith('/')) throw new UsageError(`mount target ${JSON.stringify(path)} must be an absolute path`);
    const normal = posix.normalize(path);
    if (normal === '/') throw new UsageError('cannot mount over the container\'s /');
    if (/^\/(proc|dev|sys)(\/|$)/.test(normal)) return this.at(normal);
    return resolveInRootfs(this.root, normal);
  }

  /** -v SRC:DST[:ro]: a recursive bind; a missing source directory is created, as docker run does. */
  private userBind(b: Bind): void {
    const target = this.target(b.target);
    let isFile = false;
    if (existsSync(b.source)) isFile = !statSync(b.source).isDirectory();
    else this.plan.step('mkdir', ['mkdir', '-p', b.source], b.source, 0o755);
    if (isFile) {
      this.mkdir(posix.dirname(target));
      if (!existsSync(target)) this.plan.step('touch', ['touch', target], target);
    } else this.mkdir(target);
    this.bind(b.source, target, b.readOnly);
  }
}

/** `-v SRC:DST[:ro|rw]`, with Docker's spelling; SELinux labels (z, Z) have no meaning here and are accepted. */
export function parseBind(spec: string): Bind {
  const [source = '', target, mode = 'rw', extra] = spec.split(':');
  if (!target || extra !== undefined) throw new UsageError(`invalid volume ${JSON.stringify(spec)}: expected SRC:DST[:ro]`);
  if (!source.startsWith('/')) throw new UsageError(`invalid volume ${JSON.stringify(spec)}: the source must be an absolute host path (named volumes are cutaway run's)`);
  const modes = mode.split(',');
  for (const m of modes) if (!['ro', 'rw', 'z', 'Z'].includes(m)) throw new UsageError(`invalid volume ${JSON.stringify(spec)}: unknown mode ${m}`);
  return { source: posix.normalize(source), target, readOnly: modes.includes('ro') };
}

/**
 * `--device HOST[:CTR][:rwm]` (Docker's syntax): the host's node, by its type, numbers, mode and owner (moby's
 * DevicesFromPath reads them with runc's DeviceFromPath). The access
 * (rwm) is the devices cgroup's, which ns-exec does not write (cg-limit does): here it is only checked.
 */
export function parseDevice(text: string): DeviceNode {
  let spec;
  try {
    spec = parseDeviceSpec(text);
  } catch (e) {
    throw new UsageError(`--device: ${(e as Error).message}`);
  }
  const path = posix.normalize(spec.container);
  if (path === '/' || path === '/dev') throw new UsageError(`--device ${text}: cannot make a device node at ${path}`);
  let st;
  try {
    st = statSync(spec.host);
  } catch {
    throw new ToolError(`--device ${spec.host}: no such device`);
  }
  if (!st.isCharacterDevice() && !st.isBlockDevice()) throw new ToolError(`--device ${spec.host}: not a character or block device`);
  return { host: spec.host, path, mode: st.mode, ...deviceNumbers(st.rdev), uid: st.uid, gid: st.gid };
}

/** `--tmpfs DST[:OPTIONS]`; Docker's defaults are noexec, nosuid, nodev. */
export function parseTmpfs(spec: string): TmpfsMount {
  const colon = spec.indexOf(':');
  const target = colon < 0 ? spec : spec.slice(0, colon);
  const options = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter(Boolean);
  if (!target) throw new UsageError(`invalid tmpfs ${JSON.stringify(spec)}: expected DST[:OPTIONS]`);
  const defaults = ['noexec', 'nosuid', 'nodev'].filter((d) => !options.some((o) => o === d || o === d.replace(/^no/, '')));
  return { target, options: [...defaults, ...options.filter((o) => !['exec', 'suid', 'dev'].includes(o))] };
}

/** The rootfs, checked: a directory, by its real path (mount targets are computed under it). */
export function checkRootfs(path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new ToolError(`rootfs ${path}: no such directory`);
  }
  if (!statSync(real).isDirectory()) throw new ToolError(`rootfs ${path}: not a directory`);
  return real;
}
