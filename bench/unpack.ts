/**
 * overlay-mount's unpacking against umoci unpack and plain GNU tar, side by
 * side: the Debian fixture image (debootstrap minbase, one ~50 MB gzip layer)
 * unpacked by each onto a tmpfs, turn about; and mounting an image whose
 * layers are unpacked already, against a bare `mount -t overlay`.
 *
 *   pnpm exec tsx bench/unpack.ts [--runs N]      (default 7; as root, after scripts/setup.sh)
 *
 * Everything happens on a tmpfs (size 2g) mounted at a fresh /tmp/cw-bench-unpack-XXXXXX:
 * the OCI layout, every unpacked tree, the image's staging — the root disk is
 * too noisy to time writes on. The whole run is re-executed inside a private
 * mount namespace (`unshare --mount --propagation private`), so the tmpfs and
 * the overlays mounted on it are invisible outside and vanish with the run
 * even if it is SIGKILLed; on a normal exit, an error or Ctrl-C they are
 * unmounted (deepest first) and the directory removed all the same.
 *
 * Measured, N times each:
 *
 * - unpack, interleaved, the order rotated every round (so drift of a noisy
 *   machine and whatever one run leaves behind land on every tool):
 *   - `overlay-mount --layout LAYOUT bench --name c1` with a fresh
 *     CUTAWAY_ROOT: unpack (gunzip, diff_id check, extraction, whiteouts) and
 *     the overlay mount; the unmount and removal after it are not timed;
 *   - `umoci unpack --image LAYOUT:bench BUNDLE` into a fresh bundle (umoci
 *     also writes config.json and an mtree manifest of the rootfs);
 *   - `gzip -dc BLOB | tar -x --xattrs --xattrs-include='*' --numeric-owner -C DIR`
 *     for each layer of the manifest, in one `bash -o pipefail -c`, into a
 *     fresh DIR (no whiteout handling, no digest check: the floor);
 * - mount only (the layers unpacked already in a shared CUTAWAY_ROOT):
 *   - `overlay-mount --layout LAYOUT bench --name wK` (a new container) and its
 *     `overlay-mount --unmount wK --rm`;
 *   - `mount -t overlay overlay -o lowerdir=…,upperdir=…,workdir=… DIR` with
 *     the same layer directories and the options overlay-mount sets
 *     (index/redirect_dir/metacopy=off when the module has them), and `umount DIR`;
 *   - `overlay-mount --version`: Node's startup, the floor under any run.
 *
 * Wall-clock time is process.hrtime around the child; peak memory and CPU are
 * GNU time's %M and %U+%S (see measure()). `sync` runs before every timed
 * command. Medians, not means: a noisy machine makes outliers. One untimed
 * warm-up round goes first, which also checks that the three unpackers made
 * the same tree (entries, bytes).
 *
 * Prints a markdown table and writes it, with the date and the machine, to
 * bench/results/unpack.md.
 */
import { mkdir, readdir, rm, stat, lstat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import { OciLayout, parseDigest, resolveNamedImage, type Digest } from '@cutaway/oci';
import { buildDebianImage, run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { GNU_TIME, log, mark, mb, median, mountsUnder, REPO_DIR, seconds, table, unmountAll, type Row, type Sample } from './harness.ts';

const OVERLAY_MOUNT = join(REPO_DIR, 'bin', 'overlay-mount');
const RESULTS = join(REPO_DIR, 'bench', 'results', 'unpack.md');
const IMAGE_NAME = 'bench';
const TMPFS_SIZE = '2g';
/** Set in the re-executed run, inside its own mount namespace. */
const NS_MARK = 'CUTAWAY_BENCH_UNPACK_NS';

const runs = h.parseRuns('unpack', 7, 'overlay-mount against umoci unpack and GNU tar on the Debian fixture, on a tmpfs; see bench/README.md.');

// ─── Into a private mount namespace ──────────────────────────────────────────

/**
 * The run is re-executed under `unshare --mount --propagation private` (h.inMountNamespace); here, the
 * environment as we were started, for the measured commands (main() points TMPDIR at the tmpfs).
 */
const ORIGINAL_ENV = await h.inMountNamespace(NS_MARK, 'tmpfs and overlay mounts; the Debian layer keeps its owners');

// ─── Cleanup, also on failure and Ctrl-C ─────────────────────────────────────

h.cleanUpOnSignals();

// ─── Measuring one command ───────────────────────────────────────────────────

let workDir = '';

/**
 * Runs `cmd args` under GNU time (h.measure) and returns its wall time, peak RSS and CPU.
 *
 * %M is ru_maxrss from wait4(2): the high-water mark of the measured process —
 * on Linux the larger of its own and that of the largest descendant it reaped,
 * never a sum. overlay-mount is one process (bin/overlay-mount → `env node`,
 * which execs node in the same pid); umoci is one Go process; for the GNU tar
 * row it is the largest of bash, gzip and tar, which run at the same time — so
 * that row's figure understates the pipeline's total (gzip's is ~2 MiB, tar's ~3).
 * %U+%S likewise covers the measured process and every descendant it waited for.
 * /usr/bin/time's own fork+exec (~1 ms) is inside every wall time alike.
 */
const measure = (cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Sample> => h.measure(workDir, cmd, args, { ...ORIGINAL_ENV, ...env });

// ─── Trees ───────────────────────────────────────────────────────────────────

/** Entries (everything under dir, dir itself not counted) and bytes of regular files. */
async function treeSummary(dir: string): Promise<{ entries: number; bytes: number }> {
  let entries = 0;
  let bytes = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      entries++;
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) bytes += (await lstat(p)).size;
    }
  };
  await walk(dir);
  return { entries, bytes };
}

