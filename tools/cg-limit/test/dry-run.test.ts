/**
 * Every `cg-limit --dry-run` script, run by `bash -e` on this host, leaves what the tool leaves (issue 18).
 *
 * Each case runs the tool for cgroup dry-<pid>-a and the dry run's script for dry-<pid>-b (directories
 * cw-dry-<pid>-a and -b in each hierarchy), then compares them: which hierarchies have a directory, and
 * the value of every control file in each (memory.limit_in_bytes, memory.memsw…, cpu.cfs_quota_us,
 * cpu.shares, cpuset.cpus, pids.max, blkio.throttle.*, devices.list, … — every file that reads). A freshly
 * made idle cgroup's counters are all zero, so for create the comparison covers every readable file (but
 * cpu.stat, whose periods a quota's timer counts); where
 * a process has been inside (exec, attach, run), the settings (files that are both read and written) less
 * the counters among them, and the membership of the process (/proc/PID/cgroup). Failures are compared
 * too: a limit the kernel refuses part-way, a name that exists, a busy cgroup without --force — both
 * refuse, and neither leaves anything.
 *
 * This host is a v1/v2 hybrid, so these are v1 scripts; the v2 ones (and the v2 device program's script,
 * which refuses at the top) are compared in the VM (test/cgroup2.test.ts).
 *
 * afterEach removes both cgroups and any run-<pid> one a case made, kills what the case started (by pid),
 * and asserts that no directory of ours is left; it does so when a case fails half-way too.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Steps } from '@cutaway/cli';
import { runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { Cgroup, type Controller } from '../src/hierarchy.ts';
import * as script from '../src/script.ts';
import { PY } from './open-probe.ts';

const CGROUP_ROOT = '/sys/fs/cgroup';
const A = `dry-${process.pid}-a`;
const B = `dry-${process.pid}-b`;
/** notes/machine.md: `python3` on PATH is a pyenv shim that forks; use the real one. */

// ---------------------------------------------------------------- bookkeeping

/** Cgroups a case may have made besides A and B (run-<pid>). */
const owned = new Set<string>();
/** Processes a case started and may have left running. */
const children = new Set<ChildProcessWithoutNullStreams>();
const pidsToKill = new Set<number>();
let tmp: string;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'cg-limit-dry-'));
});

function hierarchies(): string[] {
  return readdirSync(CGROUP_ROOT).map((h) => join(CGROUP_ROOT, h));
}

/** The directories of a cgroup, in every hierarchy (v1 and the unified one). */
function dirsOf(name: string): string[] {
  return hierarchies()
    .map((h) => join(h, `cw-${name}`))
    .filter((d) => existsSync(d));
}

/** Running (a zombie is not: what no one reaps here stays one, as this host's pid 1 reaps slowly). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Teardown that works even if neither the tool nor a script does: SIGKILL what is inside (ours by construction), rmdir. */
async function removeCgroup(name: string): Promise<void> {
  for (let round = 0; round < 200 && dirsOf(name).length; round++) {
    for (const dir of dirsOf(name)) {
      try {
        for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) killPid(Number(pid));
        rmdirSync(dir);
      } catch {
        // busy until the killed processes are gone; try again
      }
    }
    await sleep(10);
  }
}

function leftovers(): string[] {
  return hierarchies().flatMap((h) => {
    try {
      return readdirSync(h)
        .filter((e) => e.startsWith(`cw-dry-${process.pid}-`) || [...owned].some((n) => e === `cw-${n}`))
        .map((e) => join(h, e));
    } catch {
      return [];
    }
  });
}

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null && child.pid) killPid(child.pid);
  children.clear();
  for (const pid of pidsToKill) killPid(pid);
  pidsToKill.clear();
  for (const name of [A, B, ...owned]) await removeCgroup(name);
  const left = leftovers();
  owned.clear();
  expect(left).toEqual([]);
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  expect(leftovers()).toEqual([]);
});

// ---------------------------------------------------------------- running the tool and its scripts

const cg = (args: string[]) => runCommand('cg-limit', args);

interface Started {
  pid: number;
  child: ChildProcessWithoutNullStreams;
  output: { stdout: string; stderr: string };
  done: Promise<CommandResult>;
}

function start(command: string, args: string[]): Started {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  const output = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (output.stdout += d));
  child.stderr.on('data', (d: Buffer) => (output.stderr += d));
  child.stdin.on('error', () => {});
  const done = new Promise<CommandResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, ...output }));
  });
  return { pid: child.pid, child, output, done };
}

