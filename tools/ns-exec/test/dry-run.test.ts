/**
 * `ns-exec --dry-run …` printed, then run by `bash -e` on this host, makes the container `ns-exec …` makes
 * (issue 18) — on the busybox rootfs (no util-linux: its setpriv applet has no --reuid or --bounding-set) and
 * on the Debian one, for a new container and for `--enter PID`.
 *
 * The same probe runs as the command under both, and what it sees is compared: /proc/self/status's Cap* and
 * NoNewPrivs lines (and SigBlk/SigIgn), id, hostname, pwd, umask, whether it leads its own session, the
 * environment, `ls -ln /dev`, /proc/self/mountinfo (mount ids, parents, device numbers and peer groups left
 * out: targets, roots, options, types, sources), which namespaces differ from the host's, its output and exit
 * status. Not compared: Seccomp (the script cannot load a filter: a `#` line says so), and the order of the
 * environment (the host's sh that waits for pivot_root passes it on in its own order: sorted here).
 *
 * Also: the script of a rootfs with nothing but one static binary works; what the script lacks stops it with
 * one line (a command not in the rootfs, a host without setpriv, a variable name sh cannot pass, an entered
 * container without CAP_SYS_CHROOT).
 *
 * The scripts' temporary fifos are made in this file's work directory (TMPDIR): none may be left. afterEach
 * kills the containers a test started (by pid: PID 1 while its ns-exec still waits for it) and checks that the
 * host's mounts of the work directory are what they were.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs, debianRootfs } from '../../../test/fixtures/rootfs.ts';
import { parentOf } from './probe.ts';

let work: string;
let scratch: string;
const rootfs: Record<'busybox' | 'debian', string> = { busybox: '', debian: '' };
let mountsBefore: string;

/** The host's mounts that involve the work directory (other test files mount elsewhere at the same time). */
function mountTable(): string {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work)).join('\n');
}

/** What the command sees, in sections; POSIX sh and tools that busybox and Debian both have. */
const PROBE = [
  'grep -E "^(Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|SigBlk|SigIgn):" /proc/self/status',
  'id; hostname; pwd; umask',
  'set -- $(cut -d" " -f1,5,6 /proc/$$/stat); [ "$1" = "$2" ] && [ "$1" = "$3" ] && echo session-leader',
  'echo env:; env | sort',
  'echo dev:; ls -ln /dev',
  'echo mounts:; cat /proc/self/mountinfo',
  'echo namespaces:; for n in cgroup ipc mnt net pid user uts; do echo "$n $(readlink /proc/self/ns/$n)"; done',
  'exit 3',
].join('\n');

/** The host's namespaces, to say which of the command's differ. */
const HOST_NS = Object.fromEntries(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'user', 'uts'].map((n) => [n, readlinkSync(`/proc/self/ns/${n}`)]));

/**
 * The probe's output in a form two containers compare in: mountinfo without ids and device numbers, `ls`
 * without times, namespaces as "differs"/"host's", and a random hostname (12 hex digits) as HOST.
 */
function normalise(output: string): string {
  const host = /^HOSTNAME=([0-9a-f]{12})$/m.exec(output)?.[1];
  let section = '';
  const lines = output.split('\n').map((line) => {
    if (/^[a-z]+:$/.test(line)) section = line;
    else if (section === 'mounts:') {
      // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - TYPE SOURCE SUPER (proc(5)): peer groups are optional fields.
      const [before = '', after = ''] = line.split(' - ');
      const f = before.split(' ');
      return `${f[3]} ${f[4]} ${f[5]} - ${after}`;
    } else if (section === 'dev:') return line.replace(/\s+[A-Z][a-z]{2}\s+\d+\s+(\d\d:\d\d|\d{4})\s+/, ' TIME ').replace(/\s+/g, ' ');
    else if (section === 'namespaces:') {
      const [name = '', link] = line.split(' ');
      return link ? `${name} ${link === HOST_NS[name] ? "host's" : 'its own'}` : line;
    }
    return line;
  });
  const text = lines.join('\n');
  return host ? text.split(host).join('HOST') : text;
}

/** `ns-exec ARGS -- /bin/sh -c PROBE`, and the script `ns-exec --dry-run ARGS …` prints run by bash. */
async function both(args: string[], command = ['/bin/sh', '-c', PROBE]): Promise<{ tool: CommandResult; script: CommandResult; text: string }> {
  const dry = await runCommand('ns-exec', ['--dry-run', ...args, '--', ...command]);
  expect(dry.stderr).toBe('');
  expect(dry.code).toBe(0);
  // Printing it changed nothing.
  expect(mountTable()).toBe(mountsBefore);
  const tool = await runCommand('ns-exec', [...args, '--', ...command]);
  const script = await runScript(dry.stdout, { TMPDIR: scratch });
  return { tool, script, text: dry.stdout };
}

