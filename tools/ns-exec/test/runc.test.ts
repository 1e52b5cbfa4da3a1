/**
 * ns-exec against runc, on the same rootfs. runc gets a `runc spec` bundle
 * edited the way Docker writes its spec (moby daemon/oci_linux.go and
 * daemon/pkg/oci/defaults.go): Docker's 14 default capabilities in the
 * bounding, effective and permitted sets (bounding only for a non-root user),
 * no inheritable or ambient ones, noNewPrivileges false, no rlimits, the
 * primary gid in additionalGids, Docker's default mounts, masked and
 * read-only paths, its two network sysctls, the pid, network, ipc, uts, mount
 * and cgroup namespaces (ns-exec always makes a cgroup namespace), and the
 * same hostname. The same probe runs in both; what it prints is compared
 * after removing what legitimately differs between two runs (mount ids,
 * device numbers, times, pids after 1).
 *
 * What is the same: the mount list (mount points, filesystem types, sources,
 * per-mount and superblock options, bind roots: the masked files are binds of
 * the container's own /dev/null in both, the v1 hierarchies are mounted afresh
 * in both, as runc does with a cgroup namespace); /proc/1/status' Uid, Gid,
 * Groups, Cap* and NoNewPrivs lines (as root and as `-u app`); the session (setsid) and umask (0022); the
 * signal state PID 1 starts with; the hostname; `ps`; PID 1's environment
 * (PATH, HOSTNAME, HOME); /dev; /proc/self/cgroup (`/` everywhere); the two
 * sysctls; lo up; rlimits; cwd; PID 1's open fds; and with the Debian rootfs,
 * /proc/1/status, os-release, the environment and the mount list.
 *
 * The differences, one line each, each asserted below:
 * - /sys/fs/cgroup: ns-exec remounts its tmpfs read-only (mode 0755); runc leaves it rw, only chmod 0555 (the mode of
 *   the sysfs dir it covers), so root with CAP_DAC_OVERRIDE can create files there under runc. ns-exec is stricter.
 * - Mount order: runc mounts in spec order (…/sys/fs/cgroup, /dev/mqueue, /dev/shm), then read-only paths, then masks;
 *   ns-exec mounts /dev/shm and /dev/mqueue with /dev and masks first. No two overlap: nothing visible changes.
 * - PIDs after 1: runc's first child of PID 1 is not pid 2, as `runc init` (Go, several threads) was PID 1 before the
 *   execve and its threads took pids of the new namespace; ns-exec's PID 1 is single-threaded C, its first child is 2.
 * - Devices: runc (and Docker) apply a devices cgroup: mknod of any node succeeds, opening one outside Docker's list
 *   fails. ns-exec has no cgroup of its own to do that with: its seccomp filter refuses mknod of device nodes (EPERM)
 *   and its rootfs is mounted nodev, so a host device cannot be used either way. Hence also `nodev` on ns-exec's `/`.
 * - Seccomp: ns-exec loads Docker's default profile (Seccomp: 2, as under Docker); this runc spec has none (0).
 * - Cgroup: runc creates linux.cgroupsPath (/cw-runc-<tag> here, Docker's /docker/<id>) in every hierarchy and runs the
 *   command there; ns-exec leaves it in its caller's cgroups (--cgroup joins one). Inside, both show `/` (cgroupns).
 *
 * Then `ns-exec --enter` against `runc exec`, in one running runc container:
 * the same probe through both, compared the same way; the differences of exec
 * are listed, and asserted, where that part begins.
 *
 * Then seccomp: runc given a profile in its config.json (converted from Docker's format as dockerd converts it,
 * test/probe.ts) and ns-exec given the same profile, the same static probe of raw system calls under both
 * (test/syscall-probe.c): every call ends the same way, but mknod of a device (ns-exec's device-node rule). And the
 * session keyring: the same host keys out of reach, and the same one (root's @u) not, under both.
 *
 * Every runc container gets a temporary --root state directory under the work
 * directory (nothing in /run/runc), `runc delete --force` in a finally, and a
 * check that its cgroup directories are gone (removed, and reported, if not).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree, run } from '../../../test/fixtures/images.ts';
import { trackMounts } from '../../../test/fixtures/mounts.ts';
import { busyboxRootfs, debianRootfs } from '../../../test/fixtures/rootfs.ts';
import { dockerDefaultProfile } from '../src/seccomp-default.ts';
import { buildProbe, CUSTOM_PROBES, CUSTOM_PROFILE, CUSTOM_RESULTS, installProbe, ociSeccomp, PROBE as SYSCALL_PROBE, probeResults, REFUSED_BY_DEFAULT, type DockerProfile, type OciSeccomp } from './probe.ts';

const HOSTNAME = 'cwrunc';
const DOCKER_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];
/** Docker's masked and read-only paths (moby daemon/pkg/oci/defaults.go); ns-exec's are the same lists. */
const MASKED_PATHS = [
  '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/sched_debug',
  '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap', '/sys/firmware',
  ...(existsSync('/sys/devices/system/cpu')
    ? readdirSync('/sys/devices/system/cpu').filter((c) => /^cpu\d+$/.test(c)).map((c) => `/sys/devices/system/cpu/${c}/thermal_throttle`)
    : []),
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];
/** What ns-exec sets for a container with a network of its own, and Docker puts in linux.sysctl. */
const SYSCTLS = { 'net.ipv4.ping_group_range': '0 2147483647', 'net.ipv4.ip_unprivileged_port_start': '0' };
/** Docker's default mounts, in its order (the size of /dev/shm is its default --shm-size, 64 MiB). */
const DOCKER_MOUNTS = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
];

/** The parts of `runc spec`'s config.json this file edits. */
interface RuncSpec {
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities?: Record<string, string[]>;
    noNewPrivileges?: boolean;
    rlimits?: unknown;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: { destination: string; type: string; source: string; options: string[] }[];
  linux: {
    namespaces: { type: string }[];
    maskedPaths: string[];
    readonlyPaths: string[];
    sysctl?: Record<string, string>;
    cgroupsPath?: string;
    seccomp?: OciSeccomp;
  };
}

