import { pipeline, Transform, type Readable } from 'node:stream';
import { ToolError, type ProgressItem, type Steps } from '@cutaway/cli';
import { BlobHash, blobName, OciError, parseDigest, repositoryName, type Descriptor, type OciLayout, type Reference } from '@cutaway/oci';
import { registryError, repositoryScope, type RegistryClient } from './registry.ts';
import { scriptLine, traceLine } from './script.ts';
import type { PulledBlob, PullContext } from './source.ts';

/**
 * A pull's blobs, one at a time: found in the store, or fetched — a layer streamed into it (verified as it
 * arrives, resumed after a dropped connection), a config into memory — with the classic commands of each for
 * --trace and the --dry-run script.
 */

/** What fetching from the registry takes: its client, the reference, and the pull's context. */
export interface RegistryFetch extends ManifestFetch, PullContext {
  storeDir: string;
}

/** A registry pull under way, its store open: undefined only in a dry run against a store that does not exist yet. */
export interface RegistryPull extends RegistryFetch {
  layout: OciLayout | undefined;
}

/** What asking the registry for manifests takes: its client, the reference, and where the steps are told. */
export interface ManifestFetch {
  client: RegistryClient;
  ref: Reference;
  steps: Steps;
}

const BLOB_ATTEMPTS = 4;

/** Failures of the store's own file system: no other attempt helps them. */
const STORE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO']);

export function shellUrl(url: URL): string {
  return `'${url.href}'`;
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

/** The blob's URL path in the repository (distribution-spec "Pulling blobs"). */
function blobPath(opts: ManifestFetch, d: Descriptor): string {
  return `/v2/${opts.ref.path}/blobs/${d.digest}`;
}

/** Downloads one blob into the store (resuming an interrupted download), unless it is there already. */
export async function pullBlob(opts: RegistryPull, d: Descriptor, label: string): Promise<PulledBlob> {
  const stored = await storedBlob(opts, d, label);
  if (stored) return stored;
  blobSteps(opts, d, label);
  if (opts.dryRun || !opts.layout) return { ...summaryOf(d), cached: false };
  await downloadBlob(opts, opts.layout, d, label);
  return { ...summaryOf(d), cached: false };
}

export function summaryOf(d: Descriptor): Omit<PulledBlob, 'cached'> {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size };
}

/** The blob as the store holds it already (said so, and not fetched again); undefined in a dry run or when it is not there. */
export async function storedBlob(opts: RegistryPull, d: Descriptor, label: string): Promise<PulledBlob | undefined> {
  if (!opts.layout || opts.dryRun || !(await opts.layout.hasBlob(d.digest))) return undefined;
  opts.steps.note(`${blobName(d.digest)} is in the store already`);
  opts.progress.item(label, d.size).finish('already exists');
  return { ...summaryOf(d), cached: true };
}

/** The classic commands of one blob's download, for --trace and the --dry-run script. */
export function blobSteps(opts: RegistryFetch, d: Descriptor, label: string): void {
  const { client } = opts;
  const url = shellUrl(client.url(blobPath(opts, d)));
  const file = blobName(d.digest);
  const { algorithm, encoded } = parseDigest(d.digest);
  traceLine(opts.steps, `curl -fsSL${client.curlOptions()} -o ${file} ${url}`);
  traceLine(opts.steps, `echo '${encoded}  ${file}' | ${algorithm}sum -c`);
  // The script asks the store as it runs, as the tool does: a blob there already is not fetched again. A blob
  // enters the store only verified, by a rename from the store's own file system.
  scriptLine(opts.steps, `if [ ! -f ${file} ]; then   # ${label}`);
  scriptLine(opts.steps, `  curl -fsSL${client.curlOptions()} -o "$tmp/${encoded}" ${url}`);
  scriptLine(opts.steps, `  echo "${encoded}  $tmp/${encoded}" | ${algorithm}sum -c --quiet`);
  scriptLine(opts.steps, `  mv "$tmp/${encoded}" ${file}`);
  scriptLine(opts.steps, 'fi');
}

/** Streams a blob into the store, verified as it arrives, resuming after a dropped connection. */
async function downloadBlob(opts: RegistryPull, layout: OciLayout, d: Descriptor, label: string): Promise<void> {
  const { client, ref, progress } = opts;
  const path = blobPath(opts, d);
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
      return;
    } catch (e) {
      // A resumed blob that does not verify may owe it to the bytes kept from before (the .partial is gone now): once more, from zero.
      if (e instanceof OciError && resumedFrom > 0 && attempt < BLOB_ATTEMPTS) {
        process.stderr.write(`${label}: the resumed download did not verify; fetching it again from the start\n`);
        continue;
      }
      const failed = blobFailure(opts, d, e);
      if (failed || attempt >= BLOB_ATTEMPTS) throw failed ?? new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${(e as Error).message}`);
      process.stderr.write(`${label}: ${(e as Error).message}; resuming\n`);
    }
  }
}

/**
 * The error to end the pull with when storing a blob failed in a way no other attempt helps: the registry's
 * (a ToolError already), a corrupt blob, the store's own file system. Undefined for what another attempt may
 * mend (a dropped connection).
 */
export function blobFailure(opts: RegistryFetch, d: Descriptor, e: unknown): ToolError | undefined {
  const name = repositoryName(opts.ref);
  if (e instanceof ToolError) return e;
  if (e instanceof OciError) return new ToolError(`${name}: blob ${d.digest} rejected: ${e.message}`, 'the registry holds a corrupt blob; nothing was stored');
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (!STORE_ERRORS.has(code)) return undefined;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new ToolError(`${name}: blob ${d.digest}: ${(e as Error).message}`, full ? `free space where the store is (df ${opts.storeDir}); pulling again resumes where this pull stopped` : undefined);
}

/** A small blob into memory, verified by digest and size; a dropped connection is tried again from the start. */
export async function fetchBlob(opts: RegistryFetch, d: Descriptor, label: string, bar: ProgressItem): Promise<Buffer> {
  const { client, ref } = opts;
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await client.request(blobPath(opts, d), { scopes: [repositoryScope(ref.path, ['pull'])] });
      if (res.status !== 200) throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${await registryError(res)}`);
      const hash = new BlobHash(d);
      const chunks: Buffer[] = [];
      // Leaving the loop early (too many bytes) destroys the response, as a failed body has been already.
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        hash.update(chunk);
        chunks.push(chunk);
        if (opts.progress.interactive) bar.update(hash.size);
      }
      hash.finish();
      return Buffer.concat(chunks);
    } catch (e) {
      const failed = blobFailure(opts, d, e);
      if (failed || attempt >= BLOB_ATTEMPTS) throw failed ?? new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${(e as Error).message}`);
      process.stderr.write(`${label}: ${(e as Error).message}; fetching it again\n`);
    }
  }
}
