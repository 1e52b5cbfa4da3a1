/**
 * oci-pull against skopeo, side by side: the same ~100 MB, 3-layer image from
 * the same local registry, pulled by each into an empty OCI layout, turn about.
 *
 *   pnpm exec tsx bench/pull.ts [--runs N]        (default 7; as root, after scripts/setup.sh)
 *
 * The image: the Debian fixture's layer (debootstrap minbase, cached under
 * /var/cache/cutaway-test), a layer of seeded random files (incompressible,
 * sized so the image comes to ~100 MB) and a small layer of config files.
 * It is pushed with skopeo to a throwaway docker-registry on 127.0.0.1.
 *
 * Measured, N times each, interleaved (the order flips every round, so drift
 * of a noisy machine and whatever one run leaves behind land on both tools):
 *
 * - cold pull: `oci-pull -q REF` into a fresh $CUTAWAY_ROOT, and
 *   `skopeo copy docker://REF oci:DIR:TAG` into a fresh DIR;
 * - cached pull: the same command again into the same store (every blob is
 *   there; only the manifest is fetched and the tag written);
 * - startup: `--version` of each, the floor under any run.
 *
 * Where NODE_EXTRA_CA_CERTS is set, oci-pull is measured a second time
 * without it: Node parses that bundle at every start (~70 ms with Debian's).
 *
 * Wall-clock time is process.hrtime around the child; peak memory is GNU
 * time's %M (see measure()). `sync` runs before every timed command, so one
 * run's writeback does not bill the next. Medians, not means: a noisy machine
 * makes outliers, and the median ignores them. One untimed warm-up round goes
 * first (binaries and registry blobs into the page cache).
 *
 * Prints a markdown table and writes it, with the date and the machine, to
 * bench/results/pull.md. Everything it starts or creates (registry, temp
 * dirs, a running child) is removed on the way out, also on failure or Ctrl-C.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MediaType, OciLayout, type Descriptor, type ImageConfig, type ImageManifest } from '@cutaway/oci';
import { buildDebianImage, putLayer, run, Stage } from '../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../test/fixtures/registry.ts';
import * as h from './harness.ts';
import { cleanups, GNU_TIME, log, mark, mb, median, REPO_DIR, seconds, table, type Row, type Sample } from './harness.ts';

const OCI_PULL = join(REPO_DIR, 'bin', 'oci-pull');
const RESULTS = join(REPO_DIR, 'bench', 'results', 'pull.md');
/** The environment as we were started, for the measured commands (main() points TMPDIR at its work dir). */
const ORIGINAL_ENV = { ...process.env };

/** The whole image (compressed) should come to about this. */
const TARGET_IMAGE_BYTES = 100_000_000;
/** …but the random layer is never smaller than this. */
const MIN_DATA_BYTES = 30 * 1024 * 1024;
const REMOTE_REPO = 'cutaway-bench/debian';
const REMOTE_TAG = 'three-layers';
const LOCAL_NAME = 'bench';

// ─── Cleanup, also on failure and Ctrl-C ─────────────────────────────────────

h.cleanUpOnSignals();

// ─── Measuring one command ───────────────────────────────────────────────────

/**
 * Runs `cmd args` under GNU time (h.measure) and returns its wall time, peak RSS and CPU.
 *
 * %M is ru_maxrss from wait4(2): the high-water mark of the resident set of
 * the measured process — on Linux, the larger of its own and that of the
 * largest descendant it reaped; never a sum over processes. Both tools are a
 * single process (oci-pull: bin/oci-pull → `env node`, which execs node in the
 * same pid and spawns nothing; skopeo: one multi-threaded Go process), so %M
 * is exactly the tool's own peak. /usr/bin/time's own fork+exec (~1 ms) is
 * inside the wall time of both alike.
 */
