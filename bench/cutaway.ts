/**
 * cutaway build and cutaway run against buildah bud and podman run: the demo's build (examples/hello) with no
 * cache and cached, a three-step build, and `run --rm IMAGE true`, all from the busybox fixture image.
 *
 *   pnpm exec tsx bench/cutaway.ts [--runs N] [--build-runs N] [--run-runs N]   (defaults 7 and 15; as root)
 *
 * Two phases, each N rounds after one warm-up round that is not counted; every unit once a round, the units'
 * order rotated every round (round i starts with the i-th); each timed command under GNU time (h.measure: wall
 * clock from the spawn to the exit, peak RSS, CPU; `sync` first).
 *
 * Builds (--build-runs, default 7). Every unit starts from a fresh store holding only the base image,
 * cutaway.test/busybox:latest from one OCI layout (test/fixtures/images.ts), made untimed: for cutaway
 * `oci-pull oci:LAYOUT:REF` into a fresh CUTAWAY_ROOT and one overlay-mount + unmount of it, so its layer is
 * unpacked as containers-storage's always is; for buildah `skopeo copy oci:LAYOUT:REF
 * containers-storage:[vfs@ROOT+RUNROOT]REF`. buildah runs as `buildah --root R --runroot RR --storage-driver vfs
 * bud --isolation chroot --network host -q` (chroot isolation accepts no other network: its RUN shares the
 * host's network namespace, here the bench's throwaway one). The units:
 *
 * - examples/hello (a copy on the tmpfs): `cutaway build -q --no-cache -t TAG CTX`, then the same without
 *   --no-cache (the cached rebuild); `buildah bud --layers --no-cache` (an image per step, as cutaway and
 *   Docker make them), then `buildah bud --layers` (its cache); plain `buildah bud` (no --layers: every step
 *   in one container, committed once as one new layer on the base); and `cutaway build -q --no-cache --network
 *   host` (its RUN in the host's network namespace, as buildah's chroot RUN: netbridge's share of a build);
 * - a three-step Dockerfile (FROM the fixture; RUN; COPY; CMD), notes/machine.md's reference figure:
 *   `cutaway build -q --no-cache`, plain `buildah bud`, `buildah bud --layers --no-cache`;
 * - `cutaway build --trace --no-cache` of examples/hello, not compared: its `+ tool …` lines stamped on arrival
 *   give where the time goes.
 *
 * Runs (--run-runs, default 15), in stores made once: cutaway's (the fixture pulled with oci-pull), podman's
 * with the vfs driver (the reference) and with the overlay driver (skopeo copy, as above). podman runs as
 * `podman --root R --runroot RR --storage-driver D --tmpdir T --runtime runc --cgroup-manager cgroupfs
 * --events-backend none --network-config-dir C run --rm --network none --cgroup-parent /cwbench-PID REF true`,
 * with CONTAINERS_CONF a file of ours (runc, cgroupfs, default_ulimits within this machine's hard limits,
 * image_copy_tmp_dir on the tmpfs). The units: `cutaway run --rm REF true` on the default bridge network, with
 * no other endpoint (netbridge makes cw0 and its nft table, and takes them down again) and with another
 * endpoint holding cw0; `cutaway run --rm --network none REF true`; the two podman runs; `cutaway run --trace`
 * (bridge and none), stamped; the parts alone: `overlay-mount -q REF --name N`, `ns-exec` of /bin/true on it
 * (with the options cutaway run gives it), `overlay-mount --unmount N --rm`, `netbridge up --json N` and
 * `netbridge down N` (first use and last endpoint, as in a lone `cutaway run`); and the floors
 * `cutaway run --version` and `node -e 0` (NODE_EXTRA_CA_CERTS unset, as bin/cutaway's shebang runs node).
 *
 * Everything happens in a throwaway network and mount namespace: the run re-executes itself under
 * `unshare --net --mount --propagation private`, and refuses to go on if either namespace is the one it was
 * started in. cw0, veths, /run/netns entries and nft tables exist only there. In it, tmpfs mounts cover
 * /run/netns, /run/runc (runc's state for podman), /var/lib/containers/cache (containers/image's blob-info
 * cache) and /var/tmp, so none of the tools writes outside our temp dirs (a directory made for a mount point is
 * removed again). The stores, contexts and layout are on a tmpfs at a fresh /tmp/cw-bench-cutaway-XXXXXX.
 * podman's cgroups go under /cwbench-PID in every hierarchy (cgroupfs is not namespaced); they are removed at
 * the end. On an error, Ctrl-C or SIGTERM the running command's process group is killed, containers are taken
 * down, the mounts undone, the stores (vfs layers hold files of other uids) and the directory removed.
 * bin/cutaway and the tools it runs are used as built (each built first only if missing).
 *
 * Prints markdown tables and writes them, with the date and the machine, to bench/results/cutaway.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { cp, mkdir, writeFile } from 'node:fs/promises';

import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { cleanups, log, median, REPO_DIR, type Sample } from './harness.ts';
import { BIN, buildMissing, buildNote, bundles, CGROUP_PARENT, cgroupParents, ContainersStore, CUTAWAY, CutawayStore, podmanContext, PREFIX, REF, setUpHost, wipe } from './podman.ts';

/** bin/cutaway and the tools it runs here (it finds them in bin/). */
const TOOLS = ['cutaway', 'oci-pull', 'overlay-mount', 'netbridge', 'ns-exec', 'layer-commit'] as const;
const RESULTS = join(REPO_DIR, 'bench', 'results', 'cutaway.md');
const HELLO = join(REPO_DIR, 'examples', 'hello');
const TMPFS_SIZE = '2g';
/** Set in the re-executed run, inside its own network and mount namespaces. */
const NS_MARK = 'CUTAWAY_BENCH_CUTAWAY_NS';
const HELLO_TAG = 'cwbench/hello:latest';
const THREE_TAG = 'cwbench/three:latest';
/** cutaway names `-t cwbench/hello` as Docker does; buildah as localhost/… */
const CW_HELLO = `docker.io/${HELLO_TAG}`;
const BH_HELLO = `localhost/${HELLO_TAG}`;
const THREE_STEP = ['FROM cutaway.test/busybox:latest', "RUN echo 'made by RUN' > /built.txt", 'COPY file.txt /srv/file.txt', 'CMD ["cat", "/srv/file.txt"]', ''].join('\n');
/** What the demo image prints when run (its CMD): the lines that show the build did its work. */
const HELLO_EXPECT = ['Hello from a container that cutaway built', 'I am app on ', 'primes made at build time: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47', 'built with LIMIT=50', 'data files: one.txt two.txt'];

