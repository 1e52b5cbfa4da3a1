import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pipeline as pipelineCallback } from 'node:stream';
import { lockFile, withFileLock, type FileLock } from '@cutaway/libc';
import { syncDir, tempPathBeside, writeFileAtomic } from './atomic-file.ts';
import { parseImageConfig, type ImageConfig } from './config.ts';
import type { Descriptor } from './descriptor.ts';
import { DigestingStream, parseDigest, verifyBytes, type Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { parseJson } from './json-fields.ts';
import { parseManifestDocument, readImageIndex, type ImageIndex, type ManifestDocument } from './manifest.ts';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType } from './media-types.ts';

/** image-spec annotations.md: the name of a reference in index.json. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** annotations.md grammar for ref.name: components of alphanumerics joined by [-._:@+] or "--", separated by "/". */
const REF_NAME_PATTERN = /^[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*(?:\/[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*)*$/;

/** image-layout.md: the oci-layout file's imageLayoutVersion. */
export const LAYOUT_VERSION = '1.0.0';

/** Where cutaway keeps its own lock and temporary files inside a layout; other readers ignore it. */
const PRIVATE_DIR = '.cutaway';

/** A blob's path inside a layout (image-layout.md): `blobs/<alg>/<encoded>`. */
export function blobName(digest: Digest): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `blobs/${algorithm}/${encoded}`;
}

export interface RefEntry {
  name: string;
  descriptor: Descriptor;
}

export interface GcResult {
  removed: { digest: Digest; size: number }[];
  freedBytes: number;
}

/**
 * An OCI image layout (image-spec image-layout.md): `oci-layout`, `index.json`
 * and content-addressed `blobs/<alg>/<encoded>`. One layout can hold many
 * images, each blob stored once.
 *
 * Safe under concurrency: blobs are written to a temp file and renamed into
 * place only after their digest is verified; index.json changes are
 * read-modify-write under an exclusive flock; writers hold a shared "lease"
 * lock that garbage collection takes exclusively, so gc never removes a blob
 * that a writer has stored but not yet referenced.
 */
export class OciLayout {
  private leaseDepth = 0;
  private lease?: Promise<FileLock>;

  private constructor(readonly dir: string) {}

  /** Opens an existing layout; the error says what is missing. */
  static async open(dir: string): Promise<OciLayout> {
    let text: string;
    try {
      text = await readFile(join(dir, 'oci-layout'), 'utf8');
    } catch {
      throw new OciError(`${dir} is not an OCI image layout (no oci-layout file)`);
    }
    const marker = parseJson(text, `${dir}/oci-layout`) as { imageLayoutVersion?: unknown };
    if (marker?.imageLayoutVersion !== LAYOUT_VERSION) {
      throw new OciError(`${dir}/oci-layout: unsupported imageLayoutVersion ${JSON.stringify(marker?.imageLayoutVersion)} (want "${LAYOUT_VERSION}")`);
    }
    const layout = new OciLayout(dir);
    await layout.readIndex();
    return layout;
  }

  /** Creates a layout (or opens the one already there); concurrent creators end with one valid layout. */
  static async create(dir: string): Promise<OciLayout> {
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    await mkdir(join(dir, PRIVATE_DIR), { recursive: true });
    await createIfAbsent(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }));
    await createIfAbsent(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }));
    return OciLayout.open(dir);
  }

  blobPath(digest: Digest): string {
    return join(this.dir, blobName(digest));
  }

  async hasBlob(digest: Digest): Promise<boolean> {
    return stat(this.blobPath(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  /**
   * Holds a lease while `work` runs: blobs stored inside it are safe from gc
   * until `work` has referenced them. Leases nest and may run concurrently.
   */
  async withLease<T>(work: () => Promise<T>): Promise<T> {
    if (this.leaseDepth++ === 0) this.lease = this.lockPrivate('gc.lock', 'shared');
    const lease = this.lease!;
    try {
      await lease;
      return await work();
    } finally {
      if (--this.leaseDepth === 0) {
        this.lease = undefined;
        // A lease that failed to start has nothing to release.
        await lease.then((l) => l.release(), () => undefined);
      }
    }
  }

  /**
   * Stores a blob from a stream or buffer. It is hashed as it is written and
   * enters the store only if it matches `expected` (when given); otherwise the
   * temp file is removed and a DigestMismatchError thrown.
   */
  async putBlob(source: Readable | Uint8Array, expected?: { digest: Digest; size?: number }): Promise<{ digest: Digest; size: number }> {
    if (expected && (await this.hasBlob(expected.digest))) {
      if (source instanceof Readable) source.destroy();
      const { size } = await stat(this.blobPath(expected.digest));
      if (expected.size !== undefined && size !== expected.size) {
        throw new OciError(`${expected.digest} is in the store with ${size} bytes, but ${expected.size} were expected`);
      }
      return { digest: expected.digest, size };
    }
    return this.withLease(async () => {
      const hasher = new DigestingStream(expected);
      // `.blob.<pid>.<random>.tmp`, flock'd by its writer from just after it is made until it is renamed into
      // blobs/ or removed: one that nobody holds and whose pid no longer runs is a killed writer's (cutaway
      // system df counts it, system prune removes it). The flock dies with the writer and tells across pid
      // namespaces; the pid covers the moment between open and flock.
      const temp = tempPathBeside(join(this.dir, PRIVATE_DIR, 'blob'));
      let held: FileLock | undefined;
      try {
        const handle = await open(temp, 'wx', 0o644);
        try {
          held = await lockFile(temp);
          const input = source instanceof Readable ? source : Readable.from([Buffer.from(source)]);
          const writer = batchedWriter(handle, temp);
          await pipeline(input, hasher, writer.write).catch((e: unknown) => {
            throw writer.failure ?? e;
          });
          await handle.sync();
        } finally {
          await handle.close();
        }
        await this.commitBlob(temp, hasher.digest);
        return { digest: hasher.digest, size: hasher.size };
      } catch (e) {
        await rm(temp, { force: true });
        throw e;
      } finally {
        held?.release();
      }
    });
  }

  /**
   * Stores a blob that arrives in pieces, resuming where an earlier, interrupted
   * attempt stopped: the bytes so far stay in `.cutaway/<alg>-<hex>.partial`,
   * are re-hashed, and `fetchFrom(offset)` is asked for the rest. It says which
   * offset its stream really starts at (a server may ignore a Range request);
   * anything else restarts from zero. Two writers of the same blob take turns on
   * the partial file; the second finds the blob stored.
   */
  async putBlobResumable(expected: { digest: Digest; size: number }, fetchFrom: (offset: number) => Promise<{ stream: Readable; offset: number }>): Promise<{ digest: Digest; size: number; resumedAt: number }> {
    const { algorithm, encoded } = parseDigest(expected.digest);
    const partial = join(this.dir, PRIVATE_DIR, `${algorithm}-${encoded}.partial`);
    return this.withLease(() =>
      withFileLock(`${partial}.lock`, async () => {
        if (await this.hasBlob(expected.digest)) return { ...(await this.putBlob(Buffer.alloc(0), expected)), resumedAt: expected.size };
        let have = await stat(partial).then((s) => s.size, () => 0);
        // A partial as long as the blob was killed between its last write and the rename: keep it if it is right.
        if (have === expected.size) {
          const hasher = new DigestingStream(expected);
          const complete = await pipeline(createReadStream(partial), hasher, async (chunks: AsyncIterable<Buffer>) => {
            for await (const _ of chunks);
          }).then(() => true, () => false);
          if (complete) {
            await this.commitBlob(partial, expected.digest);
            return { ...expected, resumedAt: expected.size };
          }
        }
        if (have >= expected.size) have = 0;
        const { stream, offset } = await fetchFrom(have);
        if (offset !== have && offset !== 0) throw new Error(`putBlobResumable: asked for ${have}, the stream starts at ${offset}`);
        const handle = await open(partial, offset === have ? 'a' : 'w');
        try {
          const hasher = new DigestingStream(expected);
          const start = offset === have ? have : 0;
          const input = start > 0 ? concatStreams(createReadStream(partial, { end: start - 1 }), stream) : stream;
          // The first `start` bytes are the partial file's own, read back only to hash them.
          const fresh = async function* (chunks: AsyncIterable<Buffer>) {
            let seen = 0;
            for await (const chunk of chunks) {
              const part = seen >= start ? chunk : chunk.subarray(Math.min(chunk.length, start - seen));
              seen += chunk.length;
              if (part.length) yield part;
            }
          };
          const writer = batchedWriter(handle, partial);
          await pipeline(input, hasher, (chunks: AsyncIterable<Buffer>) => writer.write(fresh(chunks))).catch(async (e) => {
            // A wrong blob is not worth resuming; a dropped connection is.
            if (e instanceof OciError) await rm(partial, { force: true });
            throw writer.failure ?? e;
          });
          await handle.sync();
          await this.commitBlob(partial, expected.digest);
          return { digest: expected.digest, size: expected.size, resumedAt: start };
        } finally {
          await handle.close();
        }
      }),
    );
  }

  /** Moves a verified, synced file into blobs/ under its digest (rename(2) is atomic), and makes the rename durable. */
  private async commitBlob(file: string, digest: Digest): Promise<void> {
    const target = this.blobPath(digest);
    await mkdir(join(target, '..'), { recursive: true });
    await rename(file, target);
    await syncDir(join(target, '..'));
  }

  /** Stores a JSON document (compact, as registries and skopeo write them) and returns its descriptor. */
  async putJson(mediaType: string, value: unknown): Promise<Descriptor> {
    const { digest, size } = await this.putBlob(Buffer.from(JSON.stringify(value)));
    return { mediaType, digest, size };
  }

  /** Reads a whole blob, verified against its digest (a corrupt store is reported, not trusted). */
  async readBlob(digest: Digest): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await readFile(this.blobPath(digest));
    } catch {
      throw new OciError(`blob ${digest} is not in ${this.dir}`);
    }
    verifyBytes(data, { digest });
    return data;
  }

  /** Streams a blob; the stream fails at its end if the content does not match the digest. */
  openBlob(digest: Digest): Readable {
    const file = createReadStream(this.blobPath(digest));
    // pipeline: a reader that stops early closes the file too.
    return pipelineCallback(file, new DigestingStream({ digest }), () => {});
  }

  async readManifestDocument(descriptor: Pick<Descriptor, 'digest'> & { mediaType?: string }): Promise<ManifestDocument> {
    return parseManifestDocument(await this.readBlob(descriptor.digest), descriptor.mediaType);
  }

  async readConfig(digest: Digest): Promise<ImageConfig> {
    return parseImageConfig(await this.readBlob(digest));
  }

  async readIndex(): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'index.json'), 'utf8');
    } catch {
      throw new OciError(`${this.dir} is not an OCI image layout (no index.json)`);
    }
    try {
      return readImageIndex(parseJson(text, 'index.json'));
    } catch (e) {
      throw new OciError(`${this.dir}/index.json: ${(e as Error).message}`);
    }
  }

  /** The references named in index.json, in its order. */
  async list(): Promise<RefEntry[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((descriptor) => {
      const name = descriptor.annotations?.[REF_NAME];
      return name !== undefined ? [{ name, descriptor }] : [];
    });
  }

  async resolve(name: string): Promise<Descriptor | undefined> {
    return (await this.list()).find((e) => e.name === name)?.descriptor;
  }

  /** Points `name` at `descriptor` (replacing what it named before), as `docker tag` does. */
  async addRef(name: string, descriptor: Descriptor): Promise<void> {
    if (!REF_NAME_PATTERN.test(name)) {
      throw new OciError(`invalid reference name ${JSON.stringify(name)} (annotations.md: components of letters and digits joined by - . _ : @ + or --, separated by /)`);
    }
    if (!(await this.hasBlob(descriptor.digest))) throw new OciError(`cannot tag ${name}: ${descriptor.digest} is not in ${this.dir}`);
    const entry: Descriptor = { ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME]: name } };
    await this.updateIndex((manifests) => [...manifests.filter((d) => d.annotations?.[REF_NAME] !== name), entry]);
  }

  /**
   * An entry of index.json without a name for `descriptor` (an image with no tag, as `docker commit` without a
   * REPOSITORY makes one), unless an entry for its digest is there already.
   */
  async addUnnamed(descriptor: Descriptor): Promise<void> {
    if (!(await this.hasBlob(descriptor.digest))) throw new OciError(`cannot add ${descriptor.digest}: it is not in ${this.dir}`);
    const { annotations: _names, ...entry } = descriptor;
    await this.updateIndex((manifests) => (manifests.some((d) => d.digest === descriptor.digest) ? manifests : [...manifests, entry]));
  }

  /** Removes the name from index.json; returns whether it was there. The blobs stay until gc. */
  async removeRef(name: string): Promise<boolean> {
    let found = false;
    await this.updateIndex((manifests) =>
      manifests.filter((d) => {
        const match = d.annotations?.[REF_NAME] === name;
        found ||= match;
        return !match;
      }),
    );
    return found;
  }

  /**
   * Removes every entry of index.json for this digest, named or not (`docker rmi` of an image: all its
   * names at once); returns the names it had. The blobs stay until gc.
   */
  async removeManifest(digest: Digest): Promise<string[]> {
    const names: string[] = [];
    await this.updateIndex((manifests) =>
      manifests.filter((d) => {
        if (d.digest !== digest) return true;
        const name = d.annotations?.[REF_NAME];
        if (name !== undefined) names.push(name);
        return false;
      }),
    );
    return names;
  }

  /**
   * Removes every blob that index.json does not reach (through indexes,
   * manifests, configs, layers and subjects), and leftover temp files.
   * With `only`, just those of the given blobs that it does not reach, and no
   * temp files (an image's own blobs, as `docker rmi` deletes them, and
   * nothing of anyone else's). Waits for running writers' leases; must not be
   * called inside one.
   */
  async gc(options: { only?: Iterable<Digest> } = {}): Promise<GcResult> {
    if (this.leaseDepth > 0) throw new Error('OciLayout.gc called inside a lease of the same layout: it would wait for itself');
    return withFileLock(join(this.dir, PRIVATE_DIR, 'gc.lock'), async () => {
      const reachable = await this.reachable();
      const candidates = options.only ? [...new Set(options.only)].map((d): [Digest, string] => [d, this.blobPath(d)]) : await this.storedBlobs();
      const removed: GcResult['removed'] = [];
      for (const [digest, path] of candidates) {
        if (reachable.has(digest)) continue;
        const size = await stat(path).then((s) => s.size, () => undefined);
        if (size === undefined) continue; // not stored (a foreign layer, a partial pull), or removed already
        await rm(path, { force: true });
        removed.push({ digest, size });
      }
      if (!options.only) {
        for (const name of await readdir(join(this.dir, PRIVATE_DIR))) {
          if (name.endsWith('.tmp') || name.endsWith('.partial')) await rm(join(this.dir, PRIVATE_DIR, name), { force: true });
        }
      }
      return { removed, freedBytes: removed.reduce((sum, r) => sum + r.size, 0) };
    });
  }

  /** Every file under blobs/, with the digest its path names. */
  async storedBlobs(): Promise<[Digest, string][]> {
    const blobs: [Digest, string][] = [];
    for (const algorithm of await readdir(join(this.dir, 'blobs'))) {
      for (const encoded of await readdir(join(this.dir, 'blobs', algorithm))) blobs.push([`${algorithm}:${encoded}` as Digest, join(this.dir, 'blobs', algorithm, encoded)]);
    }
    return blobs;
  }

  /**
   * Everything reachable from `from` (default: every entry of index.json),
   * through indexes, manifests, configs, layers and subjects, by digest, with
   * the descriptor that first named it (so a caller can tell configs from layers).
   */
  async reachable(from?: Descriptor[]): Promise<Map<Digest, Descriptor>> {
    const seen = new Map<Digest, Descriptor>();
    const visit = async (d: Descriptor): Promise<void> => {
      if (seen.has(d.digest)) return;
      seen.set(d.digest, d);
      if (!(await this.hasBlob(d.digest))) return; // a reference to a blob that is not here (a foreign layer, a partial pull)
      if (!INDEX_TYPES.includes(d.mediaType) && !MANIFEST_TYPES.includes(d.mediaType)) return;
      const doc = await this.readManifestDocument(d);
      const children = doc.kind === 'index' ? doc.index.manifests : [doc.manifest.config, ...doc.manifest.layers];
      const subject = doc.kind === 'index' ? doc.index.subject : doc.manifest.subject;
      for (const child of subject ? [...children, subject] : children) await visit(child);
    };
    for (const d of from ?? (await this.readIndex()).manifests) await visit(d);
    return seen;
  }

  private lockPrivate(name: string, mode: 'exclusive' | 'shared'): Promise<FileLock> {
    return lockFile(join(this.dir, PRIVATE_DIR, name), mode);
  }

  private async updateIndex(change: (manifests: Descriptor[]) => Descriptor[]): Promise<void> {
    const lock = await this.lockPrivate('index.lock', 'exclusive');
    try {
      const index = await this.readIndex();
      const updated = { ...index, mediaType: index.mediaType ?? MediaType.ociIndex, manifests: change(index.manifests) };
      await writeFileAtomic(join(this.dir, 'index.json'), JSON.stringify(updated));
    } finally {
      lock.release();
    }
  }
}