function expectSame(r: { tool: CommandResult; script: CommandResult }): void {
  expect(r.tool.stderr).toBe('');
  expect(r.script.stderr).toBe('');
  expect(r.tool.code).toBe(3);
  expect(r.script.code).toBe(3);
  expect(r.tool.stdout).toMatch(/^SigBlk:/);
  expect(normalise(r.script.stdout)).toBe(normalise(r.tool.stdout));
}

// ─── Containers to enter ────────────────────────────────────────────────────

const started: { ns: ChildProcess; pid: number }[] = [];
let counter = 0;

/** `ns-exec OPTIONS --rootfs R -- sh -c 'exec sleep 300'` in the background; its PID 1 as the host sees it. */
async function startContainer(options: string[], root: string): Promise<number> {
  const pidFile = join(work, `pid-${++counter}`);
  const ns = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, ...options, '--rootfs', root, '--', '/bin/sh', '-c', 'exec sleep 300'], { stdio: 'ignore' });
  const entry = { ns, pid: 0 };
  started.push(entry);
  await waitFor('the container to start', () => existsSync(pidFile) || ns.exitCode !== null);
  entry.pid = Number(readFileSync(pidFile, 'utf8'));
  await waitFor('its command to be sleep', () => readFileSync(`/proc/${entry.pid}/comm`, 'utf8') === 'sleep\n');
  return entry.pid;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nsexec-dry-'));
  chmodSync(work, 0o755);
  scratch = join(work, 'tmp');
  mkdirSync(scratch);
  rootfs.busybox = await busyboxRootfs(work);
  rootfs.debian = await debianRootfs(work);
  mkdirSync(join(work, 'cw-volume'));
});

afterAll(async () => {
  await removeTree(work);
});

beforeEach(() => {
  mountsBefore = mountTable();
});

afterEach(async () => {
  for (const c of started.splice(0)) {
    const exited = new Promise((resolve) => (c.ns.exitCode !== null ? resolve(null) : c.ns.once('exit', resolve)));
    // Only while its ns-exec waits for it: then the pid is still the container's PID 1.
    if (c.pid && c.ns.exitCode === null && parentOf(c.pid) === c.ns.pid) process.kill(c.pid, 'SIGKILL');
    else if (c.ns.exitCode === null) c.ns.kill('SIGKILL');
    await exited;
  }
  expect(readdirSync(scratch)).toEqual([]);
  expect(mountTable()).toBe(mountsBefore);
});

// ─── A new container ─────────────────────────────────────────────────────────

const CASES: [string, string[]][] = [
  ['the defaults (a random hostname)', []],
  [
    '-u nobody -w -e --hostname -v --tmpfs --read-only',
    ['-u', 'nobody', '-w', '/cw/work', '-e', 'GREETING=hello world', '-e', 'IFS=:', '--hostname', 'cwdry', '-v', '/VOLUME:/data:ro', '--tmpfs', '/scratch', '--read-only'],
  ],
  ['--cap-drop and --cap-add', ['--cap-drop', 'CHOWN', '--cap-drop', 'NET_RAW', '--cap-add', 'NET_ADMIN', '--cap-add', 'SYS_PTRACE', '--hostname', 'cwcaps']],
  ['--privileged', ['--privileged', '--hostname', 'cwpriv']],
  ['--security-opt no-new-privileges, --net host', ['--security-opt', 'no-new-privileges', '--net', 'host']],
];

