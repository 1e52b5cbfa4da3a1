/**
 * Runs a shell script on a real cgroup-v2-only kernel: a small qemu guest
 * booting Debian's stock kernel, with the host's root mounted read-only over
 * virtio-9p.
 *
 * The host has a hybrid cgroup layout (memory, cpu and pids only in v1), so
 * code that drives cgroup v2 (cg-limit) is tested here on the real thing, not
 * on files that imitate it.
 *
 *   runInCgroup2Vm('cat /sys/fs/cgroup/cgroup.controllers') → { code: 0, output: 'cpuset cpu io memory hugetlb pids rdma misc\n', … }
 *
 * The guest: qemu-system-x86_64, the Debian kernel from /boot/vmlinuz-<version>
 * (booted through its PVH entry from the uncompressed ELF, extracted once into
 * the cache), and an initramfs built here (cached under
 * ${CUTAWAY_TEST_CACHE:-/var/cache/cutaway-test}) with busybox-static, the
 * virtio-9p modules and their dependencies, and an /init that mounts the host
 * root at /host, cgroup2 at /sys/fs/cgroup, and runs the script in
 * `chroot /host` as root, with /proc, /sys, /sys/fs/cgroup, /dev bound in, and
 * fresh tmpfs on /tmp, /run and /dev/shm (the only writable places). The
 * script runs with /bin/sh, stdin /dev/null, HOME=/tmp, in the repository's
 * root directory, which a tmpfs does not hide: a checkout under /tmp is bound
 * back to its path (read-only, as all of the host's root is). Its output
 * comes back over the serial console between two markers; the second one
 * carries its exit status. No network device (the guest has only its own
 * loopback).
 *
 * Accelerator: KVM where /dev/kvm is hardware virtualisation (kvm_intel or
 * kvm_amd). Where /dev/kvm is PVM (kvm_pvm, as on the cutaway machines, which
 * are themselves PVM guests) it runs only PVM-enabled guest kernels: Debian's
 * kernel under it did not get past early boot in ten minutes. There the guest
 * runs under TCG, qemu's emulator (~10 s a boot). CUTAWAY_VM_ACCEL=kvm|tcg
 * overrides the choice.
 *
 * CLI: pnpm exec tsx test/vm/cgroup2-vm.ts [--timeout-ms N] [--memory-mb N] 'SCRIPT'
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, closeSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gunzipSync } from 'node:zlib';

export interface Cgroup2VmOptions {
  /** Kill qemu after this long (default 120 000 ms). */
  timeoutMs?: number;
  /** Guest memory (default 512 MiB). */
  memoryMb?: number;
}

export interface Cgroup2VmResult {
  /** The script's exit status (128+n if a signal ended it). */
  code: number;
  /** What the script wrote to stdout and stderr, interleaved, with the console's CRLF turned back into LF. */
  output: string;
  /** How the guest ran: 'kvm' or 'tcg' (qemu's emulator), and why. */
  accel: Accel;
  accelReason: string;
  /** From starting qemu to its exit. */
  durationMs: number;
}

export type Accel = 'kvm' | 'tcg';

/** The guest did not finish in time: qemu was killed. `output` is the console so far. */
export class Cgroup2VmTimeoutError extends Error {
  constructor(
    message: string,
    readonly output: string,
    /** The qemu process that was killed. */
    readonly pid: number | undefined,
  ) {
    super(message);
    this.name = 'Cgroup2VmTimeoutError';
  }
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_MEMORY_MB = 512;

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
const QEMU = 'qemu-system-x86_64';
/** Modules the init loads, closed over modules.dep (9p needs 9pnet, netfs, fscache; 9pnet_virtio needs virtio, virtio_ring; …). */
const ROOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];
const KERNEL_CMDLINE = [
  'console=ttyS0',
  'loglevel=1', // kernel messages (OOM kills, module banners) would interleave with the script's output
  'panic=-1', // a dying init panics, panic reboots, -no-reboot ends qemu
  'systemd.unified_cgroup_hierarchy=1',
  'cgroup_no_v1=all',
].join(' ');

/**
 * The guest's PID 1 (busybox sh). The host's root is mounted with cache=loose:
 * it is read-only and a guest lives for seconds, so the guest may cache what it
 * reads. A step that fails prints why and the kernel's last messages, and
 * powers off: runInCgroup2Vm then reports the console without a start marker.
 */