const WRITE_BATCH = 1 << 20;

/**
 * Writes a stream of chunks to a file in batches of about 1 MiB: one writev(2)
 * per batch rather than a trip through libuv's thread pool for every 64 KiB
 * network chunk (measured: a quarter of a pull's data-path time).
 */
/**
 * The last stage of a blob's pipeline: writes to `path` in batches of WRITE_BATCH bytes, a short write
 * continued until the kernel says why it stops. A write that fails (ENOSPC) is kept as `failure`, with the
 * path, for the caller to throw: pipeline() rejects with the AbortError of tearing the other streams down,
 * not with the error that made it do so.
 */
function batchedWriter(handle: FileHandle, path: string): { write: (chunks: AsyncIterable<Buffer>) => Promise<void>; failure?: Error } {
  const writer: { write: (chunks: AsyncIterable<Buffer>) => Promise<void>; failure?: Error } = {
    write: async (chunks) => {
      let batch: Buffer[] = [];
      let size = 0;
      const flush = async () => {
        let pending = batch;
        batch = [];
        size = 0;
        try {
          while (pending.length) pending = dropBytes(pending, (await handle.writev(pending)).bytesWritten);
        } catch (e) {
          throw (writer.failure = withPath(e as NodeJS.ErrnoException, path));
        }
      };
      try {
        for await (const chunk of chunks) {
          batch.push(chunk);
          size += chunk.length;
          if (size >= WRITE_BATCH) await flush();
        }
      } finally {
        // Also when the source fails: what arrived is kept, for a resumed download to start after it.
        if (size > 0) await flush();
      }
    },
  };
  return writer;
}

