/**
 * ns-exec against runc run, unshare + chroot and Node's own start: the time
 * from start to exit of `/bin/true` in a container of the busybox fixture's
 * rootfs, and the memory ns-exec keeps resident while a container runs.
 *
 *   pnpm exec tsx bench/ns-exec.ts [--runs N]      (default 20; as root)
 *
 * Measured, N rounds, every row once a round, the order rotated every round
 * (round i starts with the i-th), each under GNU time (h.measure: wall clock
 * from the spawn to the exit, peak RSS, CPU; `sync` first):
 *
 * - `ns-exec --rootfs R -- /bin/true` (bin/ns-exec: the C launcher, which
 *   runs `node ns-exec-plan.cjs -- ARGS` once, NODE_EXTRA_CA_CERTS unset, then clones);
 * - `runc --root STATE run --bundle B cwbench-PID-K`, B a `runc spec` bundle
 *   with process.terminal false, args ["/bin/true"], root.path R (absolute)
 *   and root.readonly false (ns-exec's rootfs is writable too);
 * - `unshare --fork --pid --mount --uts --ipc --net chroot R /bin/true`;
 * - `node -e 0` as it is, and with NODE_EXTRA_CA_CERTS unset (where it is
 *   set: Node then reads the whole CA bundle at start, ~70-90 ms); the latter
 *   is the baseline of the ratios and of the target (ns-exec ≤ 1.25×);
 * - the planner alone: `node ns-exec-plan.cjs -- --dry-run --rootfs R -- /bin/true`,
 *   NODE_EXTRA_CA_CERTS unset as ns-exec runs it: the planner's share;
 * - `/bin/true`: the harness's own floor (spawn, GNU time, exit).
 *
 * One untimed warm-up round goes first, in which each container row runs
 * `/bin/sh -c 'echo $$'` instead of /bin/true and must print 1 (PID 1 of a new
 * pid namespace). Then the memory: three times each, alternately,
 * `ns-exec --pid-file F --rootfs R -- /bin/sleep 5` and `runc run --pid-file F`
 * of the same; once F appears the container runs, and the bench reads VmRSS
 * and VmHWM of the process it spawned (ns-exec's parent, runc run), lists its
 * descendants from /proc/PID/stat (there must be no node among ns-exec's),
 * and ends the container with a SIGKILL to the pid in F (both tools then exit
 * 137).
 *
 * Everything lives on a tmpfs (256m) at a fresh /tmp/cw-bench-ns-exec-XXXXXX,
 * mounted in a private mount namespace the run is re-executed in: the rootfs
 * (test/fixtures/rootfs.ts), the runc bundles, runc's state (`runc --root`:
 * nothing in /run/runc). On an error, Ctrl-C or SIGTERM the running command's
 * process group is killed, every container in that state dir is `runc delete
 * -f`ed, any cgroup cwbench-PID-* runc left is removed, the tmpfs unmounted
 * and the directory removed. bin/ns-exec is used as
 * built (built first only if missing).
 *
 * Prints a markdown table and writes it, with the date and the machine, to
 * bench/results/ns-exec.md.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';

import { join, posix } from 'node:path';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { run } from '../test/fixtures/images.ts';
import { busyboxRootfs } from '../test/fixtures/rootfs.ts';
import * as h from './harness.ts';
import { cleanups, log, median, REPO_DIR, type Sample } from './harness.ts';

const NS_EXEC = join(REPO_DIR, 'bin', 'ns-exec');
const PLANNER = join(REPO_DIR, 'tools', 'ns-exec', 'dist', 'ns-exec-plan.cjs');
const RESULTS = join(REPO_DIR, 'bench', 'results', 'ns-exec.md');
const TARGET = 1.25;
const MEMORY_ROUNDS = 3;
const TRUE = ['/bin/true'];
/** The warm-up round's command: PID 1 of a new pid namespace prints 1. */
const PROBE = ['/bin/sh', '-c', 'echo $$'];
const SLEEP = ['/bin/sleep', '5'];
const TMPFS_SIZE = '256m';
/** Set in the re-executed run, inside its own mount namespace. */
const NS_MARK = 'CUTAWAY_BENCH_NS_EXEC_NS';

