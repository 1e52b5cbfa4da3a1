/**
 * What the benchmarks share: options, cleanup on the way out (also on failure and Ctrl-C), commands run and
 * timed in process groups of their own, private namespaces and a tmpfs, rounds, tables, the results file, the
 * build measured, and processes and cgroups. bench/README.md says how they measure.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { runtimeDir } from '../libs/cli/src/state.ts';
import { commandExists, run } from '../test/fixtures/images.ts';

export const REPO_DIR = resolve(import.meta.dirname, '..');
export const BIN = join(REPO_DIR, 'bin');
export const GNU_TIME = '/usr/bin/time';

export const log = (text: string) => process.stderr.write(`bench: ${text}\n`);
export const sleep = (msecs: number) => new Promise((r) => setTimeout(r, msecs));
/** SIGKILLs a process (a group: -pid) unless it has gone already. */
export const kill = (pid: number) => {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
};

export const ms = (x: number) => x.toFixed(1);
export const seconds = (msecs: number) => (msecs / 1000).toFixed(3);
export const ratio = (x: number) => x.toFixed(2);
export const mib = (kib: number) => (kib / 1024).toFixed(1);
export const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
export const mark = (ok: boolean) => (ok ? 'met' : '**missed**');

/** Set in a run re-executed in namespaces of its own; `_FROM` names the namespaces it was started from. */
const NS_MARK = 'CUTAWAY_BENCH_NS';
const reexecuted = process.env[NS_MARK] === '1';
const startedFrom = (process.env[`${NS_MARK}_FROM`] ?? '').split(' ');
delete process.env[NS_MARK];
delete process.env[`${NS_MARK}_FROM`];
/** The environment the bench was started in, for the commands it measures (workDir() moves TMPDIR). */
export const ENV: NodeJS.ProcessEnv = { ...process.env };
/** The same without NODE_EXTRA_CA_CERTS, as bin/'s shebangs run node (Node parses that bundle at every start). */
export const ENV_NO_CA: NodeJS.ProcessEnv = { ...ENV };
delete ENV_NO_CA.NODE_EXTRA_CA_CERTS;

// ─── Options ─────────────────────────────────────────────────────────────────

/** Each option's default: a count, or the choices (the first the default). */
type Spec = Record<string, number | readonly [string, ...string[]]>;
type Parsed<S extends Spec> = { [K in keyof S]: S[K] extends number ? number : S[K] extends readonly (infer T)[] ? T : never };

/** Parses bench/NAME.ts's options (`--runs N` and the like); prints the usage for -h, exits 2 on a bad value. */
export function parseOptions<const S extends Spec>(name: string, about: string, spec: S): Parsed<S> {
  const options = Object.fromEntries(Object.keys(spec).map((k) => [k, { type: 'string' as const }]));
  const values = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h' } } }).values as Record<string, string | boolean | undefined>;
  if (values.help) {
    const synopsis = Object.entries(spec).map(([k, v]) => `[--${k} ${typeof v === 'number' ? 'N' : v.join('|')}]`);
    process.stdout.write(`Usage: pnpm exec tsx bench/${name}.ts ${synopsis.join(' ')}\n\n${about}\n`);
    process.exit(0);
  }
  const bad = (k: string, want: string) => {
    process.stderr.write(`bench: --${k} wants ${want}, got ${String(values[k])}\n`);
    process.exit(2);
  };
  const parsed = Object.entries(spec).map(([k, v]) => {
    const value = values[k];
    if (typeof value !== 'string') return [k, typeof v === 'number' ? v : v[0]];
    if (typeof v !== 'number') return v.includes(value) ? [k, value] : bad(k, v.join(' or '));
    const n = Number(value);
    return Number.isInteger(n) && n >= 1 ? [k, n] : bad(k, 'a whole number ≥ 1');
  });
  return Object.fromEntries(parsed) as Parsed<S>;
}

// ─── Cleanup, also on failure and Ctrl-C ─────────────────────────────────────

