import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { createGunzip, type Gunzip } from 'node:zlib';
import * as tar from 'tar-stream';
import type { ImageConfig } from './config.ts';
import type { Descriptor } from './descriptor.ts';
import type { Digest } from './digest.ts';
import { OciError } from './errors.ts';
import type { ResolvedImage } from './image.ts';
import { blobName, LAYOUT_VERSION, REF_NAME, type OciLayout } from './layout.ts';
import type { ImageManifest } from './manifest.ts';
import { MediaType, ociLayerMediaType, sniffCompression, type Compression } from './media-types.ts';
import { formatPlatform, platformRank, type Platform } from './platform.ts';
import { familiarReference, formatReference, parseReference, type Reference } from './reference.ts';

/*
 * `docker save`'s archive, which `docker load` reads (moby image/tarexport,
 * image/spec/v1.2.md, "Combined Image JSON + Filesystem Changeset Format"):
 * a tar whose manifest.json lists its images, `[{Config, RepoTags, Layers}]`,
 * by paths inside the tar. Writers differ in everything else:
 *
 * - Docker before 25: `<imageid>.json` (the config, named by its sha256),
 *   `<v1id>/layer.tar` uncompressed, `<v1id>/json` and `<v1id>/VERSION`
 *   (legacy v1 metadata), and `<v1id>/layer.tar` as a symlink to the first
 *   copy when two images share a layer; `repositories` (legacy tags).
 * - skopeo (containers/image docker/internal/tarfile): `<hex>.json`,
 *   `<diffid hex>.tar`, and the legacy `<v1id>/layer.tar` as a symlink to it;
 *   RepoTags fully qualified (`docker.io/library/busybox:1.0`).
 * - Docker 25 and later: an OCI image layout as well (`oci-layout`,
 *   `index.json`, `blobs/sha256/…`), manifest.json's paths pointing into it;
 *   with the containerd image store the layer blobs are the registry's
 *   compressed ones (gzip, or zstd).
 * - `docker save | gzip`: the whole archive compressed; `docker load` takes it.
 *
 * saveDockerArchive writes Docker 25's form, which Docker ≥ 1.10, podman and
 * skopeo's docker-archive: all read; loadDockerArchive reads every form above.
 * RepoTags are written familiar (`busybox:1.0`), as Docker writes them, and
 * read normalised (`docker.io/library/busybox:1.0`), as the store names images.
 */

/** One image of manifest.json. */
export interface ArchiveManifestItem {
  Config: string;
  /** Empty for an image saved by ID (Docker writes null). */
  RepoTags: string[];
  Layers: string[];
}

/** A refusal of an archive: a one-line message that names the archive, and a hint where one helps. */
export class DockerArchiveError extends OciError {
  override name = 'DockerArchiveError';
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------- writing: docker save

export interface ArchiveImage {
  image: ResolvedImage;
  /** Full references, as the store names them; empty for an image saved by ID. */
  tags: string[];
}

const EPOCH = new Date(0);

/** index.json's entries for an image, as Docker writes them: one per tag (containerd's full name, the tag as ref.name), or one without a name. */
function indexEntries({ image, tags }: ArchiveImage): Descriptor[] {
  const { mediaType, digest, size } = image.descriptor;
  if (!tags.length) return [{ mediaType, digest, size }];
  return tags.map((t) => ({ mediaType, digest, size, annotations: { 'io.containerd.image.name': t, [REF_NAME]: parseReference(t).tag! } }));
}

/**
 * `docker save`: the archive of `images` from `layout`, as a stream, in
 * Docker 25's form. Blobs go in byte for byte as the store has them, each
 * once, verified as they are read (a blob that does not match its digest
 * fails the stream): the config keeps its digest, so the image ID is the same
 * wherever it is loaded; layers stay as pulled (gzip), which docker load and
 * skopeo decompress themselves. Timestamps are the epoch, so saving the same
 * images gives the same bytes.
 */
export function saveDockerArchive(layout: OciLayout, images: ArchiveImage[]): Readable {
  const pack = tar.pack();
  void fill(pack, layout, images).then(
    () => pack.finalize(),
    (e: Error) => pack.destroy(e),
  );
  // tar-stream's streams are streamx's, which Node's pipeline takes as its own.
  return pack as unknown as Readable;
}

async function fill(pack: tar.Pack, layout: OciLayout, images: ArchiveImage[]): Promise<void> {
  const add = (header: Partial<tar.Header> & Pick<tar.Header, 'name'>, body?: Buffer | Readable) =>
    new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (e ? reject(e) : resolve());
      const full = { mode: header.type === 'directory' ? 0o755 : 0o644, mtime: EPOCH, uid: 0, gid: 0, ...header };
      if (!body || Buffer.isBuffer(body)) {
        pack.entry(full, body ?? Buffer.alloc(0), done);
        return;
      }
      pipelineAsync(body, pack.entry(full, done) as unknown as NodeJS.WritableStream).catch(reject);
    });
  const file = (name: string, value: unknown) => add({ name, type: 'file' }, Buffer.from(JSON.stringify(value)));

  await add({ name: 'blobs/', type: 'directory' });
  await add({ name: 'blobs/sha256/', type: 'directory' });
  const stored = new Set<Digest>();
  for (const { image } of images) {
    for (const d of [image.manifest.config, ...image.manifest.layers, image.descriptor]) {
      if (stored.has(d.digest)) continue;
      stored.add(d.digest);
      await add({ name: blobName(d.digest), type: 'file', size: d.size }, layout.openBlob(d.digest));
    }
  }
  await file('index.json', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images.flatMap(indexEntries) });
  const manifest: ArchiveManifestItem[] = images.map(({ image, tags }) => ({
    Config: blobName(image.manifest.config.digest),
    RepoTags: tags.map((t) => familiarReference(parseReference(t))),
    Layers: image.manifest.layers.map((l) => blobName(l.digest)),
  }));
  await file('manifest.json', manifest);
  await file('oci-layout', { imageLayoutVersion: LAYOUT_VERSION });
}