interface User {
  uid: number;
  gid: number;
  additionalGids: number[];
}

function findRunc(): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  const found = dirs.filter(Boolean).map((d) => join(d, 'runc')).find((p) => existsSync(p));
  if (!found) throw new Error('runc is not installed: apt-get install -y runc');
  return found;
}

const RUNC = findRunc();
const runDirExisted = existsSync('/run/runc');
let work: string;
let state: string;
let busybox: string;
let debian: string;
/** Problems found while cleaning up after a runc container (cgroups left behind), reported by afterAll. */
const leaks: string[] = [];

trackMounts(() => work);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-'));
  chmodSync(work, 0o755);
  state = join(work, 'runc-state');
  busybox = await busyboxRootfs(work);
  debian = await debianRootfs(work);
  installProbe(await buildProbe(work), busybox);
});

afterAll(async () => {
  if (work) await removeTree(work);
  expect(leaks).toEqual([]);
  expect(existsSync('/run/runc')).toBe(runDirExisted);
});

// ---------------------------------------------------------------- the two runtimes

/**
 * Both runtimes are started by a caller with umask 077 and SIGINT and SIGQUIT
 * ignored (what a shell gives a background job), to show what each hands on
 * of its caller's process state.
 */
const callerArgs = (command: string, args: string[]) => ['-c', 'trap "" INT QUIT && umask 077 && exec "$0" "$@"', command, ...args];

function fromCaller(command: string, args: string[]): Promise<CommandResult> {
  return runCommand('/bin/sh', callerArgs(command, args));
}

function nsExec(rootfs: string, command: string[], options: string[] = []): Promise<CommandResult> {
  return fromCaller(toolPath('ns-exec'), ['--hostname', HOSTNAME, ...options, '--rootfs', rootfs, '--', ...command]);
}

/** Every place a cgroup directory made from cgroupsPath can be: each v1 hierarchy, the hybrid unified one, a pure v2 root. */
function cgroupDirs(cgroupsPath: string): string[] {
  const root = '/sys/fs/cgroup';
  return [join(root, cgroupsPath), ...readdirSync(root).map((h) => join(root, h, cgroupsPath))].filter((d) => existsSync(d));
}

interface Container {
  id: string;
  bundle: string;
  cgroupsPath: string;
  run(): Promise<CommandResult>;
}

/** runc spec, edited to what Docker would write for `docker run --hostname cwrunc [-u USER] IMAGE CMD…`. */
async function dockerLikeBundle(rootfs: string, command: string[], user: User, cgroupsPath: string, edit?: (spec: RuncSpec) => void): Promise<string> {
  const bundle = mkdtempSync(join(work, 'bundle-'));
  await run(RUNC, ['spec', '--bundle', bundle]);
  const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8')) as RuncSpec;
  spec.root = { path: rootfs, readonly: false };
  spec.hostname = HOSTNAME;
  spec.process.terminal = false;
  spec.process.args = command;
  spec.process.cwd = '/';
  spec.process.user = user;
  spec.process.env = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `HOSTNAME=${HOSTNAME}`];
  // moby SetCapabilities: effective and permitted only for uid 0 ("to match what execve does").
  spec.process.capabilities = user.uid === 0 ? { bounding: DOCKER_CAPS, effective: DOCKER_CAPS, permitted: DOCKER_CAPS } : { bounding: DOCKER_CAPS };
  spec.process.noNewPrivileges = false;
  delete spec.process.rlimits;
  spec.mounts = DOCKER_MOUNTS;
  spec.linux.namespaces = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'].map((type) => ({ type }));
  spec.linux.maskedPaths = MASKED_PATHS;
  spec.linux.readonlyPaths = READONLY_PATHS;
  spec.linux.sysctl = SYSCTLS;
  spec.linux.cgroupsPath = cgroupsPath;
  edit?.(spec);
  await writeFile(join(bundle, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
  return bundle;
}

/**
 * A runc container for `use`, removed afterwards whatever happens: `runc
 * delete --force` (a no-op after a foreground `runc run` that ended), then its
 * cgroup directories are checked and, if runc left any, removed and reported.
 */
async function withRunc<T>(rootfs: string, command: string[], use: (c: Container) => Promise<T>, user: User = { uid: 0, gid: 0, additionalGids: [0] }, edit?: (spec: RuncSpec) => void): Promise<T> {
  const tag = randomBytes(4).toString('hex');
  const id = `cw-${tag}`;
  const cgroupsPath = `/cw-runc-${tag}`;
  const bundle = await dockerLikeBundle(rootfs, command, user, cgroupsPath, edit);
  try {
    return await use({
      id,
      bundle,
      cgroupsPath,
      run: () => fromCaller(RUNC, ['--root', state, 'run', '--bundle', bundle, id]),
    });
  } finally {
    await runCommand(RUNC, ['--root', state, 'delete', '--force', id]);
    const left = cgroupDirs(cgroupsPath);
    for (const dir of left) {
      leaks.push(`runc left the cgroup ${dir}`);
      try {
        rmdirSync(dir);
      } catch (e) {
        leaks.push(`cannot remove ${dir}: ${(e as Error).message}`);
      }
    }
  }
}

function runcRun(rootfs: string, command: string[], user?: User, edit?: (spec: RuncSpec) => void): Promise<CommandResult> {
  return withRunc(rootfs, command, (c) => c.run(), user, edit);
}

// ---------------------------------------------------------------- the probe

/** `== name` lines split the probe's output into sections. */
function sections(result: CommandResult, runtime: string): Map<string, string[]> {
  if (result.code !== 0) throw new Error(`${runtime} exited with ${result.code ?? result.signal}: ${result.stderr}`);
  const found = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const marker = /^== (\S+)$/.exec(line);
    if (marker) found.set(marker[1]!, (current = []));
    else if (line !== '') current.push(line);
  }
  return found;
}

