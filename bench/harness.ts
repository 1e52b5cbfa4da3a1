/**
 * What the benchmarks (pull, unpack, commit, cgroup) share: the --runs option,
 * cleanup on the way out (also on failure and Ctrl-C) of what they start and
 * create, children in process groups of their own, timing a command under GNU
 * time, a private mount namespace with a tmpfs, the statistics and the
 * markdown table, what is noted about the machine and the source, and the
 * processes running (parents, names, resident memory).
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { cpus, release } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { run } from '../test/fixtures/images.ts';

export const REPO_DIR = resolve(import.meta.dirname, '..');
export const GNU_TIME = '/usr/bin/time';

export const log = (text: string) => process.stderr.write(`bench: ${text}\n`);

// ─── --runs and other counts ─────────────────────────────────────────────────

/** Parses `[--runs N] [-h]` for bench/NAME.ts; prints the usage (with `about`) for -h, exits 2 on a bad N. */
export function parseRuns(name: string, defaultRuns: number, about: string): number {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: String(defaultRuns) }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`Usage: pnpm exec tsx bench/${name}.ts [--runs N]\n\n${about}\n`);
    process.exit(0);
  }
  return countOption('runs', values.runs, defaultRuns);
}

/** The value of a count option (`--NAME N`), `fallback` when not given; exits 2 unless it is a whole number ≥ 1. */
export function countOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`bench: --${name} wants a whole number ≥ 1, got ${value}\n`);
    process.exit(2);
  }
  return n;
}

// ─── Cleanup, also on failure and Ctrl-C ─────────────────────────────────────

/** Steps run on the way out, last pushed first. */
export const cleanups: (() => Promise<unknown>)[] = [];
/**
 * The children running right now (the measured command, and what else the bench tracks), each in a process
 * group of its own: one kill reaches the tool behind /usr/bin/time or a pipeline, and the cleanup waits for
 * them to be gone before its steps (an unmount, say, would find the filesystem busy).
 */
const live = new Map<number, Promise<void>>();
let cleaning: Promise<void> | undefined;

/** Whether the cleanup has begun (after a signal, what fails is only what it cut short). */
export const isCleaning = () => cleaning !== undefined;

export function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const group of live.keys()) {
      try {
        process.kill(-group, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await Promise.race([Promise.all(live.values()), new Promise((r) => setTimeout(r, 5000).unref())]);
    for (const step of cleanups.reverse()) await step().catch((e: Error) => process.stderr.write(`bench: cleanup: ${e.message}\n`));
  })());
}

/** Cleans up on SIGINT, SIGTERM and SIGHUP, then exits 130 (SIGINT) or 143. */
export function cleanUpOnSignals(): void {
  // `on`, not `once`: pnpm and tsx pass a Ctrl-C on as a second signal, which must not end us half-way through the cleanup.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (cleaning) return;
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
}

