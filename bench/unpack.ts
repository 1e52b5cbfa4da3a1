/**
 * overlay-mount's unpacking against umoci unpack and plain GNU tar: the Debian fixture image (one ~50 MB gzip
 * layer) unpacked by each onto a tmpfs, turn about; and mounting an image whose layers are unpacked already,
 * against a bare `mount -t overlay`. As root; see bench/README.md.
 */
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout, parseDigest, resolveNamedImage, type Digest } from '@cutaway/oci';
import { buildDebianImage, run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { mb, seconds, type Sample } from './harness.ts';

const OVERLAY_MOUNT = join(h.BIN, 'overlay-mount');
const IMAGE_NAME = 'bench';

const { runs } = h.parseOptions('unpack', 'overlay-mount against umoci unpack and GNU tar on the Debian fixture, on a tmpfs. 7 rounds by default.', { runs: 7 });
await h.inMountNamespace('tmpfs and overlay mounts; the Debian layer keeps its owners');

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

type Key = 'overlay-mount' | 'umoci' | 'GNU tar' | 'om mount' | 'om unmount' | 'mount' | 'umount' | 'startup';

async function main(): Promise<void> {
  await h.need([h.GNU_TIME, '/usr/bin/umoci', '/usr/bin/tar', '/usr/bin/gzip', '/usr/bin/bash'], 'run scripts/setup.sh (packages time, umoci, tar, gzip)');
  await h.useTools(['overlay-mount'], 'all');
  // The fixture stages the image under os.tmpdir(): on the tmpfs too, and gone with it. The measured tools get the original TMPDIR.
  const workDir = await h.workDir('cw-bench-unpack', '2g');

  h.log('building the Debian fixture image (debootstrap rootfs from /var/cache/cutaway-test)');
  const layoutDir = join(workDir, 'layout');
  await buildDebianImage(await OciLayout.create(layoutDir), IMAGE_NAME);
  const layout = await OciLayout.open(layoutDir);
  const image = await resolveNamedImage(layout, IMAGE_NAME);
  const blobs = image.manifest.layers.map((l) => layout.blobPath(l.digest));
  const compressed = image.manifest.layers.reduce((sum, l) => sum + l.size, 0);
  for (const l of image.manifest.layers) if (!l.mediaType.endsWith('gzip')) throw new Error(`layer ${l.digest} is ${l.mediaType}, not gzip`);
  const layerDir = (root: string, diffId: Digest) => join(root, 'layers', parseDigest(diffId).algorithm, parseDigest(diffId).encoded);
  h.log(`image: ${image.manifest.layers.length} layer(s), ${mb(compressed)} MB gzip`);
  const withRoot = (root: string) => ({ ...h.ENV, CUTAWAY_ROOT: root });

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
        env: withRoot(root),
        check: async (s: Sample) => {
          if (s.stdout.trim() !== merged) throw new Error(`overlay-mount printed ${JSON.stringify(s.stdout.trim())}, want ${merged}`);
          if (!(await h.mountsUnder(merged)).includes(merged)) throw new Error(`${merged} is not mounted`);
          await mustHave(join(merged, 'etc/debian_version'));
        },
        tree: layerDir(root, image.config.rootfs.diff_ids[0]!),
        done: async () => {
          await run(OVERLAY_MOUNT, ['--unmount', 'c1', '--rm'], { env: withRoot(root) });
          await rm(root, { recursive: true, force: true });
        },
      };
    },
    umoci: async () => {
      const bundle = fresh('umoci');
      return {
        cmd: 'umoci',
        args: ['unpack', '--image', `${layoutDir}:${IMAGE_NAME}`, bundle],
        env: h.ENV,
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
        env: h.ENV,
        check: async () => mustHave(join(dir, 'etc/debian_version')),
        tree: dir,
        done: () => rm(dir, { recursive: true, force: true }),
      };
    },
  } as const;
  type Unpacker = keyof typeof unpackers;
  const names = Object.keys(unpackers) as Unpacker[];
  /** The trees of the warm-up round, which must agree. */
  const summary = new Map<Unpacker, { entries: number; bytes: number }>();
  const unpackUnits = names.map((tool) =>
    h.unit<Key>(tool, async (warmUp) => {
      const u = await unpackers[tool]();
      try {
        const sample = await h.measure(u.cmd, u.args, u.env);
        await u.check(sample);
        if (warmUp) summary.set(tool, await treeSummary(u.tree));
        return sample;
      } finally {
        await u.done();
      }
    }),
  );

  // Mount only: one store whose layers are unpacked already.
  const warmRoot = join(workDir, 'warm');
  await mkdir(warmRoot);
  await run(OVERLAY_MOUNT, ['-q', '--layout', layoutDir, IMAGE_NAME, '--name', 'setup'], { env: withRoot(warmRoot) });
  await run(OVERLAY_MOUNT, ['--unmount', 'setup', '--rm'], { env: withRoot(warmRoot) });
  const lowers = image.config.rootfs.diff_ids.map((d) => layerDir(warmRoot, d)).reverse();
  const features = overlayFeatureOptions();

  const overlayMountWarm = async (): Promise<[Key, Sample][]> => {
    const name = `w${++serial}`;
    const merged = join(warmRoot, 'containers', name, 'merged');
    const up = await h.measure(OVERLAY_MOUNT, ['--layout', layoutDir, IMAGE_NAME, '--name', name], withRoot(warmRoot));
    if (up.stdout.trim() !== merged || !(await h.mountsUnder(merged)).includes(merged)) throw new Error(`overlay-mount (warm) did not mount ${merged}`);
    await mustHave(join(merged, 'etc/debian_version'));
    const down = await h.measure(OVERLAY_MOUNT, ['--unmount', name, '--rm'], withRoot(warmRoot));
    if ((await h.mountsUnder(merged)).length || existsSync(join(warmRoot, 'containers', name))) throw new Error(`overlay-mount --unmount ${name} --rm left ${merged}`);
    return [['om mount', up], ['om unmount', down]];
  };
  const plainOverlay = async (): Promise<[Key, Sample][]> => {
    const dir = fresh('plain');
    const [upper, work, target] = ['upper', 'work', 'merged'].map((d) => join(dir, d)) as [string, string, string];
    for (const d of [upper, work, target]) await mkdir(d, { recursive: true });
    try {
      const options = [`lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`, ...features].join(',');
      const up = await h.measure('mount', ['-t', 'overlay', 'overlay', '-o', options, target]);
      await mustHave(join(target, 'etc/debian_version'));
      const down = await h.measure('umount', [target]);
      return [['mount', up], ['umount', down]];
    } finally {
      await h.unmountAll(dir);
      await rm(dir, { recursive: true, force: true });
    }
  };
  // The two mounts in turn, which goes first flipping every round; then overlay-mount's startup.
  let mountRound = 0;
  const mountUnit: h.Unit<Key> = {
    async run(warmUp) {
      const got: [Key, Sample][] = [];
      for (const step of h.flipped([overlayMountWarm, plainOverlay], warmUp ? 0 : mountRound++)) got.push(...(await step()));
      return [...got, ['startup', await h.measure(OVERLAY_MOUNT, ['--version'])]];
    },
  };

  const checkTrees = async (warmUp: boolean) => {
    if (!warmUp) return;
    const trees = names.map((t) => `${t} ${summary.get(t)!.entries} entries, ${mb(summary.get(t)!.bytes)} MB`).join('; ');
    h.log(`trees: ${trees}`);
    const ref = summary.get('GNU tar')!;
    for (const t of names) if (summary.get(t)!.entries !== ref.entries || summary.get(t)!.bytes !== ref.bytes) throw new Error(`the trees differ: ${trees}`);
  };
  const loadBefore = await h.loadAverage();
  const samples = new Map<Key, Sample[]>();
  // The unpackers rotated every round, the mounts after them.
  const order = <T>(units: readonly T[], round: number) => [...h.rotated(units.slice(0, -1), round), units.at(-1)!];
  await h.rounds(samples, [...unpackUnits, mountUnit], runs, { inSeconds: true, order, after: checkTrees });

  const s = (k: Key) => samples.get(k)!;
  const m = (k: Key) => h.med(s(k));
  const vsUmoci = m('overlay-mount') / m('umoci');
  const reference = summary.get('GNU tar')!;
  const rows = (
    [
      ['unpack — overlay-mount (cold: unpack + mount)', 'overlay-mount'],
      ['unpack — umoci unpack', 'umoci'],
      ['unpack — gzip -dc \\| tar -x', 'GNU tar'],
      ['mount — overlay-mount (layers unpacked already)', 'om mount'],
      ['mount — mount -t overlay', 'mount'],
      ['unmount — overlay-mount --unmount --rm', 'om unmount'],
      ['unmount — umount', 'umount'],
      ['startup — overlay-mount --version', 'startup'],
    ] as const
  ).map(([label, k]) => ({ label, samples: s(k) }));
  await h.writeResults({
    name: 'unpack',
    title: 'overlay-mount unpack against umoci unpack and GNU tar',
    options: `--runs ${runs}`,
    source: ['libs', 'tools'],
    versions: [await h.versionOf('umoci'), await h.versionOf('tar'), await h.versionOf('gzip')],
    load: { before: loadBefore },
    about: [
      'Commands, each under `/usr/bin/time -f "%M %U %S"`, all paths on a tmpfs:',
      '',
      '- `overlay-mount --layout LAYOUT bench --name c1` with `CUTAWAY_ROOT` a fresh dir (unmounted and removed after, untimed)',
      '- `umoci unpack --image LAYOUT:bench BUNDLE`, BUNDLE fresh',
      "- `bash -e -o pipefail -c \"gzip -dc BLOB | tar -x --xattrs --xattrs-include='*' --numeric-owner -C DIR\"`, DIR fresh",
      '- mount only, in a store with the layer unpacked: `overlay-mount --layout LAYOUT bench --name wK`, then `overlay-mount --unmount wK --rm`;',
      `  \`mount -t overlay overlay -o lowerdir=LAYER,upperdir=…,workdir=…${features.length ? `,${features.join(',')}` : ''} DIR\`, then \`umount DIR\``,
    ],
    body: [
      `Image: the Debian fixture (debootstrap --variant=minbase bookworm), ${image.manifest.layers.length} layer(s), ${mb(compressed)} MB gzip; unpacked: ${reference.entries} entries, ${mb(reference.bytes)} MB in regular files.`,
      `Everything on a tmpfs. ${runs} runs of each, unpackers interleaved (order rotated every round), after one warm-up round; wall-clock times.`,
      '',
      ...h.table('measurement', rows, { inSeconds: true, rssMax: true }),
      '',
      `- unpack, ratio of medians overlay-mount / umoci: **${h.ratio(vsUmoci)}** (target ≤ 1.00: ${h.mark(vsUmoci <= 1)})`,
      `- unpack, ratio of medians overlay-mount / GNU tar: **${h.ratio(m('overlay-mount') / m('GNU tar'))}**`,
      `- mount of unpacked layers, ratio of medians overlay-mount / mount -t overlay: **${h.ratio(m('om mount') / m('mount'))}** (overlay-mount's Node startup alone: ${seconds(m('startup'))} s)`,
    ],
    samples: h.sampleList(rows, true),
  });
}

await h.finish(main);