function section(probe: Map<string, string[]>, name: string): string[] {
  const lines = probe.get(name);
  if (!lines) throw new Error(`the probe printed no section ${name}`);
  return lines;
}

/**
 * PID 1's identity and privileges. Not its SigBlk: a shell blocks signals around
 * each fork and wait, so a read of it from a child races (the signal state the
 * runtime hands over is read by a command that is PID 1 itself, below).
 */
const STATUS_FIELDS = 'grep -E "^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):" /proc/1/status';

/** busybox sh: what PID 1 of each runtime sees. */
const PROBE = [
  // Before anything else forks: the pid of PID 1's first child.
  "echo '== firstchild'; sh -c 'echo $$'",
  "echo '== session'; cut -d' ' -f5,6 /proc/1/stat",
  "echo '== mountinfo'; cat /proc/self/mountinfo",
  `echo '== status'; ${STATUS_FIELDS}`,
  "echo '== seccomp'; grep -E '^Seccomp:' /proc/1/status",
  "echo '== hostname'; hostname",
  "echo '== ps'; ps -o pid,user,comm",
  "echo '== env'; tr '\\0' '\\n' < /proc/1/environ",
  "echo '== dev'; ls -lAn /dev /dev/pts",
  "echo '== cgroup'; cat /proc/self/cgroup",
  "echo '== cgroupfs'; ls /sys/fs/cgroup; stat -c '%a' /sys/fs/cgroup; touch /sys/fs/cgroup/cw-probe 2>/dev/null; echo \"touch=$?\"",
  "echo '== sysctl'; cat /proc/sys/net/ipv4/ping_group_range /proc/sys/net/ipv4/ip_unprivileged_port_start",
  "echo '== net'; ip -o link; ip -o addr",
  "echo '== limits'; grep -E '^Max (open files|processes|core file size|stack size|locked memory)' /proc/1/limits",
  "echo '== umask'; umask",
  "echo '== cwd'; pwd",
  "echo '== fds'; ls /proc/1/fd",
  // runc's devices cgroup lets mknod make any node (`m`) and refuses to open it; ns-exec refuses to make it.
  "echo '== device'; mknod /dev/cw-loop b 7 0 2>/dev/null; echo \"mknod=$?\"; if [ -e /dev/cw-loop ]; then head -c 16 /dev/cw-loop >/dev/null 2>&1; echo \"open=$?\"; fi",
].join('\n');

/**
 * One line per mount: mount point, fstype, source, root inside the
 * filesystem, per-mount options, optional fields, superblock options — no
 * mount ids, no device numbers; the rootfs bind's root (its host path) as <rootfs>.
 */
function normalizeMounts(mountinfo: string[]): string[] {
  return mountinfo.map((line) => {
    const [left = '', right = ''] = line.split(' - ');
    const [, , , root = '', point = '', options = '', ...optional] = left.split(' ');
    const [fstype = '', source = '', superOptions = ''] = right.split(' ');
    return [point, fstype, source, point === '/' ? '<rootfs>' : root, options, optional.join(' ') || '-', superOptions].join(' ');
  });
}

const mountAt = (mounts: string[], point: string) => mounts.find((m) => m.startsWith(`${point} `));
const positionOf = (mounts: string[], points: string[]) => mounts.findIndex((m) => points.some((p) => m.startsWith(`${p} `)));