const INIT = `#!/bin/busybox sh
# cutaway cgroup2 VM init (test/vm/cgroup2-vm.ts)
export PATH=/bin
/bin/busybox --install -s /bin
fail() {
  echo "cutaway-vm-init: $*"
  dmesg | tail -n 40
  poweroff -f
}
mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"
while read -r m; do
  insmod "/lib/modules/$m" || fail "insmod $m"
done < /modules.load
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /host || fail "mount hostroot"
mount -t 9p -o trans=virtio,version=9p2000.L,ro job /job || fail "mount job"
read -r VMCWD < /job/cwd
# The working directory (the repository) is held here before fresh tmpfs hide /tmp and /run: a checkout
# under /tmp must stay where it is in the guest.
mkdir -p /cwd
mount -o bind "/host$VMCWD" /cwd || fail "bind $VMCWD"
mount -t cgroup2 none /sys/fs/cgroup || fail "mount cgroup2"
mount -t tmpfs -o mode=1777 tmpfs /host/tmp || fail "mount /tmp"
mount -t tmpfs -o mode=755 tmpfs /host/run || fail "mount /run"
mount -o bind /proc /host/proc || fail "bind /proc"
mount -o bind /sys /host/sys || fail "bind /sys"
mount -o bind /sys/fs/cgroup /host/sys/fs/cgroup || fail "bind /sys/fs/cgroup"
mount -o bind /dev /host/dev || fail "bind /dev"
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts || fail "mount devpts"
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm || fail "mount /dev/shm"
if [ ! -d "/host$VMCWD" ]; then
  mkdir -p "/host$VMCWD" && mount -o bind /cwd "/host$VMCWD" || fail "bind $VMCWD back"
fi
ip link set lo up 2>/dev/null
mkdir -p /host/run/cutaway-vm
cp /job/script.sh /host/run/cutaway-vm/script.sh || fail "copy script"
read -r TOKEN < /job/token
read -r VMPATH < /job/path
echo "$TOKEN BEGIN"
env -i HOME=/tmp PATH="$VMPATH" TERM=dumb LANG=C.UTF-8 \\
  /bin/busybox chroot /host /bin/sh -c 'cd "$1" || exit 125; exec /bin/sh /run/cutaway-vm/script.sh' cutaway-vm "$VMCWD" </dev/null
code=$?
echo "$TOKEN END $code"
poweroff -f
`;

// ---------------------------------------------------------------------------
// Kernel, modules, busybox

export interface GuestKernel {
  version: string;
  image: string;
  modulesDir: string;
}

function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? '';
    const y = pb[i] ?? '';
    const nx = Number(x);
    const ny = Number(y);
    const c = Number.isInteger(nx) && Number.isInteger(ny) && x !== '' && y !== '' ? nx - ny : x.localeCompare(y);
    if (c !== 0) return c;
  }
  return 0;
}

/** The newest /boot/vmlinuz-<version> that has /lib/modules/<version> (Debian's linux-image-amd64). */
export function findGuestKernel(): GuestKernel {
  const versions = (existsSync('/boot') ? readdirSync('/boot') : [])
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length))
    .filter((v) => existsSync(`/lib/modules/${v}/modules.dep`))
    .sort(compareVersions);
  const version = versions.at(-1);
  if (!version) {
    throw new Error('cgroup2 VM: no /boot/vmlinuz-<version> with /lib/modules/<version>/modules.dep; install linux-image-amd64 (scripts/setup.sh)');
  }
  return { version, image: `/boot/vmlinuz-${version}`, modulesDir: `/lib/modules/${version}` };
}

const moduleName = (path: string): string => basename(path).replace(/\.ko(\.(gz|xz|zst))?$/, '').replace(/-/g, '_');

/** The module files to load, dependencies first, for ROOT_MODULES; built-in ones are left out. */
export function moduleLoadOrder(modulesDir: string, roots: string[] = ROOT_MODULES): string[] {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(moduleName(path), { path, deps: line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(moduleName) });
  }
  const builtinFile = join(modulesDir, 'modules.builtin');
  const builtin = new Set(existsSync(builtinFile) ? readFileSync(builtinFile, 'utf8').split('\n').filter(Boolean).map(moduleName) : []);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const entry = deps.get(name);
    if (!entry) {
      if (builtin.has(name)) return;
      throw new Error(`cgroup2 VM: kernel module ${name} is neither in ${modulesDir}/modules.dep nor built in`);
    }
    for (const d of entry.deps) visit(d);
    order.push(entry.path);
  };
  for (const r of roots) visit(r.replace(/-/g, '_'));
  return order;
}