/** What is left of `buffers` after their first `n` bytes were written. */
function dropBytes(buffers: Buffer[], n: number): Buffer[] {
  if (n <= 0) throw new Error('write(2) wrote nothing');
  const rest: Buffer[] = [];
  for (const b of buffers) {
    if (n >= b.length) n -= b.length;
    else {
      rest.push(n > 0 ? b.subarray(n) : b);
      n = 0;
    }
  }
  return rest;
}

/** A write's errno error names the file, as Node's open errors do: "ENOSPC: no space left on device, write '/…'". */
function withPath(e: NodeJS.ErrnoException, path: string): NodeJS.ErrnoException {
  if (e.code !== undefined && e.path === undefined) {
    e.path = path;
    e.message = `${e.message} '${path}'`;
  }
  return e;
}

/** One stream of `first`'s bytes then `second`'s. */
function concatStreams(first: Readable, second: Readable): Readable {
  return Readable.from(
    (async function* () {
      yield* first;
      yield* second;
    })(),
  );
}

/** Writes `path` only if it does not exist, atomically: link(2) of a complete temp file fails with EEXIST. */
async function createIfAbsent(path: string, content: string): Promise<void> {
  if (await stat(path).then(() => true, () => false)) return; // the common case: no temp file, no fsync
  const temp = tempPathBeside(path);
  await writeFileAtomic(temp, content);
  try {
    await link(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await rm(temp, { force: true });
  }
}
