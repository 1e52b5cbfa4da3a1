/**
 * layer-commit against umoci repack: the same change, 10,000 new files and 200 MB on top of the busybox
 * fixture, committed by each into a new image (gzip layer), turn about, on a tmpfs. As root; see
 * bench/README.md.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findImage, OciLayout, resolveNamedImage, type Descriptor } from '@cutaway/oci';
import { buildBusyboxImage, run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { mb, type Sample } from './harness.ts';

const LAYER_COMMIT = join(h.BIN, 'layer-commit');
const BASE_NAME = 'base';
const NEW_NAME = 'new';

/** The change. */
const DIRS = 100;
const SMALL_PER_DIR = 99;
const SMALL_MIN = 1024;
const SMALL_MAX = 8192;
const TOTAL_BYTES = 200_000_000;
const LARGE_JITTER = 64 * 1024;
const BLOCK = 64 * 1024;
const SEED = 0x5eed_c0de;
const FILE_MTIME = 1_600_000_000; // 2020-09-13T12:26:40Z

const { runs } = h.parseOptions('commit', 'layer-commit against umoci repack: 10,000 files, 200 MB on the busybox fixture, on a tmpfs. 5 rounds by default.', { runs: 5 });
await h.inMountNamespace('a tmpfs mount; umoci keeps owners only as root');

// ─── The change: 10,000 files, 200 MB, the same bytes every time ─────────────

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Text-like bytes: words of 2–10 lowercase letters from a seeded 4,096-word
 * vocabulary, the common ones more likely (index ∝ r²), a newline every 8–15
 * words. gzip -6 leaves about 42% of it (source code gives 20–35%: this is a little harder).
 */
function textMaker(seed: number): (size: number) => Buffer {
  const rand = prng(seed);
  const words: Buffer[] = [];
  for (let i = 0; i < 4096; i++) {
    const length = 2 + Math.floor(rand() * 9);
    let w = '';
    for (let j = 0; j < length; j++) w += String.fromCharCode(97 + Math.floor(rand() * 26));
    words.push(Buffer.from(`${w} `, 'latin1'));
  }
  return (size) => {
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    let untilNewline = 8 + Math.floor(rand() * 8);
    while (at < size) {
      const r = rand();
      const word = words[Math.floor(r * r * words.length)]!;
      at += word.copy(out, at);
      if (--untilNewline === 0 && at > 0) {
        out[at - 1] = 0x0a;
        untilNewline = 8 + Math.floor(rand() * 8);
      }
    }
    return out;
  };
}

/** `size` incompressible bytes: AES-256-CTR of zeros, the key from the seed and `which`. */
function randomBytesFor(seed: number, which: string, size: number): Buffer {
  const key = createHash('sha256').update(`${seed}:${which}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()]);
}

interface Change {
  files: number;
  bytes: number;
  small: number;
  smallBytes: number;
  large: number;
  largeBytes: number;
}

/**
 * Writes the change under `root`: root/app/dNNN/fNN.txt (99 small) and
 * root/app/dNNN/blob.bin (1 large) for NNN in 000–099. Small sizes are uniform
 * in 1–8 KiB; the large files share the rest of TOTAL_BYTES, ±64 KiB each.
 * Every file 0644, every directory 0755, all with mtime FILE_MTIME.
 */
function writeChange(root: string): Change {
  const rand = prng(SEED);
  const text = textMaker(SEED ^ 0x1234_5678);
  const smallSizes = Array.from({ length: DIRS * SMALL_PER_DIR }, () => SMALL_MIN + Math.floor(rand() * (SMALL_MAX - SMALL_MIN + 1)));
  const smallBytes = smallSizes.reduce((a, b) => a + b, 0);
  const largeBytes = TOTAL_BYTES - smallBytes;
  const largeSizes = Array.from({ length: DIRS }, () => Math.floor(largeBytes / DIRS) + Math.floor((rand() * 2 - 1) * LARGE_JITTER));
  largeSizes[DIRS - 1]! += largeBytes - largeSizes.reduce((a, b) => a + b, 0);
  const app = join(root, 'app');
  const dirs = [root, app];
  mkdirSync(app, { recursive: true });
  for (let d = 0; d < DIRS; d++) {
    const dir = join(app, `d${String(d).padStart(3, '0')}`);
    mkdirSync(dir);
    dirs.push(dir);
    const write = (name: string, data: Buffer) => {
      const path = join(dir, name);
      writeFileSync(path, data, { mode: 0o644 });
      chmodSync(path, 0o644); // whatever the umask
      utimesSync(path, FILE_MTIME, FILE_MTIME);
    };
    for (let f = 0; f < SMALL_PER_DIR; f++) {
      const size = smallSizes[d * SMALL_PER_DIR + f]!;
      // A header line that makes every file differ, then text.
      const head = Buffer.from(`# app/d${d}/f${f} ${size} bytes\n`, 'latin1');
      write(`f${String(f).padStart(2, '0')}.txt`, Buffer.concat([head, text(size)]).subarray(0, size));
    }
    // Like a binary or an asset: 64 KiB blocks, random and text in turn (about 71% of it survives gzip -6: the random half not at all).
    const size = largeSizes[d]!;
    const blocks: Buffer[] = [];
    for (let at = 0, i = 0; at < size; at += BLOCK, i++) {
      const n = Math.min(BLOCK, size - at);
      blocks.push(i % 2 === 0 ? randomBytesFor(SEED, `${d}:${i}`, n) : text(n));
    }
    write('blob.bin', Buffer.concat(blocks));
  }
  for (const dir of dirs.reverse()) {
    chmodSync(dir, 0o755);
    utimesSync(dir, FILE_MTIME, FILE_MTIME);
  }
  return { files: DIRS * (SMALL_PER_DIR + 1), bytes: TOTAL_BYTES, small: DIRS * SMALL_PER_DIR, smallBytes, large: DIRS, largeBytes };
}