/** `ls -l` without the times; `total` lines dropped. */
function withoutTimes(lines: string[]): string[] {
  return lines.filter((l) => !l.startsWith('total ')).map((l) => l.replace(/\s+[A-Z][a-z]{2}\s+\d+\s+(\d\d:\d\d|\d{4})\s+/, ' '));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The host pid of a runc container's PID 1, once `runc state` says it runs. */
async function runcPid(id: string): Promise<number | undefined> {
  const r = await runCommand(RUNC, ['--root', state, 'state', id]);
  if (r.code !== 0) return undefined;
  const s = JSON.parse(r.stdout) as { pid: number; status: string };
  return s.status === 'running' ? s.pid : undefined;
}

/**
 * Starts a command whose container waits on stdin (`read`), finds its PID 1
 * as the host sees it, calls `look`, then closes stdin so that it ends
 * (SIGKILL to the process we started if it does not within 10 s).
 */
async function whileRunning<T>(command: string, args: string[], pidOf: () => Promise<number | undefined>, look: (pid: number) => T | Promise<T>): Promise<T> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d));
  child.stderr.on('data', (d: Buffer) => (output += d));
  const closed = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', (e) => {
      output += e.message;
      resolve();
    });
  });
  try {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pid = await pidOf();
      // Awaited here, so that the container runs until `look` is done.
      if (pid !== undefined) return await look(pid);
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${command} ${args.join(' ')} did not start: ${output}`);
      await sleep(20);
    }
  } finally {
    child.stdin.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await closed;
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------- the comparison

describe('ns-exec and runc (Docker-like spec) on the busybox rootfs, as root', () => {
  let ns: Map<string, string[]>;
  let rc: Map<string, string[]>;

  beforeAll(async () => {
    const command = ['sh', '-c', PROBE];
    ns = sections(await nsExec(busybox, command), 'ns-exec');
    rc = sections(await runcRun(busybox, command), 'runc');
  });

  it('mounts the same filesystems with the same options, except /sys/fs/cgroup: read-only under ns-exec, rw (mode 0555) under runc', () => {
    const nsMounts = normalizeMounts(section(ns, 'mountinfo'));
    const rcMounts = normalizeMounts(section(rc, 'mountinfo'));
    expect(nsMounts.length).toBeGreaterThan(20);
    expect(mountAt(nsMounts, '/sys/fs/cgroup')).toBe('/sys/fs/cgroup tmpfs tmpfs / ro,nosuid,nodev,noexec,relatime - rw,mode=755');
    expect(mountAt(rcMounts, '/sys/fs/cgroup')).toBe('/sys/fs/cgroup tmpfs tmpfs / rw,nosuid,nodev,noexec,relatime - rw,mode=755');
    // ns-exec's rootfs is nodev (see the device test below); runc's is not.
    expect(mountAt(nsMounts, '/')).toBe(mountAt(rcMounts, '/')!.replace(' rw,', ' rw,nodev,'));
    const rest = (mounts: string[]) => mounts.filter((m) => !m.startsWith('/sys/fs/cgroup ') && !m.startsWith('/ ')).sort();
    expect(rest(nsMounts)).toEqual(rest(rcMounts));
    // Spot checks of what "the same" covers: a masked file is the container's /dev/null, a hierarchy is mounted afresh.
    expect(mountAt(nsMounts, '/proc/keys')).toBe('/proc/keys tmpfs tmpfs /null rw,nosuid - rw,size=65536k,mode=755');
    expect(mountAt(nsMounts, '/sys/fs/cgroup/memory')).toMatch(/^\/sys\/fs\/cgroup\/memory cgroup cgroup \/ ro,nosuid,nodev,noexec,relatime - rw,memory$/);
  });

  it('mounts in a different order: runc in spec order, read-only paths before masked ones; ns-exec /dev/shm with /dev, masks first', () => {
    const nsMounts = normalizeMounts(section(ns, 'mountinfo'));
    const rcMounts = normalizeMounts(section(rc, 'mountinfo'));
    expect(positionOf(rcMounts, ['/dev/shm'])).toBeGreaterThan(positionOf(rcMounts, ['/sys/fs/cgroup']));
    expect(positionOf(nsMounts, ['/dev/shm'])).toBeLessThan(positionOf(nsMounts, ['/sys']));
    expect(positionOf(rcMounts, READONLY_PATHS)).toBeLessThan(positionOf(rcMounts, MASKED_PATHS));
    expect(positionOf(nsMounts, MASKED_PATHS)).toBeLessThan(positionOf(nsMounts, READONLY_PATHS));
  });

  it('gives PID 1 the same identity, capabilities (Docker\'s 0xa80425fb), no_new_privs and seccomp', () => {
    const status = section(ns, 'status');
    expect(status).toEqual(section(rc, 'status'));
    expect(status).toEqual(expect.arrayContaining(['Groups:\t0 ', 'CapEff:\t00000000a80425fb', 'CapBnd:\t00000000a80425fb', 'CapAmb:\t0000000000000000', 'NoNewPrivs:\t0']));
  });

  it('starts PID 1 with nothing blocked, ignored or pending, though the caller ignores SIGINT and SIGQUIT', async () => {
    // grep is PID 1 here: what it reads of itself is what execve got from the runtime.
    const command = ['grep', '-E', '^(SigBlk|SigIgn|SigPnd|ShdPnd):', '/proc/self/status'];
    const nsSignals = await nsExec(busybox, command);
    const rcSignals = await runcRun(busybox, command);
    expect(nsSignals.stdout).toBe(rcSignals.stdout);
    expect(nsSignals.stdout.split('\n').filter(Boolean).map((l) => l.replace(/\t.*/, ''))).toEqual(['SigPnd:', 'ShdPnd:', 'SigBlk:', 'SigIgn:']);
    expect(nsSignals.stdout).not.toMatch(/\t0*[1-9a-f]/);
  });

  it('sets the same hostname, environment, working directory, /dev, sysctls, loopback, rlimits and open fds', () => {
    for (const name of ['hostname', 'cwd', 'sysctl', 'net', 'limits', 'fds', 'cgroup']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect(section(ns, 'hostname')).toEqual([HOSTNAME]);
    expect(section(ns, 'sysctl')).toEqual(['0\t2147483647', '0']);
    expect(section(ns, 'fds')).toEqual(['0', '1', '2']);
    // runc passes process.env (PATH, HOSTNAME: what Docker writes) and adds HOME from /etc/passwd; ns-exec builds the same three.
    expect([...section(ns, 'env')].sort()).toEqual([...section(rc, 'env')].sort());
    expect([...section(ns, 'env')].sort()).toEqual(['HOME=/root', `HOSTNAME=${HOSTNAME}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(withoutTimes(section(ns, 'dev'))).toEqual(withoutTimes(section(rc, 'dev')));
    // With a cgroup namespace each shows its own cgroup as the root of every hierarchy.
    expect(section(ns, 'cgroup').every((l) => l.endsWith(':/'))).toBe(true);
  });

  it('shows PID 1 and ps alone, but runc\'s first child is not pid 2: runc init\'s Go threads took pids of the new namespace', () => {
    const normalize = (lines: string[]) => lines.map((l) => l.replace(/^\s*(\d+)/, (_, pid: string) => (pid === '1' ? '1' : 'N')));
    expect(normalize(section(ns, 'ps'))).toEqual(normalize(section(rc, 'ps')));
    expect(normalize(section(ns, 'ps'))).toEqual(['PID   USER     COMMAND', '1 root     sh', 'N root     ps']);
    expect(section(ns, 'firstchild')).toEqual(['2']);
    expect(Number(section(rc, 'firstchild')[0])).toBeGreaterThan(2);
  });

  it('gives PID 1 a session and process group of its own (setsid) and a umask of 0022, whatever the caller had (077 here)', () => {
    expect(section(ns, 'session')).toEqual(['1 1']);
    expect(section(ns, 'session')).toEqual(section(rc, 'session'));
    expect(section(ns, 'umask')).toEqual(['0022']);
    expect(section(ns, 'umask')).toEqual(section(rc, 'umask'));
  });

  it('differs in seccomp: ns-exec loads Docker\'s default profile (Seccomp: 2, as Docker); this runc spec has no linux.seccomp (compared with one below)', () => {
    expect(section(ns, 'seccomp')).toEqual(['Seccomp:\t2']);
    expect(section(rc, 'seccomp')).toEqual(['Seccomp:\t0']);
  });

  it('differs in /sys/fs/cgroup: the same hierarchies, but runc\'s tmpfs is writable to root (0555 + CAP_DAC_OVERRIDE), ns-exec\'s is read-only', () => {
    const [nsNames, rcNames] = [section(ns, 'cgroupfs'), section(rc, 'cgroupfs')].map((l) => l.slice(0, -2));
    expect(nsNames).toEqual(rcNames);
    expect(section(rc, 'cgroupfs').slice(-2)).toEqual(['555', 'touch=0']);
    expect(section(ns, 'cgroupfs').slice(-2)).toEqual(['755', 'touch=1']);
  });

  it('keeps a host device from use either way: runc\'s devices cgroup refuses to open the node, ns-exec refuses to make it', (ctx) => {
    // The host itself must be able to open loop0, or the comparison says nothing.
    try {
      closeSync(openSync('/dev/loop0', 'r'));
    } catch {
      ctx.skip();
    }
    expect(section(rc, 'device')).toEqual(['mknod=0', 'open=1']);
    expect(section(ns, 'device')).toEqual(['mknod=1']);
  });
});