let scripts = 0;

/** `cg-limit --dry-run ARGS…`: its script, checked to be one (and to have printed nothing else). */
async function dryRun(args: string[]): Promise<string> {
  const r = await cg(['--dry-run', ...args]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toBe('');
  expect(r.stdout).toMatch(/^#!\/bin\/sh\nset -eu\n/);
  return r.stdout;
}

/** Starts `bash -e SCRIPT` (from a file, as a user would run it). */
function startScript(text: string): Started {
  const file = join(tmp, `script-${++scripts}.sh`);
  writeFileSync(file, text);
  return start('bash', ['-e', file]);
}

async function runScript(text: string): Promise<CommandResult & { pid: number }> {
  const s = startScript(text);
  s.child.stdin.end();
  return { ...(await s.done), pid: s.pid };
}

/** The tool, started (for exec and run, whose pid matters). */
function startTool(args: string[]): Started {
  return start(toolPath('cg-limit'), args);
}

// ---------------------------------------------------------------- comparing

type Snapshot = Record<string, string>;

/** Counters that are also writable (a write resets them), and the membership lists: not settings. */
const COUNTERS = /(^|\.)(failcnt|max_usage_in_bytes)$|^cpuacct\.usage$|^memory\.oom_control$|^cgroup\.procs$|^tasks$/;
/** Counters that move with time even in an idle cgroup: CFS counts the periods of a quota's timer. */
const CLOCKED = /^cpu\.stat(\.local)?$/;

/**
 * Every file of the cgroup that reads, keyed `hierarchy/file` (the cgroup's name left out). `settings`:
 * only the files that are read and written, less the counters among them.
 */
function snapshot(name: string, only: 'all' | 'settings' = 'all'): Snapshot {
  const snap: Snapshot = {};
  for (const h of hierarchies()) {
    const dir = join(h, `cw-${name}`);
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)) {
      const path = join(dir, file);
      const mode = statSync(path).mode;
      if (!(mode & 0o444) || CLOCKED.test(file)) continue;
      if (only === 'settings' && (!(mode & 0o200) || COUNTERS.test(file))) continue;
      try {
        snap[`${h.slice(CGROUP_ROOT.length + 1)}/${file}`] = readFileSync(path, 'utf8');
      } catch {
        // some files take no read (memory.pressure_level: an event file)
      }
    }
  }
  return snap;
}

/** A's and B's directories are in the same hierarchies, and every file reads the same. */
function expectSame(a: string, b: string, only: 'all' | 'settings' = 'all'): void {
  const rel = (name: string) => dirsOf(name).map((d) => d.replace(`cw-${name}`, 'cw-NAME'));
  expect(rel(b)).toEqual(rel(a));
  expect(rel(a).length).toBeGreaterThan(0);
  const sa = snapshot(a, only);
  const sb = snapshot(b, only);
  expect(Object.keys(sa).length).toBeGreaterThan(only === 'all' ? 50 : 20);
  expect(sb).toEqual(sa);
}

/** /proc/PID/cgroup with a cgroup's name made generic, for comparing where two processes are. */
function membership(text: string, names: Record<string, string>): string {
  let out = text;
  for (const [name, as] of Object.entries(names)) out = out.split(`/cw-${name}`).join(`/cw-${as}`);
  return out;
}

const read = (path: string) => readFileSync(path, 'utf8').trim();