// ---------------------------------------------------------------- reading: docker load

/*
 * manifest.json may come anywhere in the tar (skopeo and Docker write it
 * last) and a tar can only be read in order. A member is stored as a blob
 * while it streams (never held in memory), its digest and, for a gzip
 * member, the digest of its decompressed bytes computed on the way; the
 * image is assembled from those records at the end.
 *
 * Which members are stored, so that a tar that is no docker save archive (a
 * rootfs tarball of thousands of files) is refused before anything is: the
 * archive is read once, and a file member that comes before manifest.json is
 * stored only when its name is one docker save writers give blobs
 * (BLOB_MEMBER); after manifest.json, what the chosen image names is stored
 * too. Any other file before manifest.json refuses a stream (stdin, a pipe)
 * at once; a file is then read again, first for its names, links and
 * manifest.json only (nothing stored: no manifest.json, no image or a
 * missing member is refused here), then for the chosen image's members
 * alone. Members that turn out to be no part of the chosen image stay
 * unreferenced and go at the next gc.
 */

/** The largest manifest.json (or other metadata file) read into memory; containers/image allows 1 MiB. */
const METADATA_MAX = 4 << 20;
/** Links followed from one name at most (Docker writes one level). */
const LINK_HOPS = 8;

interface StoredMember {
  kind: 'blob';
  digest: Digest;
  size: number;
  compression: Compression;
  /** sha256 of the content once decompressed (the content itself when it is not compressed). */
  diffId?: Digest;
  /** Why a gzip member could not be decompressed. */
  gzipError?: string;
}

type Member = StoredMember | { kind: 'link'; target: string };

/** A member name as a normalised relative path: `./a//b/` → `a/b`. */
function memberPath(name: string): string {
  const n = posix.normalize(name.replace(/^\/+/, ''));
  return n.replace(/\/+$/, '').replace(/^(\.\/)+/, '');
}

/** Legacy v1 metadata Docker writes beside each layer; no manifest.json field names it. */
const LEGACY_METADATA = /^[a-f0-9]{64}\/(?:json|VERSION)$/;
/** Top-level files read (or noted) rather than stored. */
const METADATA = new Set(['manifest.json', 'repositories', 'index.json', 'oci-layout']);

/**
 * The names docker save writers give the members manifest.json points at: `blobs/sha256/<hex>` (Docker 25+),
 * `<hex>.json` and `<hex>/layer.tar` (Docker before 25), `<hex>.tar` (skopeo, podman), `sha256:<hex>` and
 * `<hex>.tar.gz` (go-containerregistry). A file member before manifest.json must look like one of these.
 */