describe('ns-exec and runc as a non-root user (-u app: uid 1000, gid 1000, Docker\'s additionalGids [1000])', () => {
  it('gives the same identity, an empty effective set under Docker\'s bounding set, and HOME from /etc/passwd', async () => {
    const script = `echo '== status'; ${STATUS_FIELDS}; echo '== env'; tr '\\0' '\\n' < /proc/1/environ; echo '== id'; id`;
    const ns = sections(await nsExec(busybox, ['sh', '-c', script], ['-u', 'app']), 'ns-exec');
    const rc = sections(await runcRun(busybox, ['sh', '-c', script], { uid: 1000, gid: 1000, additionalGids: [1000] }), 'runc');
    expect(section(ns, 'status')).toEqual(section(rc, 'status'));
    expect(section(ns, 'status')).toEqual(expect.arrayContaining(['Uid:\t1000\t1000\t1000\t1000', 'Groups:\t1000 ', 'CapPrm:\t0000000000000000', 'CapEff:\t0000000000000000', 'CapBnd:\t00000000a80425fb']));
    expect([...section(ns, 'env')].sort()).toEqual([...section(rc, 'env')].sort());
    expect(section(ns, 'env')).toContain('HOME=/home/app');
    expect(section(ns, 'id')).toEqual(section(rc, 'id'));
  });
});