/** Runs main, reports its error (unless a signal cut it short), cleans up and exits. */
export async function finish(main: () => Promise<void>): Promise<never> {
  try {
    await main();
  } catch (e) {
    // After a signal, what fails is only what the cleanup cut short.
    if (!cleaning) process.stderr.write(`bench: error: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
  // Idle keep-alive sockets (pull's manifest fetch) must not hold the process open.
  process.exit();
}

/** Starts `cmd args` in a process group of its own, known to the cleanup until it has exited. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcessByStdio<null, Readable, Readable> {
  if (cleaning) throw new Error('cleaning up');
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid !== undefined) {
    const pid = child.pid;
    live.set(pid, new Promise<void>((r) => child.on('close', () => r())).then(() => void live.delete(pid)));
  }
  return child;
}

/** Runs a command tracked by the cleanup (see start()); its stdout, or an error with its stderr. */
export function exec(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const child = start(cmd, args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolvePromise(stdout) : reject(new Error(`${[cmd, ...args].join(' ')}: ${signal ?? `exit ${code}`}\n${stderr.trim()}`))));
  });
}

// ─── Measuring one command ───────────────────────────────────────────────────

export interface Sample {
  /** Wall clock, ms: process.hrtime from spawn to exit. */
  wallMs: number;
  /** Peak resident set, KiB (GNU time %M). */
  maxRssKiB: number;
  /** CPU time, s (GNU time %U + %S). */
  cpuS: number;
  stdout: string;
}

/**
 * Runs `cmd args` (in the environment `env`, exactly) under GNU time and returns its wall time, peak RSS and
 * CPU; GNU time's output goes to `dir`/time.out. `sync` runs first, so one run's writeback does not bill the next.
 *
 * %M is ru_maxrss from wait4(2): the high-water mark of the measured process — on Linux the larger of its own
 * and that of the largest descendant it reaped, never a sum (what that means for each tool: the bench's header).
 * %U+%S covers the measured process and every descendant it waited for. /usr/bin/time's own fork+exec (~1 ms)
 * is inside every wall time alike.
 */
export async function measure(dir: string, cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> {
  const timeFile = join(dir, 'time.out');
  await run('sync', []);
  return new Promise((resolvePromise, reject) => {
    const began = process.hrtime.bigint();
    let end = began;
    const child = start(GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args], env);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-4000)));
    child.on('exit', () => (end = process.hrtime.bigint()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`${[cmd, ...args].join(' ')}: ${signal ?? `exit ${code}`}\n${stderr.trim()}`));
        return;
      }
      readFile(timeFile, 'utf8').then((text) => {
        // GNU time writes "Command exited with non-zero status" first when it did; we got here with 0.
        const [rss, user, sys] = text.trim().split('\n').pop()!.split(' ').map(Number);
        if (![rss, user, sys].every((n) => Number.isFinite(n))) throw new Error(`unexpected GNU time output: ${text}`);
        resolvePromise({ wallMs: Number(end - began) / 1e6, maxRssKiB: rss!, cpuS: user! + sys!, stdout });
      }, reject);
    });
  });
}

// ─── A private mount namespace and a tmpfs ───────────────────────────────────

/**
 * Unless `mark` is set in the environment: checks that we are root (else exits 1 with `rootReason`), runs this
 * same script again under `unshare NAMESPACES --propagation private` (unshare execs it: one process, no fork)
 * with `mark` set, and exits with its status. Signals are passed on to it; we only wait for the child's cleanup.
 * The re-executed run finds, in `${mark}_FROM`, the network and mount namespaces it was started from. Returns,
 * in the re-executed run, the environment as we were started, without those two.
 */
async function reexecIn(mark: string, rootReason: string, namespaces: string[]): Promise<NodeJS.ProcessEnv> {
  const from = `${mark}_FROM`;
  if (process.env[mark] !== '1') {
    if (process.getuid?.() !== 0) {
      process.stderr.write(`bench: error: run as root (${rootReason})\n`);
      process.exit(1);
    }
    const child = spawn('unshare', [...namespaces, '--propagation', 'private', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, [mark]: '1', [from]: `${readlinkSync('/proc/self/ns/net')} ${readlinkSync('/proc/self/ns/mnt')}` },
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      // Passed on, also SIGINT: a kill aimed at us alone must reach the child. A terminal's Ctrl-C reaches it
      // twice then (it is in our process group), and it ignores the second while it cleans up.
      process.on(signal, () => child.kill(signal));
    }
    const code = await new Promise<number>((res) => {
      child.on('error', (e) => {
        process.stderr.write(`bench: unshare: ${e.message}\n`);
        res(1);
      });
      child.on('exit', (c, s) => res(c ?? (s === 'SIGINT' ? 130 : 143)));
    });
    process.exit(code);
  }
  const env = { ...process.env };
  delete env[mark];
  delete env[from];
  return env;
}

/** The run in a mount namespace of its own: its mounts vanish with it (see reexecIn). */
export function inMountNamespace(mark: string, rootReason: string): Promise<NodeJS.ProcessEnv> {
  return reexecIn(mark, rootReason, ['--mount']);
}

/**
 * The run in a network and a mount namespace of its own, which stand for the host: bridges, veths, network
 * namespaces, nft and iptables rules made there vanish with it, and the real host's are never touched. Checks
 * it really is elsewhere, brings lo up and mounts a sysfs of this network namespace (what /sys/class/net shows).
 */
export async function inThrowawayHost(mark: string, rootReason: string, log: (text: string) => void): Promise<NodeJS.ProcessEnv> {
  const [hostNet = '', hostMnt = ''] = (process.env[`${mark}_FROM`] ?? '').split(' ');
  const env = await reexecIn(mark, rootReason, ['--net', '--mount']);
  const ours = readlinkSync('/proc/self/ns/net');
  if (!hostNet || ours === hostNet) throw new Error(`refusing to run: this process is in the host's network namespace (${ours})`);
  if (!hostMnt || readlinkSync('/proc/self/ns/mnt') === hostMnt) throw new Error("refusing to run: this process is in the host's mount namespace");
  log(`a throwaway network namespace stands for the host: ${ours} (the host's is ${hostNet})`);
  return env;
}

/** Mount points at or under `dir` (mountinfo field 5, octal escapes undone), deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => p !== undefined)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Unmounts everything at or under `dir`, deepest first; a busy one is detached (umount --lazy) rather than left. */
export async function unmountAll(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    // Busy for a moment after an interruption (our own rm of a run's directory may still hold it open): retry, then detach.
    for (let attempt = 1; ; attempt++) {
      const error = await run('umount', [point]).then(() => undefined, (e: Error) => e);
      if (!error) break;
      if (attempt < 10) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      log(`${error.message.split('\n')[0]}; detaching it (umount --lazy)`);
      await run('umount', ['--lazy', point]);
      break;
    }
  }
  const left = await mountsUnder(dir);
  if (left.length) throw new Error(`still mounted: ${left.join(', ')}`);
}

/**
 * Mounts a tmpfs of `size` on a fresh /tmp/`name`-XXXXXX (in /tmp whatever TMPDIR says) and points TMPDIR at
 * it, so that the fixtures' staging goes there and with it; the cleanup unmounts everything under it and
 * removes the directory. Returns the directory.
 */
export async function tmpfsWorkDir(name: string, size: string): Promise<string> {
  const dir = await mkdtemp(`/tmp/${name}-`);
  cleanups.push(() => rmdir(dir)); // runs last: empty once the tmpfs is gone
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, name, dir]);
  cleanups.push(() => unmountAll(dir));
  log(`tmpfs (${size}) at ${dir}`);
  process.env.TMPDIR = dir;
  return dir;
}