async function mustHave(path: string): Promise<void> {
  await stat(path).catch(() => {
    throw new Error(`${path} is missing after the unpack`);
  });
}

/** The overlay options overlay-mount adds when the module knows them (tools/overlay-mount/src/overlay.ts featureOptions, as root). */
function overlayFeatureOptions(): string[] {
  const params = '/sys/module/overlay/parameters';
  return [
    ...(existsSync(`${params}/index`) ? ['index=off'] : []),
    ...(existsSync(`${params}/redirect_dir`) ? ['redirect_dir=off'] : []),
    ...(existsSync(`${params}/metacopy`) ? ['metacopy=off'] : []),
  ];
}

// ─── Main ────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  for (const cmd of [GNU_TIME, '/usr/bin/umoci', '/usr/bin/tar', '/usr/bin/gzip', '/usr/bin/bash']) {
    await stat(cmd).catch(() => {
      throw new Error(`${cmd} not found: run scripts/setup.sh (packages time, umoci, tar, gzip)`);
    });
  }

  // The figures are for the source in the tree: build overlay-mount, as the tests do (esbuild, under a second).
  await h.buildTool('overlay-mount');

  // The fixture stages the image under os.tmpdir(): on the tmpfs too, and gone with it. The measured tools get the original TMPDIR.
  workDir = await h.tmpfsWorkDir('cw-bench-unpack', TMPFS_SIZE);

  log('building the Debian fixture image (debootstrap rootfs from /var/cache/cutaway-test)');
  const layoutDir = join(workDir, 'layout');
  await buildDebianImage(await OciLayout.create(layoutDir), IMAGE_NAME);
  const layout = await OciLayout.open(layoutDir);
  const image = await resolveNamedImage(layout, IMAGE_NAME);
  const blobs = image.manifest.layers.map((l) => layout.blobPath(l.digest));
  const compressed = image.manifest.layers.reduce((sum, l) => sum + l.size, 0);
  for (const l of image.manifest.layers) if (!l.mediaType.endsWith('gzip')) throw new Error(`layer ${l.digest} is ${l.mediaType}, not gzip`);
  const layerDir = (root: string, diffId: Digest) => join(root, 'layers', parseDigest(diffId).algorithm, parseDigest(diffId).encoded);
  log(`image: ${image.manifest.layers.length} layer(s), ${mb(compressed)} MB gzip`);

  // Each unpacker's command for one fresh destination, and where the rootfs ends up.
  let serial = 0;
  const fresh = (prefix: string) => join(workDir, `${prefix}-${++serial}`);
  const unpackers = {
    'overlay-mount': async () => {
      const root = fresh('om');
      await mkdir(root);
      const merged = join(root, 'containers', 'c1', 'merged');
      return {
        cmd: OVERLAY_MOUNT,
        args: ['--layout', layoutDir, IMAGE_NAME, '--name', 'c1'],
        env: { CUTAWAY_ROOT: root },
        check: async (s: Sample) => {
          if (s.stdout.trim() !== merged) throw new Error(`overlay-mount printed ${JSON.stringify(s.stdout.trim())}, want ${merged}`);
          if (!(await mountsUnder(merged)).includes(merged)) throw new Error(`${merged} is not mounted`);
          await mustHave(join(merged, 'etc/debian_version'));
        },
        tree: layerDir(root, image.config.rootfs.diff_ids[0]!),
        done: async () => {
          await run(OVERLAY_MOUNT, ['--unmount', 'c1', '--rm'], { env: { ...ORIGINAL_ENV, CUTAWAY_ROOT: root } });
          await rm(root, { recursive: true, force: true });
        },
      };
    },
    umoci: async () => {
      const bundle = fresh('umoci');
      return {
        cmd: 'umoci',
        args: ['unpack', '--image', `${layoutDir}:${IMAGE_NAME}`, bundle],
        env: {},
        check: async () => mustHave(join(bundle, 'rootfs/etc/debian_version')),
        tree: join(bundle, 'rootfs'),
        done: () => rm(bundle, { recursive: true, force: true }),
      };
    },
    'GNU tar': async () => {
      const dir = fresh('tar');
      await mkdir(dir);
      const script = blobs.map((b) => `gzip -dc '${b}' | tar -x --xattrs --xattrs-include='*' --numeric-owner -C '${dir}'`).join('\n');
      return {
        cmd: 'bash',
        args: ['-e', '-o', 'pipefail', '-c', script],
        env: {},
        check: async () => mustHave(join(dir, 'etc/debian_version')),
        tree: dir,
        done: () => rm(dir, { recursive: true, force: true }),
      };
    },
  } as const;
  type Unpacker = keyof typeof unpackers;
  const names = Object.keys(unpackers) as Unpacker[];
  const unpacked: Record<Unpacker, Sample[]> = { 'overlay-mount': [], umoci: [], 'GNU tar': [] };

  const unpackOnce = async (tool: Unpacker, summary?: Map<Unpacker, { entries: number; bytes: number }>): Promise<Sample> => {
    const u = await unpackers[tool]();
    try {
      const sample = await measure(u.cmd, u.args, u.env);
      await u.check(sample);
      if (summary) summary.set(tool, await treeSummary(u.tree));
      return sample;
    } finally {
      await u.done();
    }
  };

  // Mount only: one store whose layers are unpacked already.
  const warmRoot = join(workDir, 'warm');
  await mkdir(warmRoot);
  await run(OVERLAY_MOUNT, ['-q', '--layout', layoutDir, IMAGE_NAME, '--name', 'setup'], { env: { ...ORIGINAL_ENV, CUTAWAY_ROOT: warmRoot } });
  await run(OVERLAY_MOUNT, ['--unmount', 'setup', '--rm'], { env: { ...ORIGINAL_ENV, CUTAWAY_ROOT: warmRoot } });
  const lowers = image.config.rootfs.diff_ids.map((d) => layerDir(warmRoot, d)).reverse();
  const features = overlayFeatureOptions();
  const mountOnly = { omMount: [] as Sample[], omUnmount: [] as Sample[], plainMount: [] as Sample[], plainUmount: [] as Sample[], startup: [] as Sample[] };

  const overlayMountWarm = async (record: boolean) => {
    const name = `w${++serial}`;
    const env = { CUTAWAY_ROOT: warmRoot };
    const merged = join(warmRoot, 'containers', name, 'merged');
    const up = await measure(OVERLAY_MOUNT, ['--layout', layoutDir, IMAGE_NAME, '--name', name], env);
    if (up.stdout.trim() !== merged || !(await mountsUnder(merged)).includes(merged)) throw new Error(`overlay-mount (warm) did not mount ${merged}`);
    await mustHave(join(merged, 'etc/debian_version'));
    const down = await measure(OVERLAY_MOUNT, ['--unmount', name, '--rm'], env);
    if ((await mountsUnder(merged)).length || existsSync(join(warmRoot, 'containers', name))) throw new Error(`overlay-mount --unmount ${name} --rm left ${merged}`);
    if (record) mountOnly.omMount.push(up), mountOnly.omUnmount.push(down);
  };
  const plainOverlay = async (record: boolean) => {
    const dir = fresh('plain');
    const [upper, work, target] = ['upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [upper, work, target]) await mkdir(d, { recursive: true });
    try {
      const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`, ...features].join(',');
      const up = await measure('mount', ['-t', 'overlay', 'overlay', '-o', options, target]);
      await mustHave(join(target, 'etc/debian_version'));
      const down = await measure('umount', [target]);
      if (record) mountOnly.plainMount.push(up), mountOnly.plainUmount.push(down);
    } finally {
      await unmountAll(dir);
      await rm(dir, { recursive: true, force: true });
    }
  };
  const mountRound = async (round: number, record: boolean) => {
    const pair = [overlayMountWarm, plainOverlay];
    for (const step of h.flipped(pair, round)) await step(record);
    const startup = await measure(OVERLAY_MOUNT, ['--version']);
    if (record) mountOnly.startup.push(startup);
  };

  log('warm-up round (not counted; checks that the three trees agree)');
  const summary = new Map<Unpacker, { entries: number; bytes: number }>();
  for (const tool of names) await unpackOnce(tool, summary);
  await mountRound(0, false);
  const trees = names.map((t) => `${t} ${summary.get(t)!.entries} entries, ${mb(summary.get(t)!.bytes)} MB`).join('; ');
  log(`trees: ${trees}`);
  const reference = summary.get('GNU tar')!;
  for (const t of names) {
    const s = summary.get(t)!;
    if (s.entries !== reference.entries || s.bytes !== reference.bytes) throw new Error(`the trees differ: ${trees}`);
  }

  for (let round = 0; round < runs; round++) {
    const order = h.rotated(names, round);
    for (const tool of order) unpacked[tool].push(await unpackOnce(tool));
    await mountRound(round, true);
    const last = (t: Unpacker) => `${t} ${seconds(unpacked[t].at(-1)!.wallMs)} s`;
    log(`round ${round + 1}/${runs} (${order.join(', ')}): ${names.map(last).join(', ')}; warm overlay-mount ${seconds(mountOnly.omMount.at(-1)!.wallMs)} s, mount -t overlay ${seconds(mountOnly.plainMount.at(-1)!.wallMs)} s`);
  }

  const med = (s: Sample[]) => median(s.map((x) => x.wallMs));
  const vsUmoci = med(unpacked['overlay-mount']) / med(unpacked.umoci);
  const vsTar = med(unpacked['overlay-mount']) / med(unpacked['GNU tar']);
  const warmVsPlain = med(mountOnly.omMount) / med(mountOnly.plainMount);

  const rows: Row[] = [
    { label: 'unpack — overlay-mount (cold: unpack + mount)', samples: unpacked['overlay-mount'] },
    { label: 'unpack — umoci unpack', samples: unpacked.umoci },
    { label: 'unpack — gzip -dc \\| tar -x', samples: unpacked['GNU tar'] },
    { label: 'mount — overlay-mount (layers unpacked already)', samples: mountOnly.omMount },
    { label: 'mount — mount -t overlay', samples: mountOnly.plainMount },
    { label: 'unmount — overlay-mount --unmount --rm', samples: mountOnly.omUnmount },
    { label: 'unmount — umount', samples: mountOnly.plainUmount },
    { label: 'startup — overlay-mount --version', samples: mountOnly.startup },
  ];
  const report = [
    `Image: the Debian fixture (debootstrap --variant=minbase bookworm), ${image.manifest.layers.length} layer(s), ${mb(compressed)} MB gzip; unpacked: ${reference.entries} entries, ${mb(reference.bytes)} MB in regular files.`,
    `Everything on a tmpfs. ${runs} runs of each, unpackers interleaved (order rotated every round), after one warm-up round; wall-clock times.`,
    '',
    table(rows),
    '',
    `- unpack, ratio of medians overlay-mount / umoci: **${vsUmoci.toFixed(2)}** (target ≤ 1.00: ${mark(vsUmoci <= 1)})`,
    `- unpack, ratio of medians overlay-mount / GNU tar: **${vsTar.toFixed(2)}**`,
    `- mount of unpacked layers, ratio of medians overlay-mount / mount -t overlay: **${warmVsPlain.toFixed(2)}** (overlay-mount's Node startup alone: ${seconds(med(mountOnly.startup))} s)`,
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const version = h.firstLine;
  const machine = [
    `${cpus().length} CPUs (nproc ${await h.nproc()}, ${h.cpuModel()})`,
    `Linux ${release()}`,
    `Node ${process.version}`,
    await version('umoci', ['--version']),
    await version('tar', ['--version']),
    await version('gzip', ['--version']),
  ].join(', ');
  // Which source was measured: the commit, and whether libs/ or tools/ (what the build bundles) differed from it.
  const commit = (await h.gitCommit()) ?? 'unknown';
  const dirty = await h.gitDirty(['libs', 'tools']);
  const doc = [
    '# overlay-mount unpack against umoci unpack and GNU tar',
    '',
    `Written by \`pnpm exec tsx bench/unpack.ts --runs ${runs}\` on ${new Date().toISOString()}, at commit ${commit}${dirty ? ' (with uncommitted changes in libs/ or tools/)' : ''}.`,
    '',
    `Machine: ${machine}.`,
    '',
    'Commands, each under `/usr/bin/time -f "%M %U %S"`, all paths on a tmpfs:',
    '',
    '- `overlay-mount --layout LAYOUT bench --name c1` with `CUTAWAY_ROOT` a fresh dir (unmounted and removed after, untimed)',
    '- `umoci unpack --image LAYOUT:bench BUNDLE`, BUNDLE fresh',
    "- `bash -e -o pipefail -c \"gzip -dc BLOB | tar -x --xattrs --xattrs-include='*' --numeric-owner -C DIR\"`, DIR fresh",
    '- mount only, in a store with the layer unpacked: `overlay-mount --layout LAYOUT bench --name wK`, then `overlay-mount --unmount wK --rm`;',
    `  \`mount -t overlay overlay -o lowerdir=LAYER,upperdir=…,workdir=…${features.length ? `,${features.join(',')}` : ''} DIR\`, then \`umount DIR\``,
  ];
  await h.writeResults(RESULTS, doc, report, h.sampleList(rows));
}

await h.finish(main);