describe('ns-exec and runc on the Debian rootfs', () => {
  it('shows the same /proc/1/status, os-release, hostname, environment and mounts (but for /sys/fs/cgroup)', async () => {
    const script = [
      `echo '== status'; ${STATUS_FIELDS}`,
  "echo '== seccomp'; grep -E '^Seccomp:' /proc/1/status",
      "echo '== osrelease'; cat /etc/os-release",
      "echo '== hostname'; cat /proc/sys/kernel/hostname",
      "echo '== env'; tr '\\0' '\\n' < /proc/1/environ",
      "echo '== mountinfo'; cat /proc/self/mountinfo",
    ].join('\n');
    const ns = sections(await nsExec(debian, ['/bin/sh', '-c', script]), 'ns-exec');
    const rc = sections(await runcRun(debian, ['/bin/sh', '-c', script]), 'runc');
    for (const name of ['status', 'osrelease', 'hostname']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect(section(ns, 'osrelease')).toContain('ID=debian');
    expect([...section(ns, 'env')].sort()).toEqual([...section(rc, 'env')].sort());
    const rest = (mounts: string[]) => normalizeMounts(mounts).filter((m) => !m.startsWith('/sys/fs/cgroup ') && !m.startsWith('/ ')).sort();
    expect(rest(section(ns, 'mountinfo'))).toEqual(rest(section(rc, 'mountinfo')));
  });
});

describe('the cgroup the command runs in, seen from the host', () => {
  const waitOnStdin = ['sh', '-c', 'read line'];

  it('ns-exec leaves it in its caller\'s cgroups', async () => {
    const pidFile = join(work, `ns-exec-${randomBytes(4).toString('hex')}.pid`);
    const pidOf = async () => {
      const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
      return text ? Number(text) : undefined;
    };
    const cgroup = await whileRunning(
      '/bin/sh',
      callerArgs(toolPath('ns-exec'), ['--pid-file', pidFile, '--rootfs', busybox, '--', ...waitOnStdin]),
      pidOf,
      (pid) => readFileSync(`/proc/${pid}/cgroup`, 'utf8'),
    );
    expect(cgroup).toBe(readFileSync('/proc/self/cgroup', 'utf8'));
  });

  it('runc creates linux.cgroupsPath in every hierarchy, runs it there, and removes it', async () => {
    let cgroupsPath = '';
    const [cgroup, dirs] = await withRunc(busybox, waitOnStdin, async (c) => {
      cgroupsPath = c.cgroupsPath;
      return whileRunning(RUNC, ['--root', state, 'run', '--bundle', c.bundle, c.id], () => runcPid(c.id), (pid) => [readFileSync(`/proc/${pid}/cgroup`, 'utf8'), cgroupDirs(c.cgroupsPath)] as const);
    });
    const lines = cgroup.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(line.slice(line.indexOf(':', line.indexOf(':') + 1) + 1), line).toBe(cgroupsPath);
    expect(dirs.length).toBeGreaterThanOrEqual(lines.length);
    expect(cgroupDirs(cgroupsPath)).toEqual([]);
    expect(statSync(state).isDirectory()).toBe(true);
    expect(readdirSync(state)).toEqual([]);
  });
});

// ---------------------------------------------------------------- exec: a second process in a running container

/** busybox sh: what a process started in a running container sees of itself ($$: the exec'd shell). */
const EXEC_PROBE = [
  "echo '== status'; grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):' /proc/$$/status",
  "echo '== seccomp'; grep -E '^Seccomp:' /proc/$$/status",
  "echo '== hostname'; hostname",
  "echo '== ns'; for n in cgroup ipc mnt net pid uts user; do readlink /proc/$$/ns/$n; done",
  "echo '== cgroup'; cat /proc/$$/cgroup",
  "echo '== mountinfo'; cat /proc/$$/mountinfo",
  "echo '== env'; tr '\\0' '\\n' < /proc/$$/environ",
  "echo '== id'; id",
  "echo '== cwd'; pwd",
  "echo '== ps'; ps -o pid,user,comm",
  // Its parent (0: outside the pid namespace) and session: a session of its own is its pid.
  "echo '== session'; cut -d' ' -f4,6 /proc/$$/stat; echo $$",
  "echo '== umask'; umask",
  "echo '== fds'; ls /proc/$$/fd",
  "echo '== limits'; grep -E '^Max (open files|processes|core file size|stack size|locked memory)' /proc/$$/limits",
].join('\n');

/** PID 1 of the containers entered: it waits on stdin (whileRunning closes it), in a directory other than its config's cwd. */
const WAITING_PID1 = ['sh', '-c', 'cd /tmp && read line'];

/**
 * A runc container running WAITING_PID1 as `user`; `look` gets its PID 1's host pid, with runc's
 * container id and bundle, while it runs.
 */
function whileRuncRuns<T>(user: User | undefined, look: (pid: number, c: Container) => Promise<T>, edit?: (spec: RuncSpec) => void): Promise<T> {
  return withRunc(busybox, WAITING_PID1, (c) => whileRunning(RUNC, ['--root', state, 'run', '--bundle', c.bundle, c.id], () => runcPid(c.id), (pid) => look(pid, c)), user, edit);
}

/**
 * `ns-exec [options] --enter PID -- CMD…` and `runc exec RUNC_ARGS` (default: ID CMD…), from the same caller, one
 * after the other; their probe sections.
 */
async function bothExec(pid: number, c: Container, command: string[], nsOptions: string[] = [], runcArgs: string[] = [c.id, ...command]): Promise<[Map<string, string[]>, Map<string, string[]>]> {
  return [
    sections(await fromCaller(toolPath('ns-exec'), [...nsOptions, '--enter', String(pid), '--', ...command]), 'ns-exec --enter'),
    sections(await fromCaller(RUNC, ['--root', state, 'exec', ...runcArgs]), 'runc exec'),
  ];
}

/**
 * What docker exec -u USER hands runc (moby daemon/exec.go): the container's process with the user's
 * uid, gid and additionalGids, as a process.json for `runc exec --process`. (`runc exec --user` would keep the
 * config's additionalGids, 0 here, and add --additional-gids to them.)
 */
async function dockerExecProcess(c: Container, user: User, args: string[]): Promise<string> {
  const spec = JSON.parse(await readFile(join(c.bundle, 'config.json'), 'utf8')) as RuncSpec;
  const file = join(c.bundle, `process-${randomBytes(4).toString('hex')}.json`);
  await writeFile(file, JSON.stringify({ ...spec.process, user, args }));
  return file;
}

/**
 * The differences, one line each, each asserted below:
 * - cwd: runc exec takes the config's process.cwd (/); ns-exec has no config and takes PID 1's current directory (/tmp).
 *   docker exec passes the image's WorkingDir: the same as ns-exec's unless PID 1 changed directory, as this one did.
 * - umask: runc exec keeps its caller's (077 here; under Docker the shim's, 022); ns-exec sets 022, as for a PID 1.
 * - Pids after 1: each command's depends on what ran in the namespace before it (runc init's Go threads take some): not
 *   compared, only that both are > 1 and lead their own session.
 */
describe('ns-exec --enter and runc exec in the same runc container (PID 1: `cd /tmp && read line`), as root', () => {
  let ns: Map<string, string[]>;
  let rc: Map<string, string[]>;
  let pid1Mounts = '';

  beforeAll(async () => {
    [ns, rc] = await whileRuncRuns(undefined, (pid, c) => {
      pid1Mounts = readlinkSync(`/proc/${pid}/ns/mnt`);
      return bothExec(pid, c, ['sh', '-c', EXEC_PROBE]);
    });
  });

  it('joins the same namespaces (those of PID 1) and sees the same mounts, hostname and cgroups (`/`: the cgroup namespace)', () => {
    for (const name of ['ns', 'mountinfo', 'hostname', 'cgroup']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect(section(ns, 'ns')).toContain(pid1Mounts);
    expect(section(ns, 'hostname')).toEqual([HOSTNAME]);
    expect(section(ns, 'cgroup').every((l) => l.endsWith(':/'))).toBe(true);
  });

  it("gets the same identity, capabilities (Docker's set), no_new_privs and seccomp (none: PID 1 has no filter)", () => {
    for (const name of ['status', 'seccomp', 'id']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect(section(ns, 'status')).toEqual(expect.arrayContaining(['Uid:\t0\t0\t0\t0', 'Groups:\t0 ', 'CapEff:\t00000000a80425fb', 'CapBnd:\t00000000a80425fb', 'CapInh:\t0000000000000000', 'NoNewPrivs:\t0']));
    expect(section(ns, 'seccomp')).toEqual(['Seccomp:\t0']);
  });

  it('gets the same environment (the config\'s PATH and HOSTNAME, HOME from passwd), rlimits, open fds and a session of its own', () => {
    for (const name of ['env', 'limits', 'fds']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect([...section(ns, 'env')].sort()).toEqual(['HOME=/root', `HOSTNAME=${HOSTNAME}`, 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(section(ns, 'fds')).toEqual(['0', '1', '2']);
    for (const probe of [ns, rc]) {
      const [parentAndSession, pid] = section(probe, 'session');
      expect(parentAndSession).toBe(`0 ${pid}`);
      expect(Number(pid)).toBeGreaterThan(1);
    }
  });

  it('shows PID 1, itself and ps alone in ps; the pids differ', () => {
    const normalize = (lines: string[]) => lines.map((l) => l.replace(/^\s*(\d+)/, (_, pid: string) => (pid === '1' ? '1' : 'N')));
    expect(normalize(section(ns, 'ps'))).toEqual(normalize(section(rc, 'ps')));
    expect(normalize(section(ns, 'ps'))).toEqual(['PID   USER     COMMAND', '1 root     sh', 'N root     sh', 'N root     ps']);
  });

  it("differs in cwd: runc exec starts in the config's cwd (/), ns-exec in PID 1's current directory (/tmp)", () => {
    expect(section(rc, 'cwd')).toEqual(['/']);
    expect(section(ns, 'cwd')).toEqual(['/tmp']);
  });

  it("differs in umask: runc exec keeps its caller's (077 here), ns-exec sets 022", () => {
    expect(section(rc, 'umask')).toEqual(['0077']);
    expect(section(ns, 'umask')).toEqual(['0022']);
  });
});

describe('ns-exec --enter and runc exec as a non-root user', () => {
  const script = `echo '== status'; grep -E '^(Uid|Gid|Groups|Cap[A-Za-z]+|NoNewPrivs):' /proc/$$/status; echo '== env'; tr '\\0' '\\n' < /proc/$$/environ; echo '== id'; id`;
  const app: User = { uid: 1000, gid: 1000, additionalGids: [1000] };

  it("in a container whose PID 1 runs as app: PID 1's user, none effective, HOME=/home/app — the same", async () => {
    const [ns, rc] = await whileRuncRuns(app, (pid, c) => bothExec(pid, c, ['sh', '-c', script]));
    for (const name of ['status', 'env', 'id']) expect(section(ns, name), name).toEqual(section(rc, name));
    expect(section(ns, 'status')).toEqual(expect.arrayContaining(['Uid:\t1000\t1000\t1000\t1000', 'Groups:\t1000 ', 'CapEff:\t0000000000000000', 'CapBnd:\t00000000a80425fb']));
    expect(section(ns, 'env')).toContain('HOME=/home/app');
  });

  it("with -u app in a root container (docker exec -u app's process.json for runc): the same identity, and app's HOME", async () => {
    const command = ['sh', '-c', script];
    const [ns, rc] = await whileRuncRuns(undefined, async (pid, c) => bothExec(pid, c, command, ['-u', 'app'], ['--process', await dockerExecProcess(c, app, command), c.id]));
    expect(section(ns, 'id')).toEqual(['uid=1000(app) gid=1000(app) groups=1000(app)']);
    for (const name of ['status', 'id']) expect(section(ns, name), name).toEqual(section(rc, name));
    // runc sets HOME from app's passwd entry, the environment it is given having none; ns-exec keeps PID 1's HOME=/root.
    expect(section(rc, 'env')).toContain('HOME=/home/app');
    expect([...section(ns, 'env')].sort()).toEqual([...section(rc, 'env')].sort());
  });
});

describe('the cgroups of a process entered into a runc container, seen from the host', () => {
  it("ns-exec --enter and runc exec put it in the container's (linux.cgroupsPath); ns-exec itself goes back to its own", async () => {
    let nsExited: Promise<number | null> | undefined;
    await whileRuncRuns(undefined, async (pid, c) => {
      const container = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      const [nsPidFile, runcPidFile] = [join(c.bundle, 'ns-exec.pid'), join(c.bundle, 'runc-exec.pid')];
      const nsExec = spawn(toolPath('ns-exec'), ['--pid-file', nsPidFile, '--enter', String(pid), '--', 'sleep', '300'], { stdio: 'ignore' });
      nsExited = new Promise((resolve) => nsExec.on('exit', (code) => resolve(code)));
      // Not runCommand: the detached sleep holds on to runc's stdout and stderr until the container ends.
      const runcExec = spawn(RUNC, ['--root', state, 'exec', '--detach', '--pid-file', runcPidFile, c.id, 'sleep', '300'], { stdio: 'ignore' });
      expect(await new Promise((resolve) => runcExec.on('exit', resolve))).toBe(0);
      await waitFor('ns-exec --enter to write its pid file', () => existsSync(nsPidFile) || nsExec.exitCode !== null);
      const [byNs, byRunc] = [nsPidFile, runcPidFile].map((f) => Number(readFileSync(f, 'utf8')));
      expect(readFileSync(`/proc/${byNs}/cgroup`, 'utf8')).toBe(container);
      expect(readFileSync(`/proc/${byRunc}/cgroup`, 'utf8')).toBe(container);
      expect(readFileSync(`/proc/${nsExec.pid}/cgroup`, 'utf8')).toBe(readFileSync('/proc/self/cgroup', 'utf8'));
      const dirs = cgroupDirs(c.cgroupsPath);
      expect(dirs.length).toBeGreaterThan(0);
      for (const dir of dirs) {
        const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
        expect(procs, dir).toEqual(expect.arrayContaining([pid, byNs, byRunc]));
        expect(procs, dir).not.toContain(nsExec.pid);
      }
    });
    // PID 1 read its line and ended: the kernel killed the rest of its pid namespace, both sleeps among them.
    expect(await nsExited).toBe(137);
  });
});

// ---------------------------------------------------------------- seccomp and the session keyring

/**
 * The same seccomp profile for both: ns-exec reads it in Docker's format (its default, or --security-opt
 * seccomp=FILE); runc gets it as dockerd would write it into config.json (probe.ts ociSeccomp, written apart
 * from ns-exec's seccomp.ts). The probe (syscall-probe.c) then makes the same raw calls under each, and what
 * each call returned must be the same — but for mknod of a device, which runc's devices cgroup lets through
 * (opening the node is what it refuses) and ns-exec's device-node rule refuses.
 */
const DEVICE_PROBES = ['mknod-char', 'i386-mknod-char'];
const withoutDevices = (results: Record<string, string>) => Object.fromEntries(Object.entries(results).filter(([name]) => !DEVICE_PROBES.includes(name)));

async function bothProbe(nsOptions: string[], seccomp: OciSeccomp | undefined, caps: string[] = DOCKER_CAPS): Promise<[Record<string, string>, Record<string, string>]> {
  const ns = await nsExec(busybox, [SYSCALL_PROBE], nsOptions);
  const rc = await runcRun(busybox, [SYSCALL_PROBE], undefined, (spec) => {
    spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
    if (seccomp) spec.linux.seccomp = seccomp;
  });
  if (ns.code !== 0 || rc.code !== 0) throw new Error(`ns-exec: ${ns.code} ${ns.stderr}; runc: ${rc.code} ${rc.stderr}`);
  return [probeResults(ns.stdout), probeResults(rc.stdout)];
}

describe('seccomp: ns-exec and runc given the same profile make the same calls fail the same way', () => {
  it("Docker's default profile, default capabilities: the same answers (EPERM, clone3 ENOSYS, ENOSYS above the last call libseccomp knows)", async () => {
    const [ns, rc] = await bothProbe([], ociSeccomp(dockerDefaultProfile() as DockerProfile, DOCKER_CAPS));
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    for (const [name, result] of Object.entries(REFUSED_BY_DEFAULT)) expect(rc[name], name).toBe(result);
    expect([ns.mseal, rc.mseal]).toEqual(['ENOSYS', 'ENOSYS']);
    expect([ns['mknod-char'], rc['mknod-char']]).toEqual(['EPERM', 'ok']);
  });

  it("Docker's default profile with CAP_SYS_ADMIN added: unshare, mount, setns, clone's namespace flags and clone3 go through under both", async () => {
    const caps = [...DOCKER_CAPS, 'CAP_SYS_ADMIN'];
    const [ns, rc] = await bothProbe(['--cap-add', 'SYS_ADMIN'], ociSeccomp(dockerDefaultProfile() as DockerProfile, caps), caps);
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    expect([ns['unshare-uts'], ns['clone-newuts'], ns.clone3]).toEqual(['ok', 'ok', 'EINVAL']);
  });

  it("podman's /usr/share/containers/seccomp.json (ENOSYS by default) as a profile file", async (ctx) => {
    const file = '/usr/share/containers/seccomp.json';
    if (!existsSync(file)) ctx.skip();
    const [ns, rc] = await bothProbe(['--security-opt', `seccomp=${file}`], ociSeccomp(JSON.parse(readFileSync(file, 'utf8')) as DockerProfile, DOCKER_CAPS));
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    expect(ns.add_key).toBe('ENOSYS');
  });

  it('a profile file exercising actions, errnoRet, argument filters, includes and excludes', async () => {
    const file = join(work, 'custom-seccomp.json');
    await writeFile(file, JSON.stringify(CUSTOM_PROFILE));
    const [ns, rc] = await bothProbe(['--security-opt', `seccomp=${file}`], ociSeccomp(CUSTOM_PROFILE, DOCKER_CAPS));
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    expect(Object.fromEntries(CUSTOM_PROBES.map((p) => [p, rc[p]]))).toEqual(CUSTOM_RESULTS);
  });

  it('seccomp=unconfined and no linux.seccomp: no filter but ns-exec\'s device-node rule', async () => {
    const [ns, rc] = await bothProbe(['--security-opt', 'seccomp=unconfined'], undefined);
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    expect(ns['unshare-user']).toBe('ok');
  });

  it("ns-exec --enter and runc exec in a runc container with Docker's profile: the new process gets the container's profile under both", async () => {
    const seccomp = ociSeccomp(dockerDefaultProfile() as DockerProfile, DOCKER_CAPS);
    const [ns, rc] = await whileRuncRuns(undefined, async (pid, c) => {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^Seccomp:\t2$/m);
      const byNs = await fromCaller(toolPath('ns-exec'), ['--enter', String(pid), '--', SYSCALL_PROBE]);
      const byRunc = await fromCaller(RUNC, ['--root', state, 'exec', c.id, SYSCALL_PROBE]);
      return [probeResults(byNs.stdout), probeResults(byRunc.stdout)];
    }, (spec) => {
      spec.linux.seccomp = seccomp;
    });
    expect(withoutDevices(ns)).toEqual(withoutDevices(rc));
    expect(rc.add_key).toBe('EPERM');
  });
});

describe('the session keyring: ns-exec and runc hide the same host keys (no seccomp filter, so that keyctl is allowed)', () => {
  const KEYCTL = '/bin/keyctl';

  it("a key of the caller's session keyring: unreadable under both", async () => {
    const script = (runtime: string) => `k=$(${KEYCTL} add user cw-runc-session s3cret @s); ${runtime}`;
    const nsCommand = `${toolPath('ns-exec')} --security-opt seccomp=unconfined --hostname ${HOSTNAME} --rootfs ${busybox} -- ${SYSCALL_PROBE} keyread $k`;
    const ns = await runCommand(KEYCTL, ['session', '-', '/bin/sh', '-c', script(nsCommand)]);
    const bundle = await withRunc(busybox, ['sh', '-c', 'read k; exec $0 keyread $k', SYSCALL_PROBE], async (c) => {
      const rc = await runCommand(KEYCTL, ['session', '-', '/bin/sh', '-c', script(`echo $k | ${RUNC} --root ${state} run --bundle ${c.bundle} ${c.id}`)]);
      return rc.stdout;
    });
    const lines = (text: string) => text.split('\n').filter((l) => l && !l.startsWith('Joined'));
    expect(lines(ns.stdout)).toEqual(['EACCES']);
    expect(lines(bundle)).toEqual(lines(ns.stdout));
  });

  it("root's user keyring (@u): a key in it is unreadable until the container links @u into its own session — under both", async () => {
    const added = await runCommand(KEYCTL, ['add', 'user', `cw-runc-${process.pid}`, 's3cret', '@u']);
    const id = added.stdout.trim();
    try {
      const script = `${SYSCALL_PROBE} keyread ${id}; ${SYSCALL_PROBE} keylink-user; ${SYSCALL_PROBE} keyread ${id}`;
      const ns = await nsExec(busybox, ['sh', '-c', script], ['--security-opt', 'seccomp=unconfined']);
      const rc = await runcRun(busybox, ['sh', '-c', script]);
      expect(ns.stdout).toBe('EACCES\nok\nread s3cret\n');
      expect(rc.stdout).toBe(ns.stdout);
    } finally {
      await runCommand(KEYCTL, ['unlink', id, '@u']);
    }
  });
});
