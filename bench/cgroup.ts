/**
 * cg-limit against cgroup-tools (cgcreate/cgset/cgexec/cgdelete) and a plain
 * shell script of mkdir/echo/rmdir: the time to create a cgroup with memory,
 * cpu and pids limits, run one command in it, and remove it again.
 *
 *   pnpm exec tsx bench/cgroup.ts [--runs N]      (default 11; as root, after scripts/setup.sh)
 *
 * The limits are `-m 64m --cpus 0.5 --pids-limit 100` (memory.limit_in_bytes
 * 67108864, cpu.cfs_quota_us 50000 over cpu.cfs_period_us 100000, pids.max
 * 100) and the command is /bin/true. It needs the v1 memory, cpu and pids
 * hierarchies (the hybrid layout of the test machines); on a cgroup v2 host
 * the cgroup-tools and shell rows, written with v1 file names, do not apply.
 *
 * Measured, N rounds, every sequence once a round, the order rotated every
 * round (round i starts with the i-th), wall clock of the whole sequence:
 *
 * - cg-limit, three processes: `cg-limit create NAME -m 64m --cpus 0.5
 *   --pids-limit 100`, `cg-limit exec NAME -- /bin/true`, `cg-limit rm NAME`;
 * - cg-limit, one process: `cg-limit run -m 64m --cpus 0.5 --pids-limit 100 -- /bin/true`;
 * - cgroup-tools: `cgcreate -g memory,cpu,pids:NAME`, `cgset -r … NAME`,
 *   `cgexec -g memory,cpu,pids:NAME /bin/true`, and `cgdelete`: one
 *   `cgdelete -g memory,cpu,pids:NAME` if that removes the cgroup from all
 *   three hierarchies, else (libcgroup 2.0.2 on separate v1 hierarchies: it
 *   removes only the first controller's directory and exits 0; checked in the
 *   warm-up round) one `cgdelete -g C:NAME` per controller;
 * - sh: mkdir of the three directories, four echos for the limits,
 *   `sh -c 'echo $$ > …/cgroup.procs (×3); exec "$@"' sh /bin/true`, rmdir;
 * - sh: the script `cg-limit --dry-run run …` prints, which makes what
 *   cg-limit makes (cpuacct, cpuset and blkio directories as well, for its
 *   stats): the kernel's share of cg-limit's time;
 * - floors: `cg-limit --version` (Node and cg-limit's bundle loaded), `node -e 0`
 *   (Node alone) and `exec /bin/true` (this harness: spawn, sh, exit);
 * - `cg-limit --trace run …`: each `+ step` line it writes to stderr (a pipe:
 *   Node writes those synchronously, just before the step) is stamped when it
 *   reaches us, which splits the run into start (to the first mkdir), create,
 *   the command, and remove + exit: the breakdown table.
 * - Where NODE_EXTRA_CA_CERTS is set (it is on the test machines: Node reads
 *   the whole CA bundle at every start), the cg-limit rows and `node -e 0`
 *   once more without it.
 *
 * Every sequence is one `/bin/sh -ec SCRIPT` spawned from here (a single
 * command is `exec`ed, so sh becomes it), timed with process.hrtime from the
 * spawn to the exit: each row pays the same one spawn and sh's own fork+exec
 * for each command, as a shell script of the commands would. One untimed
 * warm-up round goes first; in it each sequence runs a probe instead of
 * /bin/true that prints the cgroups it is in and their limits, which are
 * checked. After every run the cgroup must be gone from every hierarchy.
 *
 * Cgroups are named cw-bench-PID-K (cg-limit: NAME bench-PID-K, which it
 * prefixes with cw-) and cw-run-PID for cg-limit run. On an error, Ctrl-C or
 * SIGTERM the running sequence's process group is killed and every cgroup
 * this run named is emptied (SIGKILL) and removed.
 *
 * Prints a markdown table and writes it, with the date and the machine, to
 * bench/results/cgroup.md.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rmdir } from 'node:fs/promises';

import { join } from 'node:path';
import { promisify } from 'node:util';
import * as h from './harness.ts';
import { cleanups, log, median, REPO_DIR } from './harness.ts';

const execFileAsync = promisify(execFile);

const CG_LIMIT = join(REPO_DIR, 'bin', 'cg-limit');
const RESULTS = join(REPO_DIR, 'bench', 'results', 'cgroup.md');
const LIMIT_ARGS = ['-m', '64m', '--cpus', '0.5', '--pids-limit', '100'];
const MEMORY_BYTES = 64 * 1024 * 1024;
const CPU_QUOTA = 50_000;
const CPU_PERIOD = 100_000;
const PIDS_MAX = 100;
const CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

const runs = h.parseRuns('cgroup', 11, 'cg-limit against cgroup-tools and a mkdir/echo shell script: create a cgroup with limits, run /bin/true in it, remove it. See bench/README.md.');

async function run(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    return (await execFileAsync(cmd, args, { encoding: 'utf8', maxBuffer: 16 << 20, ...(env ? { env } : {}) })).stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    throw new Error(`${[cmd, ...args].join(' ')}: ${err.code === 'ENOENT' ? 'not found' : `${err.code ?? ''} ${(err.stderr ?? err.message).trim()}`}`);
  }
}

/** Single-quoted for sh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

// ─── The hierarchies ─────────────────────────────────────────────────────────

/** Every cgroup mount: v1 ones by controller, and all mount points (v1 and v2), where a cgroup this run named could be. */
function cgroupMounts(): { v1: Map<string, string>; all: string[] } {
  const v1 = new Map<string, string>();
  const all: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [left, right] = line.split(' - ');
    if (!left || !right) continue;
    const point = (left.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const [fstype, , superOptions = ''] = right.split(' ');
    if (fstype === 'cgroup2') all.push(point);
    if (fstype !== 'cgroup') continue;
    all.push(point);
    for (const option of superOptions.split(',')) if (!v1.has(option)) v1.set(option, point);
  }
  return { v1, all: [...new Set(all)] };
}

