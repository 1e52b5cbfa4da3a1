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
 * the processes the test started (by pid), and checks that the host's mount
 * table is what it was before the test.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs, debianRootfs } from '../../../test/fixtures/rootfs.ts';

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

function field(status: string, name: string): string | undefined {
  return new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1];
}

function uniqueName(): string {
  return `cwtest-${process.pid}-${++counter}`;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nsexec-'));
  chmodSync(work, 0o755);
  busybox = await busyboxRootfs(work);
  debian = await debianRootfs(work);
});

afterAll(async () => {
  await removeTree(work);
});

beforeEach(() => {
  mountsBefore = mountTable();
});

afterEach(async () => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
    const out = await runCommand('/bin/sh', ['-c', `umask 077; exec ${toolPath('ns-exec')} --rootfs ${busybox} -- /bin/sh -c 'umask; cut -d" " -f5,6 /proc/1/stat'`]);
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
    const script = spawn('/usr/bin/script', ['-qec', `${toolPath('ns-exec')} -t --rootfs ${busybox} -- /bin/sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys; echo $TERM; stat -c %t:%T /dev/console'`, '/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
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
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    const pid = Number(readFileSync(pidFile, 'utf8'));
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
    const out = await runCommand('/bin/sh', ['-c', `${toolPath('ns-exec')} --rootfs ${busybox} -- yes | head -1`]);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe('y\n');
  });

  it('leaves nothing of Node running: the waiting parent is the small C program', async () => {
    const pidFile = join(work, `pid-${++counter}`);
    const child = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, '--rootfs', busybox, '--', 'sleep', '30'], { stdio: 'ignore' });
    started.push(child);
    while (!existsSync(pidFile)) await new Promise((r) => setTimeout(r, 10));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    expect(field(status, 'Name')).toBe('ns-exec');
    expect(field(status, 'Threads')).toBe('1');
    const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ');
    expect(children).toEqual([readFileSync(pidFile, 'utf8')]);
    child.kill('SIGKILL');
    process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
  });
});

describe('rootless', () => {
  /** A copy of the busybox rootfs whose top directory nobody owns (root inside is nobody outside). */
  function rootlessRootfs(): string {
    const rootfs = join(work, 'rootless-rootfs');
    if (!existsSync(rootfs)) {
      spawnSync('cp', ['-a', busybox, rootfs]);
      chownSync(rootfs, NOBODY, NOBODY);
    }
    return rootfs;
  }

  it('runs as an unprivileged user in a user namespace of its own, the caller mapped to root', async () => {
    const rootfs = rootlessRootfs();
    const out = await runCommand('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', toolPath('ns-exec'), '--rootfs', rootfs, '--', '/bin/sh', '-c',
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
  it('maps a subordinate range through newuidmap/newgidmap where /etc/subuid and /etc/subgid grant one', async () => {
    const rootfs = rootlessRootfs();
    const saved = ['/etc/subuid', '/etc/subgid'].map((f) => [f, existsSync(f) ? readFileSync(f, 'utf8') : undefined] as const);
    try {
      for (const [file, text] of saved) writeFileSync(file, `${text ?? ''}${NOBODY}:300000:65536\n`);
      const out = await runCommand('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', toolPath('ns-exec'), '--rootfs', rootfs, '-u', 'app', '--', '/bin/sh', '-c',
        'id; cat /proc/self/uid_map /proc/self/gid_map'], { env: { HOME: work } });
      expect(out.stderr).toBe('');
      const lines = out.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
      expect(lines[0]).toBe('uid=1000(app) gid=1000(app) groups=1000(app)');
      expect(lines.slice(1)).toEqual([`0 ${NOBODY} 1`, '1 300000 65536', `0 ${NOBODY} 1`, '1 300000 65536']);
    } finally {
      for (const [file, text] of saved) if (text === undefined) rmSync(file, { force: true });
      else writeFileSync(file, text);
    }
  });
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
    for (const word of ['unshare --fork --pid --mount', 'mount -t proc proc', 'pivot_root . .', 'hostname dry', 'exec setpriv --reuid=65534']) expect(script).toContain(word);
    expect(mountTable()).toBe(mountsBefore);
    // Debian's rootfs has setpriv: the script runs, and the container it makes is the same.
    const ran = await runCommand('/bin/sh', ['-c', script]);
    expect(ran.stderr).toBe('');
    expect(ran.stdout).toBe(`dry\n${NOBODY}\n1\nCapBnd:\t${DOCKER_CAPS}\n`);
  });

  it('--trace shows each step on stderr as it happens, + prefixed, and still runs the command', async () => {
    const out = await ns(['--trace', '--rootfs', busybox, '--hostname', 'traced', '--', 'hostname']);
    expect(out.stdout).toBe('traced\n');
    const steps = out.stderr.split('\n').filter(Boolean);
    expect(steps.every((l) => l.startsWith('+ '))).toBe(true);
    expect(steps[0]).toMatch(/^\+ unshare --fork --pid --mount --uts --ipc --cgroup --net/);
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
