/**
 * ns-exec against runc run, unshare + chroot and Node's own start: /bin/true in a container of the busybox
 * fixture's rootfs, start to exit; and the memory ns-exec keeps while a container runs. As root; see
 * bench/README.md.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { run } from '../test/fixtures/images.ts';
import { busyboxRootfs } from '../test/fixtures/rootfs.ts';
import * as h from './harness.ts';

const NS_EXEC = join(h.BIN, 'ns-exec');
const PLANNER = join(h.REPO_DIR, 'tools', 'ns-exec', 'dist', 'ns-exec-plan.cjs');
const TARGET = 1.25;
const MEMORY_ROUNDS = 3;
const TRUE = ['/bin/true'];
/** The warm-up round's command: PID 1 of a new pid namespace prints 1. */
const PROBE = ['/bin/sh', '-c', 'echo $$'];
const SLEEP = ['/bin/sleep', '5'];
/** runc's container ids: cwbench-PID-K. */
const RUNC_PREFIX = `cwbench-${process.pid}-`;

const { runs } = h.parseOptions('ns-exec', 'ns-exec against runc run, unshare + chroot and node -e 0: /bin/true in the busybox rootfs, start to exit; and what ns-exec keeps resident while a container runs. 20 rounds by default.', { runs: 20 });
await h.inMountNamespace('ns-exec, runc and unshare make namespaces; a tmpfs mount');
const caSet = Boolean(h.ENV.NODE_EXTRA_CA_CERTS);

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

interface Resident {
  rssKiB: number;
  hwmKiB: number;
  /** The spawned process's descendants, `pid comm` each. */
  descendants: string[];
  node: boolean;
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
  const child = h.start(argv[0]!, argv.slice(1));
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
    await h.sleep(5);
  }
  const containerPid = Number(await readFile(pidFile, 'utf8'));
  const resident = h.residentKiB(child.pid!);
  if (!resident) throw failure('gone while its container should run');
  const tree = h.descendantsOf(child.pid!);
  if (!tree.some((p) => p.pid === containerPid)) throw failure(`the container's pid ${containerPid} is not among its descendants (${tree.map((p) => p.pid).join(' ')})`);
  if (readlinkSync(`/proc/${containerPid}/ns/pid`) === readlinkSync('/proc/self/ns/pid')) throw failure(`pid ${containerPid} is in our own pid namespace`);
  const node = tree.some((p) => isNode(p.pid, p.comm));
  process.kill(containerPid, 'SIGKILL');
  await Promise.race([exited, h.sleep(5000)]);
  if (status === undefined) throw failure('still running 5 s after its container was killed');
  if (status !== 137) throw failure(`exited ${status} after its container's SIGKILL, not 137`);
  await rm(pidFile, { force: true });
  return { rssKiB: resident.rss, hwmKiB: resident.hwm, descendants: tree.map((p) => `${p.pid} ${p.comm}`), node };
}