const BLOB_MEMBER = /^(?:blobs\/[a-z0-9]+\/[a-f0-9]{32,}|(?:sha256:)?[a-f0-9]{64}(?:\.json|\.tar|\.tar\.gz)?|[a-f0-9]{64}\/layer\.tar)$/;

/** The digest a member's name states: `blobs/sha256/<hex>`, `<hex>.json` (a config, named by its digest), `sha256:<hex>` (go-containerregistry). */
function namedDigest(path: string, role: 'config' | 'layer'): Digest | undefined {
  const blob = /^blobs\/sha256\/([a-f0-9]{64})$/.exec(path);
  if (blob) return `sha256:${blob[1]}`;
  if (role !== 'config') return undefined;
  const named = /^(?:sha256:)?([a-f0-9]{64})(?:\.json)?$/.exec(path);
  return named ? `sha256:${named[1]}` : undefined;
}

/**
 * Passes a member's bytes through to the store while finding out what they
 * are: the first bytes say whether they are gzip (or zstd), and a gzip
 * member is decompressed on the side to hash its content.
 */
class MemberInspector extends Transform {
  compression: Compression = 'none';
  gzipError?: string;
  private head: Buffer[] = [];
  private headLength = 0;
  private decided = false;
  private gunzip?: Gunzip;
  private gunzipDone?: Promise<void>;
  private readonly contentHash = createHash('sha256');
  private contentDigest?: Digest;
  private count = 0;

  constructor(private readonly onProgress: (done: number) => void) {
    super();
  }

  /** sha256 of the decompressed content of a gzip member (undefined otherwise, or when it did not decompress). */
  get gunzippedDigest(): Digest | undefined {
    return this.contentDigest;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.count += chunk.length;
    this.onProgress(this.count);
    if (this.decided) {
      this.feed(chunk, done);
      return;
    }
    this.head.push(chunk);
    this.headLength += chunk.length;
    if (this.headLength < 4) {
      done();
      return;
    }
    this.decide();
    this.feed(Buffer.concat(this.head.splice(0)), done);
  }

  override _flush(done: TransformCallback): void {
    const finish = () => {
      if (!this.gunzip) {
        done();
        return;
      }
      this.gunzip.end();
      this.gunzipDone!.then(() => {
        if (!this.gzipError) this.contentDigest = `sha256:${this.contentHash.digest('hex')}`;
        done();
      });
    };
    if (this.decided) {
      finish();
      return;
    }
    this.decide();
    const rest = Buffer.concat(this.head.splice(0));
    if (rest.length) this.feed(rest, finish);
    else finish();
  }

  private decide(): void {
    this.decided = true;
    this.compression = sniffCompression(Buffer.concat(this.head));
    if (this.compression !== 'gzip') return;
    const gunzip = createGunzip();
    this.gunzip = gunzip;
    this.gunzipDone = new Promise((resolve) => {
      gunzip.on('data', (data: Buffer) => this.contentHash.update(data));
      gunzip.on('end', resolve);
      gunzip.on('error', (e) => {
        this.gzipError ??= e.message;
        resolve();
      });
    });
  }

  /** Hands the chunk on, and to the decompressor (waiting for it when it is behind, so compressed chunks do not pile up). */
  private feed(chunk: Buffer, done: TransformCallback): void {
    this.push(chunk);
    const gunzip = this.gunzip;
    if (!gunzip || this.gzipError || gunzip.destroyed) {
      done();
      return;
    }
    if (gunzip.write(chunk)) {
      done();
      return;
    }
    const go = () => {
      gunzip.off('drain', go);
      gunzip.off('error', go);
      done();
    };
    gunzip.on('drain', go);
    gunzip.on('error', go);
  }
}

/** The archive's bytes, gunzipped first when the whole archive is gzip (`docker save | gzip`, which `docker load` takes). */
async function* archiveBytes(source: Readable, label: string): AsyncGenerator<Buffer> {
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  while (head.length < 10) {
    const next = await chunks.next();
    if (next.done) break;
    head = Buffer.concat([head, next.value]);
  }
  if (head.length === 0) throw new DockerArchiveError(`${label}: not a tar archive: it is empty`);
  const all = (async function* () {
    yield head;
    for (;;) {
      const next = await chunks.next();
      if (next.done) return;
      yield next.value;
    }
  })();
  const compression = sniffCompression(head);
  if (compression === 'zstd' || head.subarray(0, 6).equals(Buffer.from('fd377a585a00', 'hex')) || /^BZh[1-9]1AY&SY/.test(head.subarray(0, 10).toString('latin1'))) {
    throw new DockerArchiveError(`${label}: the archive is compressed (${compression === 'zstd' ? 'zstd' : head[0] === 0xfd ? 'xz' : 'bzip2'}); only plain and gzip-compressed archives are read`, 'decompress it first and import the .tar');
  }
  if (compression === 'gzip') {
    try {
      yield* pipeline(Readable.from(all), createGunzip(), () => {});
    } catch (e) {
      throw new DockerArchiveError(`${label}: the archive is gzip-compressed but does not decompress: ${(e as Error).message}`);
    }
    return;
  }
  yield* all;
}

