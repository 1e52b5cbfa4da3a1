/**
 * ns-exec on this machine's kernel, no mocks: real namespaces, mounts,
 * pivot_root, capabilities, a real user namespace for the rootless run, a
 * real cgroup (cg-limit) and network namespace (ip netns) to join, and the
 * busybox fixture image and the debootstrapped Debian rootfs as root
 * filesystems. What is checked is what the command sees from inside, and
 * what the host sees afterwards: its mount table unchanged, nothing created.
 *
 * Everything a test creates is named cw…: network namespaces cwtest-<pid>-n,
 * cgroups through cg-limit as cwtest-<pid>-n. afterEach removes them, kills
 * the processes the test started (by pid: a running container's PID 1, which
 * takes every process of its pid namespace with it, then the ns-exec processes,
 * awaited), and checks that the host's mount table is what it was before the
 * test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, shellWord, signalWhenCaught, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs, debianRootfs } from '../../../test/fixtures/rootfs.ts';
import { shareTools, type SharedTools } from '../../../test/fixtures/unprivileged-user.ts';
import { parentOf } from './probe.ts';

/** Docker's default capability set, as /proc/PID/status shows it. */
const DOCKER_CAPS = '00000000a80425fb';
const NOBODY = 65534;

let work: string;
let busybox: string;
let debian: string;
let counter = 0;
const netnsMade: string[] = [];
const cgroupsMade: string[] = [];
const started: ChildProcess[] = [];
let mountsBefore: string;

/**
 * The host's mounts that involve this file's work directory (the rootfs
 * fixtures, the bind sources): other test files mount at the same time, so
 * the whole table is not compared.
 */
function mountTable(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work)).join('\n');
}

function ns(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CommandResult> {
  return runCommand('ns-exec', args, options);
}

/** ns-exec in the busybox rootfs: `sh -c SCRIPT`. */
function inBusybox(script: string, options: string[] = []): Promise<CommandResult> {
  return ns([...options, '--rootfs', busybox, '--', '/bin/sh', '-c', script]);
}

/** A `Name:\tvalue` line's value ('' when empty: the blanks stop at the line's end). */
function field(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status)?.[1];
}

function uniqueName(): string {
  return `cwtest-${process.pid}-${++counter}`;
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** The pid ns-exec writes to --pid-file (renamed into place, so complete once it exists) when the command has started. */
async function pidFromFile(pidFile: string, child: ChildProcess): Promise<number> {
  await waitFor(`ns-exec to write ${pidFile}`, () => existsSync(pidFile) || hasExited(child));
  if (!existsSync(pidFile)) throw new Error(`ns-exec exited with ${child.exitCode ?? child.signalCode} before it wrote ${pidFile}`);
  return Number(readFileSync(pidFile, 'utf8'));
}

/** A container made by ns-exec that keeps running: its PID 1 as the host sees it, the ns-exec waiting for it, what it printed. */
interface Container {
  pid: number;
  ns: ChildProcess;
  output(): string;
  /** ns-exec's status once it and its output have ended. */
  exited: Promise<number | null>;
}
const containers: Container[] = [];

/**
 * `ns-exec [options] --pid-file F --rootfs ROOTFS -- sh -c 'BEFORE; echo ready; AFTER'` in the background,
 * returned once PID 1 has printed `ready` (so BEFORE is done); AFTER keeps it running (default: exec sleep).
 * `as` is a command that runs ns-exec (setpriv, for a rootless container), `pidDir` where it can write its pid file.
 */
async function startContainer(spec: { options?: string[]; rootfs?: string; before?: string; after?: string; as?: string[]; pidDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Container> {
  const pidFile = join(spec.pidDir ?? work, `pid-${++counter}`);
  const script = `${spec.before ?? ':'}; echo ready; ${spec.after ?? 'exec sleep 300'}`;
  const [command, ...args] = [...(spec.as ?? []), spec.as ? nsExecForOthers() : toolPath('ns-exec'), '--pid-file', pidFile, ...(spec.options ?? []), '--rootfs', spec.rootfs ?? busybox, '--', '/bin/sh', '-c', script];
  const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...spec.env } });
  started.push(child);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d));
  child.stderr!.on('data', (d: Buffer) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const container: Container = { pid: await pidFromFile(pidFile, child), ns: child, output: () => output, exited };
  containers.push(container);
  // \r\n through a terminal (-t).
  const ready = () => /^ready\r?$/m.test(output);
  await waitFor('PID 1 to print ready', () => ready() || hasExited(child));
  if (!ready()) throw new Error(`the container ended before it was ready: ${output}`);
  return container;
}

/** `ns-exec [options] --enter PID -- CMD…`, to completion. */
function enter(container: Container, command: string[], options: string[] = [], run: { env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<CommandResult> {
  return ns([...options, '--enter', String(container.pid), '--', ...command], run);
}

/** A copy of the busybox rootfs whose top directory nobody owns (root inside is nobody outside). */
function rootlessRootfs(): string {
  const rootfs = join(work, 'rootless-rootfs');
  if (!existsSync(rootfs)) {
    spawnSync('cp', ['-a', busybox, rootfs]);
    chownSync(rootfs, NOBODY, NOBODY);
  }
  return rootfs;
}

/** `setpriv` to nobody, no groups: the rootless caller. */
const AS_NOBODY = ['/usr/bin/setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--'];

/** The checkout's tools, shared with other users (a checkout under /root is closed to them: shareTools). */
let shared: SharedTools | undefined;

/** ns-exec as nobody can run it. */
function nsExecForOthers(): string {
  return join(shared!.bin, 'ns-exec');
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nsexec-'));
  chmodSync(work, 0o755);
  busybox = await busyboxRootfs(work);
  debian = await debianRootfs(work);
  shared = shareTools();
});

afterAll(async () => {
  shared?.release();
  await removeTree(work);
});

beforeEach(() => {
  mountsBefore = mountTable();
});

afterEach(async () => {
  // A PID 1 is killed only while its ns-exec still waits for it: then the pid cannot belong to another process yet.
  for (const c of containers.splice(0)) if (!hasExited(c.ns) && parentOf(c.pid) === c.ns.pid) process.kill(c.pid, 'SIGKILL');
  for (const child of started.splice(0)) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (hasExited(child)) continue;
    child.kill('SIGKILL');
    await exited;
  }
  for (const name of netnsMade.splice(0)) spawnSync('ip', ['netns', 'del', name]);
  for (const name of cgroupsMade.splice(0)) await runCommand('cg-limit', ['rm', '--force', name]);
  // Whatever happened in the test, the host's mount table is as it was.
  expect(mountTable()).toBe(mountsBefore);
});