// ─── Checking what the tools made ────────────────────────────────────────────

/** The new image's top layer in `layout`, found by the name the tool tagged. */
async function topLayer(layout: OciLayout, name: string, findLikeLayerCommit: boolean): Promise<Descriptor> {
  const image = findLikeLayerCommit ? await findImage(layout, name) : await resolveNamedImage(layout, name);
  const layer = image.manifest.layers.at(-1);
  if (!layer) throw new Error(`${name} in ${layout.dir} has no layers`);
  return layer;
}

/** Regular files in a layer blob (path → size), via GNU tar's listing; and how many entries it has. */
async function layerFiles(blob: string, compression: 'gzip' | 'zstd' | 'none'): Promise<{ entries: number; files: Map<string, number> }> {
  const filter = compression === 'gzip' ? ['-z'] : compression === 'zstd' ? ['--zstd'] : [];
  const listing = await h.exec('tar', ['--list', '--verbose', '--numeric-owner', ...filter, '-f', blob]);
  const files = new Map<string, number>();
  let entries = 0;
  for (const line of listing.split('\n')) {
    if (!line) continue;
    entries++;
    const m = /^(\S)\S*\s+\S+\s+(\d+)\s+\S+\s+\S+\s+(.*)$/.exec(line);
    if (!m) throw new Error(`unexpected tar listing line: ${line}`);
    if (m[1] === '-') files.set(m[3]!.replace(/^\.\//, ''), Number(m[2]));
  }
  return { entries, files };
}

function sameFiles(a: Map<string, number>, b: Map<string, number>): string | undefined {
  if (a.size !== b.size) return `${a.size} files against ${b.size}`;
  for (const [path, size] of a) {
    if (!b.has(path)) return `${path} only in one`;
    if (b.get(path) !== size) return `${path}: ${size} bytes against ${b.get(path)}`;
  }
  return undefined;
}

// ─── Main ────────────────────────────────────────────────────────────────────

type Tool = 'layer-commit' | 'umoci' | 'layer-commit none' | 'layer-commit zstd' | 'tar | gzip' | 'startup';
const TOOLS: Tool[] = ['layer-commit', 'umoci', 'layer-commit none', 'layer-commit zstd', 'tar | gzip', 'startup'];
const LABELS: Record<Tool, string> = {
  'layer-commit': 'commit — layer-commit (gzip)',
  umoci: 'commit — umoci repack',
  'layer-commit none': 'commit — layer-commit --compression none',
  'layer-commit zstd': 'commit — layer-commit --compression zstd',
  'tar | gzip': 'floor — tar --sort=name \\| gzip -n > /dev/null',
  startup: 'startup — layer-commit --version',
};
const COMPRESSION: Partial<Record<Tool, 'gzip' | 'zstd' | 'none'>> = { 'layer-commit': 'gzip', umoci: 'gzip', 'layer-commit none': 'none', 'layer-commit zstd': 'zstd' };

async function main(): Promise<void> {
  const loadAtStart = await h.loadAverage();
  await h.need([h.GNU_TIME, '/usr/bin/umoci', '/usr/bin/tar', '/usr/bin/gzip', '/usr/bin/zstd', '/usr/bin/bash', '/usr/bin/unshare'], 'run scripts/setup.sh (packages time, umoci, tar, gzip, zstd)');
  await h.useTools(['layer-commit'], 'all');
  // The fixture stages the image under os.tmpdir(): on the tmpfs too. The measured tools get the original TMPDIR.
  const workDir = await h.workDir('cw-bench-commit', '3g');

  h.log('building the busybox fixture image (the base)');
  const baseLayout = join(workDir, 'base-layout');
  await buildBusyboxImage(await OciLayout.create(baseLayout), BASE_NAME);
  const base = await resolveNamedImage(await OciLayout.open(baseLayout), BASE_NAME);
  const baseBytes = base.manifest.layers.reduce((s, l) => s + l.size, 0);

  h.log('writing the change: 10,000 files, 200 MB (seeded)');
  const upper = join(workDir, 'upper');
  const change = writeChange(upper);

  h.log('umoci unpack of the base, and the same files into its rootfs');
  const bundleTemplate = join(workDir, 'bundle-template');
  await h.exec('umoci', ['unpack', '--image', `${baseLayout}:${BASE_NAME}`, bundleTemplate]);
  await h.exec('cp', ['-a', '--', join(upper, 'app'), join(bundleTemplate, 'rootfs', 'app')]);

  let serial = 0;
  const fresh = (prefix: string) => join(workDir, `${prefix}-${++serial}`);

  interface Prepared {
    cmd: string;
    args: string[];
    env?: NodeJS.ProcessEnv;
    /** The new layer (for the check), once the command has run. */
    layer?: () => Promise<string>;
    check?: (s: Sample) => void;
    done?: () => Promise<unknown>;
  }
  const layerCommit = (compression: 'gzip' | 'zstd' | 'none') => async (): Promise<Prepared> => {
    const root = fresh(`lc-${compression}`);
    await mkdir(root);
    await h.exec('cp', ['-a', '--', baseLayout, join(root, 'images')]);
    return {
      cmd: LAYER_COMMIT,
      args: ['-q', upper, '--image', BASE_NAME, '--tag', NEW_NAME, ...(compression === 'gzip' ? [] : ['--compression', compression])],
      env: { ...h.ENV, CUTAWAY_ROOT: root },
      layer: async () => {
        const layout = await OciLayout.open(join(root, 'images'));
        return layout.blobPath((await topLayer(layout, NEW_NAME, true)).digest);
      },
      check: (s) => {
        if (!/^sha256:[0-9a-f]{64}$/.test(s.stdout.trim())) throw new Error(`layer-commit printed ${JSON.stringify(s.stdout.trim())}, not a digest`);
      },
      done: () => rm(root, { recursive: true, force: true }),
    };
  };
  const prepare: Record<Tool, () => Promise<Prepared>> = {
    'layer-commit': layerCommit('gzip'),
    'layer-commit none': layerCommit('none'),
    'layer-commit zstd': layerCommit('zstd'),
    umoci: async () => {
      const dir = fresh('umoci');
      await mkdir(dir);
      const layoutDir = join(dir, 'layout');
      const bundle = join(dir, 'bundle');
      await h.exec('cp', ['-a', '--', baseLayout, layoutDir]);
      await h.exec('cp', ['-a', '--', bundleTemplate, bundle]);
      return {
        cmd: 'umoci',
        args: ['repack', '--image', `${layoutDir}:${NEW_NAME}`, bundle],
        layer: async () => {
          const layout = await OciLayout.open(layoutDir);
          return layout.blobPath((await topLayer(layout, NEW_NAME, false)).digest);
        },
        done: () => rm(dir, { recursive: true, force: true }),
      };
    },
    'tar | gzip': async () => ({ cmd: 'bash', args: ['-e', '-o', 'pipefail', '-c', `tar --create --sort=name -C '${upper}' . | gzip -n > /dev/null`] }),
    startup: async () => ({
      cmd: LAYER_COMMIT,
      args: ['--version'],
      check: (s) => {
        if (!s.stdout.trim()) throw new Error('layer-commit --version printed nothing');
      },
    }),
  };

  /** The warm-up round's layers, which must hold the same files. */
  const layerInfo = new Map<Tool, { size: number; entries: number; files: Map<string, number> }>();
  const once = async (tool: Tool, warmUp: boolean): Promise<Sample> => {
    const p = await prepare[tool]();
    try {
      const sample = await h.measure(p.cmd, p.args, p.env);
      p.check?.(sample);
      if (warmUp && p.layer) {
        const blob = await p.layer();
        layerInfo.set(tool, { size: (await stat(blob)).size, ...(await layerFiles(blob, COMPRESSION[tool]!)) });
      }
      return sample;
    } finally {
      await p.done?.();
    }
  };
  const checkLayers = async (warmUp: boolean) => {
    if (!warmUp) return;
    const reference = layerInfo.get('umoci')!;
    for (const [tool, info] of layerInfo) {
      const diff = sameFiles(info.files, reference.files);
      if (diff) throw new Error(`${tool}'s layer and umoci's differ: ${diff}`);
      if (info.files.size !== change.files) throw new Error(`${tool}'s layer has ${info.files.size} regular files, want ${change.files}`);
    }
    h.log(`layers: ${[...layerInfo].map(([t, i]) => `${t} ${i.entries} entries, ${mb(i.size)} MB`).join('; ')}`);
  };
  const samples = new Map<Tool, Sample[]>();
  await h.rounds(samples, TOOLS.map((t) => h.unit(t, (warmUp) => once(t, warmUp))), runs, { inSeconds: true, after: checkLayers });

  const m = (t: Tool) => h.med(samples.get(t)!);
  const vsUmoci = m('layer-commit') / m('umoci');
  const rows = TOOLS.map((t) => ({ label: LABELS[t], samples: samples.get(t)! }));
  const sizes = (['layer-commit', 'umoci', 'layer-commit zstd', 'layer-commit none'] as Tool[]).map((t) => `${t} ${mb(layerInfo.get(t)!.size)} MB (${layerInfo.get(t)!.entries} entries)`).join(', ');
  await h.writeResults({
    name: 'commit',
    title: 'layer-commit against umoci repack',
    options: `--runs ${runs}`,
    source: ['libs', 'tools/layer-commit'],
    versions: [await h.versionOf('umoci'), await h.versionOf('tar'), await h.versionOf('gzip'), `zstd ${/v[\d.]+/.exec(await run('zstd', ['--version']))?.[0] ?? '?'}`],
    load: { 'at the start': loadAtStart },
    about: [
      'Commands, each under `/usr/bin/time -f "%M %U %S"`, all paths on a tmpfs:',
      '',
      '- `layer-commit -q UPPER --image base --tag new` with `CUTAWAY_ROOT` fresh, its `images/` a copy of the base layout (untimed copy); also with `--compression none` and `--compression zstd`',
      '- `umoci repack --image LAYOUT:new BUNDLE`, LAYOUT a fresh copy of the base layout and BUNDLE a fresh copy of `umoci unpack --image LAYOUT:base` with the same files added to its rootfs (untimed copies)',
      "- `bash -e -o pipefail -c \"tar --create --sort=name -C UPPER . | gzip -n > /dev/null\"`",
      '- `layer-commit --version`',
    ],
    body: [
      `The change: ${change.files.toLocaleString('en')} new files, ${mb(change.bytes)} MB (${change.small.toLocaleString('en')} text files of 1–8 KiB, ${mb(change.smallBytes)} MB; ${change.large} files of ~${mb(change.largeBytes / change.large)} MB, half random and half text, ${mb(change.largeBytes)} MB) in ${DIRS} directories under /app, on the busybox fixture (${base.manifest.layers.length} layer, ${mb(baseBytes)} MB gzip).`,
      `The new layers: ${sizes}.`,
      `Everything on a tmpfs. ${runs} runs of each, interleaved (order rotated every round), after one warm-up round; wall-clock times; every run into a fresh copy of the base layout.`,
      '',
      ...h.table('measurement', rows, { inSeconds: true, rssMax: true }),
      '',
      `- commit, ratio of medians layer-commit (gzip) / umoci repack: **${h.ratio(vsUmoci)}** (target ≤ 1.00: ${h.mark(vsUmoci <= 1)})`,
      `- layer-commit (gzip) / tar | gzip floor: **${h.ratio(m('layer-commit') / m('tar | gzip'))}**; --compression none / umoci: **${h.ratio(m('layer-commit none') / m('umoci'))}**; --compression zstd / umoci: **${h.ratio(m('layer-commit zstd') / m('umoci'))}**`,
    ],
    samples: h.sampleList(rows, true),
  });
}

await h.finish(main);
