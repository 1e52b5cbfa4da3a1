import { createReadStream } from 'node:fs';
import { link, mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline as pipelineCallback } from 'node:stream';
import { lockFile, withFileLock, type FileLock } from '@cutaway/libc';
import { syncDir, tempPathBeside, writeFileAtomic, writeNewFileSynced } from './atomic-file.ts';
import { parseImageConfig, type ImageConfig } from './config.ts';
import type { Descriptor } from './descriptor.ts';
import { appendHashed, hashFile, writeAll } from './blob-file.ts';
import { BlobHash, DigestingStream, parseDigest, verifyBytes, type Digest } from './digest.ts';
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
    await Promise.all([mkdir(join(dir, 'blobs', 'sha256'), { recursive: true }), mkdir(join(dir, PRIVATE_DIR), { recursive: true })]);
    const made = await Promise.all([
      createIfAbsent(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION })),
      createIfAbsent(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] })),
    ]);
    // Files this call wrote need no reading back; one found there (or another creator's) is checked.
    return made.every(Boolean) ? new OciLayout(dir) : OciLayout.open(dir);
  }

  blobPath(digest: Digest): string {
    return join(this.dir, blobName(digest));
  }

  hasBlob(digest: Digest): Promise<boolean> {
    return OciLayout.holdsBlob(this.dir, digest);
  }

  /** Whether the layout at `dir` holds the blob, asked before it is opened (one not made yet holds none). */
  static async holdsBlob(dir: string, digest: Digest): Promise<boolean> {
    return stat(join(dir, blobName(digest))).then(
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
      const hash = new BlobHash(expected);
      // `.blob.<pid>.<random>.tmp`, flock'd by its writer from just after it is made until it is renamed into
      // blobs/ or removed: one that nobody holds and whose pid no longer runs is a killed writer's (cutaway
      // system df counts it, system prune removes it). The flock dies with the writer and tells across pid
      // namespaces; the pid covers the moment between open and flock.
      const temp = tempPathBeside(join(this.dir, PRIVATE_DIR, 'blob'));
      let held: FileLock | undefined;
      try {
        const handle = await open(temp, 'wx', 0o644);
        let stored: { digest: Digest; size: number };
        try {
          held = await lockFile(temp);
          if (source instanceof Readable) await appendHashed(source, handle, temp, hash);
          else {
            hash.update(source);
            await writeAll(handle, [source], temp);
          }
          stored = hash.finish();
          await durable(handle);
        } finally {
          await handle.close();
        }
        await this.commitBlob(temp, stored.digest);
        return stored;
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
        const [stored, kept] = await Promise.all([this.hasBlob(expected.digest), stat(partial).then((s) => s.size, () => 0)]);
        if (stored) return { ...(await this.putBlob(Buffer.alloc(0), expected)), resumedAt: expected.size };
        let have = kept;
        // A partial as long as the blob was killed between its last write and the rename: keep it if it is right.
        if (have === expected.size) {
          const hash = new BlobHash(expected);
          const complete = await hashFile(partial, have, hash).then(() => hash.finish()).then(() => true, () => false);
          if (complete) {
            await this.commitBlob(partial, expected.digest);
            return { ...expected, resumedAt: expected.size };
          }
        }
        if (have >= expected.size) have = 0;
        const { stream, offset } = await fetchFrom(have);
        if (offset !== have && offset !== 0) throw new Error(`putBlobResumable: asked for ${have}, the stream starts at ${offset}`);
        const start = offset === have ? have : 0;
        const handle = await open(partial, start > 0 ? 'a' : 'w');
        try {
          const hash = new BlobHash(expected);
          try {
            // The bytes kept from before are read back only to hash them; the rest are hashed as they arrive.
            await hashFile(partial, start, hash);
            await appendHashed(stream, handle, partial, hash);
            hash.finish();
          } catch (e) {
            stream.destroy();
            // A wrong blob is not worth resuming; a dropped connection is.
            if (e instanceof OciError) await rm(partial, { force: true });
            throw e;
          }
          await durable(handle);
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
    return (await this.readIndexFile()).index;
  }

  /** index.json, read and checked, with the text it was read from. */
  private async readIndexFile(): Promise<{ text: string; index: ImageIndex }> {
    let text: string;
    try {
      text = await readFile(join(this.dir, 'index.json'), 'utf8');
    } catch {
      throw new OciError(`${this.dir} is not an OCI image layout (no index.json)`);
    }
    try {
      return { text, index: readImageIndex(parseJson(text, 'index.json')) };
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
      const { text, index } = await this.readIndexFile();
      const updated = JSON.stringify({ ...index, mediaType: index.mediaType ?? MediaType.ociIndex, manifests: change(index.manifests) });
      // A change that changes nothing (a pull of an image tagged so already) costs no write and no fsync.
      if (updated !== text) await writeFileAtomic(join(this.dir, 'index.json'), updated);
    } finally {
      lock.release();
    }
  }
}

/**
 * Makes a blob file's bytes durable before it is renamed into blobs/: fdatasync(2) writes the data and the
 * metadata needed to read it back (its size), which is all a blob needs; its times may be lost.
 */
function durable(handle: FileHandle): Promise<void> {
  return handle.datasync();
}

/**
 * Writes `path` only if it does not exist, atomically: link(2) of a complete, synced temp file fails with
 * EEXIST when another creator was first; the directory is synced after the link, so the name survives a crash.
 * Whether this call made it.
 */
async function createIfAbsent(path: string, content: string): Promise<boolean> {
  if (await stat(path).then(() => true, () => false)) return false; // the common case: no temp file, no fsync
  const temp = tempPathBeside(path);
  let made = true;
  try {
    await writeNewFileSynced(temp, content);
    await link(temp, path).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
      made = false;
    });
  } finally {
    await rm(temp, { force: true });
  }
  await syncDir(dirname(path));
  return made;
}