describe('the container', () => {
  it('runs the command as PID 1 of its own pid namespace; ps sees only the container', async () => {
    const out = await inBusybox('echo $$; sleep 10 & until [ "$(cat /proc/$!/comm)" = sleep ]; do :; done; ps -o pid,comm; true');
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const [pid, header, ...procs] = out.stdout.trim().split('\n');
    expect(pid).toBe('1');
    expect(header).toMatch(/PID\s+COMMAND/);
    // Only the container's processes: its shell as 1, the sleep and ps (their pids depend on the subshells the wait took).
    const rows = procs.map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => r[1])).toEqual(['sh', 'sleep', 'ps']);
    expect(rows[0]![0]).toBe('1');
  });

  it('sets the hostname: --hostname, else 12 hex digits like a container id; HOSTNAME matches', async () => {
    const named = await inBusybox('hostname; echo $HOSTNAME', ['--hostname', 'box1']);
    expect(named.stdout).toBe('box1\nbox1\n');
    const random = await inBusybox('hostname');
    expect(random.stdout.trim()).toMatch(/^[0-9a-f]{12}$/);
    expect(spawnSync('hostname').stdout.toString().trim()).not.toBe('box1');
  });

  it('is the rootfs: the Debian rootfs shows its os-release, its own tools and /etc', async () => {
    const out = await ns(['--rootfs', debian, '--', 'cat', '/etc/os-release']);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^PRETTY_NAME="Debian GNU\/Linux 12 \(bookworm\)"$/m);
    const ls = await ns(['--rootfs', debian, '--', 'ls', '/']);
    expect(ls.stdout.split('\n')).toEqual(expect.arrayContaining(['bin', 'etc', 'usr', 'proc', 'sys', 'dev']));
  });

  it('cannot reach the host: the old root is gone, `..` stops at /, host paths do not exist', async () => {
    const secret = join(work, 'host-secret');
    writeFileSync(secret, 'host only\n');
    const out = await inBusybox(`test -e ${secret} && echo visible; cd /../../..; pwd; ls /; awk \'$5 == "/"\' /proc/1/mountinfo | wc -l; grep -c ${work} /proc/self/mountinfo || true`);
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines).not.toContain('visible');
    expect(lines[0]).toBe('/');
    expect(lines).toContain('bin');
    expect(lines).not.toContain('work');
    // The only mount at / is the rootfs; the host's root is not stacked anywhere.
    expect(lines.at(-2)).toBe('1');
  });

  it('mounts /proc, /sys read-only, /dev with the usual nodes, devpts, shm, mqueue, and masks what Docker masks', async () => {
    const out = await inBusybox(
      [
        'ls /dev | tr "\\n" " "; echo',
        'stat -c "%n %F %t:%T %a" /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty',
        'readlink /dev/fd; readlink /dev/stdin; readlink /dev/ptmx',
        'awk \'{print $5, $6, $(NF-2)}\' /proc/self/mountinfo',
        'echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo proc-sys-writable',
        'touch /sys/cw 2>/dev/null && echo sys-writable',
        'cat /proc/keys | wc -c',
        'ls /sys/firmware | wc -l',
      ].join('; '),
    );
    expect(out.code).toBe(0);
    const text = out.stdout;
    expect(text.split('\n')[0]!.split(' ')).toEqual(expect.arrayContaining(['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'mqueue', 'ptmx', 'fd', 'stdin', 'stdout', 'stderr']));
    expect(text).toContain('/dev/null character special file 1:3 666');
    expect(text).toContain('/dev/tty character special file 5:0 666');
    expect(text).toContain('/proc/self/fd\n/proc/self/fd/0\npts/ptmx');
    expect(text).toMatch(/^\/proc rw,nosuid,nodev,noexec,relatime proc$/m);
    expect(text).toMatch(/^\/dev rw,nosuid tmpfs$/m);
    expect(text).toMatch(/^\/dev\/pts rw,nosuid,noexec,relatime devpts$/m);
    expect(text).toMatch(/^\/dev\/shm rw,nosuid,nodev,noexec,relatime tmpfs$/m);
    expect(text).toMatch(/^\/dev\/mqueue rw,nosuid,nodev,noexec,relatime mqueue$/m);
    expect(text).toMatch(/^\/sys ro,nosuid,nodev,noexec,relatime sysfs$/m);
    expect(text).toMatch(/^\/sys\/fs\/cgroup\/memory ro,nosuid,nodev,noexec,relatime cgroup$/m);
    expect(text).toMatch(/^\/proc\/sys ro,nosuid,nodev,noexec,relatime proc$/m);
    expect(text).not.toContain('proc-sys-writable');
    expect(text).not.toContain('sys-writable');
    const [keys, firmware] = text.trim().split('\n').slice(-2);
    expect(keys).toBe('0');
    expect(firmware).toBe('0');
  });

  it('leaves the host mount table as it was (checked after every test) and creates nothing in the rootfs but mount points', async () => {
    const out = await inBusybox('mount -t tmpfs tmpfs /mnt 2>&1 || true; echo done');
    expect(out.stdout).toContain('done');
    expect(mountTable()).toBe(mountsBefore);
  });
});

describe('privileges', () => {
  it("has Docker's default capabilities, no_new_privs off, and as a non-root user none effective", async () => {
    const root = await inBusybox('cat /proc/1/status');
    for (const f of ['CapPrm', 'CapEff', 'CapBnd']) expect(field(root.stdout, f)).toBe(DOCKER_CAPS);
    expect(field(root.stdout, 'CapInh')).toBe('0000000000000000');
    expect(field(root.stdout, 'CapAmb')).toBe('0000000000000000');
    expect(field(root.stdout, 'NoNewPrivs')).toBe('0');
    const app = await inBusybox('cat /proc/1/status', ['-u', 'app']);
    expect(field(app.stdout, 'CapEff')).toBe('0000000000000000');
    expect(field(app.stdout, 'CapPrm')).toBe('0000000000000000');
    expect(field(app.stdout, 'CapBnd')).toBe(DOCKER_CAPS);
  });

  it('--cap-add, --cap-drop and --privileged change the set; the kernel enforces it', async () => {
    const add = await inBusybox('grep CapEff /proc/1/status; ip link set lo mtu 1500 2>&1 && echo changed', ['--cap-add', 'NET_ADMIN']);
    expect(field(add.stdout, 'CapEff')).toBe((0xa80425fbn | (1n << 12n)).toString(16).padStart(16, '0'));
    expect(add.stdout).toContain('changed');
    const without = await inBusybox('ip link set lo mtu 1500 2>&1 || echo refused');
    expect(without.stdout).toContain('refused');
    const drop = await inBusybox('grep CapEff /proc/1/status; chown 1000 /tmp 2>&1 || echo refused', ['--cap-drop', 'chown']);
    expect(field(drop.stdout, 'CapEff')).toBe((0xa80425fbn & ~1n).toString(16).padStart(16, '0'));
    expect(drop.stdout).toContain('refused');
    const none = await inBusybox('grep CapEff /proc/1/status', ['--cap-drop', 'ALL']);
    expect(field(none.stdout, 'CapEff')).toBe('0000000000000000');
    const own = field(readFileSync('/proc/self/status', 'utf8'), 'CapBnd');
    const privileged = await inBusybox('grep CapEff /proc/1/status; grep -c " /proc/keys " /proc/self/mountinfo; ls /dev | grep -c "^loop" || true', ['--privileged']);
    expect(field(privileged.stdout, 'CapEff')).toBe(own);
    expect(privileged.stdout.split('\n')[1]).toBe('0');
  });

  it('keeps host devices out of use: no device node can be made (FIFOs can), the rootfs is nodev; --privileged lifts it', async () => {
    const out = await inBusybox('mknod /tmp/cw-disk b 7 0 2>&1; echo "block=$?"; mknod /tmp/cw-char c 1 3 2>&1; echo "char=$?"; mknod /tmp/cw-fifo p; echo "fifo=$?"; rm -f /tmp/cw-fifo; grep -E "^Seccomp:" /proc/1/status');
    expect(out.stdout).toContain('mknod: /tmp/cw-disk: Operation not permitted\nblock=1');
    expect(out.stdout).toContain('char=1');
    expect(out.stdout).toContain('fifo=0');
    expect(out.stdout).toContain('Seccomp:\t2');
    const privileged = await inBusybox('mknod /tmp/cw-null c 1 3 && cat /tmp/cw-null && echo made; rm -f /tmp/cw-null', ['--privileged']);
    expect(privileged.stdout).toBe('made\n');
  });

  it('starts the command in a session of its own with a umask of 022, whatever the caller had', async () => {
    const out = await runCommand('/bin/sh', ['-c', `umask 077; exec ${shellWord(toolPath('ns-exec'))} --rootfs ${shellWord(busybox)} -- /bin/sh -c 'umask; cut -d" " -f5,6 /proc/1/stat'`]);
    expect(out.stdout).toBe('0022\n1 1\n');
  });

  it('--security-opt no-new-privileges sets no_new_privs', async () => {
    const out = await inBusybox('grep NoNewPrivs /proc/1/status', ['--security-opt', 'no-new-privileges']);
    expect(field(out.stdout, 'NoNewPrivs')).toBe('1');
  });
});

describe('what the options apply', () => {
  it('applies -e, --env-file, -u and -w, with HOME from the rootfs passwd', async () => {
    const envFile = join(work, 'env.list');
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\n\nSHARED=file\n');
    const out = await ns(
      ['--rootfs', busybox, '-e', 'GREETING=hi there', '-e', 'CW_PASSED', '-e', 'CW_UNSET', '--env-file', envFile, '-e', 'SHARED=flag', '-u', 'app', '-w', '/home/app/sub', '--', '/bin/sh', '-c', 'id; pwd; env | sort'],
      { env: { CW_PASSED: 'from-host', CW_UNSET: undefined, SECRET_HOST_VAR: 'x' } },
    );
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe('uid=1000(app) gid=1000(app) groups=1000(app)');
    expect(lines[1]).toBe('/home/app/sub');
    const env = lines.slice(2);
    expect(env).toEqual(expect.arrayContaining(['GREETING=hi there', 'CW_PASSED=from-host', 'FROM_FILE=yes', 'SHARED=flag', 'HOME=/home/app', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']));
    expect(env.join('\n')).not.toMatch(/SECRET_HOST_VAR|CW_UNSET/);
  });

  it('resolves USER:GROUP by name or number; a number needs no passwd entry', async () => {
    const named = await inBusybox('id', ['-u', 'nobody:app']);
    expect(named.stdout.trim()).toBe('uid=65534(nobody) gid=1000(app) groups=1000(app)');
    const numeric = await inBusybox('id; echo $HOME', ['-u', '4242:4343']);
    expect(numeric.stdout.trim()).toBe('uid=4242 gid=4343 groups=4343\n/');
  });

  it('bind-mounts -v read-write and read-only, and --read-only with --tmpfs keeps only the tmpfs writable', async () => {
    const data = join(work, 'data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'in.txt'), 'from host\n');
    const out = await inBusybox('cat /data/in.txt; echo out > /data/out.txt; (echo x > /ro/x) 2>&1; (echo x > /etc/x) 2>&1; echo ok > /tmp/t && cat /tmp/t; grep " /tmp " /proc/self/mountinfo | cut -d" " -f6', [
      '-v', `${data}:/data`, '-v', `${data}:/ro:ro`, '--read-only', '--tmpfs', '/tmp',
    ]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('from host');
    expect(readFileSync(join(data, 'out.txt'), 'utf8')).toBe('out\n');
    expect(out.stdout).toMatch(/\/ro\/x: Read-only file system/);
    expect(out.stdout).toMatch(/\/etc\/x: Read-only file system/);
    expect(out.stdout).toContain('ok\nrw,nosuid,nodev,noexec,relatime');
    expect(existsSync(join(busybox, 'etc/x'))).toBe(false);
  });

  it('joins a network namespace with --netns; --net none has only lo, up; --net host is the host network', async () => {
    const name = uniqueName();
    expect(spawnSync('ip', ['netns', 'add', name]).status).toBe(0);
    netnsMade.push(name);
    const inode = statSync(`/run/netns/${name}`).ino;
    const joined = await inBusybox('readlink /proc/self/ns/net', ['--netns', `/run/netns/${name}`]);
    expect(joined.stdout.trim()).toBe(`net:[${inode}]`);
    const none = await inBusybox('ip -o link show; cat /proc/sys/net/ipv4/ip_unprivileged_port_start');
    expect(none.stdout.trim().split('\n')).toHaveLength(2);
    expect(none.stdout).toMatch(/^1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(none.stdout.trim().endsWith('\n0')).toBe(true);
    const host = await inBusybox('readlink /proc/self/ns/net', ['--net', 'host']);
    expect(host.stdout.trim()).toBe(`net:[${statSync('/proc/self/ns/net').ino}]`);
  });

  it('joins a cg-limit cgroup with --cgroup before the command starts; the limit holds and an OOM kill is 137 with a message', async () => {
    const name = uniqueName();
    const created = await runCommand('cg-limit', ['create', name, '-m', '32m']);
    expect(created.stderr).toBe('');
    cgroupsMade.push(name);
    const limit = await inBusybox('cat /proc/self/cgroup | grep memory; cat /sys/fs/cgroup/memory/memory.limit_in_bytes', ['--cgroup', name]);
    expect(limit.stdout).toBe(`${/^(\d+):memory:/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))![1]}:memory:/\n${32 * 1024 * 1024}\n`);
    // busybox sort holds its input in memory, and /dev/zero never ends a line: sort, PID 1, outgrows 32 MB.
    const oom = await ns(['--cgroup', name, '--rootfs', busybox, '--', 'sort', '/dev/zero']);
    expect(oom.code).toBe(137);
    expect(oom.stderr).toMatch(/killed by the kernel's OOM killer/);
  });

  it('gives the command a terminal with -t: stdio is a pty of its own devpts, /dev/console is it', async () => {
    // script(1) gives ns-exec a terminal. Its stdin stays open: at EOF script would type a NUL into the terminal.
    const script = spawn('/usr/bin/script', ['-qec', `${shellWord(toolPath('ns-exec'))} -t --rootfs ${shellWord(busybox)} -- /bin/sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys; echo $TERM; stat -c %t:%T /dev/console'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    started.push(script);
    let output = '';
    script.stdout!.on('data', (d: Buffer) => (output += d));
    const code = await new Promise<number | null>((resolve) => script.on('exit', (c) => resolve(c)));
    script.stdin!.destroy();
    expect(code).toBe(0);
    const text = output.replace(/\r/g, '');
    expect(text).toMatch(/^\/dev\/pts\/0$/m);
    expect(text).toContain('both-ttys\nxterm\n88:0');
  });
});

describe('the process', () => {
  it('exits with the command status: 0, 1, 126, 127, 137, and 125 for its own failures', async () => {
    expect((await ns(['--rootfs', busybox, '--', 'true'])).code).toBe(0);
    expect((await ns(['--rootfs', busybox, '--', 'false'])).code).toBe(1);
    const exit3 = await inBusybox('exit 3');
    expect(exit3.code).toBe(3);
    const missing = await ns(['--rootfs', busybox, '--', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('ns-exec: error: exec: "no-such-command": executable file not found in $PATH\n');
    const notExecutable = await ns(['--rootfs', busybox, '--', '/etc/passwd']);
    expect(notExecutable.code).toBe(126);
    expect(notExecutable.stderr).toBe('ns-exec: error: exec: "/etc/passwd": Permission denied\n');
    const bad = await ns(['--rootfs', join(work, 'nowhere'), '--', 'true']);
    expect(bad.code).toBe(125);
  });

  it('dies with the command: SIGKILL from the host gives 137', async () => {
    const pidFile = join(work, `pid-${++counter}`);
    const child = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, '--rootfs', busybox, '--', 'sleep', '30'], { stdio: 'ignore' });
    started.push(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const pid = await pidFromFile(pidFile, child);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\u000030\u0000');
    process.kill(pid, 'SIGKILL');
    expect(await exited).toBe(137);
  });

  it('forwards SIGTERM sent to ns-exec to the command, whose trap runs', async () => {
    const child = spawn(toolPath('ns-exec'), ['--rootfs', busybox, '--', '/bin/sh', '-c', 'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stdout = '';
    const ready = new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => ((stdout += d), stdout.includes('ready') && resolve())));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await ready;
    child.kill('SIGTERM');
    expect(await exited).toBe(7);
    expect(stdout).toContain('got-TERM');
  });

  it('resets signal dispositions and stdio: `yes | head -1` ends', async () => {
    const out = await runCommand('/bin/sh', ['-c', `${shellWord(toolPath('ns-exec'))} --rootfs ${shellWord(busybox)} -- yes | head -1`]);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('y\n');
  });

  it('leaves nothing of Node running: the waiting parent is the small C program', async () => {
    const pidFile = join(work, `pid-${++counter}`);
    const child = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, '--rootfs', busybox, '--', 'sleep', '30'], { stdio: 'ignore' });
    started.push(child);
    await pidFromFile(pidFile, child);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    expect(field(status, 'Name')).toBe('ns-exec');
    expect(field(status, 'Threads')).toBe('1');
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ');
    expect(children).toEqual([readFileSync(pidFile, 'utf8')]);
    child.kill('SIGKILL');
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  });
});

describe('--exit-file', () => {
  it('holds the status ns-exec exits with (the code, 128+N after signal N, 127), and never an earlier run\'s', async () => {
    const exitFile = join(work, `exit-${++counter}`);
    writeFileSync(exitFile, '0\n'); // an earlier run's
    const c = await startContainer({ options: ['--exit-file', exitFile] });
    expect(existsSync(exitFile)).toBe(false);
    process.kill(c.pid, 'SIGKILL');
    expect(await c.exited).toBe(137);
    expect(readFileSync(exitFile, 'utf8')).toBe('137\n');

    const three = await ns(['--exit-file', exitFile, '--rootfs', busybox, '--', '/bin/sh', '-c', 'exit 3']);
    expect(three.code).toBe(3);
    expect(readFileSync(exitFile, 'utf8')).toBe('3\n');
    const missing = await ns(['--exit-file', exitFile, '--rootfs', busybox, '--', 'no-such-command']);
    expect(missing.code).toBe(127);
    expect(readFileSync(exitFile, 'utf8')).toBe('127\n');
    // Renamed into place: no temp file beside it.
    expect(readdirSync(work).filter((n) => n.startsWith(`${basename(exitFile)}.`))).toEqual([]);
  });

  it('outlives whoever waited for ns-exec: with its caller killed, the exit of PID 1 is still recorded', async () => {
    const pidFile = join(work, `pid-${++counter}`);
    const exitFile = join(work, `exit-${counter}`);
    // A shell that waits for ns-exec, as cutaway-shim or `cutaway run` does; PID 1 ends with 5 on SIGUSR1.
    const script = 'trap "exit 5" USR1; while :; do sleep 0.1; done';
    const caller = spawn('/bin/sh', ['-c', `${shellWord(toolPath('ns-exec'))} --pid-file ${shellWord(pidFile)} --exit-file ${shellWord(exitFile)} --rootfs ${shellWord(busybox)} -- /bin/sh -c '${script}'; echo not-reached`], { stdio: 'ignore' });
    started.push(caller);
    const pid = await pidFromFile(pidFile, caller);
    const nsExec = parentOf(pid)!;
    try {
      expect(nsExec).not.toBe(caller.pid);
      const callerExited = new Promise((resolve) => caller.once('exit', resolve));
      caller.kill('SIGKILL');
      await callerExited;
      expect(existsSync(exitFile)).toBe(false);
      await signalWhenCaught(pid, 'SIGUSR1');
      await waitFor('the orphaned ns-exec to write the exit file', () => existsSync(exitFile));
      expect(readFileSync(exitFile, 'utf8')).toBe('5\n');
      const gone = () => {
        try {
          return readFileSync(`/proc/${nsExec}/stat`, 'utf8').includes(') Z ');
        } catch {
          return true;
        }
      };
      await waitFor('the orphaned ns-exec to exit', gone);
    } finally {
      // PID 1 is killed only while this ns-exec still waits for it: then the pid cannot belong to another process yet.
      if (parentOf(pid) === nsExec) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('rootless', () => {
  it('runs as an unprivileged user in a user namespace of its own, the caller mapped to root', async () => {
    const rootfs = rootlessRootfs();
    const out = await runCommand(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), nsExecForOthers(), '--rootfs', rootfs, '--', '/bin/sh', '-c',
      'echo $$; id -u; cat /proc/self/uid_map; grep CapEff /proc/1/status; touch /owned && echo wrote-own; (echo x > /etc/passwd) 2>&1 || echo refused'], { env: { HOME: work } });
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe('1');
    expect(lines[1]).toBe('0');
    expect(lines[2]!.trim().split(/\s+/)).toEqual(['0', String(NOBODY), '1']);
    expect(field(lines[3]!, 'CapEff')).toBe(DOCKER_CAPS);
    expect(lines).toContain('wrote-own');
    // root inside is nobody outside: files of the host's root stay out of reach.
    expect(lines.at(-1)).toMatch(/Permission denied|refused/);
  });
  // With /etc/subuid and /etc/subgid ranges (newuidmap/newgidmap): test/rootless.test.ts, as a user made for it.
});

describe('bad input', () => {
  const cases: [string, string[], RegExp][] = [
    ['no rootfs', ['--', 'true'], /^ns-exec: error: --rootfs DIR is required$/m],
    ['a missing rootfs', ['--rootfs', '/nonexistent-cw', '--', 'true'], /^ns-exec: error: rootfs \/nonexistent-cw: no such directory$/m],
    ['no command', ['--rootfs', '/'], /^ns-exec: error: no command/m],
    ['an unknown user', ['-u', 'nosuchuser', '--', 'true'], /^ns-exec: error: unable to find user nosuchuser: no matching entries in passwd file$/m],
    ['a relative workdir', ['-w', 'rel', '--', 'true'], /^ns-exec: error: the working directory "rel" is invalid/m],
    ['a bad volume', ['-v', 'relative:/x', '--', 'true'], /^ns-exec: error: invalid volume "relative:\/x"/m],
    ['an unknown capability', ['--cap-add', 'CAP_FLY', '--', 'true'], /^ns-exec: error: unknown capability: "CAP_FLY"/m],
    ['a bad --net', ['--net', 'bridge', '--', 'true'], /^ns-exec: error: --net bridge: expected none or host/m],
    ['a missing env file', ['--env-file', '/nonexistent-cw.env', '--', 'true'], /^ns-exec: error: --env-file \/nonexistent-cw.env: no such file$/m],
    ['a missing netns', ['--netns', '/run/netns/cw-nonexistent', '--', 'true'], /^ns-exec: error: --netns \/run\/netns\/cw-nonexistent: no such network namespace$/m],
    ['an unknown cgroup', ['--cgroup', 'cw-nonexistent', '--', 'true'], /^ns-exec: error: --cgroup cw-nonexistent: no such cgroup/m],
    ['an unknown option', ['--bogus', '--', 'true'], /^ns-exec: error: unknown option --bogus$/m],
  ];
  for (const [what, args, message] of cases) {
    it(`${what}: one clear line, exit 125, nothing created`, async () => {
      const full = args.includes('--rootfs') || what === 'no rootfs' ? args : ['--rootfs', busybox, ...args];
      const entries = spawnSync('ls', ['-a', busybox]).stdout.toString();
      const out = await ns(full);
      expect(out.code).toBe(125);
      expect(out.stderr).toMatch(message);
      expect(out.stderr.split('\n').filter((l) => l.startsWith('ns-exec: error:'))).toHaveLength(1);
      expect(out.stdout).toBe('');
      expect(spawnSync('ls', ['-a', busybox]).stdout.toString()).toBe(entries);
    });
  }
});

describe('--dry-run and --trace', () => {
  it('--dry-run prints an unshare/mount/pivot_root/hostname/setpriv script that does the same, and changes nothing', async () => {
    const out = await ns(['--dry-run', '--rootfs', debian, '--hostname', 'dry', '-u', 'nobody', '--', 'sh', '-c', 'hostname; id -u; echo $$; grep CapBnd /proc/1/status']);
    expect(out.code).toBe(0);
    const script = out.stdout;
    for (const word of ['unshare --fork --pid --mount', 'mount -t proc proc', 'pivot_root . .', 'hostname dry', 'setpriv --reuid=65534']) expect(script).toContain(word);
    expect(mountTable()).toBe(mountsBefore);
    // The script runs (the host's setpriv; test/dry-run.test.ts compares it with ns-exec on both rootfs).
    const ran = await runCommand('/bin/bash', ['-c', script]);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toBe(`dry\n${NOBODY}\n1\nCapBnd:\t${DOCKER_CAPS}\n`);
  });

  it('--trace shows each step on stderr as it happens, + prefixed, and still runs the command', async () => {
    const out = await ns(['--trace', '--rootfs', busybox, '--hostname', 'traced', '--', 'hostname']);
    expect(out.stdout).toBe('traced\n');
    const steps = out.stderr.split('\n').filter(Boolean);
    expect(steps.every((l) => l.startsWith('+ '))).toBe(true);
    // ns-exec joins a new session keyring before the clone (the command inherits it), then makes the namespaces.
    expect(steps[0]).toBe('+ keyctl new_session >/dev/null');
    expect(steps[1]).toMatch(/^\+ unshare --fork --pid --mount --uts --ipc --cgroup --net/);
    expect(steps).toContain('+ hostname traced');
    expect(steps.some((l) => /^\+ cd .* && pivot_root \. \. && umount -l \. && cd \/$/.test(l))).toBe(true);
    expect(steps.at(-1)).toMatch(/^\+ cd \/ && exec setpriv .* -- env -i .* hostname$/);
  });
});

describe('rootfs from overlay-mount', () => {
  it("runs in overlay-mount's merged directory; writes land in the upper dir", async () => {
    const root = join(work, 'state');
    const env = { CUTAWAY_ROOT: root };
    const layout = join(work, 'busybox-image');
    const mounted = await runCommand('overlay-mount', ['-q', '--layout', layout, 'cutaway.test/busybox:latest', '--name', 'cwtest'], { env });
    try {
      expect(mounted.stderr).toBe('');
      const merged = mounted.stdout.trim();
      const out = await runCommand('ns-exec', ['--rootfs', merged, '--', '/bin/sh', '-c', 'echo hello > /greeting; cat /greeting'], { env });
      expect(out.stdout).toBe('hello\n');
      expect(readFileSync(join(root, 'containers/cwtest/upper/greeting'), 'utf8')).toBe('hello\n');
    } finally {
      await runCommand('overlay-mount', ['--unmount', 'cwtest', '--rm'], { env });
    }
  });
});

describe('--enter: a command in a running container', () => {
  /** What the kernel says of a process's privileges, as lines of /proc/PID/status. */
  const privilegeLines = (status: string) => status.split('\n').filter((l) => /^(Uid|Gid|Groups|Cap\w+|NoNewPrivs|Seccomp|Seccomp_filters):/.test(l));

  it("joins PID 1's namespaces: ps shows PID 1 and the new process (not 1), /proc/self/ns/* are PID 1's", async () => {
    const c = await startContainer();
    const ps = await enter(c, ['ps', '-o', 'pid,comm']);
    expect(ps.stderr).toBe('');
    expect(ps.code).toBe(0);
    const rows = ps.stdout.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
    expect(rows.map((r) => r[1])).toEqual(['sleep', 'ps']);
    expect(rows[0]![0]).toBe('1');
    expect(Number(rows[1]![0])).toBeGreaterThan(1);
    const names = ['cgroup', 'ipc', 'mnt', 'net', 'pid', 'uts'];
    const ns = await enter(c, ['sh', '-c', `for n in ${names.join(' ')}; do readlink /proc/self/ns/$n; done`]);
    expect(ns.stdout.trim().split('\n')).toEqual(names.map((n) => `${n}:[${statSync(`/proc/${c.pid}/ns/${n}`).ino}]`));
  });

  it("sees the container's hostname", async () => {
    const c = await startContainer({ options: ['--hostname', 'cwbox'] });
    const out = await enter(c, ['sh', '-c', 'hostname; cat /proc/sys/kernel/hostname; echo $HOSTNAME']);
    expect(out.stdout).toBe('cwbox\ncwbox\ncwbox\n');
  });

  it("sees the container's files: what it writes PID 1 reads and the other way round, in a tmpfs only the container has", async () => {
    const c = await startContainer({
      options: ['--tmpfs', '/tmp'],
      before: 'echo from-pid1 > /tmp/cw-pid1',
      after: 'until [ -e /tmp/cw-exec ]; do sleep 0.05; done; cat /tmp/cw-exec; exec sleep 300',
    });
    const out = await enter(c, ['sh', '-c', 'cat /tmp/cw-pid1; echo from-exec > /tmp/cw-exec.part && mv /tmp/cw-exec.part /tmp/cw-exec']);
    expect(out.stdout).toBe('from-pid1\n');
    await waitFor('PID 1 to read the file', () => c.output().includes('from-exec\n'));
    expect(existsSync(join(busybox, 'tmp/cw-exec'))).toBe(false);
  });

  it("is in PID 1's network namespace: the same addresses and interfaces (a netns from ip netns add)", async () => {
    const name = uniqueName();
    expect(spawnSync('ip', ['netns', 'add', name]).status).toBe(0);
    netnsMade.push(name);
    // Both ends of the pair live in the test's netns: nothing appears on the host, and they go with it.
    for (const args of [['link', 'add', 'cw0', 'type', 'veth', 'peer', 'name', 'cw1'], ['addr', 'add', '10.213.0.1/24', 'dev', 'cw0'], ['link', 'set', 'cw0', 'up']])
      expect(spawnSync('ip', ['-n', name, ...args]).status).toBe(0);
    // The addresses, then the interfaces /proc/net/dev counts (right-aligned names, after two header lines).
    const probe = 'ip -o addr; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d " " | sort';
    const c = await startContainer({ options: ['--netns', `/run/netns/${name}`], before: probe });
    const out = await enter(c, ['sh', '-c', probe]);
    expect(out.code).toBe(0);
    expect(`${out.stdout}ready\n`).toBe(c.output());
    expect(out.stdout).toMatch(/^\d+: cw0\s+inet 10\.213\.0\.1\/24 /m);
    expect(out.stdout.trim().split('\n').slice(-3)).toEqual(['cw0', 'cw1', 'lo']);
  });

  const privileges: [string, string[], (status: string) => void][] = [
    ["Docker's default set", [], (s) => expect(field(s, 'CapEff')).toBe(DOCKER_CAPS)],
    ['--cap-drop chown --cap-drop net_raw', ['--cap-drop', 'chown', '--cap-drop', 'net_raw'], (s) => expect(field(s, 'CapEff')).toBe((0xa80425fbn & ~1n & ~(1n << 13n)).toString(16).padStart(16, '0'))],
    ['--security-opt no-new-privileges', ['--security-opt', 'no-new-privileges'], (s) => expect(field(s, 'NoNewPrivs')).toBe('1')],
    ['-u app (none effective)', ['-u', 'app'], (s) => expect([field(s, 'Uid'), field(s, 'Groups'), field(s, 'CapEff')]).toEqual(['1000\t1000\t1000\t1000', '1000 ', '0000000000000000'])],
    ['--privileged (no device filter)', ['--privileged'], (s) => expect([field(s, 'CapEff'), field(s, 'Seccomp')]).toEqual([field(readFileSync('/proc/self/status', 'utf8'), 'CapBnd'), '0'])],
  ];
  for (const [what, options, check] of privileges) {
    it(`has PID 1's identity, capabilities, NoNewPrivs and Seccomp when PID 1 has ${what}`, async () => {
      const c = await startContainer({ options });
      const out = await enter(c, ['cat', '/proc/self/status']);
      expect(out.code).toBe(0);
      expect(privilegeLines(out.stdout)).toEqual(privilegeLines(readFileSync(`/proc/${c.pid}/status`, 'utf8')));
      check(out.stdout);
    });
  }

  it('is held to what PID 1 was given: a dropped capability and the device filter stay in force', async () => {
    const c = await startContainer({ options: ['--cap-drop', 'chown'] });
    const out = await enter(c, ['sh', '-c', 'chown 1000 /tmp 2>/dev/null; echo "chown=$?"; mknod /tmp/cw-null c 1 3 2>/dev/null; echo "mknod=$?"']);
    expect(out.stdout).toBe('chown=1\nmknod=1\n');
  });

  it("starts from PID 1's environment, working directory and user; -e, --env-file, -u and -w change them", async () => {
    const c = await startContainer({ options: ['--hostname', 'cwenv', '-e', 'FROM_RUN=1', '-e', 'SHARED=run', '-w', '/tmp', '-u', 'nobody'] });
    // The shell's own environment is what ns-exec handed it. `; true`: busybox sh execs its last command, and an
    // environ file opened for the image execve replaced reads empty.
    const probe = ['sh', '-c', 'id; pwd; tr "\\0" "\\n" < /proc/$$/environ; true'];
    const base = await enter(c, probe);
    const [id, cwd, ...env] = base.stdout.trim().split('\n');
    expect(id).toBe('uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)');
    expect(cwd).toBe('/tmp');
    expect(env.sort()).toEqual(readFileSync(`/proc/${c.pid}/environ`, 'utf8').split('\0').filter(Boolean).sort());
    expect(env).toEqual(expect.arrayContaining(['FROM_RUN=1', 'SHARED=run', 'HOSTNAME=cwenv']));

    const envFile = join(work, `enter-${++counter}.env`);
    writeFileSync(envFile, '# comment\nFROM_FILE=yes\nSHARED=file\n');
    const changed = await enter(c, probe,
      ['-u', 'app', '-w', '/home/app', '-e', 'GREETING=hi there', '-e', 'CW_PASSED', '--env-file', envFile, '-e', 'FROM_RUN=2'],
      { env: { CW_PASSED: 'from-host', SECRET_HOST_VAR: 'x' } });
    expect(changed.stderr).toBe('');
    const [id2, cwd2, ...env2] = changed.stdout.trim().split('\n');
    expect(id2).toBe('uid=1000(app) gid=1000(app) groups=1000(app)');
    expect(cwd2).toBe('/home/app');
    expect(env2).toEqual(expect.arrayContaining(['GREETING=hi there', 'CW_PASSED=from-host', 'FROM_FILE=yes', 'SHARED=file', 'FROM_RUN=2', 'HOSTNAME=cwenv']));
    expect(env2.join('\n')).not.toMatch(/SECRET_HOST_VAR|FROM_RUN=1/);
  });

  it("with -u, HOME is that user's (from the container's passwd) unless -e sets it, as under docker exec -u", async () => {
    // PID 1 runs as root: its HOME=/root is the one the runtime added (runc's setupUser; ns-exec's containerEnv), not
    // part of the container's configuration. docker exec -u app starts from the configuration, and runc adds app's own.
    const c = await startContainer();
    expect(readFileSync(`/proc/${c.pid}/environ`, 'utf8').split('\0')).toContain('HOME=/root');
    expect((await enter(c, ['sh', '-c', 'echo $HOME'], ['-u', 'app'])).stdout).toBe('/home/app\n');
    expect((await enter(c, ['sh', '-c', 'echo $HOME'], ['-u', 'app', '-e', 'HOME=/data'])).stdout).toBe('/data\n');
  });

  it('without -t, no TERM, even when PID 1 has a terminal (its TERM=xterm came with its -t), as under docker exec', async () => {
    const c = await startContainer({ options: ['-t'] });
    expect(readFileSync(`/proc/${c.pid}/environ`, 'utf8').split('\0')).toContain('TERM=xterm');
    expect((await enter(c, ['sh', '-c', 'echo "TERM=${TERM-unset}"'])).stdout).toBe('TERM=unset\n');
    expect((await enter(c, ['sh', '-c', 'echo "TERM=${TERM-unset}"'], ['-e', 'TERM=vt100'])).stdout).toBe('TERM=vt100\n');
  });

  it('exits with the command status: 0, N, 126, 127; 125 for its own failures (a -w that does not exist)', async () => {
    const c = await startContainer();
    expect((await enter(c, ['true'])).code).toBe(0);
    expect((await enter(c, ['sh', '-c', 'exit 3'])).code).toBe(3);
    const notExecutable = await enter(c, ['/etc/passwd']);
    expect(notExecutable.code).toBe(126);
    expect(notExecutable.stderr).toBe('ns-exec: error: exec: "/etc/passwd": Permission denied\n');
    const missing = await enter(c, ['no-such-command']);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe('ns-exec: error: exec: "no-such-command": executable file not found in $PATH\n');
    // Unlike ns-exec --rootfs (and docker run), an exec does not create its working directory (nor does docker exec).
    const noDir = await enter(c, ['true'], ['-w', '/cw-nonexistent']);
    expect(noDir.code).toBe(125);
    expect(noDir.stderr).toBe('ns-exec: error: chdir to the working directory /cw-nonexistent: No such file or directory\n');
    expect(existsSync(join(busybox, 'cw-nonexistent'))).toBe(false);
    expect(parentOf(c.pid)).toBe(c.ns.pid);
  });

  it("gives the command a terminal with -t: a pty of the container's devpts, TERM, typed input relayed", async () => {
    const c = await startContainer();
    // script(1) gives ns-exec a terminal; the line written to script's stdin is typed into it.
    const script = spawn('/usr/bin/script', ['-qec', `${shellWord(toolPath('ns-exec'))} -t --enter ${c.pid} -- /bin/sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys; echo $TERM; read line; echo "got:$line"'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
    started.push(script);
    let output = '';
    script.stdout!.on('data', (d: Buffer) => (output += d));
    const code = new Promise<number | null>((resolve) => script.on('exit', (status) => resolve(status)));
    script.stdin!.write('typed\n');
    expect(await code).toBe(0);
    script.stdin!.destroy();
    const text = output.replace(/\r/g, '');
    expect(text).toMatch(/^\/dev\/pts\/\d+$/m);
    expect(text).toContain('both-ttys\nxterm\n');
    expect(text).toContain('got:typed\n');
  });

  it("joins the cg-limit cgroup PID 1 runs in (--cgroup NAME): cgroup.procs holds the new process, not the ns-exec that waits for it", async () => {
    const name = uniqueName();
    const created = await runCommand('cg-limit', ['create', name, '--pids-limit', '64', '--json']);
    expect(created.stderr).toBe('');
    cgroupsMade.push(name);
    const dirs = (JSON.parse(created.stdout) as { paths: string[] }).paths;
    const c = await startContainer({ options: ['--cgroup', name] });
    const pidFile = join(work, `pid-${++counter}`);
    const exec = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, '--enter', String(c.pid), '--', 'sh', '-c', 'cat /proc/self/cgroup; exec sleep 300'], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(exec);
    let output = '';
    exec.stdout!.on('data', (d: Buffer) => (output += d));
    const pid = await pidFromFile(pidFile, exec);
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) {
      const procs = readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
      expect(procs, dir).toContain(c.pid);
      expect(procs, dir).toContain(pid);
      // ns-exec joined to fork the command there, then went back: the container's counters hold the container only.
      expect(procs, dir).not.toContain(exec.pid);
    }
    expect(readFileSync(`/proc/${exec.pid}/cgroup`, 'utf8')).toBe(readFileSync('/proc/self/cgroup', 'utf8'));
    // Inside, the container's cgroup namespace: every hierarchy is rooted at its cgroup.
    await waitFor('the command to print its cgroups', () => output.includes('0::'));
    expect(output.trim().split('\n').every((l) => l.endsWith(':/'))).toBe(true);
  });

  it("is held to the container's memory limit: an exec that outgrows it is OOM-killed, 137 with the message; PID 1 goes on", async () => {
    const name = uniqueName();
    expect((await runCommand('cg-limit', ['create', name, '-m', '32m'])).stderr).toBe('');
    cgroupsMade.push(name);
    const c = await startContainer({ options: ['--cgroup', name] });
    // busybox sort holds its input in memory, and /dev/zero never ends a line.
    const oom = await enter(c, ['sort', '/dev/zero']);
    expect(oom.code).toBe(137);
    expect(oom.stderr).toMatch(/killed by the kernel's OOM killer/);
    expect(parentOf(c.pid)).toBe(c.ns.pid);
  });

  it('relays stdin to the command', async () => {
    const c = await startContainer();
    const out = await enter(c, ['sh', '-c', 'read first; echo "first:$first"; wc -c'], [], { input: `hello\n${'x'.repeat(200_000)}` });
    expect(out.stdout.split('\n').map((l) => l.trim())).toEqual(['first:hello', '200000', '']);
  });

  it('forwards SIGTERM sent to ns-exec --enter to the command, whose trap runs; PID 1 goes on', async () => {
    const c = await startContainer();
    const child = spawn(toolPath('ns-exec'), ['--enter', String(c.pid), '--', '/bin/sh', '-c', 'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(child);
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await waitFor('the command to start', () => stdout.includes('ready'));
    child.kill('SIGTERM');
    expect(await exited).toBe(7);
    expect(stdout).toContain('got-TERM');
    expect(parentOf(c.pid)).toBe(c.ns.pid);
  });

  it("ends with the container: when PID 1 dies, the kernel kills the command and ns-exec --enter exits 137", async () => {
    const c = await startContainer();
    const pidFile = join(work, `pid-${++counter}`);
    const child = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, '--enter', String(c.pid), '--', 'sleep', '300'], { stdio: 'ignore' });
    started.push(child);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await pidFromFile(pidFile, child);
    process.kill(c.pid, 'SIGKILL');
    expect(await exited).toBe(137);
    expect(await c.exited).toBe(137);
  });

  describe('a rootless container (made by nobody: a user namespace with a single-id map, where setgroups(2) is denied)', () => {
    let c: Container;
    beforeEach(async () => {
      const pidDir = join(work, 'rootless-pids');
      mkdirSync(pidDir, { recursive: true });
      chmodSync(pidDir, 0o1777);
      c = await startContainer({ as: AS_NOBODY, rootfs: rootlessRootfs(), pidDir, env: { HOME: work } });
      expect(readFileSync(`/proc/${c.pid}/setgroups`, 'utf8')).toBe('deny\n');
    });

    it('is entered, user namespace too, by root and by its owner: root inside it', async () => {
      const probe = ['sh', '-c', 'id -u; cat /proc/self/uid_map; readlink /proc/self/ns/user; grep CapEff /proc/self/status'];
      const expected = ['0', `0 ${NOBODY} 1`, `user:[${statSync(`/proc/${c.pid}/ns/user`).ino}]`, `CapEff: ${DOCKER_CAPS}`];
      const byRoot = await enter(c, probe);
      expect(byRoot.stderr).toBe('');
      expect(byRoot.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(expected);
      const byOwner = await runCommand(AS_NOBODY[0]!, [...AS_NOBODY.slice(1), nsExecForOthers(), '--enter', String(c.pid), '--', ...probe], { env: { HOME: work } });
      expect(byOwner.stderr).toBe('');
      expect(byOwner.stdout).toBe(byRoot.stdout);
    });

    it('runs -u 0 as its PID 1 runs: with no supplementary groups to set', async () => {
      const out = await enter(c, ['id', '-u'], ['-u', '0']);
      expect(out.stderr).toBe('');
      expect(out.stdout).toBe('0\n');
    });

    it("does not hand the caller's supplementary groups (root's 0 and adm here) to the command: it has PID 1's (none)", async () => {
      const pidFile = join(work, `pid-${++counter}`);
      const exec = spawn('/usr/bin/setpriv', ['--groups=0,4', '--', toolPath('ns-exec'), '--pid-file', pidFile, '--enter', String(c.pid), '--', 'sleep', '300'], { stdio: 'ignore' });
      started.push(exec);
      const pid = await pidFromFile(pidFile, exec);
      // As the host sees them: a group the container's user namespace cannot map still counts on the host.
      expect(field(readFileSync(`/proc/${c.pid}/status`, 'utf8'), 'Groups')).toBe('');
      expect(field(readFileSync(`/proc/${pid}/status`, 'utf8'), 'Groups')).toBe('');
    });
  });

  it('--dry-run prints an nsenter/setpriv script that does the same (but for the seccomp filter); --trace shows the steps', async () => {
    const c = await startContainer({ rootfs: debian, options: ['--hostname', 'cwdry', '-u', 'nobody', '-w', '/tmp'] });
    const probe = ['sh', '-c', 'hostname; id; pwd; grep -E "^(CapEff|CapBnd|NoNewPrivs):" /proc/self/status'];
    const dry = await enter(c, probe, ['--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`exec nsenter --target=${c.pid} --pid --ipc --uts --net --cgroup --mount --root=/ --wd=/proc/${c.pid}/root env`);
    expect(dry.stdout).toContain('setpriv --regid=65534 --groups=65534');
    expect(dry.stdout).toContain('--root=. --wdns=/tmp --setuid=65534 --');
    const ran = await runCommand('/bin/bash', ['-c', dry.stdout]);
    expect(ran.stderr).toBe('');
    const real = await enter(c, probe);
    expect(real.stdout).toBe(`cwdry\nuid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n/tmp\nCapEff:\t0000000000000000\nCapBnd:\t${DOCKER_CAPS}\nNoNewPrivs:\t0\n`);
    expect(ran.stdout).toBe(real.stdout);

    const traced = await enter(c, ['hostname'], ['--trace']);
    expect(traced.stdout).toBe('cwdry\n');
    const steps = traced.stderr.split('\n').filter(Boolean);
    expect(steps.every((l) => l.startsWith('+ '))).toBe(true);
    expect(steps.slice(0, 2)).toEqual(['+ keyctl new_session >/dev/null', `+ nsenter --target=${c.pid} --pid --ipc --uts --net --cgroup --mount`]);
    expect(steps.at(-1)).toMatch(/^\+ cd \/tmp && exec setpriv .* -- env -i .* hostname$/);
  });

  describe('bad input', () => {
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8')); // pids go up to pid_max - 1
    const cases: [string, (pid: string) => string[], (pid: string) => RegExp][] = [
      ['a non-number', () => ['--enter', 'abc', '--', 'true'], () => /^ns-exec: error: --enter abc: expected a process id$/m],
      ['a pid that does not exist', () => ['--enter', String(pidMax), '--', 'true'], () => new RegExp(`^ns-exec: error: --enter ${pidMax}: no such process$`, 'm')],
      ['--rootfs', (pid) => ['--enter', pid, '--rootfs', busybox, '--', 'true'], () => /^ns-exec: error: --rootfs cannot be used with --enter: the container exists already$/m],
      ['--cap-drop', (pid) => ['--cap-drop', 'ALL', '--enter', pid, '--', 'true'], () => /^ns-exec: error: --cap-drop cannot be used with --enter/m],
      ['no command', (pid) => ['--enter', pid], (pid) => new RegExp(`^ns-exec: error: no command: ns-exec --enter ${pid} -- CMD`, 'm')],
    ];
    for (const [what, args, message] of cases) {
      it(`${what}: one clear line, exit 125, nothing started in the container`, async () => {
        const c = await startContainer();
        const pid = String(c.pid);
        const out = await ns(args(pid));
        expect(out.code).toBe(125);
        expect(out.stderr).toMatch(message(pid));
        expect(out.stderr.split('\n').filter((l) => l.startsWith('ns-exec: error:'))).toHaveLength(1);
        expect(out.stdout).toBe('');
        const ps = await enter(c, ['ps', '-o', 'comm']);
        expect(ps.stdout.trim().split('\n').slice(1)).toEqual(['sleep', 'ps']);
      });
    }
  });
});