const runs = h.parseRuns('ns-exec', 20, 'ns-exec against runc run, unshare + chroot and node -e 0: /bin/true in the busybox rootfs, start to exit; and what ns-exec keeps resident while a container runs. See bench/README.md.');
/**
 * The run is re-executed under `unshare --mount --propagation private` (h.inMountNamespace), so that the tmpfs
 * holding the rootfs, the bundles and runc's state is invisible outside and goes with the run; here, the
 * environment as we were started, for the measured commands.
 */
const ENV = await h.inMountNamespace(NS_MARK, 'ns-exec, runc and unshare make namespaces; a tmpfs mount');
h.cleanUpOnSignals();

const ENV_NO_CA = { ...ENV };
delete ENV_NO_CA.NODE_EXTRA_CA_CERTS;
const caSet = Boolean(ENV.NODE_EXTRA_CA_CERTS);

/** runc's container ids: cwbench-PID-K. */
const RUNC_PREFIX = `cwbench-${process.pid}-`;

const ms = (x: number) => x.toFixed(1);
const ratio = (x: number) => x.toFixed(2);
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));

interface Sequence {
  label: string;
  /** For the progress lines. */
  short: string;
  /** The command line; a container row runs `command` in its container. */
  argv: (command: string[]) => string[];
  env?: NodeJS.ProcessEnv;
  container?: boolean;
}

// ─── runc's cgroups ──────────────────────────────────────────────────────────

/**
 * The cgroups of this run's runc containers that exist: runc names a container's cgroup after its id, below
 * runc's own cgroup, in every hierarchy. `runc delete -f` removes them; only a runc killed while it was creating
 * a container (before its state was written) leaves them.
 */
function runcCgroups(): string[] {
  const mounts = readMountinfo().filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2');
  return readFileSync('/proc/self/cgroup', 'utf8').split('\n').flatMap((line) => {
    const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (controllers === undefined || path === undefined) return [];
    const mount = controllers
      ? mounts.find((m) => m.fstype === 'cgroup' && controllers.split(',').every((c) => m.superOptions.includes(c)))
      : mounts.find((m) => m.fstype === 'cgroup2');
    if (!mount) return [];
    const dir = join(mount.mountPoint, posix.relative(mount.root, path));
    return existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(RUNC_PREFIX)).map((n) => join(dir, n)) : [];
  });
}


// ─── The memory of a running container ───────────────────────────────────────

interface Resident {
  rssKiB: number;
  hwmKiB: number;
  /** The spawned process's descendants, `pid comm` each. */
  descendants: string[];
  node: boolean;
}

/** Every process's parent, from /proc/PID/stat (comm is in parentheses and may hold any character: ppid is the 2nd field after the last ")"). */
function processTree(): Map<number, { ppid: number; comm: string }> {
  const tree = new Map<number, { ppid: number; comm: string }>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      tree.set(Number(name), { ppid: Number(stat.slice(close + 2).split(' ')[1]), comm: stat.slice(stat.indexOf('(') + 1, close) });
    } catch {
      // exited meanwhile
    }
  }
  return tree;
}

/** `pid`'s descendants, breadth first. */
function descendantsOf(pid: number): { pid: number; comm: string }[] {
  const tree = processTree();
  const found: { pid: number; comm: string }[] = [];
  for (let queue = [pid]; queue.length; ) {
    const parent = queue.shift()!;
    for (const [child, { ppid, comm }] of tree) {
      if (ppid !== parent) continue;
      found.push({ pid: child, comm });
      queue.push(child);
    }
  }
  return found;
}

/** Whether a process runs node: by its name, or by its executable (gone already: not node any more). */
function isNode(pid: number, comm: string): boolean {
  try {
    return comm === 'node' || /\/node( \(deleted\))?$/.test(readlinkSync(`/proc/${pid}/exe`));
  } catch {
    return false;
  }
}

/**
 * Starts `argv` (which runs SLEEP in a container and writes its pid to `pidFile`), waits for the pid file, reads
 * the spawned process's VmRSS and VmHWM and its descendants, then SIGKILLs the container's pid; the tool must exit 137.
 */