function readModule(path: string): Buffer {
  if (path.endsWith('.ko')) return readFileSync(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(readFileSync(path));
  if (path.endsWith('.ko.xz')) return execFileSync('xz', ['-dc', path], { maxBuffer: 1 << 28 });
  if (path.endsWith('.ko.zst')) return execFileSync('zstd', ['-dcq', path], { maxBuffer: 1 << 28 });
  throw new Error(`cgroup2 VM: unknown module format ${path}`);
}

/** Debian's busybox-static: an ELF without a PT_INTERP program header. */
function readStaticBusybox(): Buffer {
  const candidates = ['/bin/busybox', '/usr/bin/busybox'];
  const path = candidates.find((p) => existsSync(p));
  if (!path) throw new Error('cgroup2 VM: no busybox; install busybox-static (scripts/setup.sh)');
  const elf = readFileSync(path);
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    if (elf.readUInt32LE(phoff + i * phentsize) === 3 /* PT_INTERP */) {
      throw new Error(`cgroup2 VM: ${path} is dynamically linked; install busybox-static (scripts/setup.sh)`);
    }
  }
  return elf;
}

// ---------------------------------------------------------------------------
// Initramfs: a newc cpio, written here so that /dev/console can be a device
// node without mknod on the host.

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
  rdev?: [number, number];
}

function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad = (n: number): Buffer => Buffer.alloc((4 - (n % 4)) % 4);
  const write = (e: CpioEntry): void => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  };
  for (const e of entries) write(e);
  write({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

export function cacheDir(): string {
  return process.env.CUTAWAY_TEST_CACHE || '/var/cache/cutaway-test';
}

/** Writes `data` to `path` through a temporary name in the same directory and a rename: readers see all or nothing. */
function writeAtomically(path: string, data: Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      writeSync(fd, data);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } finally {
    rmSync(tmp, { force: true });
  }
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Does this ELF carry a Xen PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), which qemu's -kernel needs to boot an uncompressed vmlinux? */
function hasPvhNote(elf: Buffer): boolean {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 /* ELFCLASS64 */) return false;
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (elf.readUInt32LE(ph) !== 4 /* PT_NOTE */) continue;
    let at = Number(elf.readBigUInt64LE(ph + 8));
    const endAt = at + Number(elf.readBigUInt64LE(ph + 32));
    while (at + 12 <= endAt) {
      const namesz = elf.readUInt32LE(at);
      const descsz = elf.readUInt32LE(at + 4);
      const type = elf.readUInt32LE(at + 8);
      const name = elf.subarray(at + 12, at + 12 + namesz).toString('latin1');
      if (name === 'Xen\0' && type === 18) return true;
      at += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3);
    }
  }
  return false;
}

/**
 * The kernel's uncompressed ELF, taken out of the bzImage (the payload's place
 * is in the boot header: setup_sects, payload_offset, payload_length). Booted
 * through its PVH entry it skips the BIOS boot path and the decompressor,
 * about 3 s of a boot under TCG. Null when the payload's compression is not
 * one we read or the ELF has no PVH note: then the bzImage is booted as is.
 */