const USAGE = `Usage: pnpm exec tsx bench/cutaway.ts [--runs N] [--build-runs N] [--run-runs N]

cutaway build (examples/hello with no cache and cached, a three-step Dockerfile) against buildah bud (--layers
and plain), and cutaway run --rm IMAGE true (bridge and --network none) against podman run --rm --runtime runc
--network none, with the busybox fixture as the base; in a throwaway network and mount namespace, on a tmpfs.
--runs N sets both phases' rounds (defaults: 7 build rounds, 15 run rounds). See bench/README.md.
`;

function parseOptions(): { buildRuns: number; runRuns: number } {
  const { values } = parseArgs({ options: { runs: { type: 'string' }, 'build-runs': { type: 'string' }, 'run-runs': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const count = h.countOption;
  const both = count('runs', values.runs, 0);
  return { buildRuns: count('build-runs', values['build-runs'], both || 7), runRuns: count('run-runs', values['run-runs'], both || 15) };
}

const { buildRuns, runRuns } = parseOptions();

const ENV = await h.inThrowawayHost(NS_MARK, 'overlay mounts, namespaces, bridges and nft tables, buildah and podman stores, in namespaces of their own', log);
h.cleanUpOnSignals();

const ENV_NO_CA = { ...ENV };
delete ENV_NO_CA.NODE_EXTRA_CA_CERTS;

const ms = (x: number) => x.toFixed(1);
const secs = (x: number) => (x / 1000).toFixed(3);
const ratio = (x: number) => x.toFixed(2);
const wallOf = (xs: Sample[]) => xs.map((x) => x.wallMs);
const med = (xs: Sample[]) => median(wallOf(xs));

// ─── The throwaway host ──────────────────────────────────────────────────────

/** Our network namespace's interfaces (/proc/net/dev is the reader's namespace's). */
const links = () => readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]!.trim()).filter(Boolean).sort();
const netnsNames = () => (existsSync('/run/netns') ? readdirSync('/run/netns').sort() : []);

// ─── Stamped traces ──────────────────────────────────────────────────────────

interface Traced {
  wallMs: number;
  /** stderr lines, each with the time (ms since the spawn) at which it arrived. */
  lines: { ms: number; text: string }[];
}

/** Runs `cmd args` (sync first, as h.measure does), stamping each line of its stderr on arrival. */
async function traced(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Traced> {
  await run('sync', []);
  return new Promise((resolvePromise, reject) => {
    const began = process.hrtime.bigint();
    const now = () => Number(process.hrtime.bigint() - began) / 1e6;
    let end = 0;
    const lines: Traced['lines'] = [];
    let partial = '';
    const child = h.start(cmd, args, env);
    child.stdout.resume();
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      const t = now();
      const parts = (partial + d).split('\n');
      partial = parts.pop()!;
      for (const text of parts) lines.push({ ms: t, text });
    });
    child.on('exit', () => (end = now()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (partial) lines.push({ ms: end, text: partial });
      if (code !== 0) reject(new Error(`${[cmd, ...args].join(' ')}: ${signal ?? `exit ${code}`}\n${lines.slice(-20).map((l) => l.text).join('\n')}`));
      else resolvePromise({ wallMs: end, lines });
    });
  });
}