const measure = (cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Sample> => h.measure(workDir, cmd, args, env);

// ─── The image ───────────────────────────────────────────────────────────────

/** A deterministic byte stream: AES-128-CTR over zeros, keyed by a seed string. */
function seededBytes(seed: string): (n: number) => Buffer {
  const key = createHash('sha256').update(seed).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  return (n) => cipher.update(Buffer.alloc(n));
}

/** Files of seeded random bytes under opt/bench/data, `total` bytes in all: sizes from 4 KiB to 4 MiB, as a real /usr/lib has. */
async function stageDataLayer(s: Stage, total: number): Promise<number> {
  const bytes = seededBytes('cutaway bench/pull.ts data layer');
  let written = 0;
  for (let i = 0; written < total; i++) {
    const size = Math.min(total - written, 4096 << (bytes(1)[0]! % 11)); // 4 KiB … 4 MiB
    await s.file(`opt/bench/data/${String(Math.floor(i / 64)).padStart(2, '0')}/blob-${String(i).padStart(4, '0')}.bin`, bytes(size));
    written += size;
  }
  return written;
}

async function stageConfigLayer(s: Stage): Promise<void> {
  await s.file('etc/bench/app.conf', ['# cutaway bench', 'listen = 0.0.0.0:8080', 'workers = 4', 'log_level = info', ''].join('\n'));
  await s.file('etc/bench/env', 'APP_HOME=/opt/bench\nAPP_DATA=/opt/bench/data\n');
  await s.file('etc/bench/users.json', `${JSON.stringify({ users: Array.from({ length: 50 }, (_, i) => ({ id: 1000 + i, name: `user${i}` })) }, null, 2)}\n`);
  await s.file('usr/local/bin/bench-entrypoint', '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
  await s.symlink('usr/local/bin/entrypoint', 'bench-entrypoint');
  await s.dir('var/lib/bench', { uid: 1000, gid: 1000 });
}

interface BenchImage {
  manifest: ImageManifest;
  size: number;
}

/** The Debian fixture's image, plus a random-data layer and a config layer, as LOCAL_NAME in the layout. */
async function buildBenchImage(layout: OciLayout, work: string): Promise<BenchImage> {
  const debian = await buildDebianImage(layout, `${LOCAL_NAME}-base`);
  const base = debian.manifest.layers[0]!;
  const dataDir = join(work, 'layer-data');
  const configDir = join(work, 'layer-config');
  await mkdir(dataDir);
  await mkdir(configDir);
  const dataBytes = Math.max(MIN_DATA_BYTES, TARGET_IMAGE_BYTES - base.size - 100_000);
  await stageDataLayer(new Stage(dataDir), dataBytes);
  await stageConfigLayer(new Stage(configDir));
  const data = await putLayer(layout, dataDir);
  const config = await putLayer(layout, configDir);
  await rm(dataDir, { recursive: true, force: true });
  await rm(configDir, { recursive: true, force: true });

  const imageConfig: ImageConfig = {
    ...debian.config,
    rootfs: { type: 'layers', diff_ids: [...debian.diffIds, data.diffId, config.diffId] },
    history: [
      ...(debian.config.history ?? []),
      { created: debian.config.created, created_by: `cutaway bench: ${(dataBytes / 2 ** 20).toFixed(1)} MiB of seeded random files in /opt/bench/data` },
      { created: debian.config.created, created_by: 'cutaway bench: /etc/bench config files, an entrypoint script' },
    ],
  };
  const configDescriptor = await layout.putJson(MediaType.ociConfig, imageConfig);
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers: [base, data.descriptor, config.descriptor] };
  const descriptor = await layout.putJson(MediaType.ociManifest, manifest);
  await layout.addRef(LOCAL_NAME, descriptor);
  const size = configDescriptor.size + manifest.layers.reduce((sum, l) => sum + l.size, 0);
  return { manifest, size };
}

/** The digest the registry serves for the tag (skopeo may re-serialize a manifest on push). */
async function remoteDigest(registry: TestRegistry): Promise<string> {
  const res = await fetch(`${registry.url}/v2/${REMOTE_REPO}/manifests/${REMOTE_TAG}`, { headers: { Accept: MediaType.ociManifest } });
  if (!res.ok) throw new Error(`registry: manifest ${res.status}`);
  return `sha256:${createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex')}`;
}

// ─── The table ───────────────────────────────────────────────────────────────

const fmtSize = (bytes: number) => (bytes >= 1e6 ? `${mb(bytes)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

// ─── Main ────────────────────────────────────────────────────────────────────

const runs = h.parseRuns('pull', 7, 'oci-pull against skopeo copy on a ~100 MB, 3-layer image from a local registry; see bench/README.md.');

let workDir = '';

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (the Debian fixture layer keeps its owners)');
  for (const cmd of [GNU_TIME, '/usr/bin/skopeo', '/usr/bin/docker-registry']) {
    await stat(cmd).catch(() => {
      throw new Error(`${cmd} not found: run scripts/setup.sh (packages time, skopeo, docker-registry)`);
    });
  }

  // The figures are for the source in the tree: build oci-pull, as the tests do (esbuild, under a second).
  await h.buildTool('oci-pull');

  workDir = await mkdtemp(join(tmpdir(), 'cutaway-bench-pull-'));
  cleanups.push(() => rm(workDir, { recursive: true, force: true }));
  // The fixtures make their temp dirs (image staging, the registry's storage) under os.tmpdir():
  // inside workDir they go with it whatever interrupts them. The measured tools get the original TMPDIR.
  process.env.TMPDIR = workDir;

  log('building the image (Debian fixture layer + random data + config)');
  const layoutDir = join(workDir, 'layout');
  const image = await buildBenchImage(await OciLayout.create(layoutDir), workDir);
  const layerSizes = image.manifest.layers.map((l) => fmtSize(l.size)).join(' + ');
  log(`image: ${image.manifest.layers.length} layers (${layerSizes}), ${mb(image.size)} MB`);

  const registry = await startRegistry();
  cleanups.push(() => registry.stop());
  const ref = `${registry.host}/${REMOTE_REPO}:${REMOTE_TAG}`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layoutDir}:${LOCAL_NAME}`, `docker://${ref}`]);
  await rm(layoutDir, { recursive: true, force: true });
  const digest = await remoteDigest(registry);
  log(`pushed ${ref} (${digest})`);

  // Every store on the filesystem the registry's storage is on, as the brief asks: one disk, same for both.
  const [devWork, devRegistry] = await Promise.all([stat(workDir), stat(registry.dir)]);
  if (devWork.dev !== devRegistry.dev) log('warning: the registry storage and the stores are on different filesystems');

  // NODE_EXTRA_CA_CERTS makes every node process parse that bundle at start, before any code runs
  // (~70 ms here with Debian's whole bundle); skopeo has no such cost, and oci-pull reads the system
  // bundle itself when it talks https. Where it is set, oci-pull runs a second time without it.
  const extraCa = ORIGINAL_ENV.NODE_EXTRA_CA_CERTS;
  const withoutExtraCa = { ...ORIGINAL_ENV };
  delete withoutExtraCa.NODE_EXTRA_CA_CERTS;

  interface Variant {
    name: string;
    /** A fresh store and the command that pulls into it. */
    start(): Promise<{ dir: string; cmd: string; args: string[]; env: NodeJS.ProcessEnv }>;
    check(dir: string, sample: Sample): Promise<void>;
    version: { cmd: string; env: NodeJS.ProcessEnv };
    cold: Sample[];
    cached: Sample[];
    startup: Sample[];
  }
  const ociPull = (name: string, env: NodeJS.ProcessEnv): Variant => ({
    name,
    start: async () => {
      const dir = await mkdtemp(join(workDir, 'oci-pull-'));
      return { dir, cmd: OCI_PULL, args: ['-q', ref], env: { ...env, CUTAWAY_ROOT: dir } };
    },
    check: async (dir, sample) => {
      if (sample.stdout.trim() !== digest) throw new Error(`oci-pull printed ${JSON.stringify(sample.stdout.trim())}, want ${digest}`);
      await checkLayout(join(dir, 'images'), ref, digest);
    },
    version: { cmd: OCI_PULL, env },
    cold: [],
    cached: [],
    startup: [],
  });
  const skopeo: Variant = {
    name: 'skopeo copy',
    start: async () => {
      const dir = await mkdtemp(join(workDir, 'skopeo-'));
      return { dir, cmd: 'skopeo', args: ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'oci')}:${REMOTE_TAG}`], env: ORIGINAL_ENV };
    },
    check: (dir) => checkLayout(join(dir, 'oci'), REMOTE_TAG, digest),
    version: { cmd: 'skopeo', env: ORIGINAL_ENV },
    cold: [],
    cached: [],
    startup: [],
  };
  const ours = ociPull('oci-pull', ORIGINAL_ENV);
  const bare = extraCa !== undefined ? ociPull('oci-pull, NODE_EXTRA_CA_CERTS unset', withoutExtraCa) : undefined;
  const variants = [ours, skopeo, ...(bare ? [bare] : [])];

  /** A cold pull into a fresh store, a cached pull into the same store, then the store is removed. */
  const pullTwice = async (v: Variant, record: boolean) => {
    const { dir, cmd, args, env } = await v.start();
    try {
      const first = await measure(cmd, args, env);
      await v.check(dir, first);
      const second = await measure(cmd, args, env);
      await v.check(dir, second);
      if (record) {
        v.cold.push(first);
        v.cached.push(second);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  log('warm-up round (not counted)');
  for (const v of variants) await pullTwice(v, false);

  for (let round = 0; round < runs; round++) {
    const order = h.flipped(variants, round);
    for (const v of order) await pullTwice(v, true);
    for (const v of order) v.startup.push(await measure(v.version.cmd, ['--version'], v.version.env));
    const last = (v: Variant) => `${v.name} ${seconds(v.cold.at(-1)!.wallMs)} s / ${seconds(v.cached.at(-1)!.wallMs)} s`;
    log(`round ${round + 1}/${runs} (${order.map((v) => v.name).join(', then ')}): cold/cached ${variants.map(last).join(', ')}`);
  }

  const ratio = (a: Sample[], b: Sample[]) => median(a.map((s) => s.wallMs)) / median(b.map((s) => s.wallMs));
  const coldRatio = ratio(ours.cold, skopeo.cold);
  const cachedRatio = ratio(ours.cached, skopeo.cached);
  const peak = Math.max(...[...ours.cold, ...ours.cached].map((s) => s.maxRssKiB)) / 1024;
  const cachedMedian = median(ours.cached.map((s) => s.wallMs)) / 1000;

  const rows: Row[] = [
    ...variants.map((v) => ({ label: `cold pull — ${v.name}`, samples: v.cold })),
    ...variants.map((v) => ({ label: `cached pull — ${v.name}`, samples: v.cached })),
    ...variants.map((v) => ({ label: `startup (--version) — ${v.name === 'skopeo copy' ? 'skopeo' : v.name}`, samples: v.startup })),
  ];
  const report = [
    `Image: ${image.manifest.layers.length} layers (${layerSizes}) + config, ${mb(image.size)} MB compressed, from docker-registry on 127.0.0.1.`,
    `${runs} runs of each, interleaved (order flipped every round), after one warm-up round; wall-clock times.`,
    '',
    table(rows),
    '',
    `- cold pull, ratio of medians oci-pull / skopeo: **${coldRatio.toFixed(2)}** (target ≤ 1.00: ${mark(coldRatio <= 1)})`,
    `- cached pull, ratio of medians oci-pull / skopeo: **${cachedRatio.toFixed(2)}**; oci-pull median ${cachedMedian.toFixed(3)} s (target well under 1 s, here < 0.5 s: ${mark(cachedMedian < 0.5)})`,
    `- oci-pull peak RSS, the largest of all its pulls: ${peak.toFixed(1)} MiB (target < 150 MB: ${mark(peak * 2 ** 20 < 150e6)})`,
    ...(bare
      ? [
          `- NODE_EXTRA_CA_CERTS is set here (${extraCa}): every node process parses it at start. Without it, oci-pull / skopeo: cold **${ratio(bare.cold, skopeo.cold).toFixed(2)}**, cached **${ratio(bare.cached, skopeo.cached).toFixed(2)}**.`,
        ]
      : []),
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const skopeoVersion = (await run('skopeo', ['--version'])).trim();
  const source = await sourceVersion();
  const machine = `${cpus().length} CPUs (nproc ${await h.nproc()}, ${h.cpuModel()}), Linux ${release()}, Node ${process.version}, ${skopeoVersion}`;
  const doc = [
    '# oci-pull against skopeo copy',
    '',
    `Written by \`pnpm exec tsx bench/pull.ts --runs ${runs}\` on ${new Date().toISOString()}.`,
    '',
    `Machine: ${machine}.`,
    '',
    `Source: ${source}.`,
    '',
    'Commands: `oci-pull -q REF` (CUTAWAY_ROOT a fresh dir) and `skopeo copy --quiet --src-tls-verify=false docker://REF oci:DIR:TAG` (DIR fresh), each under `/usr/bin/time -f %M`.',
    '',
    `Environment: NODE_EXTRA_CA_CERTS ${ORIGINAL_ENV.NODE_EXTRA_CA_CERTS ? `= ${ORIGINAL_ENV.NODE_EXTRA_CA_CERTS}` : 'unset'}, NODE_OPTIONS ${ORIGINAL_ENV.NODE_OPTIONS ? `= ${ORIGINAL_ENV.NODE_OPTIONS}` : 'unset'}.`,
  ];
  await h.writeResults(RESULTS, doc, report, h.sampleList(rows));
}

