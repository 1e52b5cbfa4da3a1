/**
 * BuildKit-era Dockerfiles (issue 20) built by cutaway and by buildah bud in the same run: a RUN whose work a
 * cache mount keeps between builds (the first build fills the cache, a --no-cache rebuild finds it), and a
 * multi-stage build with --target, COPY --from --chmod and a secret mount. From the busybox fixture, in a
 * throwaway network and mount namespace, on a tmpfs; see bench/README.md.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { type Sample } from './harness.ts';
import { ContainersStore, CUTAWAY, CutawayStore, podmanContext, REF, setUpHost, wipe } from './podman.ts';

const TOOLS = ['cutaway', 'cutaway-shim', 'oci-pull', 'overlay-mount', 'cg-limit', 'ns-exec', 'netbridge', 'layer-commit'] as const;

/** 30 MB made once into the cache mount, then read from it: the RUN's work is what the cache saves. */
const CACHED = [
  `FROM ${REF}`,
  'RUN --mount=type=cache,target=/cache,id=cwbench sh -c \'[ -f /cache/blob ] || dd if=/dev/urandom of=/cache/blob bs=1M count=30 2>/dev/null; sha256sum /cache/blob | cut -c1-64 > /digest\'',
  'CMD ["cat", "/digest"]',
  '',
].join('\n');

/** Three stages; --target app builds two of them (the `unused` one is skipped, by cutaway as by buildah). */
const STAGED = [
  `FROM ${REF} AS tools`,
  'RUN --mount=type=secret,id=token sh -c \'wc -c < /run/secrets/token > /token-size\'',
  `FROM ${REF} AS unused`,
  'RUN sleep 5',
  `FROM ${REF} AS app`,
  'COPY --from=tools --chmod=0750 /token-size /app/token-size',
  'COPY --chmod=0640 file.txt /app/file.txt',
  'CMD ["cat", "/app/token-size"]',
  '',
].join('\n');

const options = h.parseOptions(
  'buildkit',
  `cutaway build against buildah bud (--layers, chroot isolation, vfs) on BuildKit-era Dockerfiles: a cache mount's
rebuild with --no-cache, and a --target build with COPY --chmod and a secret mount; N rounds (default 7).`,
  { runs: 7 },
);
const { runs } = options;
await h.inThrowawayHost('overlay mounts, namespaces, cgroups and buildah stores, in namespaces of their own');

type Key = 'cwCacheCold' | 'cwCacheWarm' | 'bhCacheCold' | 'bhCacheWarm' | 'cwTarget' | 'bhTarget';