const mounts = cgroupMounts();

/** Directories of the cgroup `cgName` (with its cw- prefix) that exist, in any hierarchy. */
function dirsOf(cgName: string): string[] {
  return mounts.all.map((m) => join(m, cgName)).filter((d) => existsSync(d));
}

// ─── Cleanup, also on failure and Ctrl-C ─────────────────────────────────────

/** Every cgroup name (with cw-) this run may have made. */
const named = new Set<string>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Empties (SIGKILL to what is left in it: only this run's processes can be) and removes one cgroup, in every hierarchy. */
async function removeCgroup(cgName: string): Promise<string[]> {
  const dirs = dirsOf(cgName);
  for (const dir of dirs) {
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt >= 100) throw new Error(`rmdir ${dir}: ${code}`);
        const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone already
          }
        }
        await sleep(20);
      }
    }
  }
  return dirs;
}

// The sequence being timed runs in a process group of its own (h.start), which the cleanup kills and waits for
// before it removes the cgroups.
cleanups.push(async () => {
  for (const cgName of named) {
    const removed = await removeCgroup(cgName).catch((e: Error) => {
      process.stderr.write(`bench: cleanup: ${e.message}\n`);
      return [];
    });
    if (removed.length) log(`cleanup: removed ${removed.join(' ')}`);
  }
});
h.cleanUpOnSignals();

// ─── Timing one sequence ─────────────────────────────────────────────────────

interface Sample {
  /** Wall clock, ms, from the spawn of `sh -ec SCRIPT` to its exit. */
  ms: number;
  stdout: string;
  /** stderr lines, each with when it arrived (ms since the spawn; cg-limit writes them synchronously to the pipe, as each step starts). */
  stderrLines: [number, string][];
}

/** The environment the sequences run in: ours, or ours without NODE_EXTRA_CA_CERTS. */
const ENV = { ...process.env };
const ENV_NO_CA = { ...process.env };
delete ENV_NO_CA.NODE_EXTRA_CA_CERTS;