/** The commit measured, and whether what oci-pull is built from differs from it (read-only git). */
async function sourceVersion(): Promise<string> {
  const commit = await h.gitCommit();
  if (commit === undefined) return 'not a git checkout';
  // What bin/oci-pull is bundled from.
  const paths = ['tools/oci-pull/src', 'libs/oci/src', 'libs/cli/src', 'libs/libc/src'];
  const changed = await h.gitDirty(paths, true);
  return `commit ${commit}${changed ? `, with uncommitted changes in ${paths.join(', ')}` : ''}`;
}

/** The layout has `name` → `digest`, and every blob of that manifest. */
async function checkLayout(dir: string, name: string, digest: string): Promise<void> {
  const layout = await OciLayout.open(dir);
  const d: Descriptor | undefined = await layout.resolve(name);
  if (d?.digest !== digest) throw new Error(`${dir}: ${name} is ${d?.digest ?? 'missing'}, want ${digest}`);
  const doc = await layout.readManifestDocument(d);
  if (doc.kind !== 'manifest') throw new Error(`${dir}: ${name} is not an image manifest`);
  for (const blob of [doc.manifest.config, ...doc.manifest.layers]) {
    const { size } = await stat(layout.blobPath(blob.digest));
    if (size !== blob.size) throw new Error(`${dir}: ${blob.digest} has ${size} bytes, want ${blob.size}`);
  }
}

await h.finish(main);