async function main(): Promise<void> {
  await h.need([h.GNU_TIME, 'buildah', 'skopeo', 'unshare'], 'apt-get install time buildah skopeo util-linux');
  await h.useTools(TOOLS, 'missing');
  await setUpHost();
  const work = await h.workDir('cw-bench-buildkit', '1g');
  const ctx = await podmanContext(work, h.ENV);
  const cachedCtx = join(work, 'ctx-cached');
  const stagedCtx = join(work, 'ctx-staged');
  await mkdir(cachedCtx);
  await mkdir(stagedCtx);
  await writeFile(join(cachedCtx, 'Dockerfile'), CACHED);
  await writeFile(join(stagedCtx, 'Dockerfile'), STAGED);
  await writeFile(join(stagedCtx, 'file.txt'), 'a file\n');
  const secret = join(work, 'token');
  await writeFile(secret, 'not in any layer\n');

  const cw = new CutawayStore(join(work, 'cw'), ctx);
  const bh = new ContainersStore(join(work, 'bh'), 'vfs', ctx);
  h.cleanups.push(async () => {
    await cw.tearDown();
    await bh.tearDown();
    await wipe(cw.root);
    await wipe(bh.dir);
  });

  const cutaway = (args: string[]) => h.measure(CUTAWAY, args, cw.env);
  const buildah = (args: string[]) => h.measure('buildah', bh.buildah(args), ctx.env);
  const BUD = ['bud', '--isolation', 'chroot', '--network', 'host', '--layers', '-q'];
  const digestOf = async (who: string, out: () => Promise<string>) => {
    const text = (await out()).trim();
    if (!/^[0-9a-f]{64}$/.test(text)) throw new Error(`${who}: the cached image printed ${JSON.stringify(text)}`);
    return text;
  };
  const cwRunOut = (tag: string) => run(CUTAWAY, ['run', '--rm', '--network', 'none', tag], { env: cw.env });
  const bhRunOut = async (tag: string) => {
    const container = (await run('buildah', bh.buildah(['from', '-q', tag]), { env: ctx.env })).trim();
    try {
      return await run('buildah', bh.buildah(['run', '--isolation', 'chroot', container, 'cat', '/digest']), { env: ctx.env });
    } finally {
      await run('buildah', bh.buildah(['rm', container]), { env: ctx.env });
    }
  };

  const units: h.Unit<Key>[] = [
    {
      // A fresh store, then two --no-cache builds: the first fills the cache mount, the second reads it.
      async run(warmUp) {
        await cw.fresh();
        const cold = await cutaway(['build', '-q', '--no-cache', '-t', 'cwbench/cached', cachedCtx]);
        const warm = await cutaway(['build', '-q', '--no-cache', '-t', 'cwbench/cached', cachedCtx]);
        if (warmUp) await digestOf('cutaway', () => cwRunOut('cwbench/cached'));
        return [['cwCacheCold', cold], ['cwCacheWarm', warm]];
      },
    },
    {
      async run(warmUp) {
        await bh.fresh();
        // buildah keeps cache mounts under $TMPDIR/buildah-cache-UID, outside its store: emptied too.
        await rm(join(ctx.env.TMPDIR!, `buildah-cache-${process.getuid!()}`), { recursive: true, force: true });
        const cold = await buildah([...BUD, '--no-cache', '-t', 'cwbench/cached', cachedCtx]);
        const warm = await buildah([...BUD, '--no-cache', '-t', 'cwbench/cached', cachedCtx]);
        if (warmUp) await digestOf('buildah', () => bhRunOut('cwbench/cached'));
        return [['bhCacheCold', cold], ['bhCacheWarm', warm]];
      },
    },
    h.unit<Key>('cwTarget', async (warmUp) => {
      await cw.fresh();
      const s = await cutaway(['build', '-q', '--no-cache', '--target', 'app', '--secret', `id=token,src=${secret}`, '-t', 'cwbench/staged', stagedCtx]);
      if (warmUp && (await cwRunOut('cwbench/staged')) !== '17\n') throw new Error("cutaway's staged image does not print the secret's size");
      return s;
    }),
    h.unit<Key>('bhTarget', async () => {
      await bh.fresh();
      return buildah([...BUD, '--no-cache', '--target', 'app', '--secret', `id=token,src=${secret}`, '-t', 'cwbench/staged', stagedCtx]);
    }),
  ];
  const samples = new Map<Key, Sample[]>();
  const loadBefore = await h.loadAverage();
  await h.rounds(samples, units, runs, { what: 'buildkit', inSeconds: true });

  const s = (k: Key) => samples.get(k)!;
  const rows = [
    { label: 'cache mount, first build (fills it) — `cutaway build --no-cache`', samples: s('cwCacheCold'), vs: s('bhCacheCold') },
    { label: 'cache mount, first build — `buildah bud --layers --no-cache`', samples: s('bhCacheCold'), vs: undefined },
    { label: 'cache mount, rebuild (reads it) — `cutaway build --no-cache`', samples: s('cwCacheWarm'), vs: s('bhCacheWarm') },
    { label: 'cache mount, rebuild — `buildah bud --layers --no-cache`', samples: s('bhCacheWarm'), vs: undefined },
    { label: '--target app (2 of 3 stages), COPY --chmod, a secret mount — `cutaway build --no-cache`', samples: s('cwTarget'), vs: s('bhTarget') },
    { label: '--target app … — `buildah bud --layers --no-cache`', samples: s('bhTarget'), vs: undefined },
  ];
  await h.writeResults({
    name: 'buildkit',
    title: 'BuildKit-era Dockerfiles: cutaway build against buildah bud',
    options: process.argv.slice(2).join(' '),
    source: [...TOOLS],
    versions: [await h.versionOf('buildah'), await h.versionOf('skopeo')],
    load: { before: loadBefore },
    about: [
      'Each unit starts from a fresh store holding only the base image (busybox fixture, its layer unpacked); both builders turn about, a warm-up round first (it also runs each image). buildah: `bud --isolation chroot --network host --layers -q`, vfs; cutaway: `build -q` (its RUN a container on the bridge).',
      '',
      '```dockerfile',
      CACHED.trim(),
      '```',
      '',
      '```dockerfile',
      STAGED.trim(),
      '```',
    ],
    body: [`## Builds (${runs} rounds, medians)`, '', ...h.table('build', rows, { inSeconds: true, ratios: [h.ratioColumn('vs buildah', (r: h.Row & { vs?: Sample[] }) => r.vs)] })],
    samples: h.sampleList(rows, true),
  });
}

await h.finish(main);