/** Steps run on the way out, last pushed first; one failing skips no other. */
export const cleanups: (() => Promise<unknown>)[] = [];
/**
 * The children running right now, each in a process group of its own: one kill reaches the tool behind
 * /usr/bin/time or a pipeline, and the cleanup waits for them to be gone before its steps (an unmount, say,
 * would find the filesystem busy).
 */
const live = new Map<number, Promise<void>>();
let cleaning: Promise<void> | undefined;

/** Whether the cleanup has begun (after a signal, what fails is only what it cut short). */
export const isCleaning = () => cleaning !== undefined;

function cleanup(): Promise<void> {
  return (cleaning ??= (async () => {
    for (const group of live.keys()) kill(-group);
    await Promise.race([Promise.all(live.values()), sleep(5000)]);
    for (const step of cleanups.reverse()) await step().catch((e: Error) => log(`cleanup: ${e.message}`));
  })());
}

/** Runs main, cleaning up on its way out, after an error and on SIGINT, SIGTERM or SIGHUP (then exits 130 or 143). */
export async function finish(main: () => Promise<void>): Promise<never> {
  // `on`, not `once`: pnpm and tsx pass a Ctrl-C on as a second signal, which must not end us half-way through the cleanup.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (cleaning) return;
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  try {
    await main();
  } catch (e) {
    if (!cleaning) log(`error: ${(e as Error).message}`);
    process.exitCode = 1;
  } finally {
    await cleanup();
  }
  // Idle keep-alive sockets (pull's manifest fetch) must not hold the process open.
  process.exit();
}

// ─── Running and timing commands ─────────────────────────────────────────────

/** Starts `cmd args` in a process group of its own, known to the cleanup until it has exited. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): ChildProcessByStdio<null, Readable, Readable> {
  if (cleaning) throw new Error('cleaning up');
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  if (child.pid !== undefined) {
    const pid = child.pid;
    live.set(pid, new Promise<void>((r) => child.on('close', () => r())).then(() => void live.delete(pid)));
  }
  return child;
}

export interface Ran {
  /** Wall clock, ms: process.hrtime from the spawn to the exit. */
  wallMs: number;
  stdout: string;
  /** stderr, line by line, each stamped with when it reached us (ms since the spawn). */
  lines: { ms: number; text: string }[];
}

/** Runs `cmd args` (see start()) to its exit; rejects, with the end of its stderr, unless it exits 0. `onSpawn` gets its pid. */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV, onSpawn?: (pid: number) => void): Promise<Ran> {
  return new Promise((resolvePromise, reject) => {
    const began = process.hrtime.bigint();
    const now = () => Number(process.hrtime.bigint() - began) / 1e6;
    let end = 0;
    let stdout = '';
    let partial = '';
    const lines: Ran['lines'] = [];
    const child = start(cmd, args, env);
    if (child.pid !== undefined) onSpawn?.(child.pid);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const at = now();
      const parts = (partial + d).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ ms: at, text });
    });
    child.on('exit', () => (end = now()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (partial) lines.push({ ms: end, text: partial });
      if (code === 0) resolvePromise({ wallMs: end, stdout, lines });
      else reject(new Error(`${[cmd, ...args].join(' ')}: ${signal ?? `exit ${code}`}\n${lines.slice(-20).map((l) => l.text).join('\n').slice(-4000)}`));
    });
  });
}

/** Runs a command tracked by the cleanup (see start()); its stdout. */
export const exec = async (cmd: string, args: string[], env?: NodeJS.ProcessEnv) => (await timed(cmd, args, env)).stdout;

export interface Sample extends Ran {
  /** Peak resident set, KiB (GNU time %M). */
  maxRssKiB: number;
  /** CPU time, s (GNU time %U + %S). */
  cpuS: number;
}

let timeDir = tmpdir();

/**
 * Runs `cmd args` (in the environment `env`, exactly) under GNU time, `sync` first: its wall time, peak RSS
 * and CPU (bench/README.md says what %M and %U+%S cover).
 */
