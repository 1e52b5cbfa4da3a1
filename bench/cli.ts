/**
 * The read commands scripts run most, each against podman doing the same in the same run (issue 19): `ps
 * --format`, `inspect -f`, `images --format`, `logs`, `version --format`, and `attach` to a running
 * container until its first line, with one detached container of each engine up. As root, in a throwaway
 * network and mount namespace; see bench/README.md.
 */
import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { type Sample } from './harness.ts';
import { CGROUP_PARENT, cgroupParents, ContainersStore, CUTAWAY, CutawayStore, podmanContext, REF, setUpHost, wipe } from './podman.ts';

const TOOLS = ['cutaway', 'cutaway-shim', 'oci-pull', 'overlay-mount', 'cg-limit', 'ns-exec'] as const;
/** A container that says a line every 50 ms, after 100 lines of log. */
const TICKER = [REF, 'sh', '-c', 'seq 100; while :; do echo tick; sleep 0.05; done'];

const options = h.parseOptions(
  'cli',
  `ps --format, inspect -f, images --format, logs, version --format and attach (to the first line) against
podman (runc, --network none) in the same run, N rounds (default 15), podman's storage driver (default overlay).`,
  { runs: 15, driver: ['overlay', 'vfs'] },
);
const { runs, driver } = options;
await h.inThrowawayHost('overlay mounts, namespaces, cgroups and podman stores, in namespaces of their own');

type Key = `${'cw' | 'pm'}${'Ps' | 'Inspect' | 'Images' | 'Logs' | 'Version' | 'Attach'}` | 'node';

const ROWS: [string, Key, Key][] = [
  ["ps --format '{{.Names}}'", 'cwPs', 'pmPs'],
  ["inspect -f '{{.State.Pid}}' C", 'cwInspect', 'pmInspect'],
  ["images --format '{{.Repository}}:{{.Tag}}'", 'cwImages', 'pmImages'],
  ['logs C (100+ lines)', 'cwLogs', 'pmLogs'],
  ["version --format '{{.Client.Version}}'", 'cwVersion', 'pmVersion'],
  ['attach C | head -1', 'cwAttach', 'pmAttach'],
];

async function main(): Promise<void> {
  await h.need([h.GNU_TIME, 'podman', 'skopeo', 'runc', 'conmon'], 'apt-get install time podman skopeo runc conmon');
  await h.useTools(TOOLS, 'missing');
  await setUpHost();
  const work = await h.workDir('cw-bench-cli', '512m');
  const ctx = await podmanContext(work, h.ENV);
  const cw = new CutawayStore(join(work, 'cw'), ctx);
  const pm = new ContainersStore(join(work, 'pm'), driver, ctx);
  h.cleanups.push(async () => {
    for (const dir of cgroupParents()) await h.removeCgroup(dir);
  });
  h.cleanups.push(() => wipe(pm.dir), () => wipe(cw.root));
  h.cleanups.push(async () => {
    await run(CUTAWAY, ['rm', '-f', 'cwbench-ticker'], { env: cw.env }).catch(() => undefined);
    await pm.tearDown();
    await cw.tearDown();
  });
  await cw.pull();
  await pm.fresh();
  await run(CUTAWAY, ['run', '-d', '--name', 'cwbench-ticker', '--network', 'none', ...TICKER], { env: cw.env });
  await run('podman', pm.podman(['run', '-d', '--name', 'cwbench-ticker', '--network', 'none', '--cgroup-parent', `/${CGROUP_PARENT}`, ...TICKER]), { env: ctx.env });
  await h.sleep(500);

  const cutaway = (args: string[]) => h.measure(CUTAWAY, args, cw.env);
  const podman = (args: string[]) => h.measure('podman', pm.podman(args), ctx.env);
  const quoted = (words: string[]) => words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  /** `… attach C | head -1`: attach joins, the next line arrives, head ends the pipe and attach with it. */
  const attachFirstLine = (cmd: string[], env: NodeJS.ProcessEnv) => h.measure('sh', ['-c', `${quoted([...cmd, 'attach', '--no-stdin', 'cwbench-ticker'])} | head -1`], env);
  const checked = (what: string, expect: (out: string) => boolean) => (s: Sample) => {
    if (!expect(s.stdout)) throw new Error(`${what} printed ${JSON.stringify(s.stdout.slice(0, 200))}`);
    return s;
  };
  const both = (key: 'Ps' | 'Inspect' | 'Images' | 'Logs' | 'Version', args: string[], expect: (out: string) => boolean): h.Unit<Key>[] => [
    h.unit<Key>(`cw${key}`, async () => checked(`cutaway ${args[0]}`, expect)(await cutaway(args))),
    h.unit<Key>(`pm${key}`, async () => checked(`podman ${args[0]}`, expect)(await podman(args))),
  ];
  const units: h.Unit<Key>[] = [
    ...both('Ps', ['ps', '--format', '{{.Names}}'], (o) => o === 'cwbench-ticker\n'),
    ...both('Inspect', ['inspect', '-f', '{{.State.Pid}}', 'cwbench-ticker'], (o) => /^\d+\n$/.test(o)),
    ...both('Images', ['images', '--format', '{{.Repository}}:{{.Tag}}'], (o) => o.trim().split('\n').length === 1 && o.includes('busybox')),
    ...both('Logs', ['logs', 'cwbench-ticker'], (o) => o.startsWith('1\n2\n') && o.split('\n').length > 100),
    ...both('Version', ['version', '--format', '{{.Client.Version}}'], (o) => /^\S+\n$/.test(o)),
    h.unit('cwAttach', async () => checked('cutaway attach', (o) => o === 'tick\n')(await attachFirstLine([CUTAWAY], cw.env))),
    h.unit('pmAttach', async () => checked('podman attach', (o) => o === 'tick\n')(await attachFirstLine(['podman', ...pm.podman([])], ctx.env))),
    h.unit('node', () => h.measure('node', ['-e', '0'], h.ENV_NO_CA)),
  ];
  const samples = new Map<Key, Sample[]>();
  const loadBefore = await h.loadAverage();
  await h.rounds(samples, units, runs, { what: 'cli' });

  const s = (k: Key) => samples.get(k)!;
  const rows = ROWS.flatMap(([label, ours, theirs]) => [
    { label: `cutaway ${label}`, samples: s(ours), vs: s(theirs) },
    { label: `podman ${label}`, samples: s(theirs), vs: undefined },
  ]);
  const body = [
    `## Read commands, one detached container up (${runs} rounds, medians)`,
    '',
    ...h.table('command', [...rows, { label: 'node -e 0 (the floor of a Node start)', samples: s('node'), vs: undefined }], { ratios: [h.ratioColumn('vs podman', (r: h.Row & { vs?: Sample[] }) => r.vs)] }),
  ];
  await h.writeResults({
    name: 'cli',
    title: "cutaway's read commands against podman's",
    options: process.argv.slice(2).join(' '),
    source: [...TOOLS],
    versions: [await h.versionOf('podman'), await h.versionOf('runc')],
    load: { before: loadBefore },
    about: [
      `Each command runs in turn with its podman counterpart (runc, cgroupfs, ${driver} driver, --network none, events off), a warm-up round first; the container of each engine prints 100 lines, then one every 50 ms. attach: \`attach --no-stdin C | head -1\` — from the start of the command to the end of the pipe, so up to 50 ms is the wait for the next line, in both.`,
    ],
    body,
    samples: h.sampleList(rows),
  });
}

await h.finish(main);