/** The phases of a `cutaway run --trace --rm`: boundaries at its `+ tool` lines, in this order. */
function runPhases(t: Traced, bridge: boolean): number[] {
  const tools = t.lines.filter((l) => l.text.startsWith('+ '));
  // overlay-mount and cg-limit create start side by side, as do the three steps of the teardown.
  const up = [/^\+ overlay-mount -q /, /^\+ cg-limit create /, ...(bridge ? [/^\+ netbridge up /] : []), /^\+ ns-exec /];
  const down = [...(bridge ? [/^\+ netbridge down /] : []), /^\+ overlay-mount --unmount /, /^\+ cg-limit rm /];
  const expected = [...up, ...down];
  if (tools.length !== expected.length || !expected.every((re, i) => re.test(tools[i]!.text))) throw new Error(`cutaway run --trace: unexpected tool lines:\n${tools.map((l) => l.text).join('\n')}`);
  const marks = [0, ...tools.map((l) => l.ms), t.wallMs];
  return marks.slice(1).map((m, i) => m - marks[i]!);
}

/** What a line of `cutaway build --trace` starts; the time to the next line is billed to it. */
function buildCategory(text: string): string {
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

function buildBreakdown(t: Traced): Map<string, { ms: number; count: number }> {
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
type RunKey = 'cwBridge' | 'cwBridgeSteady' | 'cwNone' | 'podmanVfs' | 'podmanOverlay' | 'mount' | 'nsExec' | 'unmount' | 'nbUp' | 'nbDown' | 'version' | 'node';

async function main(): Promise<void> {
  for (const cmd of ['buildah', 'podman', 'skopeo', 'runc', 'conmon', 'nft', 'ip', 'unshare'])
    if (!(await run('sh', ['-c', `command -v ${cmd}`]).catch(() => ''))) throw new Error(`${cmd} is missing (apt-get install buildah podman skopeo runc conmon nftables iproute2)`);
  if (!existsSync(h.GNU_TIME)) throw new Error(`${h.GNU_TIME} is missing: apt-get install time`);
  const builtNow = await buildMissing(TOOLS);
  const bundlesBefore = bundles(TOOLS);

  await setUpHost();
  const work = await h.tmpfsWorkDir('cw-bench-cutaway', TMPFS_SIZE);
  const ctx = await podmanContext(work, ENV);
  const helloCtx = join(work, 'ctx-hello');
  const threeCtx = join(work, 'ctx-three');
  await cp(HELLO, helloCtx, { recursive: true, preserveTimestamps: true });
  await mkdir(threeCtx);
  await writeFile(join(threeCtx, 'Dockerfile'), THREE_STEP);
  await writeFile(join(threeCtx, 'file.txt'), 'copied by COPY\n');
  log(`examples/hello copied to ${helloCtx}; the three-step Dockerfile in ${threeCtx}`);

  const cwBuild = new CutawayStore(join(work, 'cw-build'), ctx);
  const bhBuild = new ContainersStore(join(work, 'bh'), 'vfs', ctx);
  const cwRun = new CutawayStore(join(work, 'cw-run'), ctx);
  const pmVfs = new ContainersStore(join(work, 'pv'), 'vfs', ctx);
  const pmOverlay = new ContainersStore(join(work, 'po'), 'overlay', ctx);
  const memoryCgroups = () => (existsSync('/sys/fs/cgroup/memory') ? readdirSync('/sys/fs/cgroup/memory') : []);
  const cgroupsBefore = new Set(memoryCgroups());
  cleanups.push(async () => {
    for (const s of [cwBuild, cwRun]) await s.tearDown();
    for (const s of [bhBuild, pmVfs, pmOverlay]) await s.tearDown();
    for (const s of [cwBuild, cwRun]) await wipe(s.root);
    for (const s of [bhBuild, pmVfs, pmOverlay]) await wipe(s.dir);
    // /run/netns is our tmpfs: whatever is in it is a namespace of ours (a container's, a RUN's, the resident endpoint's).
    for (const ns of netnsNames()) await run('ip', ['netns', 'del', ns]).then(() => log(`cleanup: ip netns del ${ns}`));
    for (const dir of cgroupParents()) await h.removeCgroup(dir);
  });

  const measure = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => h.measure(work, cmd, args, env);
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
  interface Unit<K> {
    name: string;
    run(warmUp: boolean): Promise<[K, Sample][]>;
  }
  const buildTraces: Traced[] = [];
  const buildUnits: Unit<BuildKey>[] = [
    {
      name: 'cutaway hello',
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
    {
      name: 'cutaway hello --network host',
      async run() {
        await cwBuild.fresh();
        return [['cwHelloHost', await cutaway(cwBuild, ['build', '-q', '--no-cache', '--network', 'host', '-t', HELLO_TAG, helloCtx])]];
      },
    },
    {
      name: 'buildah --layers hello',
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
      name: 'buildah hello',
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
      name: 'cutaway three-step',
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
    {
      name: 'buildah three-step',
      async run() {
        await bhBuild.fresh();
        return [['bhPlainThree', await buildah(bhBuild, [...BUD, '-t', THREE_TAG, threeCtx])]];
      },
    },
    {
      name: 'buildah --layers three-step',
      async run() {
        await bhBuild.fresh();
        return [['bhThree', await buildah(bhBuild, [...BUD, '--layers', '--no-cache', '-t', THREE_TAG, threeCtx])]];
      },
    },
    {
      name: 'cutaway --trace hello',
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
  const podmanRun = (store: ContainersStore) => measure('podman', store.podman(['run', '--rm', '--network', 'none', '--cgroup-parent', `/${CGROUP_PARENT}`, REF, 'true']), ctx.env);
  let serial = 0;
  const runUnits: Unit<RunKey>[] = [
    { name: 'cutaway run (bridge)', run: async () => [['cwBridge', await cutaway(cwRun, ['run', '--rm', REF, 'true'])]] },
    {
      name: 'cutaway run (bridge, steady)',
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
    { name: 'cutaway run --network none', run: async () => [['cwNone', await cutaway(cwRun, ['run', '--rm', '--network', 'none', REF, 'true'])]] },
    { name: 'podman run (vfs)', run: async () => [['podmanVfs', await podmanRun(pmVfs)]] },
    { name: 'podman run (overlay)', run: async () => [['podmanOverlay', await podmanRun(pmOverlay)]] },
    {
      name: 'cutaway run --trace (bridge)',
      async run(warmUp) {
        const t = await traced(CUTAWAY, ['run', '--trace', '--rm', REF, 'true'], cwRun.env);
        const phases = runPhases(t, true);
        if (!warmUp) runTraces.bridge.push(phases);
        return [];
      },
    },
    {
      name: 'cutaway run --trace (none)',
      async run(warmUp) {
        const t = await traced(CUTAWAY, ['run', '--trace', '--rm', '--network', 'none', REF, 'true'], cwRun.env);
        const phases = runPhases(t, false);
        if (!warmUp) runTraces.none.push(phases);
        return [];
      },
    },
    {
      name: 'overlay-mount, ns-exec, unmount',
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
      name: 'netbridge up + down',
      async run() {
        const name = `${PREFIX}nb${++serial}`;
        const up = await measure(join(BIN, 'netbridge'), ['up', '--json', name], cwRun.env);
        const down = await measure(join(BIN, 'netbridge'), ['down', name], cwRun.env);
        return [['nbUp', up], ['nbDown', down]];
      },
    },
    {
      name: 'floors',
      async run() {
        const version = await cutaway(cwRun, ['run', '--version']);
        const node = await measure('node', ['-e', '0'], ENV_NO_CA);
        return [['version', version], ['node', node]];
      },
    },
  ];

  /** After every run round: no container, mount, endpoint, namespace, cw link or nft table of cutaway's, no podman container. */
  const checkClean = async () => {
    const problems: string[] = [];
    if (cwRun.containers().length) problems.push(`cutaway containers: ${cwRun.containers().join(' ')}`);
    const mounts = await h.mountsUnder(cwRun.root);
    if (mounts.length) problems.push(`mounts: ${mounts.join(' ')}`);
    if (netnsNames().length) problems.push(`network namespaces: ${netnsNames().join(' ')}`);
    const cw = links().filter((l) => l !== 'lo');
    if (cw.length) problems.push(`interfaces: ${cw.join(' ')}`);
    const tables = (await run('nft', ['list', 'tables'])).trim();
    if (tables) problems.push(`nft tables: ${tables}`);
    for (const s of [pmVfs, pmOverlay]) {
      const left = await s.podmanContainers();
      if (left.length) problems.push(`podman (${s.driver}) containers: ${left.join(' ')}`);
    }
    if (problems.length) throw new Error(`after a round, something is left:\n  ${problems.join('\n  ')}`);
  };

  // ─── Builds ────────────────────────────────────────────────────────────────
  const loadBefore = await h.loadAverage();
  const buildSamples = new Map<BuildKey, Sample[]>();
  const runSamples = new Map<RunKey, Sample[]>();
  const push = <K>(map: Map<K, Sample[]>, got: [K, Sample][]) => {
    for (const [k, s] of got) map.set(k, [...(map.get(k) ?? []), s]);
  };
  log(`builds: warm-up round (not counted; each image is run and must print what it should); load average ${loadBefore}`);
  for (const unit of buildUnits) await unit.run(true);
  for (let round = 0; round < buildRuns; round++) {
    for (const unit of h.rotated(buildUnits, round)) push(buildSamples, await unit.run(false));
    const last = (k: BuildKey) => secs(buildSamples.get(k)!.at(-1)!.wallMs);
    log(
      `build round ${round + 1}/${buildRuns}: hello no cache: cutaway ${last('cwHello')} (--network host ${last('cwHelloHost')}), buildah --layers ${last('bhHello')}, buildah ${last('bhPlainHello')} s; cached: cutaway ${last('cwHelloCached')}, buildah ${last('bhHelloCached')} s; three-step: cutaway ${last('cwThree')}, buildah ${last('bhPlainThree')}, --layers ${last('bhThree')} s`,
    );
  }
  await wipe(cwBuild.root);
  await wipe(bhBuild.dir);

  // ─── Runs ──────────────────────────────────────────────────────────────────
  await cwRun.pull();
  await pmVfs.fresh();
  await pmOverlay.fresh();
  const loadMid = await h.loadAverage();
  log(`runs: warm-up round (not counted; ns-exec's probe must be PID 1); load average ${loadMid}`);
  for (const unit of runUnits) await unit.run(true);
  await checkClean();
  for (let round = 0; round < runRuns; round++) {
    for (const unit of h.rotated(runUnits, round)) push(runSamples, await unit.run(false));
    await checkClean();
    const last = (k: RunKey) => ms(runSamples.get(k)!.at(-1)!.wallMs);
    log(
      `run round ${round + 1}/${runRuns}: cutaway run --rm ${last('cwBridge')} (another endpoint up: ${last('cwBridgeSteady')}), --network none ${last('cwNone')}; podman run --rm vfs ${last('podmanVfs')}, overlay ${last('podmanOverlay')} ms`,
    );
  }
  const loadAfter = await h.loadAverage();
  const cgroupsLeft = cgroupParents();
  const cgroupsOther = memoryCgroups().filter((d) => !cgroupsBefore.has(d) && d !== CGROUP_PARENT);
  const bundlesAfter = bundles(TOOLS);

  // ─── The report ────────────────────────────────────────────────────────────
  const b = (k: BuildKey) => buildSamples.get(k)!;
  const r = (k: RunKey) => runSamples.get(k)!;
  const stat = (xs: Sample[], f: (x: number) => string) => {
    const w = wallOf(xs);
    return [f(median(w)), f(Math.min(...w)), f(Math.max(...w))];
  };
  const cpuMs = (xs: Sample[]) => ms(median(xs.map((x) => x.cpuS * 1000)));
  const rss = (xs: Sample[]) => h.mib(median(xs.map((x) => x.maxRssKiB)));
  const x = (a: Sample[], ref: Sample[] | undefined) => (ref ? ratio(med(a) / med(ref)) : '');

  interface BuildLine {
    label: string;
    samples: Sample[];
    layers?: Sample[];
    plain?: Sample[];
  }
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
  const buildTable = [
    '| build | median s | min s | max s | × buildah --layers | × buildah (plain) | peak RSS median MiB | CPU (user+sys) median s |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...buildLines.map((l) => `| ${l.label} | ${stat(l.samples, secs).join(' | ')} | ${x(l.samples, l.layers)} | ${x(l.samples, l.plain)} | ${rss(l.samples)} | ${median(l.samples.map((s) => s.cpuS)).toFixed(2)} |`),
  ];

  interface RunLine {
    label: string;
    samples: Sample[];
    compared?: boolean;
  }
  const runLines: RunLine[] = [
    { label: '`cutaway run --rm IMAGE true` (default bridge; no other endpoint, so netbridge makes and removes cw0 and its table)', samples: r('cwBridge'), compared: true },
    { label: '`cutaway run --rm IMAGE true` (default bridge; another endpoint holds cw0)', samples: r('cwBridgeSteady'), compared: true },
    { label: '`cutaway run --rm --network none IMAGE true`', samples: r('cwNone'), compared: true },
    { label: '`podman run --rm --runtime runc --network none IMAGE true` (vfs: the reference)', samples: r('podmanVfs'), compared: true },
    { label: '`podman run …` the same, overlay driver', samples: r('podmanOverlay'), compared: true },
    { label: 'part: `overlay-mount -q IMAGE --name N`', samples: r('mount') },
    { label: "part: `ns-exec --rootfs MERGED … --net none -- /bin/true` (cutaway run's options)", samples: r('nsExec') },
    { label: 'part: `overlay-mount --unmount N --rm`', samples: r('unmount') },
    { label: 'part: `netbridge up --json N` (first use: makes cw0 and table ip cw)', samples: r('nbUp') },
    { label: 'part: `netbridge down N` (the last endpoint: removes them)', samples: r('nbDown') },
    { label: 'floor: `cutaway run --version` (Node + the bundle)', samples: r('version') },
    { label: `floor: \`node -e 0\`${ENV.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, samples: r('node') },
  ];
  const runTable = [
    '| run | median ms | min ms | max ms | × podman (vfs) | × podman (overlay) | peak RSS median MiB | CPU (user+sys) median ms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...runLines.map((l) => `| ${l.label} | ${stat(l.samples, ms).join(' | ')} | ${l.compared ? x(l.samples, r('podmanVfs')) : ''} | ${l.compared ? x(l.samples, r('podmanOverlay')) : ''} | ${rss(l.samples)} | ${cpuMs(l.samples)} |`),
  ];

  const phaseRows = (label: string, names: string[], traces: number[][]) =>
    names.map((n, i) => {
      const xs = traces.map((t) => t[i]!);
      return `| ${label} | ${n} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} |`;
    });
  const totals = (traces: number[][]) => traces.map((t) => t.reduce((a, v) => a + v, 0));
  const phaseTable = [
    '| cutaway run --trace --rm IMAGE true | phase (from one `+ tool` line to the next, stamped on arrival) | median ms | min ms | max ms |',
    '|---|---|---:|---:|---:|',
    ...phaseRows('bridge', [
      'start → `+ overlay-mount`: Node, the bundle, the options, the image looked up, the container\'s id, dir, config and state',
      '(overlay-mount and cg-limit create are started together)',
      'overlay-mount ∥ cg-limit create (mount the image, make the cgroup)',
      'netbridge up, the /etc files',
      'ns-exec runs /bin/true',
      'netbridge down, overlay-mount --unmount --rm and cg-limit rm start together',
      '…',
      'the teardown, the container dir removed, exit',
    ], runTraces.bridge),
    `| bridge | whole run | ${ms(median(totals(runTraces.bridge)))} | ${ms(Math.min(...totals(runTraces.bridge)))} | ${ms(Math.max(...totals(runTraces.bridge)))} |`,
    ...phaseRows('none', [
      'start → `+ overlay-mount`',
      '(overlay-mount and cg-limit create are started together)',
      'overlay-mount ∥ cg-limit create, the /etc files',
      'ns-exec runs /bin/true',
      'overlay-mount --unmount --rm and cg-limit rm start together',
      'the teardown, the container dir removed, exit',
    ], runTraces.none),
    `| none | whole run | ${ms(median(totals(runTraces.none)))} | ${ms(Math.min(...totals(runTraces.none)))} | ${ms(Math.max(...totals(runTraces.none)))} |`,
  ];

  const breakdowns = buildTraces.map(buildBreakdown);
  const categories = [...new Set(breakdowns.flatMap((m) => [...m.keys()]))];
  const buildWall = median(buildTraces.map((t) => t.wallMs));
  const buildTraceTable = [
    '| cutaway build --trace --no-cache of examples/hello: billed to | tool runs per build | median ms per build | min ms | max ms | share of the median build |',
    '|---|---:|---:|---:|---:|---:|',
    ...categories.map((c) => {
      const xs = breakdowns.map((m) => m.get(c)?.ms ?? 0);
      const count = median(breakdowns.map((m) => m.get(c)?.count ?? 0));
      return `| ${c} | ${count || ''} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${((median(xs) / buildWall) * 100).toFixed(0)}% |`;
    }),
    `| the whole build (its own spawn to exit) | ${median(breakdowns.map((m) => [...m.values()].reduce((a, e) => a + e.count, 0)))} | ${ms(buildWall)} | ${ms(Math.min(...buildTraces.map((t) => t.wallMs)))} | ${ms(Math.max(...buildTraces.map((t) => t.wallMs)))} | 100% |`,
  ];

  const mark = (v: number) => `**${ratio(v)}**, target ≤ 1.00 ${h.mark(v <= 1)}`;
  const m = (xs: Sample[]) => med(xs);
  const notes = [
    `- **hello, no cache**: cutaway / \`buildah bud --layers --no-cache\` ${mark(m(b('cwHello')) / m(b('bhHello')))}; cutaway / plain \`buildah bud\` ${mark(m(b('cwHello')) / m(b('bhPlainHello')))}. With RUN on the host's network, as buildah's: ${ratio(m(b('cwHelloHost')) / m(b('bhHello')))} and ${ratio(m(b('cwHelloHost')) / m(b('bhPlainHello')))} (the bridge costs ${ms(m(b('cwHello')) - m(b('cwHelloHost')))} ms a build). Layers in the image: cutaway ${facts.cwHelloLayers}, buildah --layers ${facts.bhHelloLayers}, plain buildah ${facts.bhPlainHelloLayers} (the base's one included).`,
    `- **hello, cached rebuild**: cutaway / \`buildah bud --layers\` ${mark(m(b('cwHelloCached')) / m(b('bhHelloCached')))} (${ms(m(b('cwHelloCached')))} against ${ms(m(b('bhHelloCached')))} ms); both gave the same image as the build before.`,
    `- **three-step**: cutaway / plain \`buildah bud\` ${mark(m(b('cwThree')) / m(b('bhPlainThree')))} (buildah ${ms(m(b('bhPlainThree')))} ms here; notes/machine.md has ~650 ms); cutaway / \`buildah bud --layers --no-cache\` ${mark(m(b('cwThree')) / m(b('bhThree')))}.`,
    `- **run --rm**: like for like (both \`--network none\`), cutaway / podman (vfs) ${mark(m(r('cwNone')) / m(r('podmanVfs')))}, / podman (overlay) ${ratio(m(r('cwNone')) / m(r('podmanOverlay')))}. On cutaway's default bridge network against podman's none: ${mark(m(r('cwBridge')) / m(r('podmanVfs')))} alone on the host, ${ratio(m(r('cwBridgeSteady')) / m(r('podmanVfs')))} with another endpoint holding cw0.`,
    `- **netbridge's share of a lone \`cutaway run --rm\`**: ${ms(m(r('cwBridge')) - m(r('cwNone')))} ms (bridge − none, medians); with another endpoint up, ${ms(m(r('cwBridgeSteady')) - m(r('cwNone')))} ms. Alone, \`netbridge up\` + \`down\` take ${ms(m(r('nbUp')) + m(r('nbDown')))} ms.`,
    `- **the parts**: overlay-mount ${ms(m(r('mount')))} + ns-exec ${ms(m(r('nsExec')))} + unmount ${ms(m(r('unmount')))} = ${ms(m(r('mount')) + m(r('nsExec')) + m(r('unmount')))} ms run alone, against ${ms(m(r('cwNone')))} ms for \`cutaway run --rm --network none\`; \`cutaway run --version\` ${ms(m(r('version')))} ms and \`node -e 0\` ${ms(m(r('node')))} ms. Each tool is a Node process of its own, run through zx (ns-exec: a C launcher that runs a Node planner once), so a \`cutaway run --rm --network none\` starts Node 4 times (cutaway, overlay-mount, ns-exec's planner, overlay-mount --unmount) and one on the bridge 6 times (netbridge up and down).`,
  ];

  const report = [
    `Builds: ${buildRuns} rounds after one warm-up round; runs: ${runRuns} rounds after one warm-up round. Every unit once a round, the order rotated every round; each command under GNU time (\`sync\` before each), wall clock from the spawn to the exit. Build stores fresh for every unit (only the base image in them, its layer unpacked); run stores made once.`,
    '',
    '### Builds',
    '',
    ...buildTable,
    '',
    '### Runs',
    '',
    ...runTable,
    '',
    ...notes,
    '',
    '### Where the time goes',
    '',
    ...phaseTable,
    '',
    ...buildTraceTable,
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const version = h.versionOf;
  const machine = await h.machineLine([
    await version('buildah', ['--version']),
    await version('podman', ['--version']),
    await version('skopeo', ['--version']),
    await version('runc', ['--version']),
    await version('conmon', ['--version']),
  ]);
  const commit = (await h.gitCommit()) ?? 'unknown';
  const dirty = await h.gitDirty(['libs', 'tools', 'scripts/build.ts']);
  const shebang = readFileSync(CUTAWAY, 'utf8').split('\n', 1)[0] ?? '';
  const doc = [
    '# cutaway build and cutaway run against buildah bud and podman run',
    '',
    `Written by \`pnpm exec tsx bench/cutaway.ts --build-runs ${buildRuns} --run-runs ${runRuns}\` on ${new Date().toISOString()}, at commit ${commit}${dirty ? ' (with uncommitted changes in libs/, tools/ or scripts/build.ts)' : ''}. ${buildNote(TOOLS, builtNow, bundlesBefore, bundlesAfter)}`,
    '',
    `Machine: ${machine}. Load average ${loadBefore} before the builds, ${loadMid} before the runs, ${loadAfter} after. NODE_EXTRA_CA_CERTS ${ENV.NODE_EXTRA_CA_CERTS ? `was set (${ENV.NODE_EXTRA_CA_CERTS})` : 'was not set'}; bin/cutaway's shebang ${/-u NODE_EXTRA_CA_CERTS/.test(shebang) ? 'unsets it' : 'does not unset it'}.`,
    '',
    `Base image: \`${REF}\` (test/fixtures/images.ts, one layer) from one OCI layout. buildah: \`buildah --root R --runroot RR --storage-driver vfs bud --isolation chroot --network host -q [--layers] [--no-cache] -t TAG CTX\` (with chroot isolation buildah takes no network but the host's, here the bench's throwaway namespace; its RUN gets no network or pid namespace of its own, where cutaway's RUN gets a container on the bridge). cutaway: \`cutaway build -q [--no-cache] -t TAG CTX\`. podman: \`podman --root R --runroot RR --storage-driver vfs|overlay --tmpdir T --runtime runc --cgroup-manager cgroupfs --events-backend none --network-config-dir C run --rm --network none --cgroup-parent /${CGROUP_PARENT} ${REF} true\`; CONTAINERS_CONF: runc, cgroupfs, default_ulimits nofile 20000 / nproc 32768.`,
    '',
    `Afterwards: cgroups of ours left ${cgroupsLeft.length ? `in ${cgroupsLeft.length} hierarchies (/${CGROUP_PARENT}: podman's conmon cgroup; removed by the cleanup)` : 'none'}; other new top-level memory cgroups: ${cgroupsOther.length ? cgroupsOther.join(' ') : 'none'}.`,
  ];
  const everySample = [
    'Every sample, in run order (builds in s, runs in ms):',
    '',
    ...buildLines.map((l) => `- ${l.label}: ${wallOf(l.samples).map(secs).join(' ')}`),
    ...runLines.map((l) => `- ${l.label}: ${wallOf(l.samples).map(ms).join(' ')}`),
  ];
  await h.writeResults(RESULTS, doc, report, everySample);
}

await h.finish(main);