async function residentWhileRunning(argv: string[], pidFile: string): Promise<Resident> {
  const child = h.start(argv[0]!, argv.slice(1), ENV);
  let stderr = '';
  child.stdout.resume();
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d).slice(-4000)));
  /** The exit status or signal, once it has exited. */
  let status: number | string | undefined;
  const exited = new Promise<void>((r) =>
    child.on('close', (code, signal) => {
      status = code ?? signal ?? 'unknown';
      r();
    }),
  );
  const failure = (why: string) => new Error(`${argv.join(' ')}: ${why}\n${stderr.trim()}`);
  const began = Date.now();
  while (!existsSync(pidFile)) {
    if (status !== undefined) throw failure(`exited (${status}) before it wrote ${pidFile}`);
    if (Date.now() - began > 10_000) throw failure(`no ${pidFile} after 10 s`);
    await sleep(5);
  }
  const containerPid = Number(await readFile(pidFile, 'utf8'));
  const parent = child.pid!;
  const vm = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${parent}/status`, 'utf8'))?.[1]);
  const resident = { rssKiB: vm('VmRSS'), hwmKiB: vm('VmHWM') };
  const tree = descendantsOf(parent);
  if (!tree.some((p) => p.pid === containerPid)) throw failure(`the container's pid ${containerPid} is not among its descendants (${tree.map((p) => p.pid).join(' ')})`);
  if (readlinkSync(`/proc/${containerPid}/ns/pid`) === readlinkSync('/proc/self/ns/pid')) throw failure(`pid ${containerPid} is in our own pid namespace`);
  const node = tree.some((p) => isNode(p.pid, p.comm));
  process.kill(containerPid, 'SIGKILL');
  await Promise.race([exited, sleep(5000)]);
  if (status === undefined) throw failure('still running 5 s after its container was killed');
  if (status !== 137) throw failure(`exited ${status} after its container's SIGKILL, not 137`);
  await rm(pidFile, { force: true });
  return { ...resident, descendants: tree.map((p) => `${p.pid} ${p.comm}`), node };
}