export async function measure(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): Promise<Sample> {
  const timeFile = join(timeDir, 'time.out');
  await run('sync', []);
  const ran = await timed(GNU_TIME, ['-f', '%M %U %S', '-o', timeFile, cmd, ...args], env);
  // GNU time writes "Command exited with non-zero status" first when it did; we got here with 0.
  const text = await readFile(timeFile, 'utf8');
  const [rss, user, sys] = text.trim().split('\n').pop()!.split(' ').map(Number);
  if (![rss, user, sys].every((n) => Number.isFinite(n))) throw new Error(`unexpected GNU time output: ${text}`);
  return { ...ran, maxRssKiB: rss!, cpuS: user! + sys! };
}

/** Throws unless each command is on PATH (a path: exists), saying what to install. */
export async function need(commands: string[], install: string): Promise<void> {
  for (const c of commands) if (!(c.includes('/') ? existsSync(c) : await commandExists(c))) throw new Error(`${c} is missing: ${install}`);
}

// ─── Private namespaces, mounts and the work directory ───────────────────────

/**
 * Unless re-executed already: checks that we are root (else exits 1 saying why it must be), runs this same
 * script again under `unshare NAMESPACES --propagation private` (unshare execs it: one process, no fork), and
 * exits with its status. Signals are passed on; we only wait for the child's cleanup.
 */
async function reexecIn(rootReason: string, namespaces: string[]): Promise<void> {
  if (reexecuted) return;
  if (process.getuid?.() !== 0) {
    log(`error: run as root (${rootReason})`);
    process.exit(1);
  }
  const child = spawn('unshare', [...namespaces, '--propagation', 'private', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [NS_MARK]: '1', [`${NS_MARK}_FROM`]: `${readlinkSync('/proc/self/ns/net')} ${readlinkSync('/proc/self/ns/mnt')}` },
  });
  // Passed on, also SIGINT: a kill aimed at us alone must reach the child. A terminal's Ctrl-C reaches it
  // twice then (it is in our process group), and it ignores the second while it cleans up.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => child.kill(signal));
  const code = await new Promise<number>((res) => {
    child.on('error', (e) => {
      log(`unshare: ${e.message}`);
      res(1);
    });
    child.on('exit', (c, s) => res(c ?? (s === 'SIGINT' ? 130 : 143)));
  });
  process.exit(code);
}

/** The run in a mount namespace of its own: its mounts vanish with it. */
export const inMountNamespace = (rootReason: string) => reexecIn(rootReason, ['--mount']);

/**
 * The run in a network and a mount namespace of its own, which stand for the host: bridges, veths, network
 * namespaces, nft and iptables rules made there vanish with it, and the real host's are never touched. Checks
 * it really is elsewhere, brings lo up and mounts a tmpfs on /run/netns (so `ip netns add` stays ours) and on
 * netbridge's runtime directory (its host-wide records of networks, leases and ports belong to this host).
 */
export async function inThrowawayHost(rootReason: string): Promise<void> {
  await reexecIn(rootReason, ['--net', '--mount']);
  const [hostNet, hostMnt] = startedFrom;
  const ours = readlinkSync('/proc/self/ns/net');
  if (!hostNet || ours === hostNet) throw new Error(`refusing to run: this process is in the host's network namespace (${ours})`);
  if (!hostMnt || readlinkSync('/proc/self/ns/mnt') === hostMnt) throw new Error("refusing to run: this process is in the host's mount namespace");
  log(`a throwaway network namespace stands for the host: ${ours} (the host's is ${hostNet})`);
  await run('ip', ['link', 'set', 'lo', 'up']);
  await tmpfsOver('/run/netns', '1m', '0755');
  await tmpfsOver(runtimeDir(), '1m', '0755');
}

/** netbridge's endpoints on the default network that a cutaway state root made, by name (none before its first `up`). */
export const endpoints = (root: string): Promise<Record<string, { ip: string }>> =>
  readFile(join(runtimeDir(), 'networks', 'bridge.json'), 'utf8').then(
    (t) => Object.fromEntries(Object.entries((JSON.parse(t) as { endpoints: Record<string, { ip: string; root?: string }> }).endpoints).filter(([, e]) => e.root === resolve(root))),
    () => ({}),
  );
