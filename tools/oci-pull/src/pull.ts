import { pipeline, Transform, type Readable } from 'node:stream';
import { ToolError } from '@cutaway/cli';
import {
  blobName,
  digestOf,
  formatPlatform,
  formatReference,
  MANIFEST_ACCEPT,
  OciError,
  parseDigest,
  parseManifestDocument,
  repositoryName,
  selectPlatform,
  verifyBytes,
  type Descriptor,
  type Digest,
  type ImageManifest,
  type Reference,
} from '@cutaway/oci';
import { mapLimited } from './common.ts';
import { registryError, repositoryScope, type RegistryClient } from './registry.ts';
import type { PulledBlob, PullContext, PullResult, RegistrySource } from './source.ts';

/** A registry pull under way: the context, the reference, and a client for its registry. */
interface RegistryPull extends PullContext {
  client: RegistryClient;
  ref: Reference;
}

const BLOB_ATTEMPTS = 4;

function shellUrl(url: URL): string {
  return `'${url.href}'`;
}

/** What the registry says a tag or digest is: its exact bytes, checked against the digest we asked for or were told. */
async function fetchManifest(opts: RegistryPull, reference: string, file: string): Promise<{ bytes: Buffer; contentType: string | undefined; digest: Digest }> {
  const { client, ref } = opts;
  const repo = ref.path;
  const path = `/v2/${repo}/manifests/${reference}`;
  const res = await client.request(path, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [repositoryScope(repo, ['pull'])] });
  opts.steps.run(`curl -fsSL${client.curlOptions()} -H 'Accept: ${MANIFEST_ACCEPT}' -o ${file} ${shellUrl(client.url(path))}`);
  if (res.status === 404) {
    throw new ToolError(`${formatReference(ref)}: not found: ${await registryError(res)}`, `does ${repositoryName(ref)} have ${ref.digest ? `a manifest ${ref.digest}` : `a tag ${ref.tag}`}?`);
  }
  if (res.status !== 200) throw new ToolError(`${formatReference(ref)}: manifest request failed: ${await registryError(res)}`);
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const header = res.headers['docker-content-digest'];
  const announced = typeof header === 'string' ? header : undefined;
  let digest: Digest;
  try {
    if (reference.includes(':')) {
      verifyBytes(bytes, { digest: reference as Digest });
      digest = reference as Digest;
    } else {
      digest = digestOf(bytes, announced ? parseDigest(announced).algorithm : 'sha256');
      if (announced && announced !== digest) throw new OciError(`the registry announced ${announced} but sent ${digest}`);
    }
  } catch (e) {
    throw new ToolError(`${formatReference(ref)}: manifest rejected: ${(e as Error).message}`);
  }
  opts.steps.run(`echo '${digest.slice(digest.indexOf(':') + 1)}  ${file}' | ${parseDigest(digest).algorithm}sum -c`);
  const contentType = res.headers['content-type'];
  return { bytes, contentType, digest };
}

/** Counts the bytes of a stream into a progress bar. */
function counting(progress: (done: number) => void, start: number): Transform {
  let done = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      progress(done);
      cb(null, chunk);
    },
  });
}

/** Downloads one blob into the store (resuming an interrupted download), unless it is there already. */
async function pullBlob(opts: RegistryPull, d: Descriptor, label: string): Promise<PulledBlob> {
  const { client, layout, ref, progress } = opts;
  const path = `/v2/${ref.path}/blobs/${d.digest}`;
  const file = blobName(d.digest);
  const summary = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (layout && (await layout.hasBlob(d.digest))) {
    opts.steps.note(`${file} is in the store already`);
    progress.item(label, d.size).finish('already exists');
    return { ...summary, cached: true };
  }
  opts.steps.run(`curl -fsSL${client.curlOptions()} -o ${file} ${shellUrl(client.url(path))}`);
  opts.steps.run(`echo '${d.digest.slice(d.digest.indexOf(':') + 1)}  ${file}' | ${parseDigest(d.digest).algorithm}sum -c`);
  if (opts.dryRun || !layout) return { ...summary, cached: false };
  const bar = progress.item(label, d.size);
  // pipeline, not pipe: a connection that drops must fail the store's write (and be resumed), not leave it waiting.
  // Bytes are counted only for a bar someone sees.
  const body = (res: { body: Readable }, offset: number): Readable => (progress.interactive ? pipeline(res.body, counting(bar.update, offset), () => {}) : res.body);
  for (let attempt = 1; ; attempt++) {
    let resumedFrom = 0;
    try {
      const stored = await layout.putBlobResumable({ digest: d.digest, size: d.size }, async (offset) => {
        resumedFrom = offset;
        const res = await client.request(path, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, scopes: [repositoryScope(ref.path, ['pull'])] });
        if (res.status === 206) {
          const range = /^bytes (\d+)-/.exec(String(res.headers['content-range']));
          if (range && Number(range[1]) === offset) return { stream: body(res, offset), offset };
          res.body.resume();
          throw new Error(`unexpected Content-Range ${res.headers['content-range']}`);
        }
        if (res.status === 200) return { stream: body(res, 0), offset: 0 };
        throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${await registryError(res)}`);
      });
      bar.finish(stored.resumedAt > 0 ? `pull complete (resumed at ${stored.resumedAt} bytes)` : 'pull complete');
      return { ...summary, cached: false };
    } catch (e) {
      if (e instanceof ToolError) throw e;
      // A resumed blob that does not verify may owe it to the bytes kept from before (the .partial is gone now): once more, from zero.
      if (e instanceof OciError && resumedFrom > 0 && attempt < BLOB_ATTEMPTS) {
        process.stderr.write(`${label}: the resumed download did not verify; fetching it again from the start\n`);
        continue;
      }
      if (e instanceof OciError) throw new ToolError(`${repositoryName(ref)}: blob ${d.digest} rejected: ${e.message}`, 'the registry holds a corrupt blob; nothing was stored');
      if (attempt >= BLOB_ATTEMPTS) throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${(e as Error).message}`);
      process.stderr.write(`${label}: ${(e as Error).message}; resuming\n`);
    }
  }
}