// ─── Main ────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const built = existsSync(NS_EXEC) && existsSync(PLANNER);
  if (!built) {
    log('bin/ns-exec is missing: building it');
    await h.buildTool('ns-exec');
  }
  const builtAt = statSync(NS_EXEC).mtime.toISOString();

  // The fixture stages the image under os.tmpdir(): on the tmpfs too. The cleanup unmounts it (and whatever a
  // tool might have leaked under it) and removes the directory.
  const work = await h.tmpfsWorkDir('cw-bench-ns-exec', TMPFS_SIZE);
  const state = join(work, 'runc-state');
  // Cleanups run last pushed first: this runs after the `runc delete -f` below, and both before the unmount.
  cleanups.push(async () => {
    for (const dir of runcCgroups()) await h.removeCgroup(dir).then(() => log(`cleanup: removed ${dir}`));
  });
  // Every container left in our state dir.
  cleanups.push(async () => {
    const left = (await run('runc', ['--root', state, 'list', '-q']).catch(() => '')).split('\n').filter(Boolean);
    for (const id of left) await run('runc', ['--root', state, 'delete', '-f', id]).then(() => log(`cleanup: runc delete -f ${id}`));
  });

  log('unpacking the busybox fixture rootfs');
  const rootfs = await busyboxRootfs(work);
  if (h.isCleaning()) return; // interrupted meanwhile: write nothing more where the tmpfs was

  // One runc bundle per command, all on the same rootfs.
  const bundles = new Map<string, string>();
  for (const [name, command] of [['true', TRUE], ['probe', PROBE], ['sleep', SLEEP]] as const) {
    const dir = join(work, `bundle-${name}`);
    await mkdir(dir);
    await run('runc', ['spec', '--bundle', dir]);
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    config.process.terminal = false;
    config.process.args = command;
    config.root = { path: rootfs, readonly: false };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    bundles.set(command.join(' '), dir);
  }
  let serial = 0;
  const runcRun = (command: readonly string[], extra: string[] = []) => ['runc', '--root', state, 'run', ...extra, '--bundle', bundles.get(command.join(' '))!, `${RUNC_PREFIX}${++serial}`];

  const nsExec: Sequence = { label: 'ns-exec --rootfs R -- /bin/true', short: 'ns-exec', container: true, argv: (c) => [NS_EXEC, '--rootfs', rootfs, '--', ...c] };
  const runc: Sequence = { label: 'runc run (runc spec bundle, /bin/true)', short: 'runc', container: true, argv: (c) => runcRun(c) };
  const unshare: Sequence = { label: 'unshare --fork --pid --mount --uts --ipc --net chroot R /bin/true', short: 'unshare', container: true, argv: (c) => ['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--net', 'chroot', rootfs, ...c] };
  const node: Sequence = { label: 'node -e 0', short: 'node', argv: () => ['node', '-e', '0'] };
  const nodeNoCa: Sequence = { label: 'node -e 0, NODE_EXTRA_CA_CERTS unset', short: 'node no CA', env: ENV_NO_CA, argv: () => ['node', '-e', '0'] };
  const planner: Sequence = {
    label: 'the planner alone: node ns-exec-plan.cjs -- --dry-run --rootfs R -- /bin/true, NODE_EXTRA_CA_CERTS unset',
    short: 'planner',
    env: ENV_NO_CA,
    argv: (c) => ['node', PLANNER, '--', '--dry-run', '--rootfs', rootfs, '--', ...c],
  };
  const floor: Sequence = { label: 'floor: /bin/true (the harness)', short: 'true', argv: () => TRUE };
  const sequences = [nsExec, runc, unshare, ...(caSet ? [node] : []), nodeNoCa, planner, floor];
  const baseline = nodeNoCa;

  const runOnce = async (seq: Sequence, warmUp: boolean): Promise<Sample> => {
    const [cmd, ...args] = seq.argv(warmUp && seq.container ? PROBE : TRUE);
    const sample = await h.measure(work, cmd!, args, seq.env ?? ENV);
    if (warmUp && seq.container && sample.stdout.trim() !== '1') throw new Error(`${seq.label}: /bin/sh -c 'echo $$' printed ${JSON.stringify(sample.stdout)}, not 1`);
    return sample;
  };

  const loadBefore = await h.loadAverage();
  log(`warm-up round (not counted; each container's sh must be PID 1); load average ${loadBefore}`);
  for (const seq of sequences) await runOnce(seq, true);
  const samples = new Map<Sequence, Sample[]>(sequences.map((s) => [s, []]));
  for (let round = 0; round < runs; round++) {
    for (const seq of h.rotated(sequences, round)) samples.get(seq)!.push(await runOnce(seq, false));
    log(`round ${round + 1}/${runs}: ${sequences.map((s) => `${s.short} ${ms(samples.get(s)!.at(-1)!.wallMs)}`).join(', ')} ms`);
  }

  log(`memory while a container runs /bin/sleep: ${MEMORY_ROUNDS} times each`);
  const pidFile = join(work, 'container.pid');
  const resident = { nsExec: [] as Resident[], runc: [] as Resident[] };
  for (let i = 0; i < MEMORY_ROUNDS; i++) {
    const order = h.flipped(['nsExec', 'runc'] as const, i);
    for (const which of order) {
      const argv = which === 'nsExec' ? [NS_EXEC, '--pid-file', pidFile, '--rootfs', rootfs, '--', ...SLEEP] : runcRun(SLEEP, ['--pid-file', pidFile]);
      resident[which].push(await residentWhileRunning(argv, pidFile));
    }
  }
  const loadAfter = await h.loadAverage();
  const left = (await run('runc', ['--root', state, 'list', '-q'])).trim();
  if (left) throw new Error(`runc left containers: ${left}`);
  const cgroupsLeft = runcCgroups();
  if (cgroupsLeft.length) throw new Error(`runc left cgroups: ${cgroupsLeft.join(' ')}`);

  // ─── The report ──────────────────────────────────────────────────────────
  const wall = (s: Sequence) => samples.get(s)!.map((x) => x.wallMs);
  const med = (s: Sequence) => median(wall(s));
  const lines = [
    `| measurement | median ms | min ms | max ms | × node -e 0${caSet ? ' (CA unset)' : ''} | peak RSS median MiB | CPU (user+sys) median ms |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...sequences.map((s) => {
      const xs = wall(s);
      const rss = median(samples.get(s)!.map((x) => x.maxRssKiB));
      return `| ${s.label} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${ratio(median(xs) / med(baseline))} | ${h.mib(rss)} | ${ms(median(samples.get(s)!.map((x) => x.cpuS * 1000)))} |`;
    }),
  ];
  const limit = TARGET * med(baseline);
  const kib = (xs: number[]) => `${median(xs)} KiB (${h.mib(median(xs))} MiB; ${Math.min(...xs)}–${Math.max(...xs)})`;
  const memoryLines = (name: string, rs: Resident[]) => [
    `| ${name}: VmRSS | ${kib(rs.map((r) => r.rssKiB))} |`,
    `| ${name}: VmHWM (its own peak) | ${kib(rs.map((r) => r.hwmKiB))} |`,
    `| ${name}: its descendants (last run) | ${rs.at(-1)!.descendants.join(', ')} |`,
  ];
  const nodeSeen = resident.nsExec.some((r) => r.node);
  const notes = [
    `- target: ns-exec ≤ ${TARGET} × node -e 0${caSet ? ' with NODE_EXTRA_CA_CERTS unset' : ''} (${ms(limit)} ms): ${ms(med(nsExec))} ms, ${ratio(med(nsExec) / med(baseline))}×, ${h.mark(med(nsExec) <= limit)}.`,
    ...(caSet ? [`- against node -e 0 as it is (NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}, ${ms(med(node))} ms): ${ratio(med(nsExec) / med(node))}×.`] : []),
    `- ns-exec / runc run: ${ratio(med(nsExec) / med(runc))}; ns-exec / unshare + chroot: ${ratio(med(nsExec) / med(unshare))}.`,
    `- breakdown (differences of medians): Node's start ${ms(med(baseline))} ms; loading and running the planner ${ms(med(planner) - med(baseline))} ms more (the planner alone: ${ms(med(planner))} ms, ${((med(planner) / med(nsExec)) * 100).toFixed(0)}% of ns-exec); the C side (fork of the planner, clone, mounts, pivot_root, exec, wait) ${ms(med(nsExec) - med(planner))} ms, where unshare + chroot takes ${ms(med(unshare))} ms in all and the harness floor is ${ms(med(floor))} ms.`,
    `- peak RSS is GNU time's %M: the largest of the process and each descendant it reaped, so ns-exec's row is its planner's (Node's) peak, and runc's the larger of runc's and its \`runc init\`'s.`,
    `- while the container runs, ns-exec's parent process is ${nodeSeen ? '**not** free of Node: a node process is among its descendants' : 'alone with the container: no node process among its descendants'} (${resident.nsExec.length} runs).`,
  ];
  const report = [
    `${runs} rounds after one warm-up round; every row once a round, the order rotated every round; wall clock from the spawn to the exit, under GNU time (\`sync\` before each).`,
    '',
    ...lines,
    '',
    ...notes,
    '',
    `Resident memory while the container runs \`/bin/sleep 5\` (read once its pid file appears; median, min–max of ${MEMORY_ROUNDS} runs each):`,
    '',
    '| process | |',
    '|---|---|',
    ...memoryLines('ns-exec (the parent; the spawned pid)', resident.nsExec),
    ...memoryLines('runc run (the parent; the spawned pid)', resident.runc),
    '',
    `- ns-exec keeps ${ratio(median(resident.nsExec.map((r) => r.rssKiB)) / median(resident.runc.map((r) => r.rssKiB)))}× runc run's resident set.`,
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const machine = await h.machineLine([
    `${await h.firstLine('runc', ['--version'])}`,
    `${await h.firstLine('unshare', ['--version'])}`,
  ]);
  const rebuiltAt = statSync(NS_EXEC).mtime.toISOString();
  const commit = (await h.gitCommit()) ?? 'unknown';
  const dirty = await h.gitDirty(['libs', 'tools/ns-exec']);
  const doc = [
    '# ns-exec against runc run and unshare + chroot: /bin/true in the busybox rootfs, start to exit',
    '',
    `Written by \`pnpm exec tsx bench/ns-exec.ts --runs ${runs}\` on ${new Date().toISOString()}, at commit ${commit}${dirty ? ' (with uncommitted changes in libs/ or tools/ns-exec/)' : ''}; bin/ns-exec ${built ? 'as built' : 'built by the bench'} at ${builtAt}${rebuiltAt === builtAt ? '' : `, and rebuilt during the run at ${rebuiltAt} (the samples may span two builds)`}.`,
    '',
    `Machine: ${machine}. Load average ${loadBefore} before, ${loadAfter} after. NODE_EXTRA_CA_CERTS ${caSet ? `was set (${process.env.NODE_EXTRA_CA_CERTS})` : 'was not set'}.`,
    '',
    "Rootfs: the busybox fixture image (test/fixtures/rootfs.ts), unpacked on a tmpfs in a private mount namespace; runc's bundle: `runc spec`, process.terminal false, args [\"/bin/true\"], root.path the same directory, root.readonly false.",
  ];
  const everySample = ['Every sample, in run order (ms):', '', ...sequences.map((s) => `- ${s.label}: ${wall(s).map(ms).join(' ')}`)];
  await h.writeResults(RESULTS, doc, report, everySample);
}

await h.finish(main);