/** A block device of this machine for the rate limits (vda here). */
function someBlockDevice(): string | undefined {
  for (const dev of readdirSync('/sys/block')) {
    if (/^(loop|ram|zram)/.test(dev)) continue;
    try {
      if (statSync(`/dev/${dev}`).isBlockDevice()) return `/dev/${dev}`;
    } catch {
      // no node in /dev
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- the cases

const block = someBlockDevice();
const cpus = read('/sys/fs/cgroup/cpuset/cpuset.cpus');
const lastCpu = cpus.split(/[-,]/).at(-1)!;

const CREATE_CASES: [string, string[]][] = [
  ['no limits (every device: no devices rule)', []],
  ['memory: -m, --memory-swap, --memory-reservation', ['-m', '64m', '--memory-swap', '128m', '--memory-reservation', '32m']],
  ['memory with unlimited swap (--memory-swap -1)', ['-m', '48m', '--memory-swap', '-1']],
  ['cpu: --cpus and --cpu-shares', ['--cpus', '1.5', '--cpu-shares', '512']],
  ['cpuset: --cpuset-cpus and --cpuset-mems (and the parent’s, copied first)', ['--cpuset-cpus', lastCpu, '--cpuset-mems', '0']],
  ['pids: --pids-limit 50', ['--pids-limit', '50']],
  ['pids: --pids-limit -1 (max)', ['--pids-limit', '-1']],
  ...(block ? [['blkio: --device-read-bps and --device-write-bps', ['--device-read-bps', `${block}:1mb`, '--device-write-bps', `${block}:2mb`]] as [string, string[]]] : []),
  ["devices: --devices default (Docker's list)", ['--devices', 'default']],
  ['devices: --devices none with a rule', ['--devices', 'none', '--device-cgroup-rule', 'c 1:3 r']],
  ['devices: --device and --device-cgroup-rule, merged rules', ['--device', '/dev/null:rw', '--device-cgroup-rule', 'b 7:* r', '--device-cgroup-rule', 'c 1:3 m', '--device', '/dev/zero:/dev/z:r']],
  [
    'everything at once',
    ['-m', '64m', '--memory-swap', '96m', '--memory-reservation', '16m', '--cpus', '0.5', '--cpu-shares', '256', '--cpuset-cpus', '0', '--pids-limit', '20', '--devices', 'default', ...(block ? ['--device-read-bps', `${block}:3mb`] : [])],
  ],
];

describe('cg-limit --dry-run create: the script makes the same cgroup (v1)', () => {
  for (const [title, args] of CREATE_CASES) {
    it(title, async () => {
      const tool = await cg(['create', A, ...args]);
      expect(tool.code, tool.stderr).toBe(0);
      const text = await dryRun(['create', B, ...args]);
      expect(dirsOf(B)).toEqual([]);
      const sh = await runScript(text);
      expect(sh.code, sh.stderr).toBe(0);
      expect(sh.stdout + sh.stderr).toBe('');
      expectSame(A, B);
    });
  }

  it('--blkio-weight: the same outcome either way (this kernel may have no weight file without BFQ)', async () => {
    const tool = await cg(['create', A, '--blkio-weight', '500']);
    const sh = await runScript(await dryRun(['create', B, '--blkio-weight', '500']));
    expect(sh.code === 0, sh.stderr).toBe(tool.code === 0);
    if (tool.code === 0) expectSame(A, B);
    else expect([dirsOf(A), dirsOf(B)]).toEqual([[], []]);
  });

  it('a write the kernel refuses part-way: both fail, say so, and remove what they made', async () => {
    // A block node whose major no driver has passes the tool's check; the kernel answers ENODEV.
    const fake = join(tmp, 'fakeblk');
    const mknod = spawnSync('mknod', [fake, 'b', '240', '7'], { encoding: 'utf8' });
    expect(mknod.status, mknod.stderr).toBe(0);
    const args = ['-m', '64m', '--pids-limit', '20', '--device-read-bps', `${fake}:1mb`];
    const tool = await cg(['create', A, ...args]);
    expect(tool.code).toBe(1);
    const text = await dryRun(['create', B, ...args]);
    const sh = await runScript(text);
    expect(sh.code).not.toBe(0);
    // bash names the line that failed: the write of the rate.
    const line = Number(/line (\d+): echo: write error: No such device/.exec(sh.stderr)?.[1]);
    expect(sh.stderr).toMatch(/line \d+: echo: write error: No such device/);
    expect(text.split('\n')[line - 1]).toMatch(/^echo '240:7 1048576' > \S+\/blkio\.throttle\.read_bps_device$/);
    expect([dirsOf(A), dirsOf(B)]).toEqual([[], []]);
  });

  it('a name that exists: both refuse and leave it as it was', async () => {
    for (const name of [A, B]) expect((await cg(['create', name, '--pids-limit', '9'])).code).toBe(0);
    const tool = await cg(['create', A, '--pids-limit', '20']);
    expect(tool.code).toBe(1);
    // The dry run does not look: its script checks when it runs.
    const sh = await runScript(await dryRun(['create', B, '--pids-limit', '20']));
    expect(sh.code).toBe(1);
    expect(sh.stderr).toMatch(new RegExp(`cgroup ${B} exists already`));
    expect(read(join(CGROUP_ROOT, 'pids', `cw-${B}`, 'pids.max'))).toBe('9');
    expectSame(A, B);
  });
});

describe('cg-limit --dry-run exec and attach: the same process in the same cgroup', () => {
  it('exec: the command is in the cgroup and is the process that ran it (chain-loading), with its status', async () => {
    for (const name of [A, B]) expect((await cg(['create', name, '-m', '64m'])).code).toBe(0);
    const command = ['sh', '-c', 'echo $$; cat /proc/self/cgroup; exit 7'];
    const tool = startTool(['exec', A, '--', ...command]);
    tool.child.stdin.end();
    const t = await tool.done;
    const text = await dryRun(['exec', B, '--', ...command]);
    // The pid written is the script shell's own, $$, not one of the dry run's.
    expect(text).toMatch(/^echo \$\$ > \S+\/cgroup\.procs$/m);
    expect(text).not.toMatch(/^echo \d+ > \S+\/cgroup\.procs$/m);
    const s = await runScript(text);
    expect([t.code, s.code]).toEqual([7, 7]);
    const [tPid, ...tLines] = t.stdout.trimEnd().split('\n');
    const [sPid, ...sLines] = s.stdout.trimEnd().split('\n');
    // The command's pid is the tool's, and the script shell's: nothing left waiting in between.
    expect(Number(tPid)).toBe(tool.pid);
    expect(Number(sPid)).toBe(s.pid);
    expect(tLines.join('\n')).toMatch(new RegExp(`:memory:/cw-${A}$`, 'm'));
    expect(membership(sLines.join('\n'), { [B]: 'X' })).toBe(membership(tLines.join('\n'), { [A]: 'X' }));
    expectSame(A, B, 'settings');
  });

  it('exec of a missing command: 127 both; of a missing cgroup: both fail before running anything', async () => {
    for (const name of [A, B]) expect((await cg(['create', name])).code).toBe(0);
    const t = await cg(['exec', A, '--', '/nonexistent/command']);
    const s = await runScript(await dryRun(['exec', B, '--', '/nonexistent/command']));
    expect([t.code, s.code]).toEqual([127, 127]);
    const gone = `dry-${process.pid}-none`;
    owned.add(gone);
    const t2 = await cg(['exec', gone, '--', 'echo', 'ran']);
    const s2 = await runScript(await dryRun(['exec', gone, '--', 'echo', 'ran']));
    expect([t2.code, s2.code]).toEqual([1, 1]);
    expect(s2.stderr).toMatch(new RegExp(`no cgroup named ${gone}`));
    expect(t2.stdout + s2.stdout).toBe('');
    expect(dirsOf(gone)).toEqual([]);
  });

  it('attach: the process is moved into every hierarchy of the cgroup; a pid that is gone fails both', async () => {
    for (const name of [A, B]) expect((await cg(['create', name, '--pids-limit', '30', '--devices', 'default'])).code).toBe(0);
    const one = start('/bin/sleep', ['60']);
    const two = start('/bin/sleep', ['60']);
    const t = await cg(['attach', A, String(one.pid)]);
    expect(t.code, t.stderr).toBe(0);
    const text = await dryRun(['attach', B, String(two.pid)]);
    expect(read(`/proc/${two.pid}/cgroup`)).not.toContain(`cw-${B}`);
    const s = await runScript(text);
    expect(s.code, s.stderr).toBe(0);
    const where = (pid: number, name: string) => membership(read(`/proc/${pid}/cgroup`), { [name]: 'X' });
    expect(where(one.pid, A)).toMatch(/:pids:\/cw-X$/m);
    expect(where(two.pid, B)).toBe(where(one.pid, A));
    expectSame(A, B, 'settings');

    const dead = start('/bin/true', []);
    await dead.done;
    const t2 = await cg(['attach', A, String(dead.pid)]);
    const s2 = await runScript(await dryRun(['attach', B, String(dead.pid)]));
    expect([t2.code, s2.code]).toEqual([1, 1]);
  });
});

describe('cg-limit --dry-run run: a transient cgroup, the command in it, the status, nothing left', () => {
  /** Starts the tool's run, or the script of its dry run, with a command that shows its cgroup and waits for a line on stdin. */
  async function started(how: 'tool' | 'script', limits: string[]): Promise<{ s: Started; name: string; cgroup: string }> {
    const args = ['run', ...limits, '--', 'sh', '-c', 'cat /proc/self/cgroup; read line; exit 3'];
    const s = how === 'tool' ? startTool(args) : startScript(await dryRun(args));
    // Its cgroup is named after the process that runs it: the tool, or the script's shell.
    const name = `run-${s.pid}`;
    owned.add(name);
    await waitFor('the command to show its cgroup', () => /^0::/m.test(s.output.stdout));
    return { s, name, cgroup: s.output.stdout };
  }

  it('the same limits while it runs, the command inside, its status, then no cgroup', async () => {
    const limits = ['-m', '64m', '--cpus', '0.5', '--pids-limit', '20', '--devices', 'default', '--device-cgroup-rule', 'c 1:11 w'];
    const t = await started('tool', limits);
    const s = await started('script', limits);
    expect(t.cgroup).toMatch(new RegExp(`:memory:/cw-${t.name}$`, 'm'));
    expect(membership(s.cgroup, { [s.name]: 'X' })).toBe(membership(t.cgroup, { [t.name]: 'X' }));
    expectSame(t.name, s.name, 'settings');
    for (const { s: p } of [t, s]) p.child.stdin.end('go\n');
    const [tr, sr] = await Promise.all([t.s.done, s.s.done]);
    expect([tr.code, sr.code]).toEqual([3, 3]);
    // Both report what it used (the tool formatted, the script the files that report is made of).
    expect(tr.stderr).toMatch(/memory: peak/);
    expect(sr.stderr).toMatch(new RegExp(`cw-${s.name}/memory.max_usage_in_bytes:\\d+`));
    expect([dirsOf(t.name), dirsOf(s.name)]).toEqual([[], []]);
  });

  it('what the command leaves running is killed and the cgroup removed; an OOM kill is 137 both', async () => {
    const command = ['--', 'sh', '-c', 'sleep 60 & echo $!'];
    const tool = startTool(['run', ...command]);
    tool.child.stdin.end();
    owned.add(`run-${tool.pid}`);
    const t = await tool.done;
    const s = await runScript(await dryRun(['run', ...command]));
    owned.add(`run-${s.pid}`);
    expect([t.code, s.code]).toEqual([0, 0]);
    const left = [Number(t.stdout.split('\n')[0]), Number(s.stdout.split('\n')[0])];
    for (const pid of left) pidsToKill.add(pid);
    expect(left.map(alive)).toEqual([false, false]);
    expect([dirsOf(`run-${tool.pid}`), dirsOf(`run-${s.pid}`)]).toEqual([[], []]);

    const oom = ['-m', '32m', '--', PY, '-c', 'b = bytearray(100 << 20)'];
    const tool2 = startTool(['run', ...oom]);
    tool2.child.stdin.end();
    owned.add(`run-${tool2.pid}`);
    const t2 = await tool2.done;
    const s2 = await runScript(await dryRun(['run', ...oom]));
    owned.add(`run-${s2.pid}`);
    expect([t2.code, s2.code]).toEqual([137, 137]);
    expect(s2.stderr).toMatch(/memory\.oom_control:oom_kill [1-9]/);
    expect([dirsOf(`run-${tool2.pid}`), dirsOf(`run-${s2.pid}`)]).toEqual([[], []]);
  });
});

describe('cg-limit --dry-run rm: neither leaves anything', () => {
  it('rm of an idle cgroup; rm of one that is gone is done', async () => {
    for (const name of [A, B]) expect((await cg(['create', name, '-m', '64m', '--devices', 'default'])).code).toBe(0);
    const t = await cg(['rm', A]);
    const text = await dryRun(['rm', B]);
    expect(dirsOf(B).length).toBeGreaterThan(0);
    const s = await runScript(text);
    expect([t.code, s.code]).toEqual([0, 0]);
    expect([dirsOf(A), dirsOf(B)]).toEqual([[], []]);
    const t2 = await cg(['rm', A]);
    const s2 = await runScript(text);
    expect([t2.code, s2.code]).toEqual([0, 0]);
  });

  it('rm refuses while processes are inside (both keep it); rm --force kills them all, forks too, and removes it', async () => {
    const inside: Record<string, Started> = {};
    for (const name of [A, B]) {
      expect((await cg(['create', name, '--pids-limit', '30'])).code).toBe(0);
      // Three processes: a shell and two children, all in the cgroup.
      inside[name] = startTool(['exec', name, '--', 'sh', '-c', 'sleep 60 & sleep 60 & wait']);
      await waitFor('three processes inside', () => read(join(CGROUP_ROOT, 'pids', `cw-${name}`, 'pids.current')) === '3');
    }
    const pidsIn = (name: string) => read(join(CGROUP_ROOT, 'pids', `cw-${name}`, 'cgroup.procs')).split('\n').map(Number);
    const all = [...pidsIn(A), ...pidsIn(B)];
    for (const pid of all) pidsToKill.add(pid);

    const t = await cg(['rm', A]);
    const s = await runScript(await dryRun(['rm', B]));
    expect([t.code, s.code]).toEqual([1, 1]);
    expect(s.stderr).toMatch(new RegExp(`cgroup ${B} still has processes .*cg-limit rm --force ${B}`));
    expect(all.every(alive)).toBe(true);
    expectSame(A, B, 'settings');

    const t2 = await cg(['rm', '--force', A]);
    const text = await dryRun(['rm', '--force', B]);
    // The dry run changes nothing: it kills nobody.
    expect(pidsIn(B).every(alive)).toBe(true);
    const s2 = await runScript(text);
    expect([t2.code, s2.code], s2.stderr).toEqual([0, 0]);
    expect([dirsOf(A), dirsOf(B)]).toEqual([[], []]);
    await waitFor('the killed processes to be reaped', () => !all.some(alive));
    expect((await Promise.all([inside[A]!.done, inside[B]!.done])).map((r) => r.signal)).toEqual(['SIGKILL', 'SIGKILL']);
  });
});

describe('cg-limit --dry-run stats and ls: scripts that read, and change nothing', () => {
  it('stats shows the counters the report is made of; ls finds the directories; a missing cgroup fails both', async () => {
    expect((await cg(['create', A, '-m', '64m', '--pids-limit', '12'])).code).toBe(0);
    const before = snapshot(A);
    const stats = await runScript(await dryRun(['stats', A]));
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain(`${join(CGROUP_ROOT, 'memory', `cw-${A}`, 'memory.limit_in_bytes')}:${64 << 20}\n`);
    expect(stats.stdout).toContain(`${join(CGROUP_ROOT, 'pids', `cw-${A}`, 'pids.max')}:12\n`);
    const tool = JSON.parse((await cg(['stats', '--json', A])).stdout) as { memory: { limitBytes: number }; pids: { limit: number } };
    expect([tool.memory.limitBytes, tool.pids.limit]).toEqual([64 << 20, 12]);

    const ls = await runScript(await dryRun(['ls']));
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split('\n').filter((l) => l.endsWith(`/cw-${A}`)).sort()).toEqual(dirsOf(A).sort());
    expect((await cg(['ls'])).stdout).toMatch(new RegExp(`^${A}\\tv1\\t`, 'm'));
    expect(snapshot(A)).toEqual(before);

    const t = await cg(['stats', B]);
    const s = await runScript(await dryRun(['stats', B]));
    expect([t.code, s.code]).toEqual([1, 1]);
    expect(dirsOf(B)).toEqual([]);
  });
});

describe('cg-limit --dry-run on cgroup v2 with device rules: the script says it cannot, and stops first', () => {
  it('a BPF device program has no classic command: the script exits 1 at the top, before it changes anything', async () => {
    // This host runs v1; the shape of the v2 script is checked on a v2 cgroup object (the VM runs the real one).
    const steps = new Steps({ trace: false, dryRun: true });
    const dir = join(tmp, 'v2', 'cw-box');
    const cgroup = new Cgroup('box', 'v2', new Map<Controller, string>([['memory', dir], ['cpu', dir], ['pids', dir], ['devices', dir]]), steps);
    script.refuseV2Devices(steps, cgroup, [{ type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    script.declare(steps, cgroup);
    script.checkNew(steps, cgroup, ['memory', 'cpu', 'pids']);
    steps.run(`mkdir ${dir}`);
    const text = steps.toScript();
    const lines = text.split('\n');
    expect(lines[2]).toMatch(/^# On cgroup v2 the device rules \(c 1:3 rwm\) are a BPF_PROG_TYPE_CGROUP_DEVICE/);
    expect(lines.indexOf('exit 1')).toBeLessThan(lines.findIndex((l) => l.startsWith('cgs=')));
    const sh = await runScript(text);
    expect(sh.code).toBe(1);
    expect(sh.stderr).toMatch(/cannot restrict devices on cgroup v2 .*run cg-limit itself/);
    expect(existsSync(dir)).toBe(false);
  });
});