/**
 * `docker pull`: resolve the reference to an image manifest for the platform
 * (through an index if there is one), fetch the config and the layers that the
 * store lacks, each verified as it streams, then tag the manifest with the
 * full reference. Everything happens under a store lease, so a concurrent gc
 * cannot take blobs that are stored but not yet tagged.
 */
export async function pull(source: RegistrySource, ctx: PullContext): Promise<PullResult> {
  const { ref } = source;
  const opts: RegistryPull = { ...ctx, client: await ctx.registryClient(ref), ref };
  const { layout } = opts;
  const tagName = formatReference(ref);
  opts.steps.note(`pull ${formatReference(ref)} for ${formatPlatform(opts.platform)} into the current directory`);
  opts.steps.run('mkdir -p blobs/sha256');
  // A dry run changes nothing, not even the store's lock files.
  const leased = <T>(work: () => Promise<T>) => (layout && !opts.dryRun ? layout.withLease(work) : work());
  return leased(async () => {
    let fetched = await fetchManifest(opts, ref.digest ?? ref.tag!, 'manifest.json');
    let doc = parseDocument(ref, fetched);
    let indexDigest: Digest | undefined;
    if (doc.kind === 'index') {
      indexDigest = fetched.digest;
      const chosen = selectPlatform(doc.index, opts.platform);
      opts.steps.note(`the index lists ${chosen.digest} for ${formatPlatform(chosen.platform!)}`);
      fetched = await fetchManifest(opts, chosen.digest, 'image-manifest.json');
      doc = parseDocument(ref, fetched);
      if (doc.kind !== 'manifest') throw new ToolError(`${formatReference(ref)}: nested indexes are not supported`);
    }
    const manifest: ImageManifest = doc.manifest;
    const config = await pullBlob(opts, manifest.config, 'config');
    const layers = await mapLimited(manifest.layers, opts.jobs, (l, i) => pullBlob(opts, l, `layer ${i + 1}/${manifest.layers.length} ${l.digest.slice(7, 19)}`));
    const descriptor: Descriptor = { mediaType: doc.mediaType, digest: fetched.digest, size: fetched.bytes.length };
    if (layout && !opts.dryRun) {
      const image = await layout.readConfig(manifest.config.digest).catch((e: Error) => {
        throw new ToolError(`${formatReference(ref)}: config ${manifest.config.digest}: ${e.message}`);
      });
      if (image.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new ToolError(`${formatReference(ref)}: the config lists ${image.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
      }
      await layout.putBlob(fetched.bytes, { digest: fetched.digest, size: fetched.bytes.length });
      await layout.addRef(tagName, descriptor);
    }
    opts.steps.note(`tag ${tagName} → ${fetched.digest} in index.json`);
    return {
      reference: formatReference(ref),
      digest: fetched.digest,
      ...(indexDigest && { indexDigest }),
      platform: formatPlatform(opts.platform),
      config,
      layers,
    };
  });
}

function parseDocument(ref: Reference, fetched: { bytes: Buffer; contentType: string | undefined }) {
  try {
    return parseManifestDocument(fetched.bytes, fetched.contentType);
  } catch (e) {
    throw new ToolError(`${formatReference(ref)}: ${(e as Error).message}`);
  }
}