async function main(): Promise<void> {
  await h.useTools(['ns-exec'], existsSync(PLANNER) ? 'missing' : 'all');
  const work = await h.workDir('cw-bench-ns-exec', '256m');
  const state = join(work, 'runc-state');
  // Cleanups run last pushed first: the cgroups go after the `runc delete -f` below, both before the unmount.
  h.cleanups.push(async () => {
    for (const dir of runcCgroups()) await h.removeCgroup(dir).then(() => h.log(`cleanup: removed ${dir}`));
  });
  h.cleanups.push(async () => {
    const left = (await run('runc', ['--root', state, 'list', '-q']).catch(() => '')).split('\n').filter(Boolean);
    for (const id of left) await run('runc', ['--root', state, 'delete', '-f', id]).then(() => h.log(`cleanup: runc delete -f ${id}`));
  });

  h.log('unpacking the busybox fixture rootfs');
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
  // ns-exec as an OCI runtime, on runc's own bundle: the same command line, a state root of its own.
  const nsExecState = join(work, 'ns-exec-state');
  const nsExecRun = (command: readonly string[]) => [NS_EXEC, '--root', nsExecState, 'run', '--bundle', bundles.get(command.join(' '))!, `${RUNC_PREFIX}${++serial}`];
  h.cleanups.push(async () => {
    const left = (await run(NS_EXEC, ['--root', nsExecState, 'list', '-q']).catch(() => '')).split('\n').filter(Boolean);
    for (const id of left) await run(NS_EXEC, ['--root', nsExecState, 'delete', '-f', id]).then(() => h.log(`cleanup: ns-exec delete -f ${id}`));
  });

  /** The rows; a container row runs its command in a container. */
  const rows: { key: string; label: string; argv: (command: string[]) => string[]; env?: NodeJS.ProcessEnv; container?: boolean }[] = [
    { key: 'ns-exec', label: 'ns-exec --rootfs R -- /bin/true', container: true, argv: (c) => [NS_EXEC, '--rootfs', rootfs, '--', ...c] },
    { key: 'runc', label: 'runc run (runc spec bundle, /bin/true)', container: true, argv: (c) => runcRun(c) },
    { key: 'ns-exec run', label: "ns-exec run (runc's command line, the same bundle)", container: true, argv: (c) => nsExecRun(c) },
    { key: 'unshare', label: 'unshare --fork --pid --mount --uts --ipc --net chroot R /bin/true', container: true, argv: (c) => ['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--net', 'chroot', rootfs, ...c] },
    ...(caSet ? [{ key: 'node', label: 'node -e 0', argv: () => ['node', '-e', '0'] }] : []),
    { key: 'node no CA', label: 'node -e 0, NODE_EXTRA_CA_CERTS unset', env: h.ENV_NO_CA, argv: () => ['node', '-e', '0'] },
    {
      key: 'planner',
      label: 'the planner alone: node ns-exec-plan.cjs -- --dry-run --rootfs R -- /bin/true, NODE_EXTRA_CA_CERTS unset',
      env: h.ENV_NO_CA,
      argv: (c) => ['node', PLANNER, '--', '--dry-run', '--rootfs', rootfs, '--', ...c],
    },
    { key: 'true', label: 'floor: /bin/true (the harness)', argv: () => TRUE },
  ];
  const units = rows.map((r) =>
    h.unit(r.key, async (warmUp) => {
      const [cmd, ...args] = r.argv(warmUp && r.container ? PROBE : TRUE);
      const sample = await h.measure(cmd!, args, r.env);
      if (warmUp && r.container && sample.stdout.trim() !== '1') throw new Error(`${r.label}: /bin/sh -c 'echo $$' printed ${JSON.stringify(sample.stdout)}, not 1`);
      return sample;
    }),
  );
  const loadBefore = await h.loadAverage();
  const samples = new Map<string, h.Sample[]>();
  await h.rounds(samples, units, runs);

  h.log(`memory while a container runs /bin/sleep: ${MEMORY_ROUNDS} times each`);
  const pidFile = join(work, 'container.pid');
  const resident = { nsExec: [] as Resident[], runc: [] as Resident[] };
  for (let i = 0; i < MEMORY_ROUNDS; i++) {
    for (const which of h.flipped(['nsExec', 'runc'] as const, i)) {
      const argv = which === 'nsExec' ? [NS_EXEC, '--pid-file', pidFile, '--rootfs', rootfs, '--', ...SLEEP] : runcRun(SLEEP, ['--pid-file', pidFile]);
      resident[which].push(await residentWhileRunning(argv, pidFile));
    }
  }
  const left = (await run('runc', ['--root', state, 'list', '-q'])).trim();
  if (left) throw new Error(`runc left containers: ${left}`);
  const cgroupsLeft = runcCgroups();
  if (cgroupsLeft.length) throw new Error(`runc left cgroups: ${cgroupsLeft.join(' ')}`);

  const lines = rows.map((r) => ({ label: r.label, samples: samples.get(r.key)! }));
  const m = (key: string) => h.med(samples.get(key)!);
  const baseline = m('node no CA');
  const limit = TARGET * baseline;
  const kib = (xs: number[]) => `${h.median(xs)} KiB (${h.mib(h.median(xs))} MiB; ${Math.min(...xs)}–${Math.max(...xs)})`;
  const memoryLines = (name: string, rs: Resident[]) => [
    `| ${name}: VmRSS | ${kib(rs.map((r) => r.rssKiB))} |`,
    `| ${name}: VmHWM (its own peak) | ${kib(rs.map((r) => r.hwmKiB))} |`,
    `| ${name}: its descendants (last run) | ${rs.at(-1)!.descendants.join(', ')} |`,
  ];
  const nodeSeen = resident.nsExec.some((r) => r.node);
  await h.writeResults({
    name: 'ns-exec',
    title: 'ns-exec against runc run and unshare + chroot: /bin/true in the busybox rootfs, start to exit',
    options: `--runs ${runs}`,
    source: ['libs', 'tools/ns-exec'],
    versions: [await h.versionOf('runc'), await h.versionOf('unshare')],
    load: { before: loadBefore },
    about: ["Rootfs: the busybox fixture image (test/fixtures/rootfs.ts), unpacked on a tmpfs in a private mount namespace; runc's bundle: `runc spec`, process.terminal false, args [\"/bin/true\"], root.path the same directory, root.readonly false."],
    body: [
      `${runs} rounds after one warm-up round; every row once a round, the order rotated every round; wall clock from the spawn to the exit, under GNU time (\`sync\` before each).`,
      '',
      ...h.table(`measurement`, lines, { ratios: [h.ratioColumn(`× node -e 0${caSet ? ' (CA unset)' : ''}`, () => samples.get('node no CA'))] }),
      '',
      `- target: ns-exec ≤ ${TARGET} × node -e 0${caSet ? ' with NODE_EXTRA_CA_CERTS unset' : ''} (${h.ms(limit)} ms): ${h.ms(m('ns-exec'))} ms, ${h.ratio(m('ns-exec') / baseline)}×, ${h.mark(m('ns-exec') <= limit)}.`,
      ...(caSet ? [`- against node -e 0 as it is (NODE_EXTRA_CA_CERTS=${h.ENV.NODE_EXTRA_CA_CERTS}, ${h.ms(m('node'))} ms): ${h.ratio(m('ns-exec') / m('node'))}×.`] : []),
      `- ns-exec / runc run: ${h.ratio(m('ns-exec') / m('runc'))}; ns-exec / unshare + chroot: ${h.ratio(m('ns-exec') / m('unshare'))}.`,
      `- breakdown (differences of medians): Node's start ${h.ms(baseline)} ms; loading and running the planner ${h.ms(m('planner') - baseline)} ms more (the planner alone: ${h.ms(m('planner'))} ms, ${((m('planner') / m('ns-exec')) * 100).toFixed(0)}% of ns-exec); the C side (fork of the planner, clone, mounts, pivot_root, exec, wait) ${h.ms(m('ns-exec') - m('planner'))} ms, where unshare + chroot takes ${h.ms(m('unshare'))} ms in all and the harness floor is ${h.ms(m('true'))} ms.`,
      `- peak RSS is GNU time's %M: the largest of the process and each descendant it reaped, so ns-exec's row is its planner's (Node's) peak, and runc's the larger of runc's and its \`runc init\`'s.`,
      `- while the container runs, ns-exec's parent process is ${nodeSeen ? '**not** free of Node: a node process is among its descendants' : 'alone with the container: no node process among its descendants'} (${resident.nsExec.length} runs).`,
      '',
      `Resident memory while the container runs \`/bin/sleep 5\` (read once its pid file appears; median, min–max of ${MEMORY_ROUNDS} runs each):`,
      '',
      '| process | |',
      '|---|---|',
      ...memoryLines('ns-exec (the parent; the spawned pid)', resident.nsExec),
      ...memoryLines('runc run (the parent; the spawned pid)', resident.runc),
      '',
      `- ns-exec keeps ${h.ratio(h.median(resident.nsExec.map((r) => r.rssKiB)) / h.median(resident.runc.map((r) => r.rssKiB)))}× runc run's resident set.`,
    ],
    samples: h.sampleList(lines),
  });
}

await h.finish(main);