/** Takes down, on the way out, every endpoint netbridge has in `root`. */
export async function downEndpoints(root: string, env: NodeJS.ProcessEnv): Promise<void> {
  for (const e of Object.keys(await endpoints(root))) await run(join(BIN, 'netbridge'), ['down', e], { env }).then(() => log(`cleanup: netbridge down ${e}`), (err: Error) => log(`cleanup: ${err.message}`));
}
/** Our network namespace's interfaces (/proc/net/dev is the reader's namespace's). */
export const links = () => readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
export const netnsNames = () => (existsSync('/run/netns') ? readdirSync('/run/netns').sort() : []);

/** Mount points at or under `dir`, deepest first. */
export const mountsUnder = async (dir: string) =>
  readMountinfo(await readFile('/proc/self/mountinfo', 'utf8'))
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);

/** Unmounts everything at or under `dir`, deepest first; a busy one is detached (umount --lazy) rather than left. */
export async function unmountAll(dir: string): Promise<void> {
  for (const point of await mountsUnder(dir)) {
    // Busy for a moment after an interruption (our own rm of a run's directory may still hold it open): retry, then detach.
    for (let attempt = 1; ; attempt++) {
      const error = await run('umount', [point]).then(() => undefined, (e: Error) => e);
      if (!error) break;
      if (attempt < 10) {
        await sleep(200);
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

/** A tmpfs on `path`, undone on the way out with any directory made for it (it may be the host's filesystem). */
export async function tmpfsOver(path: string, size: string, mode: string): Promise<void> {
  const made: string[] = [];
  for (let p = path; !existsSync(p); p = dirname(p)) made.unshift(p);
  for (const p of made) await mkdir(p);
  cleanups.push(async () => {
    for (const p of [...made].reverse()) await rmdir(p).catch((e: NodeJS.ErrnoException) => log(`cleanup: ${p} (made for a mount point) left: ${e.code}`));
  });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=${mode}`, `cwbench-${path.replaceAll('/', '-').slice(1)}`, path]);
  cleanups.push(() => unmountAll(path));
}

/**
 * A fresh /tmp/`name`-XXXXXX (in /tmp whatever TMPDIR says), with a tmpfs of `size` on it unless `size` is
 * undefined (then in os.tmpdir(), on disk), removed on the way out. TMPDIR points at it, so that the
 * fixtures' staging goes there and with it, and GNU time writes there.
 */
export async function workDir(name: string, size?: string): Promise<string> {
  const dir = await mkdtemp(size ? `/tmp/${name}-` : join(tmpdir(), `${name}-`));
  if (size) {
    cleanups.push(() => rmdir(dir)); // runs last: empty once the tmpfs is gone
    await run('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, name, dir]);
    cleanups.push(() => unmountAll(dir));
    log(`tmpfs (${size}) at ${dir}`);
  } else cleanups.push(() => rm(dir, { recursive: true, force: true }));
  process.env.TMPDIR = timeDir = dir;
  return dir;
}

// ─── Rounds, statistics and tables ───────────────────────────────────────────

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
export const walls = (xs: { wallMs: number }[]) => xs.map((x) => x.wallMs);
/** The median wall time, ms. */
export const med = (xs: { wallMs: number }[]) => median(walls(xs));

/** Round `round`'s order: `list` rotated by `round` (round i starts with the i-th). */
export const rotated = <T>(list: readonly T[], round: number): T[] => list.map((_, i) => list[(i + round) % list.length]!);
/** Round `round`'s order: `list` as it is in even rounds, reversed in odd ones. */
export const flipped = <T>(list: readonly T[], round: number): T[] => (round % 2 === 0 ? [...list] : [...list].reverse());

/** Part of a round: its commands run once (`warmUp`: in the untimed first round, which checks what they do), each sample by key. */
export interface Unit<K, S = Sample> {
  run(warmUp: boolean): Promise<[K, S][]>;
}
/** A unit of one command. */
export const unit = <K, S = Sample>(key: K, once: (warmUp: boolean) => Promise<S>): Unit<K, S> => ({ run: async (warmUp) => [[key, await once(warmUp)]] });

export const push = <K, S>(samples: Map<K, S[]>, got: [K, S][]) => {
  for (const [k, s] of got) samples.set(k, [...(samples.get(k) ?? []), s]);
};

/**
 * One warm-up round (not counted), then `runs` rounds of every unit in the order `order` gives (round i
 * starting with the i-th unit); the samples go to `samples` by key, `after` runs after every round, and each
 * round logs every key's latest wall time.
 */
export async function rounds<K, S extends { wallMs: number }>(
  samples: Map<K, S[]>,
  units: Unit<K, S>[],
  runs: number,
  { what = '', inSeconds = false, order = rotated, after }: { what?: string; inSeconds?: boolean; order?: typeof rotated; after?: (warmUp: boolean) => Promise<void> } = {},
): Promise<void> {
  log(`${what ? `${what}: ` : ''}warm-up round (not counted); load average ${await loadAverage()}`);
  for (const u of units) await u.run(true);
  await after?.(true);
  for (let round = 0; round < runs; round++) {
    const got = new Map<Unit<K, S>, [K, S][]>();
    for (const u of order(units, round)) {
      got.set(u, await u.run(false));
      push(samples, got.get(u)!);
    }
    await after?.(false);
    const fmt = (s: S) => (inSeconds ? `${seconds(s.wallMs)} s` : `${ms(s.wallMs)} ms`);
    log(`${what ? `${what} ` : ''}round ${round + 1}/${runs}: ${units.flatMap((u) => got.get(u)!.map(([k, s]) => `${String(k)} ${fmt(s)}`)).join(', ')}`);
  }
}

/** A row of a table: its label and its samples. */
export interface Row<S = Sample> {
  label: string;
  samples: S[];
}
export interface Column<R> {
  head: string;
  cell: (row: R) => string;
  /** Left-aligned (as text is), not right. */
  text?: boolean;
}

/** A markdown table, one line a row: the first column left-aligned, the others right unless `text`. */
export const markdown = <R>(columns: Column<R>[], rows: R[]): string[] => [
  `| ${columns.map((c) => c.head).join(' | ')} |`,
  `|${columns.map((c, i) => (i === 0 || c.text ? '---' : '---:')).join('|')}|`,
  ...rows.map((r) => `| ${columns.map((c) => c.cell(r)).join(' | ')} |`),
];

/** The label, then the median, min and max wall time in ms or s. */
export const timeColumns = <R extends Row<{ wallMs: number }>>(head: string, inSeconds = false): Column<R>[] => {
  const [f, unit] = inSeconds ? [seconds, 's'] : [ms, 'ms'];
  return [
    { head, cell: (r) => r.label, text: true },
    { head: `median ${unit}`, cell: (r) => f(med(r.samples)) },
    { head: `min ${unit}`, cell: (r) => f(Math.min(...walls(r.samples))) },
    { head: `max ${unit}`, cell: (r) => f(Math.max(...walls(r.samples))) },
  ];
};

/** A ratio of medians column: the row against the row `vs` gives (blank where it gives none). */
export const ratioColumn = <R extends Row<{ wallMs: number }>>(head: string, vs: (row: R) => { wallMs: number }[] | undefined): Column<R> => ({
  head,
  cell: (r) => {
    const ref = vs(r);
    return ref ? ratio(med(r.samples) / med(ref)) : '';
  },
});

/**
 * The table of GNU time's figures: wall time, the ratio columns, peak RSS (median, and with `rssMax` the max)
 * and CPU (in s or ms, as the wall time).
 */
export function table<R extends Row>(head: string, rows: R[], { inSeconds = false, ratios = [], rssMax = false }: { inSeconds?: boolean; ratios?: Column<R>[]; rssMax?: boolean } = {}): string[] {
  const rss = (r: R) => r.samples.map((s) => s.maxRssKiB);
  const cpu = (r: R) => median(r.samples.map((s) => s.cpuS));
  return markdown<R>(
    [
      ...timeColumns<R>(head, inSeconds),
      ...ratios,
      { head: 'peak RSS median MiB', cell: (r) => mib(median(rss(r))) },
      ...(rssMax ? [{ head: 'peak RSS max MiB', cell: (r: R) => mib(Math.max(...rss(r))) }] : []),
      inSeconds ? { head: 'CPU (user+sys) median s', cell: (r) => cpu(r).toFixed(2) } : { head: 'CPU (user+sys) median ms', cell: (r) => ms(cpu(r) * 1000) },
    ],
    rows,
  );
}

/** Every sample of each row, in run order: the results file's last list. */
export const sampleList = (rows: Row<{ wallMs: number }>[], inSeconds = false) => [
  `Every sample, in run order (${inSeconds ? 's' : 'ms'}):`,
  '',
  ...rows.map(({ label, samples }) => `- ${label}: ${walls(samples).map(inSeconds ? seconds : ms).join(' ')}`),
];

// ─── The build measured ──────────────────────────────────────────────────────

export const loadAverage = async () => (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
/** The first line of `cmd args` (a --version), or `unknown`. */
export const versionOf = async (cmd: string, args = ['--version']) => (await run(cmd, args).catch(() => 'unknown')).split('\n')[0]!.trim();
/** Builds a tool from the source in the tree, as the tests do (esbuild). */
export const buildTool = (tool: string) => run(process.execPath, ['--import', 'tsx', join(REPO_DIR, 'scripts/build.ts'), join(REPO_DIR, 'tools', tool)], { cwd: REPO_DIR });

/** The file each bin/ link points at, when it was written, and its sha256. */
const bundles = (tools: readonly string[]) =>
  tools.map((t) => {
    const file = realpathSync(join(BIN, t));
    return { mtime: statSync(file).mtime.toISOString(), hash: createHash('sha256').update(readFileSync(file)).digest('hex') };
  });
let measured: { tools: readonly string[]; built: string[]; before: ReturnType<typeof bundles> } | undefined;

/**
 * The bin/ tools the bench measures, the first the main one: built from the source in the tree, or with
 * `'missing'` used as built (others rebuild bin/ while we run: the test suite does whenever it starts) and
 * built only where missing. The results say which build was measured.
 */
export async function useTools(tools: readonly string[], build: 'all' | 'missing'): Promise<void> {
  const built: string[] = [];
  for (const t of tools) {
    if (build === 'missing' && existsSync(join(BIN, t))) continue;
    if (build === 'missing') log(`bin/${t} is missing: building it`);
    await buildTool(t);
    built.push(t);
  }
  measured = { tools, built, before: bundles(tools) };
}

/** The results' sentences on the build measured: the main tool's, what the bench built, what others rebuilt meanwhile. */
function buildNote(): string {
  if (!measured) return '';
  const { tools, built, before } = measured;
  const after = bundles(tools);
  const rebuilt = tools.filter((_, i) => after[i]!.mtime !== before[i]!.mtime);
  const changed = tools.filter((_, i) => after[i]!.hash !== before[i]!.hash);
  const main = tools[0]!;
  const others = built.filter((t) => t !== main);
  return ` bin/${main} ${built.includes(main) ? 'built by the bench' : 'as built'} at ${before[0]!.mtime}${others.length ? `; built by the bench: ${others.join(', ')}` : ''}. ${rebuilt.length ? `Rebuilt by others during the run: ${rebuilt.join(', ')} (${changed.length ? `to other bytes: ${changed.join(', ')}; those samples span two builds` : 'to the same bytes'}).` : 'No tool was rebuilt during the run.'}`;
}

/** The commit checked out (short), and whether `paths` differ from it (read-only git). */
async function source(paths: string[]): Promise<string> {
  const git = (args: string[]) => run('git', ['-C', REPO_DIR, ...args]).then((t) => t.trim(), () => undefined);
  const commit = (await git(['rev-parse', '--short', 'HEAD'])) ?? 'unknown';
  const dirty = (await git(['status', '--porcelain', '--untracked-files=no', '--', ...paths])) || undefined;
  return `at commit ${commit}${dirty ? ` (with uncommitted changes in ${paths.join(', ')})` : ''}`;
}

/**
 * Prints the report (`body`: the tables and the notes) and writes it to bench/results/NAME.md after its
 * heading: title; the command, date, commit and build; the machine, the versions of the tools compared, the
 * load averages (`load`, by when, and one now, after) and NODE_EXTRA_CA_CERTS; `about` (set-up, commands).
 * Then `samples`, the list of every sample.
 */
export async function writeResults(r: {
  name: string;
  title: string;
  /** The bench's options as run. */
  options: string;
  /** What the build measured is made of (a note says when these differ from the commit). */
  source: string[];
  versions: string[];
  load: Record<string, string>;
  about: string[];
  body: string[];
  samples: string[];
}): Promise<void> {
  const body = r.body.join('\n');
  process.stdout.write(`\n${body}\n`);
  const load = Object.entries({ ...r.load, after: await loadAverage() }).map(([when, l]) => `${l} ${when}`);
  const machine = [`nproc ${(await run('nproc', [])).trim()} (${cpus()[0]?.model ?? 'unknown'})`, `Linux ${release()}`, `Node ${process.version}`, ...r.versions].join(', ');
  const ca = ENV.NODE_EXTRA_CA_CERTS;
  const file = join(REPO_DIR, 'bench', 'results', `${r.name}.md`);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(
    file,
    [
      `# ${r.title}`,
      '',
      `Written by \`pnpm exec tsx bench/${r.name}.ts ${r.options}\` on ${new Date().toISOString()}, ${await source(r.source)}.${buildNote()}`,
      '',
      `Machine: ${machine}. Load average ${load.join(', ')}. NODE_EXTRA_CA_CERTS ${ca ? `was set (${ca})` : 'was not set'}.`,
      '',
      ...r.about,
      '',
      body,
      '',
      ...r.samples,
      '',
    ].join('\n'),
  );
  log(`written to ${relative(process.cwd(), file) || file}`);
}

// ─── Processes and cgroups ───────────────────────────────────────────────────

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
    const entry = /^\d+$/.test(name) ? processEntry(Number(name)) : undefined;
    if (entry) table.set(Number(name), entry);
  }
  return table;
}

