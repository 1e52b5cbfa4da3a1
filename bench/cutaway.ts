/**
 * cutaway build and cutaway run against buildah bud and podman run: the demo's build (examples/hello) with no
 * cache and cached, a three-step build, and `run --rm IMAGE true`, all from the busybox fixture image, in a
 * throwaway network and mount namespace. As root; see bench/README.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { BIN, median, ms, ratio, type Sample } from './harness.ts';
import { CGROUP_PARENT, cgroupParents, ContainersStore, CUTAWAY, CutawayStore, podmanContext, PREFIX, REF, setUpHost, wipe } from './podman.ts';

/** bin/cutaway and the tools it runs here (it finds them in bin/). */
const TOOLS = ['cutaway', 'oci-pull', 'overlay-mount', 'netbridge', 'ns-exec', 'layer-commit'] as const;
const HELLO = join(h.REPO_DIR, 'examples', 'hello');
const HELLO_TAG = 'cwbench/hello:latest';
const THREE_TAG = 'cwbench/three:latest';
/** cutaway names `-t cwbench/hello` as Docker does; buildah as localhost/… */
const CW_HELLO = `docker.io/${HELLO_TAG}`;
const BH_HELLO = `localhost/${HELLO_TAG}`;
const THREE_STEP = ['FROM cutaway.test/busybox:latest', "RUN echo 'made by RUN' > /built.txt", 'COPY file.txt /srv/file.txt', 'CMD ["cat", "/srv/file.txt"]', ''].join('\n');
/** What the demo image prints when run (its CMD): the lines that show the build did its work. */
const HELLO_EXPECT = ['Hello from a container that cutaway built', 'I am app on ', 'primes made at build time: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47', 'built with LIMIT=50', 'data files: one.txt two.txt'];

const options = h.parseOptions(
  'cutaway',
  'cutaway build (examples/hello with no cache and cached, a three-step Dockerfile) against buildah bud (--layers and plain), and cutaway run --rm IMAGE true (bridge and --network none) against podman run --rm --runtime runc (--network none, and its default CNI bridge), with the busybox fixture as the base; in a throwaway network and mount namespace, on a tmpfs. --runs N sets both phases\' rounds (defaults: 7 build rounds, 15 run rounds).',
  { runs: 0, 'build-runs': 0, 'run-runs': 0 },
);
const buildRuns = options['build-runs'] || options.runs || 7;
const runRuns = options['run-runs'] || options.runs || 15;
await h.inThrowawayHost('overlay mounts, namespaces, bridges and nft tables, buildah and podman stores, in namespaces of their own');

