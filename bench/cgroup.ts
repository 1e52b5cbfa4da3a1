/**
 * cg-limit against cgroup-tools (cgcreate/cgset/cgexec/cgdelete) and a plain shell script of mkdir/echo/rmdir:
 * the time to create a cgroup with memory, cpu and pids limits, run /bin/true in it and remove it. As root, on
 * the v1 (or hybrid) cgroup layout; see bench/README.md.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';

const CG_LIMIT = join(h.BIN, 'cg-limit');
const LIMIT_ARGS = ['-m', '64m', '--cpus', '0.5', '--pids-limit', '100'];
const MEMORY_BYTES = 64 * 1024 * 1024;
const CPU_QUOTA = 50_000;
const CPU_PERIOD = 100_000;
const PIDS_MAX = 100;
const CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

const { runs } = h.parseOptions('cgroup', 'cg-limit against cgroup-tools and a mkdir/echo shell script: create a cgroup with limits, run /bin/true in it, remove it. 11 rounds by default.', { runs: 11 });

/** Single-quoted for sh. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const cgroupMounts = readMountinfo().filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2');
/** The v1 hierarchies, by controller. */
const v1 = new Map<string, string>();
for (const m of cgroupMounts) if (m.fstype === 'cgroup') for (const c of m.superOptions) if (!v1.has(c)) v1.set(c, m.mountPoint);

/** Directories of the cgroup `cgName` (with its cw- prefix) that exist, in any hierarchy. */
const dirsOf = (cgName: string) => [...new Set(cgroupMounts.map((m) => m.mountPoint))].map((m) => join(m, cgName)).filter((d) => existsSync(d));

/** Every cgroup name (with cw-) this run may have made: the cleanup empties (SIGKILL) and removes them. */
const named = new Set<string>();
async function removeCgroup(cgName: string): Promise<string[]> {
  const dirs = dirsOf(cgName);
  for (const dir of dirs) await h.removeCgroup(dir);
  return dirs;
}
h.cleanups.push(async () => {
  for (const cgName of named) {
    const removed = await removeCgroup(cgName).catch((e: Error) => {
      h.log(`cleanup: ${e.message}`);
      return [];
    });
    if (removed.length) h.log(`cleanup: removed ${removed.join(' ')}`);
  }
});

interface Sequence {
  key: string;
  label: string;
  /** Makes a cgroup (so the warm-up probes it and every run checks it is gone). */
  cgroup: boolean;
  env?: NodeJS.ProcessEnv;
  /** The script for a cgroup `cgName` (with cw-) and a command. */
  script: (cgName: string, cmd: string) => string;
  /** cg-limit run's cgroup, named after its pid. */
  nameFromPid?: (pid: number) => string;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root: it makes cgroups');
  for (const c of CONTROLLERS) if (!v1.has(c)) throw new Error(`no cgroup v1 hierarchy with ${c}: this bench is written for the v1 (or hybrid) layout`);
  await h.need(['cgcreate', 'cgset', 'cgexec', 'cgdelete'], 'run scripts/setup.sh (package cgroup-tools)');
  await h.useTools(['cg-limit'], 'all');
  const hier = (c: (typeof CONTROLLERS)[number]) => v1.get(c)!;

  let serial = 0;
  const freshName = () => `bench-${process.pid}-${++serial}`;