describe('a new container: the script makes the same one', () => {
  for (const name of ['busybox', 'debian'] as const) {
    for (const [title, options] of CASES) {
      it(`${name}: ${title}`, async () => {
        const args = [...options.map((o) => o.replace('/VOLUME', join(work, 'cw-volume'))), '--rootfs', rootfs[name]];
        const r = await both(args);
        expectSame(r);
        // Nothing of the rootfs runs before the command: the shell that waits and setpriv are the host's.
        expect(r.text).toMatch(/^exec env --default-signal setsid setpriv .* -- env -i .* \/bin\/sh -c 'echo ready >&3; read -r go <&4 && cd /m);
        expect(r.text).toMatch(/^ {2}nsenter --target=\$\$ --mount sh -c 'cd \S+ && exec pivot_root \. \.'$/m);
      });
    }
  }

  it('the seccomp profile and the device-node rule stay # lines, before the command starts', async () => {
    const r = await runCommand('ns-exec', ['--dry-run', '--rootfs', rootfs.busybox, '--', 'true']);
    const lines = r.stdout.split('\n');
    const start = lines.findIndex((l) => l.startsWith('exec env --default-signal'));
    expect(lines.slice(start - 3, start)).toEqual([
      expect.stringMatching(/^# seccomp: mknod of a character or block device fails with EPERM/),
      expect.stringMatching(/^# seccomp: Docker's default profile, \d+ rules/),
      'umask 022',
    ]);
  });

  it('a rootfs of one static binary and nothing else: the same, with no sh, env or setpriv in it', async () => {
    const bare = join(work, 'cw-bare');
    mkdirSync(bare);
    copyFileSync(join(rootfs.busybox, 'bin', 'busybox'), join(bare, 'busybox'));
    chmodSync(join(bare, 'busybox'), 0o755);
    // No sh, grep or sort of its own: each is the binary, named.
    const probe = '/busybox id; /busybox hostname; /busybox pwd; /busybox env | /busybox sort; /busybox grep -E "^(Cap|NoNewPrivs)" /proc/self/status; /busybox ls /; exit 3';
    const r = await both(['-u', '1000:1000', '-e', 'X=1', '--hostname', 'cwbare', '--rootfs', bare], ['/busybox', 'sh', '-c', probe]);
    expect([r.tool.code, r.script.code]).toEqual([3, 3]);
    expect(r.script.stderr).toBe('');
    expect(r.script.stdout).toBe(r.tool.stdout);
    expect(r.tool.stdout).toMatch(/^uid=1000 gid=1000 groups=1000\ncwbare\n\/\nHOME=\/\nHOSTNAME=cwbare\n/);
  });
});

// ─── --enter ─────────────────────────────────────────────────────────────────

const ENTER_CASES: [string, string[], string[]][] = [
  ["Docker's defaults", [], []],
  ['a container of nobody in /tmp, entered as it is', ['-u', 'nobody', '-w', '/tmp', '--hostname', 'cwenter', '-e', 'A=1'], []],
  ['entered with -u root -w / -e', ['-u', 'nobody', '-w', '/tmp'], ['-u', 'root', '-w', '/', '-e', 'B=2']],
  ['--privileged, with no-new-privileges', ['--privileged', '--security-opt', 'no-new-privileges'], []],
  ['--cap-drop CHOWN', ['--cap-drop', 'CHOWN'], []],
];

describe('--enter: the script runs the command as ns-exec --enter does', () => {
  for (const name of ['busybox', 'debian'] as const) {
    for (const [title, options, enterOptions] of ENTER_CASES) {
      it(`${name}: ${title}`, async () => {
        const pid = await startContainer(options, rootfs[name]);
        const r = await both([...enterOptions, '--enter', String(pid)]);
        expectSame(r);
        expect(r.text).toContain(`exec nsenter --target=${pid} --pid --ipc --uts --net --cgroup --mount --root=/ --wd=/proc/${pid}/root env --default-signal setsid setpriv `);
      });
    }
  }
});

// ─── What the script lacks ──────────────────────────────────────────────────

/** One line on stderr, the script's status, and nothing left (afterEach checks the mounts and fifos). */
function expectOneLine(r: CommandResult, status: number, message: RegExp): void {
  expect(r.code).toBe(status);
  expect(r.stdout).toBe('');
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(message);
}

describe('what the script lacks stops it with one line', () => {
  it('a command the rootfs does not have: 127 for both', async () => {
    const r = await both(['--rootfs', rootfs.busybox], ['nosuch']);
    expect(r.tool.code).toBe(127);
    expect(r.tool.stderr).toBe('ns-exec: error: exec: "nosuch": executable file not found in $PATH\n');
    expectOneLine(r.script, 127, /nosuch: not found/);
  });

  it('a host without setpriv: the check at the top names it and the package, before anything is made', async () => {
    const text = (await runCommand('ns-exec', ['--dry-run', '--rootfs', rootfs.debian, '--', 'true'])).stdout;
    const needed = /^for command in (.*); do$/m.exec(text)![1]!.split(' ');
    expect(needed).toEqual(expect.arrayContaining(['setpriv', 'nsenter', 'unshare', 'pivot_root', 'umount', 'env', 'mount']));
    // A PATH with every command the script needs but setpriv.
    const bin = join(work, 'cw-path');
    mkdirSync(bin);
    for (const c of needed.filter((n) => n !== 'setpriv')) {
      const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, c)).find((p) => existsSync(p));
      symlinkSync(found!, join(bin, c));
    }
    const r = await runScript(text, { PATH: bin, TMPDIR: scratch });
    expectOneLine(r, 1, /^this script needs setpriv \(on Debian: apt-get install .*util-linux.*\)$/);
  });

  it('a variable whose name sh cannot pass on (-e A.B=1): the script refuses at the top; ns-exec passes it', async () => {
    const r = await both(['-e', 'A.B=1', '--rootfs', rootfs.busybox], ['env']);
    expect(r.tool.stdout).toContain('A.B=1\n');
    expectOneLine(r.script, 1, /^this script cannot give the command A\.B: the sh that waits for pivot_root passes on only names of letters, digits and _ \(ns-exec itself can\)$/);
  });

  it('--enter of a container without CAP_SYS_CHROOT: the script refuses at the top; ns-exec enters it', async () => {
    const pid = await startContainer(['--cap-drop', 'SYS_CHROOT'], rootfs.busybox);
    const r = await both(['--enter', String(pid)], ['id', '-u']);
    expect([r.tool.code, r.tool.stdout]).toEqual([0, '0\n']);
    expectOneLine(r.script, 1, /^this script cannot enter a container without CAP_SYS_CHROOT in its bounding set/);
  });
});
