import { existsSync, lstatSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { shellCommand, ToolError, UsageError } from '@cutaway/cli';
import {
  MS_BIND, MS_DIRSYNC, MS_LAZYTIME, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY,
  MS_REC, MS_RELATIME, MS_SHARED, MS_SLAVE, MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
} from '@cutaway/libc/mount-flags';
import { deviceNumbers, parseDeviceSpec, S_IFBLK, S_IFCHR, S_IFIFO } from '@cutaway/libc/dev';
import type { MountEntry } from '@cutaway/libc/mountinfo';
import type { Device, Mount } from './oci/config.ts';
import type { Plan } from './plan.ts';
import { resolveInRootfs } from './rootfs.ts';

/** How the container's filesystem is put together: a rootfs and a config.json's mounts, devices and paths. */
export interface FilesystemSetup {
  rootfs: string;
  /**
   * In a user namespace other than the initial one: one made for the container, one joined, or the one
   * ns-exec runs in (`unshare --user --map-root-user`). There mknod(2) of a device is refused, and a cgroup
   * hierarchy is the host's, bound (user_namespaces(7)).
   */
  rootless: boolean;
  /**
   * ns-exec's own rule for its flags (not --privileged): the rootfs is mounted nodev, so a device node shipped
   * in an image opens nothing (Docker's devices cgroup allows only its default nodes), and a device outside
   * /dev is the host's node bound in.
   */
  nodev: boolean;
  /** root.readonly. */
  readOnly: boolean;
  /** config.json's mounts, in order. */
  mounts: readonly Mount[];
  /** linux.devices. */
  devices: readonly Device[];
  /** The host node bound for a device path where one is bound rather than made (--device HOST:CTR); default: the same path. */
  hostNodes: Readonly<Record<string, string>>;
  /** docker run -v: a missing bind source directory is made (dockerd does it before runc runs); else it is an error. */
  makeBindSources: boolean;
  /** linux.sysctl. */
  sysctl: Readonly<Record<string, string>>;
  /** process.cwd, created if missing (as runc creates it). */
  workdir: string;
  terminal: boolean;
  maskedPaths: readonly string[];
  readonlyPaths: readonly string[];
  /**
   * The cgroup directories the command runs in, one per hierarchy, when it has no cgroup namespace (config.json
   * without one: podman's and ctr's on a v1 host); undefined with one. A mount of type cgroup then binds these,
   * as runc does, so that the container sees its own limits at /sys/fs/cgroup/<controller>.
   */
  hostCgroups?: readonly string[];
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

export interface Bind {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface TmpfsMount {
  target: string;
  options: string[];
}

/** mount(8)'s flag words: the MS_* bits each sets, and those it clears (`suid` undoes `nosuid`). */
const FLAG_WORDS: Record<string, [set: number, clear: number]> = {
  defaults: [0, 0], ro: [MS_RDONLY, 0], rw: [0, MS_RDONLY], nosuid: [MS_NOSUID, 0], suid: [0, MS_NOSUID], nodev: [MS_NODEV, 0], dev: [0, MS_NODEV],
  noexec: [MS_NOEXEC, 0], exec: [0, MS_NOEXEC], sync: [MS_SYNCHRONOUS, 0], async: [0, MS_SYNCHRONOUS], dirsync: [MS_DIRSYNC, 0],
  mand: [MS_MANDLOCK, 0], nomand: [0, MS_MANDLOCK], atime: [0, MS_NOATIME], noatime: [MS_NOATIME, 0], diratime: [0, MS_NODIRATIME],
  nodiratime: [MS_NODIRATIME, 0], relatime: [MS_RELATIME, 0], norelatime: [0, MS_RELATIME], strictatime: [MS_STRICTATIME, 0],
  nostrictatime: [0, MS_STRICTATIME], lazytime: [MS_LAZYTIME, 0], nolazytime: [0, MS_LAZYTIME],
};

/** Propagation words (mount(8) --make-*; config.md "mounts" options, config-linux.md rootfsPropagation). */
export const PROPAGATION: Record<string, number> = {
  private: MS_PRIVATE, rprivate: MS_PRIVATE | MS_REC, shared: MS_SHARED, rshared: MS_SHARED | MS_REC,
  slave: MS_SLAVE, rslave: MS_SLAVE | MS_REC, unbindable: MS_UNBINDABLE, runbindable: MS_UNBINDABLE | MS_REC,
};

/** mount(8)'s split of `-o`: flag words become MS_* bits, propagation words are apart, the rest is the filesystem's data string. */
function splitOptions(options: readonly string[]): { flags: number; data: string; propagation: string[] } {
  let flags = 0;
  const data: string[] = [];
  const propagation: string[] = [];
  for (const o of options) {
    const word = FLAG_WORDS[o];
    if (word) flags = (flags | word[0]) & ~word[1];
    else if (o in PROPAGATION) propagation.push(o);
    else if (o !== 'bind' && o !== 'rbind') data.push(o);
  }
  return { flags, data: data.join(','), propagation };
}

/** Docker's masked paths (moby daemon/pkg/oci/defaults.go), those this kernel has. */
export function maskedPaths(): string[] {
  const paths = ['/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/sched_debug',
    '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap', '/sys/firmware'];
  const cpus = '/sys/devices/system/cpu';
  if (existsSync(cpus)) for (const cpu of readdirSync(cpus)) if (/^cpu\d+$/.test(cpu)) paths.push(`${cpus}/${cpu}/thermal_throttle`);
  return paths;
}

/** Docker's read-only paths (moby daemon/pkg/oci/defaults.go). */
export const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The nodes every container's /dev has (runtime-spec config-linux.md "Default Devices", runc's AllowedDevices): root's char devices, mode 0666. */
export const DEFAULT_DEVICES: Device[] = ([['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const)
  .map(([name, major, minor]) => ({ type: 'c', path: `/dev/${name}`, major, minor, fileMode: 0o666, uid: 0, gid: 0 }));

/** A device's st_mode type bits by config-linux.md's type letter. */
const DEVICE_TYPES: Record<string, number> = { c: S_IFCHR, u: S_IFCHR, b: S_IFBLK, p: S_IFIFO };

/** A host node as a config.json device (what Docker writes for --device and --privileged). */
export function configDevice(path: string, node: Omit<DeviceNode, 'host' | 'path'>): Device {
  const type = (node.mode & 0o170000) === S_IFBLK ? 'b' : 'c';
  return { type, path, major: node.major, minor: node.minor, fileMode: node.mode & 0o7777, uid: node.uid, gid: node.gid };
}

/** Every device node of the host's /dev, for --privileged (Docker gives a privileged container the host's devices, owners included). */
export function hostDevices(dir = '/dev'): Device[] {
  const found: Device[] = [];
  for (const name of readdirSync(dir)) {
    const path = posix.join(dir, name);
    if (['/dev/pts', '/dev/shm', '/dev/mqueue', '/dev/console', '/dev/ptmx'].includes(path)) continue;
    const st = lstatSync(path);
    if (st.isDirectory()) found.push(...hostDevices(path));
    else if (st.isCharacterDevice() || st.isBlockDevice()) found.push(configDevice(path, { mode: st.mode, ...deviceNumbers(st.rdev), uid: st.uid, gid: st.gid }));
  }
  return found;
}

/** Filesystems whose fresh mount holds only what the plan makes in it: a mount point below one is made with mkdir. */
const EMPTY_FILESYSTEMS = new Set(['tmpfs', 'devpts', 'mqueue', 'ramfs']);

export class FilesystemPlanner {
  private readonly root: string;
  /** Mount points and directories this plan makes that start empty, and mount points of filesystems that bring their own tree. */
  private readonly fresh = new Map<string, 'empty' | 'kernel'>();

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

  /** The innermost mount this plan made that holds `path`, if any. */
  private freshParent(path: string): 'empty' | 'kernel' | undefined {
    for (let dir = posix.dirname(path); dir !== this.root && dir !== '/'; dir = posix.dirname(dir)) {
      const kind = this.fresh.get(dir);
      if (kind) return kind;
    }
    return undefined;
  }

  /**
   * A directory to mount on: in the rootfs `mkdir -p` where it is missing; below a fresh, empty mount of
   * this plan `mkdir` (nothing is there yet); below a kernel filesystem's (proc, sysfs) nothing, it has its own.
   */
  private mkdir(path: string): void {
    const parent = this.freshParent(path);
    if (parent === 'kernel') return;
    if (parent === 'empty') {
      if (!this.fresh.has(posix.dirname(path)) && posix.dirname(path) !== this.root) this.mkdir(posix.dirname(path));
      this.plan.step('mkdir', ['mkdir', path], path, 0o755);
      this.fresh.set(path, 'empty');
    } else if (!existsSync(path)) this.plan.step('mkdir', ['mkdir', '-p', path], path, 0o755);
  }

  /** An empty file to bind a file on (below a fresh mount it cannot exist yet). */
  private touch(path: string): void {
    this.mkdir(posix.dirname(path));
    if (this.freshParent(path) === 'empty' || !existsSync(path)) this.plan.step('touch', ['touch', path], path);
  }

  private mount(type: string, source: string, target: string, options: readonly string[]): void {
    const { flags, data, propagation } = splitOptions(options);
    const words = options.filter((o) => !propagation.includes(o));
    this.plan.step('mount', ['mount', '-t', type, source, target, ...(words.length ? ['-o', words.join(',')] : [])], source, target, type, flags, data);
    this.propagate(target, propagation);
  }

  /** mount --make-*: a mount's propagation is changed by a mount(2) of its own (mount_namespaces(7)). */
  private propagate(target: string, words: readonly string[]): void {
    for (const w of words) this.plan.step('mount', ['mount', `--make-${w}`, target], '', target, '', PROPAGATION[w]!, '');
  }

  /** A bind mount (`rbind`: with the mounts below it), then a remount for the flags a bind mount(2) ignores. */
  private bind(source: string, target: string, options: readonly string[]): void {
    const rec = options.includes('rbind');
    this.plan.step('mount', ['mount', rec ? '--rbind' : '--bind', source, target], source, target, '', MS_BIND | (rec ? MS_REC : 0), '');
    const { flags, propagation } = splitOptions(options);
    if (flags) this.remount(target, options.filter((o) => o in FLAG_WORDS && FLAG_WORDS[o]![0]));
    this.propagate(target, propagation);
  }

  /** A bind remount adding flags (`ro`, `nodev`, …; ns-exec.c keeps the flags the mount has). */
  private remount(target: string, words: readonly string[]): void {
    this.plan.step('remount', ['mount', '-o', `remount,bind,${words.join(',')}`, target], target, splitOptions(words).flags);
  }

  /** The rootfs made a mount point (pivot_root(2) needs one), after the host's tree is made private (no mount leaks out). */
  rootfs(): void {
    this.plan.step('mount', 'mount --make-rprivate /', '', '/', '', MS_REC | MS_PRIVATE, '');
    this.bind(this.root, this.root, ['rbind']);
    if (this.setup.nodev) this.remount(this.root, ['nodev']);
  }

  /** config.json's mounts, in order (config.md "Mounts"): each at its destination inside the rootfs. */
  mounts(): void {
    for (const m of this.setup.mounts) {
      const options = m.options ?? [];
      const target = this.target(m.destination);
      if (m.type === 'bind' || options.includes('bind') || options.includes('rbind')) this.userBind(m.source ?? '', target, options);
      else if (m.type === 'cgroup') this.cgroups(target, options);
      else {
        if (!m.type) throw new ToolError(`mount ${m.destination}: no type`);
        this.mkdir(target);
        this.mount(m.type, m.source ?? m.type, target, options);
        this.fresh.set(target, EMPTY_FILESYSTEMS.has(m.type) ? 'empty' : 'kernel');
      }
    }
  }

  /**
   * The device nodes (runc's createDevices, setupPtmx, setupDevSymlinks): the default devices and
   * linux.devices in /dev, with the runtime-spec's /dev symlinks, when config.json mounts a tmpfs on /dev (runc
   * leaves a /dev it does not make as it is); linux.devices elsewhere always.
   */
  devices(): void {
    const { plan, setup } = this;
    const devTmpfs = setup.mounts.some((m) => posix.normalize(m.destination) === '/dev' && m.type === 'tmpfs');
    const own = setup.devices.filter((d) => d.path.startsWith('/dev/'));
    // linux.devices take the place of a default node of the same path; a mount at a node's path provides it
    // (runc's createDeviceNode leaves an existing file be).
    const mounted = new Set(setup.mounts.map((m) => posix.normalize(m.destination)));
    const nodes = (devTmpfs ? [...DEFAULT_DEVICES.filter((n) => !own.some((d) => d.path === n.path)), ...own] : []).filter((n) => !mounted.has(n.path));
    for (const n of nodes) {
      const path = this.at(n.path);
      if (posix.dirname(n.path) !== '/dev') plan.step('mkdir', ['mkdir', '-p', posix.dirname(path)], posix.dirname(path), 0o755);
      if (setup.rootless) {
        // mknod(2) of a device takes CAP_MKNOD in the initial user namespace (user_namespaces(7), mknod(2)): the
        // host's node is bound over an empty file instead, as runc does in a user namespace. One line, both steps.
        // The bound node is the host's own, owner and mode included: nothing to chown.
        const host = setup.hostNodes[n.path] ?? n.path;
        plan.step('touch', `${shellCommand(['touch', path])} && ${shellCommand(['mount', '--bind', host, path])}`, path);
        plan.step('mount', '', host, path, '', MS_BIND, '');
      } else this.mknod(path, n);
    }
    if (devTmpfs) {
      const links: [string, string][] = [['fd', '/proc/self/fd'], ['stdin', '/proc/self/fd/0'], ['stdout', '/proc/self/fd/1'], ['stderr', '/proc/self/fd/2'], ['ptmx', 'pts/ptmx']];
      if (existsSync('/proc/kcore')) links.push(['core', '/proc/kcore']);
      for (const [name, target] of links) plan.step('symlink', ['ln', '-s', target, this.at(`/dev/${name}`)], target, this.at(`/dev/${name}`));
    }
    for (const d of setup.devices.filter((x) => !x.path.startsWith('/dev/'))) {
      const target = this.target(d.path);
      if (setup.nodev || setup.rootless) {
        // A nodev rootfs: a node made there would not open; the host's node is bound over an empty file instead
        // (a bind mount keeps the device's own mount flags).
        const host = setup.hostNodes[d.path] ?? d.path;
        this.touch(target);
        plan.step('mount', ['mount', '--bind', host, target], host, target, '', MS_BIND, '');
      } else {
        this.mkdir(posix.dirname(target));
        this.mknod(target, d);
      }
    }
  }

  /**
   * mknod(2), then chmod to the exact mode and chown to the device's owner, as runc's createDeviceNode does (a
   * /dev/kvm stays group kvm's, so a user of that group in the container opens it); mknod by root makes it
   * root's already, so the text says chown only for another owner.
   */
  private mknod(path: string, d: Device): void {
    const typeBits = DEVICE_TYPES[d.type];
    if (typeBits === undefined) throw new ToolError(`linux.devices ${d.path}: unknown type ${JSON.stringify(d.type)}`, 'c, u, b or p');
    const perms = (d.fileMode ?? 0o666) & 0o7777;
    const major = d.major ?? 0;
    const minor = d.minor ?? 0;
    const uid = d.uid ?? 0;
    const gid = d.gid ?? 0;
    const letter = d.type === 'u' ? 'c' : d.type;
    const text = shellCommand(['mknod', '-m', perms.toString(8), path, letter, ...(letter === 'p' ? [] : [String(major), String(minor)])]);
    const chown = uid || gid ? ` && ${shellCommand(['chown', `${uid}:${gid}`, path])}` : '';
    this.plan.step('mknod', `${text}${chown}`, path, typeBits | perms, major, minor, uid, gid);
  }

  /** linux.sysctl: written into the container's /proc/sys (sysctl(8) names: dots for slashes). */
  sysctls(): void {
    for (const [key, value] of Object.entries(this.setup.sysctl))
      this.plan.step('write', `sysctl -qw ${key}='${value}'`, this.at(`/proc/sys/${key.replaceAll('.', '/')}`), value);
  }

  /** The working directory, created if missing. */
  workdir(): void {
    this.mkdir(resolveInRootfs(this.root, this.setup.workdir));
  }

  /**
   * linux.maskedPaths (behind /dev/null, or an empty read-only tmpfs for a directory) and linux.readonlyPaths
   * (bound read-only onto themselves), those that exist: /proc and /sys show the same kernel as the host's, so
   * what is missing here is missing there.
   */
  masks(): void {
    const { plan } = this;
    const onHost = (p: string) => (/^\/(proc|sys)(\/|$)/.test(p) ? p : resolveInRootfs(this.root, p));
    for (const p of this.setup.maskedPaths.filter((m) => existsSync(onHost(m))))
      plan.step('mask', statSync(onHost(p)).isDirectory() ? ['mount', '-t', 'tmpfs', '-o', 'ro', 'tmpfs', this.at(p)] : ['mount', '--bind', this.at('/dev/null'), this.at(p)], this.at(p), this.at('/dev/null'));
    for (const p of this.setup.readonlyPaths.filter((r) => existsSync(onHost(r))))
      plan.step('readonly', `mount --bind ${this.at(p)} ${this.at(p)} && mount -o remount,bind,ro ${this.at(p)}`, this.at(p));
  }

  /** process.terminal: a terminal of the container's devpts, and /dev/console. */
  terminal(): void {
    if (this.setup.terminal)
      this.plan.step('pty', `# a terminal of ${this.at('/dev/pts')} becomes stdin, stdout, stderr and /dev/console, in a new session (what script(1) does)`, this.at('/dev/pts/ptmx'), this.at('/dev/console'));
  }

  /**
   * root.readonly, then the rootfs becomes / (pivot_root(2); with `noPivot`, runc's --no-pivot: MS_MOVE onto /
   * and chroot(2)). The read-only remount is the rootfs' own mount, before the pivot (nothing writes to it
   * after): the --dry-run script runs nothing of its own after pivot_root (script.ts), and this is the mount
   * that becomes /. `propagation`, linux.rootfsPropagation, is applied to the new / after the pivot, as runc
   * does (before it, a shared new root would make pivot_root(2) fail with EINVAL).
   */
  enterRoot({ noPivot, propagation }: { noPivot: boolean; propagation: string | undefined }): void {
    if (this.setup.readOnly) this.remount(this.root, ['ro']);
    if (noPivot) this.plan.step('move-root', `cd ${this.root} && mount --move . / && chroot .`, this.root);
    else this.plan.step('pivot', `cd ${this.root} && pivot_root . . && umount -l . && cd /`, this.root);
    if (propagation === undefined) return;
    if (!(propagation in PROPAGATION)) throw new ToolError(`linux.rootfsPropagation ${JSON.stringify(propagation)}: unknown`, Object.keys(PROPAGATION).join(', '));
    this.plan.step('mount', ['mount', `--make-${propagation}`, '/'], '', '/', '', PROPAGATION[propagation]!, '');
  }

  /**
   * A mount of type cgroup: /sys/fs/cgroup as seen from a new cgroup namespace. On a cgroup v2 host one
   * cgroup2 mount; on v1 and hybrid hosts a tmpfs holding each v1 hierarchy, mounted afresh (rooted at the
   * namespace's cgroup), and a symlink per controller of a co-mounted one (cpu -> cpu,cpuacct) — what runc
   * does with a cgroup namespace; it leaves the hybrid v2 mount out, and so does this. In a user namespace the
   * host's tree is bound (a v1 hierarchy cannot be mounted there).
   */
  private cgroups(target: string, options: readonly string[]): void {
    const readOnly = options.includes('ro');
    const mounts = this.hostMounts;
    if (this.setup.rootless) {
      this.bind('/sys/fs/cgroup', target, readOnly ? ['rbind', 'ro'] : ['rbind']);
      return;
    }
    this.mkdir(target);
    const own = this.setup.hostCgroups;
    const bindOwn = (m: MountEntry, dir: string) => {
      const cgroup = own!.find((d) => d === m.mountPoint || d.startsWith(`${m.mountPoint}/`)) ?? m.mountPoint;
      this.bind(cgroup, dir, ['bind', ...options.filter((o) => o in FLAG_WORDS)]);
    };
    const unified = mounts.find((m) => m.mountPoint === '/sys/fs/cgroup' && m.fstype === 'cgroup2');
    if (unified) {
      if (own) bindOwn(unified, target);
      else this.mount('cgroup2', 'cgroup', target, options);
      return;
    }
    this.mount('tmpfs', 'tmpfs', target, ['nosuid', 'noexec', 'nodev', 'mode=755']);
    for (const m of mounts.filter((e) => e.fstype === 'cgroup' && posix.dirname(e.mountPoint) === '/sys/fs/cgroup')) {
      const name = posix.basename(m.mountPoint);
      const dir = posix.join(target, name);
      this.plan.step('mkdir', ['mkdir', dir], dir, 0o555);
      const controllers = m.superOptions.filter((o) => o !== 'rw' && o !== 'ro');
      if (own) bindOwn(m, dir);
      else this.mount('cgroup', name === 'systemd' ? 'systemd' : 'cgroup', dir, [...options, ...controllers]);
      if (name.includes(',')) for (const c of name.split(',')) this.plan.step('symlink', ['ln', '-s', name, posix.join(target, c)], name, posix.join(target, c));
    }
    if (readOnly) this.remount(target, ['ro']);
  }

  /**
   * A mount target inside the container: symlinks of the rootfs are followed inside it; under /proc, /dev
   * and /sys, which are mounted afresh, the path is taken as written.
   */
  private target(path: string): string {
    if (!path.startsWith('/')) throw new UsageError(`mount target ${JSON.stringify(path)} must be an absolute path`);
    const normal = posix.normalize(path);
    if (normal === '/') throw new UsageError('cannot mount over the container\'s /');
    if (/^\/(proc|dev|sys)(\/|$)/.test(normal)) return this.at(normal);
    return resolveInRootfs(this.root, normal);
  }

  /** A bind mount: onto an empty file for a file, a directory otherwise. */
  private userBind(source: string, target: string, options: readonly string[]): void {
    let isFile = false;
    if (existsSync(source)) isFile = !statSync(source).isDirectory();
    else if (this.setup.makeBindSources) this.plan.step('mkdir', ['mkdir', '-p', source], source, 0o755);
    else throw new ToolError(`mount ${source}: no such file or directory`);
    if (isFile) this.touch(target);
    else this.mkdir(target);
    this.bind(source, target, options);
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