  /** Prints, for memory, cpu and pids, the cgroup this process is in and its limits. Run in place of /bin/true in the warm-up round. */
  const probe = [
    'while IFS=: read -r _ c p; do case $c in',
    `memory) echo memory $p $(cat ${q(hier('memory'))}$p/memory.limit_in_bytes);;`,
    `cpu) echo cpu $p $(cat ${q(hier('cpu'))}$p/cpu.cfs_quota_us) $(cat ${q(hier('cpu'))}$p/cpu.cfs_period_us);;`,
    `pids) echo pids $p $(cat ${q(hier('pids'))}$p/pids.max);;`,
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
  h.log(oneCgdelete ? 'cgdelete -g memory,cpu,pids:NAME removes all three' : `cgdelete -g memory,cpu,pids:NAME left ${cgdeleteLeft.join(' ')} (removed): timing one cgdelete per controller`);

  // cg-limit's own steps as a shell script, from --dry-run; its cgroup is cw-run-PID, renamed per run. The
  // command ends its `sh -c '…' sh /bin/true` line, or comes before the status capture that lets the rmdirs run.
  const dryRun = await run(CG_LIMIT, ['--dry-run', 'run', ...LIMIT_ARGS, '--', '/bin/true']);
  const DRY_RUN_COMMAND = / sh (?:\/bin\/true|'\/bin\/true')(?=$| && status=0 \|\| status=\$\?$)/m;
  if (!/cw-run-\d+/.test(dryRun) || !DRY_RUN_COMMAND.test(dryRun)) throw new Error(`cg-limit --dry-run run printed no cw-run-PID, or no "sh /bin/true" line:\n${dryRun}`);

  const caSet = Boolean(h.ENV.NODE_EXTRA_CA_CERTS);
  const cgLimitSeqs = (suffix: string, env: NodeJS.ProcessEnv): Sequence[] => [
    {
      key: `cg-limit ×3${suffix ? ' no CA' : ''}`,
      label: `cg-limit create + exec + rm (3 processes)${suffix}`,
      cgroup: true,
      env,
      script: (cgName, cmd) => {
        const name = cgName.slice('cw-'.length);
        return [`${q(CG_LIMIT)} create ${name} ${LIMIT_ARGS.join(' ')} >/dev/null`, `${q(CG_LIMIT)} exec ${name} -- ${cmd}`, `${q(CG_LIMIT)} rm ${name}`].join('\n');
      },
    },
    {
      key: `cg-limit run${suffix ? ' no CA' : ''}`,
      label: `cg-limit run (1 process)${suffix}`,
      cgroup: true,
      env,
      script: (_, cmd) => `exec ${q(CG_LIMIT)} run ${LIMIT_ARGS.join(' ')} -- ${cmd}`,
      nameFromPid: (pid) => `cw-run-${pid}`,
    },
  ];
  const toolsDelete = (cgName: string) => (oneCgdelete ? [`cgdelete -g memory,cpu,pids:${cgName}`] : CONTROLLERS.map((c) => `cgdelete -g ${c}:${cgName}`));
  const sequences: Sequence[] = [
    ...cgLimitSeqs('', h.ENV),
    {
      key: 'cgroup-tools',
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
      key: 'sh',
      label: 'sh: mkdir + echo + sh -c exec + rmdir (3 hierarchies)',
      cgroup: true,
      script: (cgName, cmd) => {
        const d = (c: (typeof CONTROLLERS)[number]) => q(join(hier(c), cgName));
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
      key: 'sh (dry-run)',
      label: "sh: cg-limit's --dry-run script (6 hierarchies)",
      cgroup: true,
      script: (cgName, cmd) => dryRun.replace(/cw-run-\d+/g, cgName).replace(DRY_RUN_COMMAND, ` sh ${cmd}`),
    },
    { key: '--version', label: 'floor: cg-limit --version', cgroup: false, script: () => `exec ${q(CG_LIMIT)} --version >/dev/null` },
    { key: 'node', label: 'floor: node -e 0', cgroup: false, script: () => 'exec node -e 0' },
    { key: 'true', label: 'floor: exec /bin/true (the harness)', cgroup: false, script: () => 'exec /bin/true' },
    {
      key: 'cg-limit --trace run',
      label: 'cg-limit --trace run (1 process; its timestamps give the breakdown below)',
      cgroup: true,
      script: (_, cmd) => `exec ${q(CG_LIMIT)} --trace run ${LIMIT_ARGS.join(' ')} -- ${cmd}`,
      nameFromPid: (pid) => `cw-run-${pid}`,
    },
    ...(caSet ? [...cgLimitSeqs(', NODE_EXTRA_CA_CERTS unset', h.ENV_NO_CA), { key: 'node no CA', label: 'floor: node -e 0, NODE_EXTRA_CA_CERTS unset', cgroup: false, env: h.ENV_NO_CA, script: () => 'exec node -e 0' }] : []),
  ];

  // Each sequence is one `sh -ec SCRIPT`, timed from the spawn to the exit; the cgroup it made must be gone
  // afterwards, and in the warm-up the command must have run in it with the limits.
  const units = sequences.map((seq) =>
    h.unit<string, h.Ran>(seq.key, async (warmUp) => {
      let cgName = seq.cgroup && !seq.nameFromPid ? `cw-${freshName()}` : '';
      if (cgName) named.add(cgName);
      const cmd = warmUp && seq.cgroup ? `sh -c ${q(probe)}` : '/bin/true';
      const sample = await h.timed('/bin/sh', ['-ec', seq.script(cgName, cmd)], seq.env ?? h.ENV, (pid) => {
        if (seq.nameFromPid) named.add((cgName = seq.nameFromPid(pid)));
      });
      if (seq.cgroup) {
        if (warmUp) checkProbe(seq.label, sample.stdout, cgName);
        const left = dirsOf(cgName);
        if (left.length) throw new Error(`${seq.label}: left ${left.join(' ')}`);
      }
      return sample;
    }),
  );
  const loadBefore = await h.loadAverage();
  const samples = new Map<string, h.Ran[]>();
  await h.rounds(samples, units, runs);

  const s = (key: string) => samples.get(key)!;
  const m = (key: string) => h.med(s(key));
  const rows = sequences.map((seq) => ({ label: seq.label, samples: s(seq.key) }));
  // Where cg-limit run's time goes, from when each --trace line reached us.
  const phaseNames = [
    'start → first `+ mkdir`: Node starts, loads cg-limit, parses the options and /proc/self/mountinfo',
    'create: mkdir ×6, cpuset.cpus/mems copied, 4 limit writes (first `+ mkdir` → last `+ echo`)',
    'the command: spawn `sh -c`, 6 cgroup.procs writes, exec /bin/true, wait; read the stats (→ the stats lines)',
    'remove and exit: check cgroup.procs, rmdir ×6, Node exits (→ exit)',
  ];
  const phasesOf = ({ lines, wallMs }: h.Ran): number[] => {
    const firstMkdir = lines.findIndex((l) => l.text.startsWith('+ mkdir '));
    const stats = lines.findIndex((l) => l.text.startsWith('cgroup run-'));
    if (firstMkdir < 0 || stats <= firstMkdir) throw new Error(`cg-limit --trace run: no "+ mkdir" and then "cgroup run-…" lines on stderr:\n${lines.map((l) => l.text).join('\n')}`);
    let lastWrite = stats - 1;
    while (lastWrite > firstMkdir && !lines[lastWrite]!.text.startsWith('+ echo ')) lastWrite--;
    const t = (i: number) => lines[i]!.ms;
    return [t(firstMkdir), t(lastWrite) - t(firstMkdir), t(stats) - t(lastWrite), wallMs - t(stats)];
  };
  const traced = s('cg-limit --trace run');
  const tracedPhases = traced.map(phasesOf);
  const phaseRows = [...phaseNames.map((label, i) => ({ label, samples: tracedPhases.map((p) => ({ wallMs: p[i]! })) })), { label: 'whole run', samples: traced }];
  const startShare = h.median(tracedPhases.map((p, i) => p[0]! / traced[i]!.wallMs));
  const dpkgVersion = (pkg: string) => run('dpkg-query', ['-W', '-f=${Version}', pkg]).then((t) => t.trim(), () => 'unknown');
  await h.writeResults({
    name: 'cgroup',
    title: 'cg-limit against cgroup-tools and a shell script: create a cgroup with limits, run /bin/true in it, remove it',
    options: `--runs ${runs}`,
    source: ['libs', 'tools/cg-limit'],
    versions: [`cgroup-tools ${await dpkgVersion('cgroup-tools')}`, `dash ${await dpkgVersion('dash')} as /bin/sh`],
    load: { before: loadBefore },
    about: [
      `Cgroup v1 hierarchies: ${[...v1].filter(([c]) => ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'blkio'].includes(c)).map(([c, p]) => `${c} ${p}`).join(', ')}.`,
      '',
      'Limits: memory 64 MiB, CPU 0.5 (cfs_quota_us 50000 / cfs_period_us 100000), pids 100. Sequences:',
      '',
      `- cg-limit, 3 processes: \`cg-limit create NAME ${LIMIT_ARGS.join(' ')}\`; \`cg-limit exec NAME -- /bin/true\`; \`cg-limit rm NAME\``,
      `- cg-limit, 1 process: \`cg-limit run ${LIMIT_ARGS.join(' ')} -- /bin/true\``,
      `- cgroup-tools: \`cgcreate -g memory,cpu,pids:NAME\`; \`cgset -r memory.limit_in_bytes=${MEMORY_BYTES} -r cpu.cfs_quota_us=${CPU_QUOTA} -r cpu.cfs_period_us=${CPU_PERIOD} -r pids.max=${PIDS_MAX} NAME\`; \`cgexec -g memory,cpu,pids:NAME /bin/true\`; ${oneCgdelete ? '`cgdelete -g memory,cpu,pids:NAME`' : '`cgdelete -g memory:NAME`; `cgdelete -g cpu:NAME`; `cgdelete -g pids:NAME`'}`,
      "- sh: `mkdir` of the three directories; four `echo`s; `sh -c 'echo $$ > …/cgroup.procs (×3); exec \"$@\"' sh /bin/true`; `rmdir` of the three",
      '- sh, cg-limit\'s steps: the script `cg-limit --dry-run run … -- /bin/true` prints (6 hierarchies, cpuset.cpus/mems copied with `cat`)',
    ],
    body: [
      `${runs} rounds after one warm-up round; every sequence once a round, the order rotated every round; wall clock of the whole sequence, spawned as one \`sh -ec\` from Node.`,
      '',
      ...h.markdown([...h.timeColumns('sequence'), h.ratioColumn('× sh script', () => s('sh')), h.ratioColumn('× cgroup-tools', () => s('cgroup-tools'))], rows),
      '',
      `- ratios are ratios of medians; "sh script" is the mkdir/echo row (${h.ms(m('sh'))} ms), "cgroup-tools" the cgcreate row (${h.ms(m('cgroup-tools'))} ms).`,
      `- cg-limit run: ${h.ms(m('cg-limit run'))} ms; the floors under it: node -e 0 ${h.ms(m('node'))} ms, cg-limit --version ${h.ms(m('--version'))} ms. The same steps as a shell script (its --dry-run script) take ${h.ms(m('sh (dry-run)'))} ms, the harness floor ${h.ms(m('true'))} ms.`,
      `- in cg-limit --trace run, the start (to the first mkdir) is a median ${(startShare * 100).toFixed(0)}% of the whole run (per-run shares; table below).`,
      `- cg-limit create + exec + rm: ${h.ms(m('cg-limit ×3'))} ms, ${h.ratio(m('cg-limit ×3') / m('--version'))}× one cg-limit --version: three Node starts.`,
      oneCgdelete
        ? '- cgroup-tools: `cgdelete -g memory,cpu,pids:NAME` removed all three directories.'
        : `- cgroup-tools: \`cgdelete -g memory,cpu,pids:NAME\` removed only the first controller's directory and exited 0 (it left ${cgdeleteLeft.map((d) => d.replace(toolsName, 'NAME')).join(', ')}); the row times one \`cgdelete -g C:NAME\` per controller instead.`,
      '',
      ...h.markdown(h.timeColumns('cg-limit --trace run, phase'), phaseRows),
    ],
    samples: h.sampleList(rows),
  });
}

await h.finish(main);
