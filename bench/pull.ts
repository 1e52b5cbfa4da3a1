/**
 * oci-pull against skopeo, side by side: the same ~100 MB, 3-layer image from the same local registry, pulled
 * by each into an empty OCI layout, turn about. As root; see bench/README.md.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MediaType, OciLayout, type Descriptor, type ImageConfig, type ImageManifest } from '@cutaway/oci';
import { buildDebianImage, putLayer, run, Stage } from '../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../test/fixtures/registry.ts';
import * as h from './harness.ts';
import { mb, type Sample } from './harness.ts';

const OCI_PULL = join(h.BIN, 'oci-pull');
/** The whole image (compressed) should come to about this. */
const TARGET_IMAGE_BYTES = 100_000_000;
/** …but the random layer is never smaller than this. */
const MIN_DATA_BYTES = 30 * 1024 * 1024;
const REMOTE_REPO = 'cutaway-bench/debian';
const REMOTE_TAG = 'three-layers';
const LOCAL_NAME = 'bench';

const { runs } = h.parseOptions('pull', 'oci-pull against skopeo copy on a ~100 MB, 3-layer image from a local registry. 7 rounds by default.', { runs: 7 });

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

const fmtSize = (bytes: number) => (bytes >= 1e6 ? `${mb(bytes)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (the Debian fixture layer keeps its owners)');
  await h.need([h.GNU_TIME, '/usr/bin/skopeo', '/usr/bin/docker-registry'], 'run scripts/setup.sh (packages time, skopeo, docker-registry)');
  await h.useTools(['oci-pull'], 'all');
  // The fixtures make their temp dirs (image staging, the registry's storage) under os.tmpdir(): inside the
  // work dir they go with it whatever interrupts them. The measured tools get the original TMPDIR.
  const workDir = await h.workDir('cw-bench-pull');

  h.log('building the image (Debian fixture layer + random data + config)');
  const layoutDir = join(workDir, 'layout');
  const image = await buildBenchImage(await OciLayout.create(layoutDir), workDir);
  const layerSizes = image.manifest.layers.map((l) => fmtSize(l.size)).join(' + ');
  h.log(`image: ${image.manifest.layers.length} layers (${layerSizes}), ${mb(image.size)} MB`);

  const registry = await startRegistry();
  h.cleanups.push(() => registry.stop());
  const ref = `${registry.host}/${REMOTE_REPO}:${REMOTE_TAG}`;
  await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layoutDir}:${LOCAL_NAME}`, `docker://${ref}`]);
  await rm(layoutDir, { recursive: true, force: true });
  const digest = await remoteDigest(registry);
  h.log(`pushed ${ref} (${digest})`);

  // Every store on the filesystem the registry's storage is on: one disk, same for both.
  const [devWork, devRegistry] = await Promise.all([stat(workDir), stat(registry.dir)]);
  if (devWork.dev !== devRegistry.dev) h.log('warning: the registry storage and the stores are on different filesystems');

  interface Variant {
    name: string;
    /** A fresh store and the command that pulls into it. */
    start(): Promise<{ dir: string; cmd: string; args: string[]; env: NodeJS.ProcessEnv }>;
    check(dir: string, sample: Sample): Promise<void>;
    version: { cmd: string; env: NodeJS.ProcessEnv };
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
  });
  const skopeo: Variant = {
    name: 'skopeo copy',
    start: async () => {
      const dir = await mkdtemp(join(workDir, 'skopeo-'));
      return { dir, cmd: 'skopeo', args: ['copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${join(dir, 'oci')}:${REMOTE_TAG}`], env: h.ENV };
    },
    check: (dir) => checkLayout(join(dir, 'oci'), REMOTE_TAG, digest),
    version: { cmd: 'skopeo', env: h.ENV },
  };
  // NODE_EXTRA_CA_CERTS makes every node process parse that bundle at start, before any code runs; skopeo has
  // no such cost, and oci-pull reads the system bundle itself when it talks https. Where it is set, oci-pull
  // runs a second time without it.
  const extraCa = h.ENV.NODE_EXTRA_CA_CERTS;
  const bare = extraCa !== undefined ? ociPull('oci-pull, NODE_EXTRA_CA_CERTS unset', h.ENV_NO_CA) : undefined;
  const variants = [ociPull('oci-pull', h.ENV), skopeo, ...(bare ? [bare] : [])];

  /** A cold pull into a fresh store, a cached pull into the same store; then the store is removed. */
  const pullTwice = (v: Variant): h.Unit<string> => ({
    async run() {
      const { dir, cmd, args, env } = await v.start();
      try {
        const cold = await h.measure(cmd, args, env);
        await v.check(dir, cold);
        const cached = await h.measure(cmd, args, env);
        await v.check(dir, cached);
        return [[`cold ${v.name}`, cold], [`cached ${v.name}`, cached]];
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  });
  /** Each one's --version, after the pulls, in the pulls' order. */
  let startupRound = 0;
  const startups: h.Unit<string> = {
    async run(warmUp) {
      if (warmUp) return [];
      const got: [string, Sample][] = [];
      for (const v of h.flipped(variants, startupRound++)) got.push([`startup ${v.name}`, await h.measure(v.version.cmd, ['--version'], v.version.env)]);
      return got;
    },
  };
  const loadBefore = await h.loadAverage();
  const samples = new Map<string, Sample[]>();
  const order = <T>(units: readonly T[], round: number) => [...h.flipped(units.slice(0, -1), round), units.at(-1)!];
  await h.rounds(samples, [...variants.map(pullTwice), startups], runs, { inSeconds: true, order });

  const s = (kind: string, v: Variant) => samples.get(`${kind} ${v.name}`)!;
  const [ours] = variants as [Variant];
  const vsSkopeo = (kind: string, v: Variant) => h.med(s(kind, v)) / h.med(s(kind, skopeo));
  const coldRatio = vsSkopeo('cold', ours);
  const peak = Math.max(...[...s('cold', ours), ...s('cached', ours)].map((x) => x.maxRssKiB)) / 1024;
  const cachedMedian = h.med(s('cached', ours)) / 1000;
  const rows = [
    ...variants.map((v) => ({ label: `cold pull — ${v.name}`, samples: s('cold', v) })),
    ...variants.map((v) => ({ label: `cached pull — ${v.name}`, samples: s('cached', v) })),
    ...variants.map((v) => ({ label: `startup (--version) — ${v === skopeo ? 'skopeo' : v.name}`, samples: s('startup', v) })),
  ];
  await h.writeResults({
    name: 'pull',
    title: 'oci-pull against skopeo copy',
    options: `--runs ${runs}`,
    source: ['tools/oci-pull/src', 'libs/oci/src', 'libs/cli/src', 'libs/libc/src'],
    versions: [await h.versionOf('skopeo')],
    load: { before: loadBefore },
    about: [
      'Commands: `oci-pull -q REF` (CUTAWAY_ROOT a fresh dir) and `skopeo copy --quiet --src-tls-verify=false docker://REF oci:DIR:TAG` (DIR fresh), each under `/usr/bin/time -f "%M %U %S"`.',
      '',
      `Environment: NODE_OPTIONS ${h.ENV.NODE_OPTIONS ? `= ${h.ENV.NODE_OPTIONS}` : 'unset'}.`,
    ],
    body: [
      `Image: ${image.manifest.layers.length} layers (${layerSizes}) + config, ${mb(image.size)} MB compressed, from docker-registry on 127.0.0.1.`,
      `${runs} runs of each, interleaved (order flipped every round), after one warm-up round; wall-clock times.`,
      '',
      ...h.table('measurement', rows, { inSeconds: true, rssMax: true }),
      '',
      `- cold pull, ratio of medians oci-pull / skopeo: **${h.ratio(coldRatio)}** (target ≤ 1.00: ${h.mark(coldRatio <= 1)})`,
      `- cached pull, ratio of medians oci-pull / skopeo: **${h.ratio(vsSkopeo('cached', ours))}**; oci-pull median ${cachedMedian.toFixed(3)} s (target well under 1 s, here < 0.5 s: ${h.mark(cachedMedian < 0.5)})`,
      `- oci-pull peak RSS, the largest of all its pulls: ${peak.toFixed(1)} MiB (target < 150 MB: ${h.mark(peak * 2 ** 20 < 150e6)})`,
      ...(bare ? [`- NODE_EXTRA_CA_CERTS is set here (${extraCa}): every node process parses it at start. Without it, oci-pull / skopeo: cold **${h.ratio(vsSkopeo('cold', bare))}**, cached **${h.ratio(vsSkopeo('cached', bare))}**.`] : []),
    ],
    samples: h.sampleList(rows, true),
  });
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