function extractVmlinux(bzImage: Buffer): Buffer | null {
  if (bzImage.length < 0x250 || bzImage.toString('latin1', 0x202, 0x206) !== 'HdrS') return null;
  const setupSects = bzImage[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + bzImage.readUInt32LE(0x248);
  const payload = bzImage.subarray(start, start + bzImage.readUInt32LE(0x24c));
  const magic = payload.subarray(0, 6).toString('hex');
  let elf: Buffer;
  try {
    if (magic.startsWith('1f8b')) elf = gunzipSync(payload);
    // xz and zstd payloads end with the uncompressed size (scripts/Makefile.lib, size_append).
    else if (magic === 'fd377a585a00') elf = execFileSync('xz', ['-dc'], { input: payload.subarray(0, -4), maxBuffer: 1 << 30 });
    else if (magic.startsWith('28b52ffd')) elf = execFileSync('zstd', ['-dcq'], { input: payload.subarray(0, -4), maxBuffer: 1 << 30 });
    else return null;
  } catch {
    return null;
  }
  return hasPvhNote(elf) ? elf : null;
}

export interface GuestImage {
  kernel: GuestKernel;
  /** What qemu's -kernel gets: the extracted vmlinux (PVH boot) or the bzImage. */
  kernelFile: string;
  initramfs: string;
  /** The modules in the initramfs, in load order (file names). */
  modules: string[];
}

let prepared: GuestImage | undefined;

/**
 * Builds (or finds in the cache) the initramfs and the uncompressed kernel for
 * the newest Debian kernel. Their names carry a hash of what is in them, so a
 * new kernel, busybox or init makes new files; each is written to a temporary
 * name and renamed into place. Once per process.
 */
export function prepareCgroup2Vm(): GuestImage {
  if (prepared && existsSync(prepared.kernelFile) && existsSync(prepared.initramfs)) return prepared;
  const kernel = findGuestKernel();
  const busybox = readStaticBusybox();
  const modules = moduleLoadOrder(kernel.modulesDir).map((rel) => ({
    file: basename(rel).replace(/\.(gz|xz|zst)$/, ''),
    data: readModule(join(kernel.modulesDir, rel)),
  }));
  const dirs = ['bin', 'dev', 'proc', 'sys', 'host', 'job', 'lib', 'lib/modules', 'tmp', 'run'];
  const entries: CpioEntry[] = [
    ...dirs.map((name) => ({ name, mode: S_IFDIR | 0o755 })),
    { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] },
    { name: 'bin/busybox', mode: S_IFREG | 0o755, data: busybox },
    { name: 'init', mode: S_IFREG | 0o755, data: Buffer.from(INIT) },
    { name: 'modules.load', mode: S_IFREG | 0o644, data: Buffer.from(modules.map((m) => `${m.file}\n`).join('')) },
    ...modules.map((m) => ({ name: `lib/modules/${m.file}`, mode: S_IFREG | 0o644, data: m.data })),
  ];
  const cpio = cpioNewc(entries);
  const dir = cacheDir();
  const initramfs = join(dir, `cgroup2-vm-initramfs-${kernel.version}-${sha256(cpio).slice(0, 16)}.cpio`);
  if (!existsSync(initramfs)) writeAtomically(initramfs, cpio);

  const bzImage = readFileSync(kernel.image);
  const vmlinux = join(dir, `cgroup2-vm-vmlinux-${kernel.version}-${sha256(bzImage).slice(0, 16)}`);
  let kernelFile = kernel.image;
  if (existsSync(vmlinux)) kernelFile = vmlinux;
  else {
    const elf = extractVmlinux(bzImage);
    if (elf) {
      writeAtomically(vmlinux, elf);
      kernelFile = vmlinux;
    }
  }
  prepared = { kernel, kernelFile, initramfs, modules: modules.map((m) => m.file) };
  return prepared;
}

// ---------------------------------------------------------------------------
// Running

/**
 * KVM only where /dev/kvm is hardware virtualisation. PVM's /dev/kvm (kvm_pvm:
 * KVM for hosts that are themselves VMs without nested VMX/SVM) runs only
 * guests built as PVM guests; a stock kernel under it crawls (measured: ten
 * minutes without reaching init), so there the guest is emulated (TCG).
 */
export function chooseAccel(): { accel: Accel; reason: string } {
  const forced = process.env.CUTAWAY_VM_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return { accel: forced, reason: `CUTAWAY_VM_ACCEL=${forced}` };
  try {
    accessSync('/dev/kvm', fsConstants.R_OK | fsConstants.W_OK);
  } catch {
    return { accel: 'tcg', reason: 'no usable /dev/kvm' };
  }
  if (existsSync('/sys/module/kvm_intel') || existsSync('/sys/module/kvm_amd')) {
    return { accel: 'kvm', reason: '/dev/kvm is hardware virtualisation' };
  }
  if (existsSync('/sys/module/kvm_pvm')) {
    return { accel: 'tcg', reason: '/dev/kvm is PVM (kvm_pvm), which runs only PVM guest kernels, not Debian’s' };
  }
  return { accel: 'kvm', reason: '/dev/kvm is usable' };
}

/** qemu's option syntax: a comma inside a value is written twice. */
const qemuValue = (s: string): string => s.replace(/,/g, ',,');