/** `pid`'s descendants, breadth first. */
export function descendantsOf(pid: number): { pid: number; comm: string }[] {
  const table = processes();
  const found: { pid: number; comm: string }[] = [];
  for (let queue = [pid]; queue.length; ) {
    const parent = queue.shift()!;
    for (const [child, { ppid, comm }] of table) {
      if (ppid !== parent) continue;
      found.push({ pid: child, comm });
      queue.push(child);
    }
  }
  return found;
}

/**
 * A process's resident memory, KiB: VmRSS and VmHWM (/proc/PID/status: every page it maps that is in memory,
 * shared ones whole; and its peak) and Pss (/proc/PID/smaps_rollup: each shared page divided among the
 * processes that map it, so the Pss of many processes adds up to what they really hold together). Undefined
 * once it has gone.
 */
export function residentKiB(pid: number): { rss: number; hwm: number; pss: number } | undefined {
  const kib = (file: string, key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'))?.[1]);
  try {
    return { rss: kib('status', 'VmRSS'), hwm: kib('status', 'VmHWM'), pss: kib('smaps_rollup', 'Pss') };
  } catch {
    return undefined;
  }
}

/** Removes a cgroup tree, deepest first, SIGKILLing what is left in it (only processes a bench started can be). */
export async function removeCgroup(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (entry.isDirectory()) await removeCgroup(join(dir, entry.name));
  for (let attempt = 0; ; attempt++) {
    const code = await rmdir(dir).then(() => 'ENOENT', (e: NodeJS.ErrnoException) => e.code);
    if (code === 'ENOENT') return;
    if (code !== 'EBUSY' || attempt >= 100) throw new Error(`rmdir ${dir}: ${code}`);
    for (const pid of (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean)) kill(Number(pid));
    await sleep(20);
  }
}