/** Runs `sh -ec script` in its own process group; `onSpawn` gets its pid (sh's, or, when the script starts with exec, the command's). */
function timeScript(script: string, env: NodeJS.ProcessEnv, onSpawn?: (pid: number) => void): Promise<Sample> {
  return new Promise<Sample>((resolvePromise, reject) => {
    const start = process.hrtime.bigint();
    let end = start;
    const child = h.start('/bin/sh', ['-ec', script], env);
    if (child.pid !== undefined) onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    const stderrLines: [number, string][] = [];
    let partial = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => {
      const at = Number(process.hrtime.bigint() - start) / 1e6;
      stderr = (stderr + d).slice(-4000);
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop()!;
      for (const line of parts) stderrLines.push([at, line]);
    });
    child.on('exit', () => (end = process.hrtime.bigint()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`sh -ec ${q(script)}: ${signal ?? `exit ${code}`}\n${stderr.trim()}`));
      else resolvePromise({ ms: Number(end - start) / 1e6, stdout, stderrLines });
    });
  });
}

// ─── Statistics ──────────────────────────────────────────────────────────────

const ms = (x: number) => x.toFixed(1);
const ratio = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2));

// ─── Main ────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it makes cgroups');
  for (const c of CONTROLLERS) if (!mounts.v1.has(c)) throw new Error(`no cgroup v1 hierarchy with ${c}: this bench is written for the v1 (or hybrid) layout`);
  for (const cmd of ['cgcreate', 'cgset', 'cgexec', 'cgdelete']) {
    await run('sh', ['-c', `command -v ${cmd}`]).catch(() => {
      throw new Error(`${cmd} not found: run scripts/setup.sh (package cgroup-tools)`);
    });
  }
  const v1 = (c: (typeof CONTROLLERS)[number]) => mounts.v1.get(c)!;

  // The figures are for the source in the tree: build cg-limit, as the tests do (esbuild, under a second).
  await h.buildTool('cg-limit');

  let serial = 0;
  const freshName = () => `bench-${process.pid}-${++serial}`;

  /** Prints, for memory, cpu and pids, the cgroup this process is in and its limits. Run in place of /bin/true in the warm-up round. */
  const probe = [
    'while IFS=: read -r _ c p; do case $c in',
    `memory) echo memory $p $(cat ${q(v1('memory'))}$p/memory.limit_in_bytes);;`,
    `cpu) echo cpu $p $(cat ${q(v1('cpu'))}$p/cpu.cfs_quota_us) $(cat ${q(v1('cpu'))}$p/cpu.cfs_period_us);;`,
    `pids) echo pids $p $(cat ${q(v1('pids'))}$p/pids.max);;`,
    'esac; done < /proc/self/cgroup',
  ].join(' ');
  const checkProbe = (label: string, stdout: string, cgName: string) => {
    const want = [`memory /${cgName} ${MEMORY_BYTES}`, `cpu /${cgName} ${CPU_QUOTA} ${CPU_PERIOD}`, `pids /${cgName} ${PIDS_MAX}`];
    const got = stdout.trim().split('\n').sort();
    if (got.join('\n') !== [...want].sort().join('\n')) throw new Error(`${label}: the command ran in\n${stdout.trim()}\nwant\n${want.join('\n')}`);
  };

  // cgroup-tools: does one cgdelete for the three controllers remove all three directories here?
  const toolsName = `cw-${freshName()}`;
  named.add(toolsName);
  await run('cgcreate', ['-g', `memory,cpu,pids:${toolsName}`]);
  await run('cgdelete', ['-g', `memory,cpu,pids:${toolsName}`]);
  const cgdeleteLeft = await removeCgroup(toolsName);
  const oneCgdelete = cgdeleteLeft.length === 0;
  log(oneCgdelete ? 'cgdelete -g memory,cpu,pids:NAME removes all three' : `cgdelete -g memory,cpu,pids:NAME left ${cgdeleteLeft.join(' ')} (removed): timing one cgdelete per controller`);

  // cg-limit's own steps as a shell script, from --dry-run; its cgroup is cw-run-PID, renamed per run.
  const dryRun = await run(CG_LIMIT, ['--dry-run', 'run', ...LIMIT_ARGS, '--', '/bin/true']);
  // The command is the last word of its `sh -c '…' sh /bin/true` line (quoted or not).
  // The command ends its line, or comes before the status capture that lets the script's rmdir lines run.
  const DRY_RUN_COMMAND = / sh (?:\/bin\/true|'\/bin\/true')(?=$| && status=0 \|\| status=\$\?$)/m;
  if (!/cw-run-\d+/.test(dryRun) || !DRY_RUN_COMMAND.test(dryRun)) throw new Error(`cg-limit --dry-run run printed no cw-run-PID, or no "sh /bin/true" line:\n${dryRun}`);

  interface Sequence {
    label: string;
    /** For the progress lines. */
    short: string;
    /** Makes a cgroup (so the warm-up probes it and every run checks it is gone). */
    cgroup: boolean;
    env?: NodeJS.ProcessEnv;
    /** The script for a cgroup `cgName` (with cw-) and a command; and, for cg-limit run, the name known only at the spawn. */
    script: (cgName: string, cmd: string) => string;
    nameFromPid?: (pid: number) => string;
  }
  const caSet = Boolean(process.env.NODE_EXTRA_CA_CERTS);
  const cgLimitSeqs = (suffix: string, env: NodeJS.ProcessEnv): Sequence[] => [
    {
      label: `cg-limit create + exec + rm (3 processes)${suffix}`,
      short: `cg-limit ×3${suffix ? ' no CA' : ''}`,
      cgroup: true,
      env,
      script: (cgName, cmd) => {
        const name = cgName.slice('cw-'.length);
        return [`${q(CG_LIMIT)} create ${name} ${LIMIT_ARGS.join(' ')} >/dev/null`, `${q(CG_LIMIT)} exec ${name} -- ${cmd}`, `${q(CG_LIMIT)} rm ${name}`].join('\n');
      },
    },
    {
      label: `cg-limit run (1 process)${suffix}`,
      short: `cg-limit run${suffix ? ' no CA' : ''}`,
      cgroup: true,
      env,
      script: (_, cmd) => `exec ${q(CG_LIMIT)} run ${LIMIT_ARGS.join(' ')} -- ${cmd}`,
      nameFromPid: (pid) => `cw-run-${pid}`,
    },
  ];
  const toolsDelete = (cgName: string) => (oneCgdelete ? [`cgdelete -g memory,cpu,pids:${cgName}`] : CONTROLLERS.map((c) => `cgdelete -g ${c}:${cgName}`));
  const traced: Sequence = {
    label: 'cg-limit --trace run (1 process; its timestamps give the breakdown below)',
    short: 'cg-limit --trace run',
    cgroup: true,
    script: (_, cmd) => `exec ${q(CG_LIMIT)} --trace run ${LIMIT_ARGS.join(' ')} -- ${cmd}`,
    nameFromPid: (pid) => `cw-run-${pid}`,
  };
  const sequences: Sequence[] = [
    ...cgLimitSeqs('', ENV),
    {
      short: 'cgroup-tools',
      label: `cgroup-tools: cgcreate + cgset + cgexec + ${oneCgdelete ? 'cgdelete' : 'cgdelete ×3'} (${oneCgdelete ? 4 : 6} processes)`,
      cgroup: true,
      script: (cgName, cmd) =>
        [
          `cgcreate -g memory,cpu,pids:${cgName}`,
          `cgset -r memory.limit_in_bytes=${MEMORY_BYTES} -r cpu.cfs_quota_us=${CPU_QUOTA} -r cpu.cfs_period_us=${CPU_PERIOD} -r pids.max=${PIDS_MAX} ${cgName}`,
          `cgexec -g memory,cpu,pids:${cgName} ${cmd}`,
          ...toolsDelete(cgName),
        ].join('\n'),
    },
    {
      label: 'sh: mkdir + echo + sh -c exec + rmdir (3 hierarchies)',
      short: 'sh',
      cgroup: true,
      script: (cgName, cmd) => {
        const d = (c: (typeof CONTROLLERS)[number]) => q(join(v1(c), cgName));
        const all = CONTROLLERS.map(d).join(' ');
        return [
          `mkdir ${all}`,
          `echo ${MEMORY_BYTES} > ${d('memory')}/memory.limit_in_bytes`,
          `echo ${CPU_QUOTA} > ${d('cpu')}/cpu.cfs_quota_us`,
          `echo ${CPU_PERIOD} > ${d('cpu')}/cpu.cfs_period_us`,
          `echo ${PIDS_MAX} > ${d('pids')}/pids.max`,
          // A child sh, not a ( … ) subshell: in a subshell $$ is still this shell's pid, which would move the script itself in (and rmdir would then fail: EBUSY).
          `sh -c ${q(`${CONTROLLERS.map((c) => `echo $$ > ${d(c)}/cgroup.procs`).join('; ')}; exec "$@"`)} sh ${cmd}`,
          `rmdir ${all}`,
        ].join('\n');
      },
    },
    {
      label: "sh: cg-limit's --dry-run script (6 hierarchies)",
      short: 'sh (dry-run)',
      cgroup: true,
      script: (cgName, cmd) => dryRun.replace(/cw-run-\d+/g, cgName).replace(DRY_RUN_COMMAND, ` sh ${cmd}`),
    },
    { label: 'floor: cg-limit --version', short: '--version', cgroup: false, script: () => `exec ${q(CG_LIMIT)} --version >/dev/null` },
    { label: 'floor: node -e 0', short: 'node', cgroup: false, script: () => 'exec node -e 0' },
    { label: 'floor: exec /bin/true (the harness)', short: 'true', cgroup: false, script: () => 'exec /bin/true' },
    traced,
    ...(caSet ? [...cgLimitSeqs(', NODE_EXTRA_CA_CERTS unset', ENV_NO_CA), { label: 'floor: node -e 0, NODE_EXTRA_CA_CERTS unset', short: 'node no CA', cgroup: false, env: ENV_NO_CA, script: () => 'exec node -e 0' }] : []),
  ];

  /** One run of a sequence: the cgroup it made must be gone afterwards (and, in the warm-up, the command must have run in it with the limits). */
  const runOnce = async (seq: Sequence, warmUp: boolean): Promise<Sample> => {
    let cgName = seq.cgroup && !seq.nameFromPid ? `cw-${freshName()}` : '';
    if (cgName) named.add(cgName);
    const cmd = warmUp && seq.cgroup ? `sh -c ${q(probe)}` : '/bin/true';
    const sample = await timeScript(seq.script(cgName, cmd), seq.env ?? ENV, (pid) => {
      if (seq.nameFromPid) named.add((cgName = seq.nameFromPid(pid)));
    });
    if (seq.cgroup) {
      if (warmUp) checkProbe(seq.label, sample.stdout, cgName);
      const left = dirsOf(cgName);
      if (left.length) throw new Error(`${seq.label}: left ${left.join(' ')}`);
    }
    return sample;
  };

  const loadBefore = await h.loadAverage();
  log(`warm-up round (not counted; checks that each command ran in the cgroup with the limits and that the cgroup is gone after); load average ${loadBefore}`);
  for (const seq of sequences) await runOnce(seq, true);

  const samples = new Map<Sequence, Sample[]>(sequences.map((s) => [s, []]));
  for (let round = 0; round < runs; round++) {
    const order = h.rotated(sequences, round);
    for (const seq of order) samples.get(seq)!.push(await runOnce(seq, false));
    log(`round ${round + 1}/${runs}: ${sequences.map((s) => `${s.short} ${ms(samples.get(s)!.at(-1)!.ms)}`).join(', ')} ms`);
  }
  const loadAfter = await h.loadAverage();

  const med = (s: Sequence) => median(samples.get(s)!.map((x) => x.ms));
  const [cgl3, cglRun, tools, shell, dry, version, node, harness] = sequences as [Sequence, Sequence, Sequence, Sequence, Sequence, Sequence, Sequence, Sequence];
  const lines = ['| sequence | median ms | min ms | max ms | × sh script | × cgroup-tools |', '|---|---:|---:|---:|---:|---:|'];
  for (const seq of sequences) {
    const xs = samples.get(seq)!.map((x) => x.ms);
    lines.push(`| ${seq.label} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${ratio(median(xs) / med(shell))} | ${ratio(median(xs) / med(tools))} |`);
  }
  // Where cg-limit run's time goes, from when each --trace line reached us.
  const phaseNames = [
    'start → first `+ mkdir`: Node starts, loads cg-limit, parses the options and /proc/self/mountinfo',
    'create: mkdir ×6, cpuset.cpus/mems copied, 4 limit writes (first `+ mkdir` → last `+ echo`)',
    'the command: spawn `sh -c`, 6 cgroup.procs writes, exec /bin/true, wait; read the stats (→ the stats lines)',
    'remove and exit: check cgroup.procs, rmdir ×6, Node exits (→ exit)',
  ];
  const phasesOf = (x: Sample): number[] => {
    const lines = x.stderrLines;
    const firstMkdir = lines.findIndex(([, l]) => l.startsWith('+ mkdir '));
    const stats = lines.findIndex(([, l]) => l.startsWith('cgroup run-'));
    if (firstMkdir < 0 || stats <= firstMkdir) throw new Error(`cg-limit --trace run: no "+ mkdir" and then "cgroup run-…" lines on stderr:\n${lines.map(([, l]) => l).join('\n')}`);
    let lastWrite = stats - 1;
    while (lastWrite > firstMkdir && !lines[lastWrite]![1].startsWith('+ echo ')) lastWrite--;
    const t = (i: number) => lines[i]![0];
    return [t(firstMkdir), t(lastWrite) - t(firstMkdir), t(stats) - t(lastWrite), x.ms - t(stats)];
  };
  const tracedPhases = samples.get(traced)!.map(phasesOf);
  const breakdown = [
    '| cg-limit --trace run, phase | median ms | min ms | max ms |',
    '|---|---:|---:|---:|',
    ...phaseNames.map((name, i) => {
      const xs = tracedPhases.map((p) => p[i]!);
      return `| ${name} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} |`;
    }),
    `| whole run | ${ms(med(traced))} | ${ms(Math.min(...samples.get(traced)!.map((x) => x.ms)))} | ${ms(Math.max(...samples.get(traced)!.map((x) => x.ms)))} |`,
  ];
  const startShare = median(tracedPhases.map((p, i) => p[0]! / samples.get(traced)![i]!.ms));
  const notes = [
    `- ratios are ratios of medians; "sh script" is the mkdir/echo row (${ms(med(shell))} ms), "cgroup-tools" the cgcreate row (${ms(med(tools))} ms).`,
    `- cg-limit run: ${ms(med(cglRun))} ms; the floors under it: node -e 0 ${ms(med(node))} ms, cg-limit --version ${ms(med(version))} ms. The same steps as a shell script (its --dry-run script) take ${ms(med(dry))} ms, the harness floor ${ms(med(harness))} ms.`,
    `- in cg-limit --trace run, the start (to the first mkdir) is a median ${(startShare * 100).toFixed(0)}% of the whole run (per-run shares; table below).`,
    `- cg-limit create + exec + rm: ${ms(med(cgl3))} ms, ${ratio(med(cgl3) / med(version))}× one cg-limit --version: three Node starts.`,
    oneCgdelete
      ? '- cgroup-tools: `cgdelete -g memory,cpu,pids:NAME` removed all three directories.'
      : `- cgroup-tools: \`cgdelete -g memory,cpu,pids:NAME\` removed only the first controller's directory and exited 0 (it left ${cgdeleteLeft.map((d) => d.replace(toolsName, 'NAME')).join(', ')}); the row times one \`cgdelete -g C:NAME\` per controller instead.`,
  ];
  const report = [
    `${runs} rounds after one warm-up round; every sequence once a round, the order rotated every round; wall clock of the whole sequence, spawned as one \`sh -ec\` from Node.`,
    '',
    ...lines,
    '',
    ...notes,
    '',
    ...breakdown,
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const tryRun = (cmd: string, args: string[]) => run(cmd, args).then((t) => t.trim(), () => 'unknown');
  const machine = await h.machineLine([
    `cgroup-tools ${await tryRun('dpkg-query', ['-W', '-f=${Version}', 'cgroup-tools'])}`,
    `dash ${await tryRun('dpkg-query', ['-W', '-f=${Version}', 'dash'])} as /bin/sh`,
  ]);
  const hierarchies = [...mounts.v1.entries()].filter(([c]) => ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'blkio'].includes(c)).map(([c, p]) => `${c} ${p}`).join(', ');
  const commit = (await h.gitCommit()) ?? 'unknown';
  const dirty = await h.gitDirty(['libs', 'tools/cg-limit']);
  const doc = [
    '# cg-limit against cgroup-tools and a shell script: create a cgroup with limits, run /bin/true in it, remove it',
    '',
    `Written by \`pnpm exec tsx bench/cgroup.ts --runs ${runs}\` on ${new Date().toISOString()}, at commit ${commit}${dirty ? ' (with uncommitted changes in libs/ or tools/cg-limit/)' : ''}.`,
    '',
    `Machine: ${machine}. Load average ${loadBefore} before, ${loadAfter} after. NODE_EXTRA_CA_CERTS ${caSet ? `was set (${process.env.NODE_EXTRA_CA_CERTS})` : 'was not set'}.`,
    '',
    `Cgroup v1 hierarchies: ${hierarchies}.`,
    '',
    'Limits: memory 64 MiB, CPU 0.5 (cfs_quota_us 50000 / cfs_period_us 100000), pids 100. Sequences:',
    '',
    `- cg-limit, 3 processes: \`cg-limit create NAME ${LIMIT_ARGS.join(' ')}\`; \`cg-limit exec NAME -- /bin/true\`; \`cg-limit rm NAME\``,
    `- cg-limit, 1 process: \`cg-limit run ${LIMIT_ARGS.join(' ')} -- /bin/true\``,
    `- cgroup-tools: \`cgcreate -g memory,cpu,pids:NAME\`; \`cgset -r memory.limit_in_bytes=${MEMORY_BYTES} -r cpu.cfs_quota_us=${CPU_QUOTA} -r cpu.cfs_period_us=${CPU_PERIOD} -r pids.max=${PIDS_MAX} NAME\`; \`cgexec -g memory,cpu,pids:NAME /bin/true\`; ${oneCgdelete ? '`cgdelete -g memory,cpu,pids:NAME`' : '`cgdelete -g memory:NAME`; `cgdelete -g cpu:NAME`; `cgdelete -g pids:NAME`'}`,
    "- sh: `mkdir` of the three directories; four `echo`s; `sh -c 'echo $$ > …/cgroup.procs (×3); exec \"$@\"' sh /bin/true`; `rmdir` of the three",
    '- sh, cg-limit\'s steps: the script `cg-limit --dry-run run … -- /bin/true` prints (6 hierarchies, cpuset.cpus/mems copied with `cat`)',
  ];
  const everySample = ['Every sample, in run order (ms):', '', ...sequences.map((s) => `- ${s.label}: ${samples.get(s)!.map((x) => ms(x.ms)).join(' ')}`)];
  await h.writeResults(RESULTS, doc, report, everySample);
}

await h.finish(main);