export function qemuArgs(image: GuestImage, jobDir: string, memoryMb: number = DEFAULT_MEMORY_MB, accel: Accel = chooseAccel().accel): string[] {
  return [
    ...(accel === 'kvm' ? ['-enable-kvm', '-cpu', 'host'] : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-m', String(memoryMb),
    '-smp', '2',
    '-nographic',
    '-no-reboot',
    '-nic', 'none',
    '-kernel', image.kernelFile,
    '-initrd', image.initramfs,
    '-append', KERNEL_CMDLINE,
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${qemuValue(jobDir)},mount_tag=job,security_model=none,readonly=on`,
  ];
}

/** The PATH the script gets: Debian's, plus wherever this node lives. */
function guestPath(): string {
  const dirs = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  const nodeDir = dirname(process.execPath);
  return (dirs.includes(nodeDir) ? dirs : [nodeDir, ...dirs]).join(':');
}

const running = new Set<number>();
let exitHookInstalled = false;
function track(pid: number): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // A test runner that exits mid-run must not leave guests behind.
    process.on('exit', () => {
      for (const p of running) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
  running.add(pid);
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Boots the guest, runs `script` with /bin/sh as root in `chroot /host`, and returns its exit status and output. */
export async function runInCgroup2Vm(script: string, options: Cgroup2VmOptions = {}): Promise<Cgroup2VmResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const memoryMb = options.memoryMb ?? DEFAULT_MEMORY_MB;
  const image = prepareCgroup2Vm();
  const { accel, reason: accelReason } = chooseAccel();
  const token = `@@cutaway-vm-${randomBytes(12).toString('hex')}@@`;
  const jobDir = mkdtempSync(join(tmpdir(), 'cutaway-vm-'));
  try {
    writeFileSync(join(jobDir, 'script.sh'), script.endsWith('\n') ? script : `${script}\n`);
    writeFileSync(join(jobDir, 'token'), `${token}\n`);
    writeFileSync(join(jobDir, 'path'), `${guestPath()}\n`);
    writeFileSync(join(jobDir, 'cwd'), `${existsSync(REPO_ROOT) ? REPO_ROOT : '/'}\n`);

    const started = performance.now();
    const { console: raw, stderr, exit, timedOut, pid } = await new Promise<{
      console: string;
      stderr: string;
      exit: string;
      timedOut: boolean;
      pid: number | undefined;
    }>((resolve, reject) => {
      const child = spawn(QEMU, qemuArgs(image, jobDir, memoryMb, accel), { stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const pid = child.pid;
      if (pid !== undefined) track(pid);
      const timer = setTimeout(() => {
        timedOut = true;
        if (pid !== undefined) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* exited meanwhile */
          }
        }
      }, timeoutMs);
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', (e) => {
        clearTimeout(timer);
        if (pid !== undefined) running.delete(pid);
        reject(new Error(`cgroup2 VM: cannot start ${QEMU} (install qemu-system-x86, scripts/setup.sh): ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (pid !== undefined) running.delete(pid);
        resolve({
          console: Buffer.concat(out).toString('utf8').replace(/\r\n/g, '\n'),
          stderr: Buffer.concat(err).toString('utf8'),
          exit: signal ? `signal ${signal}` : `code ${code}`,
          timedOut,
          pid,
        });
      });
    });

    const durationMs = Math.round(performance.now() - started);
    const begin = `${token} BEGIN\n`;
    const start = raw.indexOf(begin);
    const scriptOutput = start < 0 ? '' : raw.slice(start + begin.length);
    const end = new RegExp(`${escapeRegExp(token)} END (\\d+)\\n`).exec(scriptOutput);
    if (timedOut) {
      throw new Cgroup2VmTimeoutError(
        `cgroup2 VM (${accel}): timed out after ${timeoutMs} ms; killed qemu (pid ${pid}) with SIGKILL` +
          (start < 0 ? ' before the script started' : ' while the script ran') +
          `.\nconsole so far:\n${start < 0 ? raw : scriptOutput}`,
        scriptOutput,
        pid,
      );
    }
    if (start < 0 || !end) {
      throw new Error(
        `cgroup2 VM (${accel}): qemu ended (${exit}) without the script's ${start < 0 ? 'start' : 'end'} marker.\n` +
          `qemu stderr:\n${stderr}\nconsole:\n${raw}`,
      );
    }
    return { code: Number(end[1]), output: scriptOutput.slice(0, end.index), accel, accelReason, durationMs };
  } finally {
    rmSync(jobDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// CLI

async function main(argv: string[]): Promise<number> {
  const usage = 'usage: tsx test/vm/cgroup2-vm.ts [--timeout-ms N] [--memory-mb N] SCRIPT';
  const options: Cgroup2VmOptions = {};
  const args = [...argv];
  while (args[0]?.startsWith('--')) {
    const flag = args.shift();
    const value = Number(args.shift());
    if (!Number.isInteger(value) || value <= 0) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    if (flag === '--timeout-ms') options.timeoutMs = value;
    else if (flag === '--memory-mb') options.memoryMb = value;
    else {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
  }
  if (args.length !== 1 || args[0] === undefined) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  try {
    const { code, output, accel, accelReason, durationMs } = await runInCgroup2Vm(args[0], options);
    process.stdout.write(output);
    process.stderr.write(`cgroup2-vm: ${accel} (${accelReason}), ${(durationMs / 1000).toFixed(1)} s, exit ${code}\n`);
    return code;
  } catch (e) {
    if (e instanceof Cgroup2VmTimeoutError) {
      process.stdout.write(e.output);
      process.stderr.write(`\n${e.message.split('\n')[0]}\n`);
      return 124;
    }
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