// ─── Statistics and the table ────────────────────────────────────────────────

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface Row {
  label: string;
  samples: Sample[];
}

export const seconds = (ms: number) => (ms / 1000).toFixed(3);
export const mib = (kib: number) => (kib / 1024).toFixed(1);
export const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
export const mark = (ok: boolean) => (ok ? 'met' : '**missed**');

/** The markdown table of wall time, peak RSS and CPU, one row a measurement. */
export function table(rows: Row[]): string {
  const lines = [
    '| measurement | median s | min s | max s | peak RSS median MiB | peak RSS max MiB | CPU (user+sys) median s |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const { label, samples } of rows) {
    const wall = samples.map((s) => s.wallMs);
    const rss = samples.map((s) => s.maxRssKiB);
    lines.push(
      `| ${label} | ${seconds(median(wall))} | ${seconds(Math.min(...wall))} | ${seconds(Math.max(...wall))} | ${mib(median(rss))} | ${mib(Math.max(...rss))} | ${median(samples.map((s) => s.cpuS)).toFixed(2)} |`,
    );
  }
  return lines.join('\n');
}

/** Every sample of each row, in run order, in seconds: the results file's last list, with its heading. */
export const sampleList = (rows: Row[]) => ['Every sample, in run order (s):', '', ...rows.map(({ label, samples }) => `- ${label}: ${samples.map((x) => seconds(x.wallMs)).join(' ')}`)];

/**
 * Writes the results file (bench/results/NAME.md) and says where: the lines of `head` (title, date, machine,
 * commands), the report (what was printed: the table and the notes), and the list of every sample.
 */
export async function writeResults(file: string, head: string[], report: string, samples: string[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, [...head, '', report, '', ...samples, ''].join('\n'));
  log(`written to ${relative(process.cwd(), file) || file}`);
}