/** Runs `cmd args` (sync first, as h.measure does), each line of its stderr stamped on arrival. */
async function traced(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<h.Ran> {
  await run('sync', []);
  return h.timed(cmd, args, env);
}

/** The phases of a `cutaway run --trace --rm`: boundaries at its `+ tool` lines, in this order. */
function runPhases(t: h.Ran, bridge: boolean): number[] {
  // The tool command lines; each tool's own steps follow, labelled `# TOOL`, and its notes are `+ # …` lines.
  const tools = t.lines.filter((l) => l.text.startsWith('+ ') && !l.text.startsWith('+ # ') && !/ {2}# [\w-]+$/.test(l.text));
  // All three are done in cutaway's own process (issue 22): netbridge up first, then cg-limit and overlay-mount
  // while it works; the teardown likewise.
  const up = [...(bridge ? [/^\+ netbridge up /] : []), /^\+ cg-limit create /, /^\+ overlay-mount -q /, /^\+ ns-exec /];
  const down = [...(bridge ? [/^\+ netbridge down /] : []), /^\+ cg-limit rm /, /^\+ overlay-mount --unmount /];
  const expected = [...up, ...down];
  if (tools.length !== expected.length || !expected.every((re, i) => re.test(tools[i]!.text))) throw new Error(`cutaway run --trace: unexpected tool lines:\n${tools.map((l) => l.text).join('\n')}`);
  const marks = [0, ...tools.map((l) => l.ms), t.wallMs];
  return marks.slice(1).map((m, i) => m - marks[i]!);
}

/** What a line of `cutaway build --trace` starts; the time to the next line is billed to it. */
function buildCategory(text: string): string {
  const label = / {2}# ([\w-]+)$/.exec(text)?.[1];
  if (label) return `${label}'s own steps (traced)`;
  if (!text.startsWith('+ ')) return 'cutaway itself: Node, the bundle, the Dockerfile, the cache lookups, step logging';
  const [, tool = '', ...rest] = text.split(' ');
  if (tool === 'layer-commit') return rest.includes('--empty') ? 'layer-commit --empty --change (a metadata step: WORKDIR, ENV, LABEL, EXPOSE, USER, CMD)' : 'layer-commit of a layer (the two COPYs, the RUN)';
  if (tool === 'overlay-mount') {
    if (rest.includes('--unmount')) return 'overlay-mount --unmount --rm (of each mount above)';
    return rest.includes('--read-only') ? "overlay-mount --read-only (a COPY's view of the image, for the directories on the way)" : "overlay-mount (the RUN's container)";
  }
  if (tool === 'netbridge') return rest[0] === 'up' ? 'netbridge up (first use: makes cw0 and the table), then ns-exec runs the RUN command (untraced)' : 'netbridge down (the last endpoint: removes cw0 and the table)';
  return tool;
}

function buildBreakdown(t: h.Ran): Map<string, { ms: number; count: number }> {
  const out = new Map<string, { ms: number; count: number }>();
  const add = (k: string, v: number, counted: boolean) => {
    const e = out.get(k) ?? { ms: 0, count: 0 };
    e.ms += v;
    if (counted) e.count++;
    out.set(k, e);
  };
  const own = buildCategory('');
  add(own, t.lines[0]?.ms ?? t.wallMs, false);
  t.lines.forEach((l, i) => {
    const next = t.lines[i + 1]?.ms ?? t.wallMs;
    add(buildCategory(l.text), next - l.ms, l.text.startsWith('+ '));
  });
  return out;
}

// ─── Main ────────────────────────────────────────────────────────────────────

type BuildKey = 'cwHello' | 'cwHelloHost' | 'cwHelloCached' | 'bhHello' | 'bhHelloCached' | 'bhPlainHello' | 'cwThree' | 'bhPlainThree' | 'bhThree';
type RunKey = 'cwBridge' | 'cwBridgeSteady' | 'cwNone' | 'podmanVfs' | 'podmanBridge' | 'podmanOverlay' | 'mount' | 'nsExec' | 'unmount' | 'nbUp' | 'nbDown' | 'version' | 'node';

async function main(): Promise<void> {
  await h.need([h.GNU_TIME, 'buildah', 'podman', 'skopeo', 'runc', 'conmon', 'nft', 'ip', 'unshare'], 'apt-get install time buildah podman skopeo runc conmon nftables iproute2');
  await h.useTools(TOOLS, 'missing');
  await setUpHost();
  const work = await h.workDir('cw-bench-cutaway', '2g');
  const ctx = await podmanContext(work, h.ENV);
  const helloCtx = join(work, 'ctx-hello');
  const threeCtx = join(work, 'ctx-three');
  await cp(HELLO, helloCtx, { recursive: true, preserveTimestamps: true });
  await mkdir(threeCtx);
  await writeFile(join(threeCtx, 'Dockerfile'), THREE_STEP);
  await writeFile(join(threeCtx, 'file.txt'), 'copied by COPY\n');
  h.log(`examples/hello copied to ${helloCtx}; the three-step Dockerfile in ${threeCtx}`);

  const cwBuild = new CutawayStore(join(work, 'cw-build'), ctx);
  const bhBuild = new ContainersStore(join(work, 'bh'), 'vfs', ctx);
  const cwRun = new CutawayStore(join(work, 'cw-run'), ctx);
  const pmVfs = new ContainersStore(join(work, 'pv'), 'vfs', ctx);
  const pmOverlay = new ContainersStore(join(work, 'po'), 'overlay', ctx);
  const memoryCgroups = () => (existsSync('/sys/fs/cgroup/memory') ? readdirSync('/sys/fs/cgroup/memory') : []);
  const cgroupsBefore = new Set(memoryCgroups());
  h.cleanups.push(async () => {
    for (const s of [cwBuild, cwRun]) await s.tearDown();
    for (const s of [bhBuild, pmVfs, pmOverlay]) await s.tearDown();
    for (const s of [cwBuild, cwRun]) await wipe(s.root);
    for (const s of [bhBuild, pmVfs, pmOverlay]) await wipe(s.dir);
    // /run/netns is our tmpfs: whatever is in it is a namespace of ours (a container's, a RUN's, the resident endpoint's).
    for (const ns of h.netnsNames()) await run('ip', ['netns', 'del', ns]).then(() => h.log(`cleanup: ip netns del ${ns}`));
    for (const dir of cgroupParents()) await h.removeCgroup(dir);
  });

  const measure = h.measure;
  const cutaway = (store: CutawayStore, args: string[]) => measure(CUTAWAY, args, store.env);
  const buildah = (store: ContainersStore, args: string[]) => measure('buildah', store.buildah(args), ctx.env);
  const BUD = ['bud', '--isolation', 'chroot', '--network', 'host', '-q'];
  const facts: Record<string, string> = {};

  /** Runs an image of a buildah store with podman (warm-up only) and returns what it printed. */
  const podmanRunOutput = async (store: ContainersStore, ref: string) =>
    run('podman', store.podman(['run', '--rm', '--network', 'none', '--cgroup-parent', `/${CGROUP_PARENT}`, ref]), { env: ctx.env });
  const checkHello = (who: string, out: string) => {
    const missing = HELLO_EXPECT.filter((l) => !out.includes(l));
    if (missing.length) throw new Error(`${who}: the demo image does not print ${missing.map((m) => JSON.stringify(m)).join(', ')}; it printed:\n${out}`);
  };
  const buildahLayers = async (store: ContainersStore, ref: string) => Number((await run('buildah', store.buildah(['inspect', '--type', 'image', '--format', '{{len .OCIv1.RootFS.DiffIDs}}', ref]), { env: ctx.env })).trim());

  // ─── The build units ───────────────────────────────────────────────────────
  const buildTraces: h.Ran[] = [];
  const buildUnits: h.Unit<BuildKey>[] = [
    {
      async run(warmUp) {
        await cwBuild.fresh();
        const cold = await cutaway(cwBuild, ['build', '-q', '--no-cache', '-t', HELLO_TAG, helloCtx]);
        const cached = await cutaway(cwBuild, ['build', '-q', '-t', HELLO_TAG, helloCtx]);
        if (cold.stdout.trim() !== cached.stdout.trim()) throw new Error(`cutaway's cached rebuild gave another image: ${cached.stdout.trim()}, not ${cold.stdout.trim()}`);
        if (warmUp) {
          const out = await run(CUTAWAY, ['run', '--rm', '--network', 'none', HELLO_TAG], { env: cwBuild.env });
          checkHello('cutaway', out);
          facts.cwHelloLayers = String(await cwBuild.layerCount(CW_HELLO));
        }
        return [['cwHello', cold], ['cwHelloCached', cached]];
      },
    },
    h.unit('cwHelloHost', async () => {
      await cwBuild.fresh();
      return cutaway(cwBuild, ['build', '-q', '--no-cache', '--network', 'host', '-t', HELLO_TAG, helloCtx]);
    }),
    {
      async run(warmUp) {
        await bhBuild.fresh();
        const cold = await buildah(bhBuild, [...BUD, '--layers', '--no-cache', '-t', HELLO_TAG, helloCtx]);
        const cached = await buildah(bhBuild, [...BUD, '--layers', '-t', HELLO_TAG, helloCtx]);
        if (cold.stdout.trim().split('\n').pop() !== cached.stdout.trim().split('\n').pop()) throw new Error(`buildah's cached rebuild gave another image: ${cached.stdout.trim()}, not ${cold.stdout.trim()}`);
        if (warmUp) {
          checkHello('buildah bud --layers', await podmanRunOutput(bhBuild, BH_HELLO));
          facts.bhHelloLayers = String(await buildahLayers(bhBuild, BH_HELLO));
        }
        return [['bhHello', cold], ['bhHelloCached', cached]];
      },
    },
    {
      async run(warmUp) {
        await bhBuild.fresh();
        const sample = await buildah(bhBuild, [...BUD, '-t', HELLO_TAG, helloCtx]);
        if (warmUp) {
          checkHello('buildah bud', await podmanRunOutput(bhBuild, BH_HELLO));
          facts.bhPlainHelloLayers = String(await buildahLayers(bhBuild, BH_HELLO));
        }
        return [['bhPlainHello', sample]];
      },
    },
    {
      async run(warmUp) {
        await cwBuild.fresh();
        const sample = await cutaway(cwBuild, ['build', '-q', '--no-cache', '-t', THREE_TAG, threeCtx]);
        if (warmUp) {
          const out = await run(CUTAWAY, ['run', '--rm', '--network', 'none', THREE_TAG], { env: cwBuild.env });
          if (out !== 'copied by COPY\n') throw new Error(`cutaway's three-step image printed ${JSON.stringify(out)}`);
          const built = await run(CUTAWAY, ['run', '--rm', '--network', 'none', THREE_TAG, 'cat', '/built.txt'], { env: cwBuild.env });
          if (built !== 'made by RUN\n') throw new Error(`cutaway's three-step image has /built.txt ${JSON.stringify(built)}`);
        }
        return [['cwThree', sample]];
      },
    },
    h.unit('bhPlainThree', async () => {
      await bhBuild.fresh();
      return buildah(bhBuild, [...BUD, '-t', THREE_TAG, threeCtx]);
    }),
    h.unit('bhThree', async () => {
      await bhBuild.fresh();
      return buildah(bhBuild, [...BUD, '--layers', '--no-cache', '-t', THREE_TAG, threeCtx]);
    }),
    {
      async run(warmUp) {
        await cwBuild.fresh();
        const t = await traced(CUTAWAY, ['build', '--trace', '--no-cache', '-t', HELLO_TAG, helloCtx], cwBuild.env);
        if (!warmUp) buildTraces.push(t);
        return [];
      },
    },
  ];

  // ─── The run units ─────────────────────────────────────────────────────────
  const runTraces = { bridge: [] as number[][], none: [] as number[][] };
  const files = join(work, 'etc');
  await mkdir(files);
  await writeFile(join(files, 'hostname'), 'cwbench\n');
  await writeFile(join(files, 'hosts'), '127.0.0.1\tlocalhost\n');
  await writeFile(join(files, 'resolv.conf'), 'nameserver 8.8.8.8\n');
  const podmanRun = (store: ContainersStore, network = 'none') => measure('podman', store.podman(['run', '--rm', '--network', network, '--cgroup-parent', `/${CGROUP_PARENT}`, REF, 'true']), ctx.env);
  let serial = 0;
  const runUnits: h.Unit<RunKey>[] = [
    h.unit('cwBridge', () => cutaway(cwRun, ['run', '--rm', REF, 'true'])),
    {
      async run() {
        const resident = `${PREFIX}res`;
        await run(join(BIN, 'netbridge'), ['up', resident], { env: cwRun.env });
        try {
          return [['cwBridgeSteady', await cutaway(cwRun, ['run', '--rm', REF, 'true'])]];
        } finally {
          await run(join(BIN, 'netbridge'), ['down', resident], { env: cwRun.env });
        }
      },
    },
    h.unit('cwNone', () => cutaway(cwRun, ['run', '--rm', '--network', 'none', REF, 'true'])),
    h.unit('podmanVfs', () => podmanRun(pmVfs)),
    // podman's own default network (CNI bridge + host-local IPAM + firewall), in the bench's throwaway network namespace.
    h.unit('podmanBridge', () => podmanRun(pmVfs, 'bridge')),
    h.unit('podmanOverlay', () => podmanRun(pmOverlay)),
    ...(['bridge', 'none'] as const).map((net) => ({
      async run(warmUp: boolean): Promise<[RunKey, Sample][]> {
        const phases = runPhases(await traced(CUTAWAY, ['run', '--trace', '--rm', ...(net === 'none' ? ['--network', 'none'] : []), REF, 'true'], cwRun.env), net === 'bridge');
        if (!warmUp) runTraces[net].push(phases);
        return [];
      },
    })),
    {
      async run(warmUp) {
        const name = `${PREFIX}part${++serial}`;
        const mount = await measure(join(BIN, 'overlay-mount'), ['-q', REF, '--name', name], cwRun.env);
        const merged = mount.stdout.trim();
        const probe = warmUp ? ['/bin/sh', '-c', 'echo $$'] : ['/bin/true'];
        const nsExec = await measure(join(BIN, 'ns-exec'), [
          '--rootfs', merged, '--hostname', 'cwbench', '--pid-file', join(work, 'ns-exec.pid'),
          '-v', `${join(files, 'hostname')}:/etc/hostname`, '-v', `${join(files, 'hosts')}:/etc/hosts`, '-v', `${join(files, 'resolv.conf')}:/etc/resolv.conf`,
          '--net', 'none', '-e', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--', ...probe,
        ], cwRun.env);
        if (warmUp && nsExec.stdout !== '1\n') throw new Error(`ns-exec: sh -c 'echo $$' printed ${JSON.stringify(nsExec.stdout)}, not 1`);
        const unmount = await measure(join(BIN, 'overlay-mount'), ['--unmount', name, '--rm'], cwRun.env);
        return [['mount', mount], ['nsExec', nsExec], ['unmount', unmount]];
      },
    },
    {
      async run() {
        const name = `${PREFIX}nb${++serial}`;
        const up = await measure(join(BIN, 'netbridge'), ['up', '--json', name], cwRun.env);
        const down = await measure(join(BIN, 'netbridge'), ['down', name], cwRun.env);
        return [['nbUp', up], ['nbDown', down]];
      },
    },
    {
      async run() {
        const version = await cutaway(cwRun, ['run', '--version']);
        const node = await measure('node', ['-e', '0'], h.ENV_NO_CA);
        return [['version', version], ['node', node]];
      },
    },
  ];

  /** After every run round: no container, mount, endpoint, namespace, link or nft table of cutaway's, no podman container. */
  const checkClean = async () => {
    const problems: string[] = [];
    if (cwRun.containers().length) problems.push(`cutaway containers: ${cwRun.containers().join(' ')}`);
    const mounts = await h.mountsUnder(cwRun.root);
    if (mounts.length) problems.push(`mounts: ${mounts.join(' ')}`);
    if (h.netnsNames().length) problems.push(`network namespaces: ${h.netnsNames().join(' ')}`);
    // podman keeps its default network's bridge and its iptables (nft) tables, as Docker keeps docker0: those stay.
    const cw = h.links().filter((l) => l !== 'lo' && l !== 'cni-podman0');
    if (cw.length) problems.push(`interfaces: ${cw.join(' ')}`);
    const tables = (await run('nft', ['list', 'tables'])).split('\n').filter((t) => /^table \w+ cw/.test(t));
    if (tables.length) problems.push(`nft tables: ${tables.join(' ')}`);
    for (const s of [pmVfs, pmOverlay]) {
      const left = await s.podmanContainers();
      if (left.length) problems.push(`podman (${s.driver}) containers: ${left.join(' ')}`);
    }
    if (problems.length) throw new Error(`after a round, something is left:\n  ${problems.join('\n  ')}`);
  };
  // ─── Builds, then runs ─────────────────────────────────────────────────────
  const loadBefore = await h.loadAverage();
  const buildSamples = new Map<BuildKey, Sample[]>();
  const runSamples = new Map<RunKey, Sample[]>();
  h.log('builds: in the warm-up round each image is run and must print what it should');
  await h.rounds(buildSamples, buildUnits, buildRuns, { what: 'build', inSeconds: true });
  await wipe(cwBuild.root);
  await wipe(bhBuild.dir);
  await cwRun.pull();
  await pmVfs.fresh();
  await pmOverlay.fresh();
  const loadMid = await h.loadAverage();
  h.log("runs: in the warm-up round ns-exec's probe must be PID 1");
  await h.rounds(runSamples, runUnits, runRuns, { what: 'run', after: checkClean });
  const cgroupsLeft = cgroupParents();
  const cgroupsOther = memoryCgroups().filter((d) => !cgroupsBefore.has(d) && d !== CGROUP_PARENT);

  // ─── The report ────────────────────────────────────────────────────────────
  const b = (k: BuildKey) => buildSamples.get(k)!;
  const r = (k: RunKey) => runSamples.get(k)!;
  const m = h.med;
  type BuildLine = h.Row & { layers?: Sample[]; plain?: Sample[] };
  const buildLines: BuildLine[] = [
    { label: 'hello, no cache — `cutaway build --no-cache`', samples: b('cwHello'), layers: b('bhHello'), plain: b('bhPlainHello') },
    { label: "hello, no cache — `cutaway build --no-cache --network host` (RUN in the host's network namespace, as buildah's chroot RUN)", samples: b('cwHelloHost'), layers: b('bhHello'), plain: b('bhPlainHello') },
    { label: 'hello, no cache — `buildah bud --layers --no-cache`', samples: b('bhHello'), layers: b('bhHello') },
    { label: 'hello, no cache — `buildah bud` (plain: one new layer)', samples: b('bhPlainHello'), plain: b('bhPlainHello') },
    { label: 'hello, cached rebuild — `cutaway build`', samples: b('cwHelloCached'), layers: b('bhHelloCached') },
    { label: 'hello, cached rebuild — `buildah bud --layers`', samples: b('bhHelloCached'), layers: b('bhHelloCached') },
    { label: 'three-step — `cutaway build --no-cache`', samples: b('cwThree'), layers: b('bhThree'), plain: b('bhPlainThree') },
    { label: 'three-step — `buildah bud --layers --no-cache`', samples: b('bhThree'), layers: b('bhThree') },
    { label: 'three-step — `buildah bud` (plain)', samples: b('bhPlainThree'), plain: b('bhPlainThree') },
  ];
  type RunLine = h.Row & { compared?: boolean };
  const runLines: RunLine[] = [
    { label: '`cutaway run --rm IMAGE true` (default bridge; no other endpoint, so netbridge makes and removes cw0 and its table)', samples: r('cwBridge'), compared: true },
    { label: '`cutaway run --rm IMAGE true` (default bridge; another endpoint holds cw0)', samples: r('cwBridgeSteady'), compared: true },
    { label: '`cutaway run --rm --network none IMAGE true`', samples: r('cwNone'), compared: true },
    { label: '`podman run --rm --runtime runc --network none IMAGE true` (vfs: the reference)', samples: r('podmanVfs'), compared: true },
    { label: '`podman run …` the same, overlay driver', samples: r('podmanOverlay'), compared: true },
    { label: '`podman run --rm --runtime runc IMAGE true` (vfs, its default bridge network: CNI)', samples: r('podmanBridge'), compared: true },
    { label: 'part: `overlay-mount -q IMAGE --name N`', samples: r('mount') },
    { label: "part: `ns-exec --rootfs MERGED … --net none -- /bin/true` (cutaway run's options)", samples: r('nsExec') },
    { label: 'part: `overlay-mount --unmount N --rm`', samples: r('unmount') },
    { label: 'part: `netbridge up --json N` (first use: makes cw0 and table ip cw)', samples: r('nbUp') },
    { label: 'part: `netbridge down N` (the last endpoint: removes them)', samples: r('nbDown') },
    { label: 'floor: `cutaway run --version` (Node + the bundle)', samples: r('version') },
    { label: `floor: \`node -e 0\`${h.ENV.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, samples: r('node') },
  ];

  type Phase = h.Row<{ wallMs: number }> & { net: string };
  const phases = (net: string, names: string[], traces: number[][]): Phase[] => [
    ...names.map((label, i) => ({ net, label, samples: traces.map((t) => ({ wallMs: t[i]! })) })),
    { net, label: 'whole run', samples: traces.map((t) => ({ wallMs: t.reduce((a, v) => a + v, 0) })) },
  ];
  const phaseRows = [
    ...phases('bridge', [
      "start → `+ netbridge up`: Node, the bundle, the options, the image looked up, the container's id, dir, config and state",
      "netbridge up, in cutaway's process (its `ip` and `nft` commands)",
      "cg-limit create, in cutaway's process",
      "overlay-mount, in cutaway's process; waiting for netbridge up; the /etc files; ns-exec's plan, in cutaway's process",
      'ns-exec runs /bin/true',
      "netbridge down, in cutaway's process (its `ip` and `nft` commands)",
      "cg-limit rm --force, in cutaway's process",
      "overlay-mount --unmount --rm in cutaway's process, waiting for netbridge down, the container dir removed, exit",
    ], runTraces.bridge),
    ...phases('none', [
      'start → `+ cg-limit create`',
      "cg-limit create, in cutaway's process",
      "overlay-mount, in cutaway's process; the /etc files; ns-exec's plan, in cutaway's process",
      'ns-exec runs /bin/true',
      "cg-limit rm --force, in cutaway's process",
      "overlay-mount --unmount --rm in cutaway's process, the container dir removed, exit",
    ], runTraces.none),
  ];

  const breakdowns = buildTraces.map(buildBreakdown);
  const categories = [...new Set(breakdowns.flatMap((x) => [...x.keys()]))];
  const buildWall = m(buildTraces);
  const buildTraceTable = [
    '| cutaway build --trace --no-cache of examples/hello: billed to | tool runs per build | median ms per build | min ms | max ms | share of the median build |',
    '|---|---:|---:|---:|---:|---:|',
    ...categories.map((c) => {
      const xs = breakdowns.map((x) => x.get(c)?.ms ?? 0);
      const count = median(breakdowns.map((x) => x.get(c)?.count ?? 0));
      return `| ${c} | ${count || ''} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${((median(xs) / buildWall) * 100).toFixed(0)}% |`;
    }),
    `| the whole build (its own spawn to exit) | ${median(breakdowns.map((x) => [...x.values()].reduce((a, e) => a + e.count, 0)))} | ${ms(buildWall)} | ${ms(Math.min(...h.walls(buildTraces)))} | ${ms(Math.max(...h.walls(buildTraces)))} | 100% |`,
  ];

  const mark = (v: number) => `**${ratio(v)}**, target ≤ 1.00 ${h.mark(v <= 1)}`;
  const shebang = readFileSync(CUTAWAY, 'utf8').split('\n', 1)[0] ?? '';
  await h.writeResults({
    name: 'cutaway',
    title: 'cutaway build and cutaway run against buildah bud and podman run',
    options: `--build-runs ${buildRuns} --run-runs ${runRuns}`,
    source: ['libs', 'tools', 'scripts/build.ts'],
    versions: [await h.versionOf('buildah'), await h.versionOf('podman'), await h.versionOf('skopeo'), await h.versionOf('runc'), await h.versionOf('conmon')],
    load: { 'before the builds': loadBefore, 'before the runs': loadMid },
    about: [
      `bin/cutaway's shebang ${/-u NODE_EXTRA_CA_CERTS/.test(shebang) ? 'unsets' : 'does not unset'} NODE_EXTRA_CA_CERTS.`,
      '',
      `Base image: \`${REF}\` (test/fixtures/images.ts, one layer) from one OCI layout. buildah: \`buildah --root R --runroot RR --storage-driver vfs bud --isolation chroot --network host -q [--layers] [--no-cache] -t TAG CTX\` (with chroot isolation buildah takes no network but the host's, here the bench's throwaway namespace; its RUN gets no network or pid namespace of its own, where cutaway's RUN gets a container on the bridge). cutaway: \`cutaway build -q [--no-cache] -t TAG CTX\`. podman: \`podman --root R --runroot RR --storage-driver vfs|overlay --tmpdir T --runtime runc --cgroup-manager cgroupfs --events-backend none --network-config-dir C run --rm --network none --cgroup-parent /${CGROUP_PARENT} ${REF} true\`; CONTAINERS_CONF: runc, cgroupfs, default_ulimits nofile 20000 / nproc 32768.`,
      '',
      `Afterwards: cgroups of ours left ${cgroupsLeft.length ? `in ${cgroupsLeft.length} hierarchies (/${CGROUP_PARENT}: podman's conmon cgroup; removed by the cleanup)` : 'none'}; other new top-level memory cgroups: ${cgroupsOther.length ? cgroupsOther.join(' ') : 'none'}.`,
    ],
    body: [
      `Builds: ${buildRuns} rounds after one warm-up round; runs: ${runRuns} rounds after one warm-up round. Every unit once a round, the order rotated every round; each command under GNU time (\`sync\` before each), wall clock from the spawn to the exit. Build stores fresh for every unit (only the base image in them, its layer unpacked); run stores made once.`,
      '',
      '### Builds',
      '',
      ...h.table('build', buildLines, { inSeconds: true, ratios: [h.ratioColumn('× buildah --layers', (l: BuildLine) => l.layers), h.ratioColumn('× buildah (plain)', (l: BuildLine) => l.plain)] }),
      '',
      '### Runs',
      '',
      ...h.table('run', runLines, { ratios: [h.ratioColumn('× podman (vfs)', (l: RunLine) => (l.compared ? r('podmanVfs') : undefined)), h.ratioColumn('× podman (overlay)', (l: RunLine) => (l.compared ? r('podmanOverlay') : undefined))] }),
      '',
      `- **hello, no cache**: cutaway / \`buildah bud --layers --no-cache\` ${mark(m(b('cwHello')) / m(b('bhHello')))}; cutaway / plain \`buildah bud\` ${mark(m(b('cwHello')) / m(b('bhPlainHello')))}. With RUN on the host's network, as buildah's: ${ratio(m(b('cwHelloHost')) / m(b('bhHello')))} and ${ratio(m(b('cwHelloHost')) / m(b('bhPlainHello')))} (the bridge costs ${ms(m(b('cwHello')) - m(b('cwHelloHost')))} ms a build). Layers in the image: cutaway ${facts.cwHelloLayers}, buildah --layers ${facts.bhHelloLayers}, plain buildah ${facts.bhPlainHelloLayers} (the base's one included).`,
      `- **hello, cached rebuild**: cutaway / \`buildah bud --layers\` ${mark(m(b('cwHelloCached')) / m(b('bhHelloCached')))} (${ms(m(b('cwHelloCached')))} against ${ms(m(b('bhHelloCached')))} ms); both gave the same image as the build before.`,
      `- **three-step**: cutaway / plain \`buildah bud\` ${mark(m(b('cwThree')) / m(b('bhPlainThree')))} (buildah ${ms(m(b('bhPlainThree')))} ms here; notes/machine.md has ~650 ms); cutaway / \`buildah bud --layers --no-cache\` ${mark(m(b('cwThree')) / m(b('bhThree')))}.`,
      `- **run --rm**: like for like (both \`--network none\`), cutaway / podman (vfs) ${mark(m(r('cwNone')) / m(r('podmanVfs')))}, / podman (overlay) ${ratio(m(r('cwNone')) / m(r('podmanOverlay')))}. Both on their default bridge network: cutaway / podman (vfs, CNI bridge) ${mark(m(r('cwBridge')) / m(r('podmanBridge')))} alone on the host (cutaway makes and removes cw0 and its nft table each time; podman keeps its bridge), ${mark(m(r('cwBridgeSteady')) / m(r('podmanBridge')))} with another endpoint holding cw0; against podman's none, ${ratio(m(r('cwBridge')) / m(r('podmanVfs')))} and ${ratio(m(r('cwBridgeSteady')) / m(r('podmanVfs')))}.`,
      `- **netbridge's share of a lone \`cutaway run --rm\`**: ${ms(m(r('cwBridge')) - m(r('cwNone')))} ms (bridge − none, medians); with another endpoint up, ${ms(m(r('cwBridgeSteady')) - m(r('cwNone')))} ms. Alone, \`netbridge up\` + \`down\` take ${ms(m(r('nbUp')) + m(r('nbDown')))} ms.`,
      `- **the parts**: overlay-mount ${ms(m(r('mount')))} + ns-exec ${ms(m(r('nsExec')))} + unmount ${ms(m(r('unmount')))} = ${ms(m(r('mount')) + m(r('nsExec')) + m(r('unmount')))} ms run alone, against ${ms(m(r('cwNone')))} ms for \`cutaway run --rm --network none\`; \`cutaway run --version\` ${ms(m(r('version')))} ms and \`node -e 0\` ${ms(m(r('node')))} ms. Run alone, each tool is a Node process of its own (ns-exec: a C program that runs a Node planner once); within \`cutaway run\` the Node tools' steps are done by their own code in cutaway's process and ns-exec gets its plan in a file, so a \`cutaway run --rm\` starts Node once, on the bridge too.`,
      '',
      '### Where the time goes',
      '',
      ...h.markdown([{ head: 'cutaway run --trace --rm IMAGE true', cell: (p: Phase) => p.net }, ...h.timeColumns<Phase>('phase (from one `+ tool` line to the next, stamped on arrival)')], phaseRows),
      '',
      ...buildTraceTable,
    ],
    samples: [...h.sampleList(buildLines, true), '', ...h.sampleList(runLines)],
  });
}

await h.finish(main);