/** Reads a small member whole into memory. */
async function readSmall(entry: AsyncIterable<unknown> & { header: tar.Header }, label: string): Promise<Buffer> {
  if (entry.header.size > METADATA_MAX) throw new DockerArchiveError(`${label}: ${entry.header.name} is ${entry.header.size} bytes, more than a docker save archive's ${METADATA_MAX} allows`);
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** manifest.json's images, checked (`label` names the archive in errors); an image saved by ID gets RepoTags []. */
export function parseArchiveManifest(bytes: Buffer, label: string): ArchiveManifestItem[] {
  const fail = (why: string): never => {
    throw new DockerArchiveError(`${label}: manifest.json: ${why}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    fail(`not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(value)) return fail('want a list of images ([{Config, RepoTags, Layers}])');
  return value.map((item: unknown, i): ArchiveManifestItem => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return fail(`image ${i + 1} is not an object`);
    const { Config, RepoTags, Layers } = item as Record<string, unknown>;
    if (typeof Config !== 'string' || Config === '') fail(`image ${i + 1} has no Config`);
    if (!Array.isArray(Layers) || Layers.some((l) => typeof l !== 'string')) fail(`image ${i + 1}: Layers must be a list of paths`);
    if (RepoTags != null && (!Array.isArray(RepoTags) || RepoTags.some((t) => typeof t !== 'string'))) fail(`image ${i + 1}: RepoTags must be a list of names`);
    return { Config: Config as string, Layers: Layers as string[], RepoTags: (RepoTags as string[] | null | undefined) ?? [] };
  });
}

/** A RepoTag normalised as the store names it (`busybox:1.0` → `docker.io/library/busybox:1.0`); undefined when it does not parse. */
function normalisedTag(tag: string): string | undefined {
  try {
    return formatReference(parseReference(tag));
  } catch {
    return undefined;
  }
}

/** Which image of the archive to import, and the name to tag it with. */
function chooseImage(items: ArchiveManifestItem[], ref: Reference | undefined, file: string, label: string): { item: ArchiveManifestItem; tag: string } {
  if (items.length === 0) throw new DockerArchiveError(`${label}: manifest.json lists no images`);
  const tags = () => {
    const all = items.flatMap((i) => i.RepoTags);
    return all.length ? all.join(', ') : 'no tags (saved by image id)';
  };
  if (ref) {
    if (ref.digest) throw new DockerArchiveError(`${label}: ${formatReference(ref)}: an archive's images are chosen by tag, not digest`, `the archive has ${tags()}`);
    const wanted = formatReference(ref);
    const item = items.find((i) => i.RepoTags.some((t) => normalisedTag(t) === wanted));
    if (item) return { item, tag: wanted };
    // An image saved by id has no tag to choose it by; when it is the only one, REF names it.
    if (items.length === 1 && items[0]!.RepoTags.length === 0) return { item: items[0]!, tag: wanted };
    throw new DockerArchiveError(`${label}: no image tagged ${wanted} in the archive; it has ${tags()}`);
  }
  if (items.length > 1) {
    throw new DockerArchiveError(`${label}: the archive holds ${items.length} images; say which: docker-archive:${file}:REF`, `the archive has ${tags()}`);
  }
  const item = items[0]!;
  const first = item.RepoTags[0];
  if (first === undefined) throw new DockerArchiveError(`${label}: the image has no RepoTags (it was saved by id); name it: docker-archive:${file}:NAME:TAG`);
  const tag = normalisedTag(first);
  if (!tag) throw new DockerArchiveError(`${label}: manifest.json: RepoTag ${JSON.stringify(first)} is not a valid reference`);
  return { item, tag };
}

/** Progress of one member as it is stored (libs/cli's Progress.item gives one). */
export interface MemberProgress {
  /** Bytes read so far. */
  update(done: number): void;
  finish(status: string): void;
}

export interface LoadOptions {
  /** The archive as the user named it: a path, or `-` for stdin; messages name it, and hints as skopeo's docker-archive:FILE:REF. */
  file: string;
  /** The image to load, by one of its RepoTags; without it the archive must hold one image. */
  ref?: Reference | undefined;
  /** The platform wanted: an image for another is refused. */
  platform: Platform;
  /** Called for each member stored, with its path and size. */
  onMember?: (path: string, size: number) => MemberProgress;
}

export interface LoadedImage {
  /** The full reference the image is tagged with in the store. */
  tag: string;
  /** The new manifest's descriptor. */
  descriptor: Descriptor;
  manifest: ImageManifest;
  /** The image's own platform, from its config. */
  platform: Platform;
}

/** What reading the tar once found: its members (stored blobs, links, files read past), which metadata files it has, manifest.json. */
interface ArchiveContents {
  /** By path: a stored blob, a link, or a file read past. */
  members: Map<string, Member | 'skipped'>;
  present: Set<string>;
  manifestJson?: Buffer;
  entries: number;
}

/**
 * The member `name` is, following links, and its path; `member` is undefined when it (or what it links
 * to) is not in the archive. `members` may hold files read past as well as stored ones.
 */
function memberBehind(members: Map<string, Member | 'skipped'>, name: string): { path: string; member?: Member | 'skipped' } {
  let path = memberPath(name);
  for (let hop = 0; hop <= LINK_HOPS; hop++) {
    const m = members.get(path);
    if (m === undefined || m === 'skipped' || m.kind === 'blob') return { path, member: m };
    path = memberPath(m.target);
  }
  return { path };
}

/** The paths the image's Config and Layers name, and every member their links lead to. */
function namedPaths(item: ArchiveManifestItem, members: Map<string, Member | 'skipped'>): Set<string> {
  const paths = new Set<string>();
  for (const name of [item.Config, ...item.Layers]) {
    let path = memberPath(name);
    paths.add(path);
    for (let hop = 0; hop < LINK_HOPS; hop++) {
      const m = members.get(path);
      if (m === undefined || m === 'skipped' || m.kind !== 'link') break;
      path = memberPath(m.target);
      paths.add(path);
    }
  }
  return paths;
}

/** The error for a name manifest.json gives that the archive does not hold. */
function notInArchive(label: string, name: string, what: string, path: string): DockerArchiveError {
  return new DockerArchiveError(`${label}: manifest.json names ${what} ${name}, which is not in the archive${path !== memberPath(name) ? ` (it links to ${path})` : ''}`);
}

/** The error for a tar that has no manifest.json, saying what it looks like instead. */
function noManifest(label: string, present: Set<string>): DockerArchiveError {
  const oci = present.has('index.json') && present.has('oci-layout');
  const why = present.has('repositories')
    ? 'no manifest.json: a Docker archive from before 1.10 (only a repositories file) is not supported'
    : oci
      ? 'no manifest.json: this is an OCI layout archive, not a docker save archive'
      : 'no manifest.json: not a docker save archive';
  return new DockerArchiveError(`${label}: ${why}`, oci ? `extract it and import oci:DIR:NAME` : undefined);
}

/**
 * Reads the tar once: links are recorded, manifest.json and the other metadata files noted (manifest.json
 * read), and each file member stored as a blob when `store(path, contents)` says so, else read past.
 * `store` may throw to refuse the archive there. Tar damage is a DockerArchiveError naming where it is.
 */
async function readArchive(input: Readable, to: OciLayout, label: string, store: (path: string, contents: ArchiveContents) => boolean, onMember?: LoadOptions['onMember']): Promise<ArchiveContents> {
  const contents: ArchiveContents = { members: new Map(), present: new Set(), entries: 0 };
  const { members, present } = contents;
  let last = '';
  const extract = tar.extract();
  const bytes = Readable.from(archiveBytes(input, label));
  // What broke the tar stream, as opposed to a failure of the store.
  let archiveError: Error | undefined;
  extract.on('error', (e: Error) => (archiveError ??= e));
  bytes.on('error', (e) => {
    archiveError = e;
    extract.destroy(e);
  });
  input.on('error', (e) => bytes.destroy(e));
  bytes.pipe(extract);
  try {
    for await (const entry of extract) {
      contents.entries++;
      const { header } = entry;
      const path = memberPath(header.name);
      last = path;
      switch (header.type) {
        case 'file':
        case 'contiguous-file':
          break;
        case 'symlink':
          members.set(path, { kind: 'link', target: posix.join(posix.dirname(path), header.linkname ?? '') });
          entry.resume();
          continue;
        case 'link':
          members.set(path, { kind: 'link', target: memberPath(header.linkname ?? '') });
          entry.resume();
          continue;
        default:
          entry.resume();
          continue;
      }
      if (METADATA.has(path) || LEGACY_METADATA.test(path)) {
        present.add(path);
        if (path === 'manifest.json') contents.manifestJson = await readSmall(entry, label);
        else entry.resume();
        continue;
      }
      if (!store(path, contents)) {
        members.set(path, 'skipped');
        for await (const _ of entry); // drained: the tar goes on after it
        continue;
      }
      const bar = onMember?.(path, header.size);
      const inspector = new MemberInspector((done) => bar?.update(done));
      // pipeline, not pipe: a member cut short (a truncated archive) must fail the store's write, not stall it.
      const stored = await to.putBlob(pipeline(Readable.from(entry), inspector, () => {}));
      const member: StoredMember = { kind: 'blob', ...stored, compression: inspector.compression };
      if (inspector.compression === 'none') member.diffId = stored.digest;
      else if (inspector.gunzippedDigest) member.diffId = inspector.gunzippedDigest;
      if (inspector.gzipError) member.gzipError = inspector.gzipError;
      members.set(path, member);
      bar?.finish('stored');
    }
  } catch (e) {
    if (e instanceof DockerArchiveError || e instanceof NamesFirst) throw e;
    if (archiveError instanceof DockerArchiveError) throw archiveError;
    if (!archiveError) throw new DockerArchiveError(`${label}: ${last}: ${(e as Error).message}`);
    if (contents.entries === 0) throw new DockerArchiveError(`${label}: not a tar archive (${archiveError.message})`);
    throw new DockerArchiveError(`${label}: the archive is damaged at ${last}: ${archiveError.message}`);
  } finally {
    bytes.destroy();
    input.destroy();
  }
  if (contents.entries === 0) throw new DockerArchiveError(`${label}: an empty tar archive: no manifest.json`);
  return contents;
}

/** Thrown by the first reading of a file to read it again, names first (see loadDockerArchive). */
class NamesFirst extends Error {}

/** The archive: a stream, read once (stdin, a pipe), or a file's, which loadDockerArchive opens anew when it reads the file again. */
export type ArchiveInput = Readable | (() => Readable);

/**
 * Imports one image from a `docker save` archive (`input`, named `file`)
 * into the store, as `docker load` does: the image tagged `ref` (or, when
 * the archive holds one image, that image under its first RepoTag), with
 * its config exactly as saved (so the config digest, the image id, is kept)
 * and its layers as they are in the archive, each checked against the
 * config's diff_ids. A new OCI manifest is written for it and tagged.
 * `platform` in the result is the image's own. Every refusal is a DockerArchiveError.
 */
export async function loadDockerArchive(input: ArchiveInput, to: OciLayout, options: LoadOptions): Promise<LoadedImage> {
  const { file, ref, platform } = options;
  const label = file === '-' ? 'stdin' : file;
  const reopen = typeof input === 'function' ? input : undefined;
  return to.withLease(async () => {
    let chosen: { item: ArchiveManifestItem; tag: string } | undefined;
    let contents: ArchiveContents;
    try {
      // One reading, storing as it goes: what comes before manifest.json must be named as docker save writers name blobs.
      contents = await readArchive(
        reopen ? reopen() : (input as Readable),
        to,
        label,
        (path, c) => {
          if (!c.manifestJson) {
            if (BLOB_MEMBER.test(path)) return true;
            if (reopen) throw new NamesFirst();
            throw new DockerArchiveError(
              `${label}: not a docker save archive: ${path} comes before any manifest.json and is no image blob`,
              'a docker save archive holds manifest.json with blobs/sha256/…, <id>.json and <id>/layer.tar or <id>.tar; one in another shape can be read from a file: docker-archive:FILE',
            );
          }
          chosen ??= chooseImage(parseArchiveManifest(c.manifestJson, label), ref, file, label);
          return BLOB_MEMBER.test(path) || namedPaths(chosen.item, c.members).has(path);
        },
        options.onMember,
      );
      if (!contents.manifestJson) throw noManifest(label, contents.present);
    } catch (e) {
      if (!(e instanceof NamesFirst) || !reopen) throw e;
      // A file in another shape (or no archive at all, as a rootfs tarball): its names and manifest.json first,
      // nothing stored; then only what the chosen image names.
      const survey = await readArchive(reopen(), to, label, () => false);
      if (!survey.manifestJson) throw noManifest(label, survey.present);
      chosen = chooseImage(parseArchiveManifest(survey.manifestJson, label), ref, file, label);
      const item = chosen.item;
      for (const [i, name] of [item.Config, ...item.Layers].entries()) {
        const found = memberBehind(survey.members, name);
        if (found.member === undefined) throw notInArchive(label, name, i === 0 ? 'the config' : `layer ${i}/${item.Layers.length}`, found.path);
      }
      const wanted = namedPaths(item, survey.members);
      contents = await readArchive(reopen(), to, label, (path) => wanted.has(path), options.onMember);
    }
    const { members } = contents;
    const { item, tag } = chosen ?? chooseImage(parseArchiveManifest(contents.manifestJson!, label), ref, file, label);

    const find = (name: string, what: string): StoredMember => {
      const { path, member } = memberBehind(members, name);
      if (member !== undefined && member !== 'skipped') return member as StoredMember;
      throw notInArchive(label, name, what, path);
    };

    // The config: kept byte for byte, so its digest (the image id) is the one it was saved with.
    const configMember = find(item.Config, 'the config');
    const claimed = namedDigest(memberPath(item.Config), 'config');
    if (claimed && claimed !== configMember.digest) {
      throw new DockerArchiveError(`${label}: config ${item.Config}: its name says ${claimed} but its content is ${configMember.digest}`, 'the archive is corrupt');
    }
    let config: ImageConfig;
    try {
      config = await to.readConfig(configMember.digest);
    } catch (e) {
      throw new DockerArchiveError(`${label}: config ${item.Config}: ${(e as Error).message}`);
    }
    const imagePlatform: Platform = {
      os: config.os,
      architecture: config.architecture,
      ...(config.variant !== undefined && { variant: config.variant }),
      ...(config['os.version'] !== undefined && { 'os.version': config['os.version'] }),
    };
    if (platformRank(platform, imagePlatform) < 0) {
      throw new DockerArchiveError(`${label}: ${tag} is for ${formatPlatform(imagePlatform)}, not ${formatPlatform(platform)}`, `to import it anyway: --platform ${formatPlatform(imagePlatform)}`);
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== item.Layers.length) {
      throw new DockerArchiveError(`${label}: ${tag}: manifest.json lists ${item.Layers.length} layers but its config has ${diffIds.length} diff_ids`);
    }

    const layers: Descriptor[] = [];
    for (const [i, name] of item.Layers.entries()) {
      const n = `layer ${i + 1}/${item.Layers.length}`;
      const m = find(name, n);
      const claimedLayer = namedDigest(memberPath(name), 'layer');
      if (claimedLayer && claimedLayer !== m.digest) {
        throw new DockerArchiveError(`${label}: ${n} ${name}: its name says ${claimedLayer} but its content is ${m.digest}`, 'the archive is corrupt');
      }
      if (m.compression === 'zstd') {
        throw new DockerArchiveError(`${label}: ${n} ${name} is zstd-compressed, which this Node cannot decompress to check its diff_id`, 'docker save it from a store without zstd layers, or recompress the layer with gzip');
      }
      if (m.gzipError) throw new DockerArchiveError(`${label}: ${n} ${name}: gzip-compressed but corrupt: ${m.gzipError}`);
      if (m.diffId !== diffIds[i]) {
        throw new DockerArchiveError(`${label}: ${n} ${name}: its content is ${m.diffId} but the config's diff_id is ${diffIds[i]}`, 'the layer is corrupt; nothing was tagged');
      }
      layers.push({ mediaType: ociLayerMediaType(m.compression), digest: m.digest, size: m.size });
    }

    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configMember.digest, size: configMember.size },
      layers,
    };
    const descriptor = await to.putJson(MediaType.ociManifest, manifest);
    await to.addRef(tag, descriptor);
    return { tag, descriptor, manifest, platform: imagePlatform };
  });
}