/** Round `round`'s order: `list` rotated by `round` (round i starts with the i-th). */
export const rotated = <T>(list: readonly T[], round: number): T[] => list.map((_, i) => list[(i + round) % list.length]!);

/** Round `round`'s order: `list` as it is in even rounds, reversed in odd ones. */
export const flipped = <T>(list: readonly T[], round: number): T[] => (round % 2 === 0 ? [...list] : [...list].reverse());

// ─── The machine and the source ──────────────────────────────────────────────

export const nproc = async () => (await run('nproc', [])).trim();

/** The first line of a tool's version output, or `unknown`. */
/** The machine line of every report: CPUs, kernel, Node, then the versions of the tools compared. */
export async function machineLine(tools: string[]): Promise<string> {
  return [`nproc ${await nproc()} (${cpuModel()})`, `Linux ${release()}`, `Node ${process.version}`, ...tools].join(', ');
}

export const versionOf = async (cmd: string, args: string[]) => (await run(cmd, args).catch(() => 'unknown')).split('\n')[0]!.trim();

/** Removes a cgroup tree, deepest first, SIGKILLing what is left in it (only processes a bench started can be). */
export async function removeCgroup(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (entry.isDirectory()) await removeCgroup(join(dir, entry.name));
  for (let attempt = 0; ; attempt++) {
    const code = await rmdir(dir).then(() => 'ENOENT', (e: NodeJS.ErrnoException) => e.code);
    if (code === 'ENOENT') return;
    if (code !== 'EBUSY' || attempt >= 50) throw new Error(`rmdir ${dir}: ${code}`);
    for (const pid of (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
export const cpuModel = () => cpus()[0]?.model ?? 'unknown';
/** The first line of `cmd args` (a --version). */
export const firstLine = async (cmd: string, args: string[]) => (await run(cmd, args)).split('\n')[0]!.trim();
/** The load average over 1, 5 and 15 minutes. */
export const loadAverage = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

/** The commit checked out (short), or undefined outside a git checkout (read-only git). */
export const gitCommit = () => run('git', ['-C', REPO_DIR, 'rev-parse', '--short', 'HEAD']).then((t) => t.trim(), () => undefined);

/** Whether `paths` differ from the commit (tracked files only, unless `untracked`). */
export const gitDirty = (paths: string[], untracked = false) =>
  run('git', ['-C', REPO_DIR, 'status', '--porcelain', ...(untracked ? [] : ['--untracked-files=no']), '--', ...paths]).then((t) => t.trim() !== '', () => false);

/** Builds a tool from the source in the tree, as the tests do (esbuild). */
export const buildTool = (tool: string) => run(process.execPath, ['--import', 'tsx', join(REPO_DIR, 'scripts/build.ts'), join(REPO_DIR, 'tools', tool)], { cwd: REPO_DIR });

// ─── Processes ───────────────────────────────────────────────────────────────

export interface ProcessEntry {
  ppid: number;
  comm: string;
  /** State (R, S, Z, …). */
  state: string;
  /** Start time after boot, in clock ticks: with the pid, it names one process (pids are reused). */
  start: number;
}

/** One process from /proc/PID/stat (comm is in parentheses and may hold any character: the fields follow the last ")"), or undefined once it has gone. */
export function processEntry(pid: number): ProcessEntry | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    return { ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close), state: fields[0]!, start: Number(fields[19]) };
  } catch {
    return undefined;
  }
}

/** Every process, by pid (see processEntry). */
export function processes(): Map<number, ProcessEntry> {
  const table = new Map<number, ProcessEntry>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const entry = processEntry(Number(name));
    if (entry) table.set(Number(name), entry);
  }
  return table;
}

/**
 * A process's resident memory, KiB: VmRSS (/proc/PID/status: every page it maps that is in memory, shared ones
 * whole) and Pss (/proc/PID/smaps_rollup: each shared page divided among the processes that map it, so the Pss
 * of many processes adds up to what they really hold together). Undefined once it has gone.
 */
export function residentKiB(pid: number): { rss: number; pss: number } | undefined {
  const kib = (file: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))?.[1]);
  try {
    return { rss: kib('status', 'VmRSS'), pss: kib('smaps_rollup', 'Pss') };
  } catch {
    return undefined;
  }
}
