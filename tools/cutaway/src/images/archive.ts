import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { MediaType, parseDigest, parseReference, REF_NAME, type Descriptor, type Digest, type OciLayout, type ResolvedImage } from '@cutaway/oci';
import { familiarName } from './store.ts';

/**
 * `docker save`'s archive, as Docker 25 and later write it: a tar that is an
 * OCI image layout (oci-layout, index.json, blobs/sha256/…) and a
 * docker-archive at once — manifest.json lists each image's config and layers
 * by their paths in blobs/ (moby image/spec/v1.2.md, "Combined Image JSON +
 * Filesystem Changeset Format"; Docker ≥ 1.10 loads it, and skopeo's and
 * podman's docker-archive: read it). Blobs go in byte for byte as the store
 * has them, each once, verified as they are read: the config keeps its
 * digest, so the image ID is the same wherever it is loaded; layers stay as
 * pulled (gzip), which docker load and skopeo decompress themselves.
 * Timestamps are the epoch, so saving the same images gives the same bytes.
 */

export interface ArchiveImage {
  image: ResolvedImage;
  /** Full references, as the store names them; empty for an image saved by ID. */
  tags: string[];
}

/** One item of manifest.json. */
interface ArchiveManifestItem {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const EPOCH = new Date(0);

function blobName(digest: Digest): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `blobs/${algorithm}/${encoded}`;
}

/** index.json's entries for an image, as Docker writes them: one per tag (containerd's full name, the tag as ref.name), or one without a name. */
function indexEntries({ image, tags }: ArchiveImage): Descriptor[] {
  const { mediaType, digest, size } = image.descriptor;
  if (!tags.length) return [{ mediaType, digest, size }];
  return tags.map((t) => ({ mediaType, digest, size, annotations: { 'io.containerd.image.name': t, [REF_NAME]: parseReference(t).tag! } }));
}

/** The archive of `images`, as a stream; a blob that does not match its digest fails it. */
export function dockerArchive(layout: OciLayout, images: ArchiveImage[]): Readable {
  const pack = tarPack();
  void fill(pack, layout, images).then(
    () => pack.finalize(),
    (e: Error) => pack.destroy(e),
  );
  // tar-stream's streams are streamx's, which Node's pipeline takes as its own.
  return pack as unknown as Readable;
}

async function fill(pack: Pack, layout: OciLayout, images: ArchiveImage[]): Promise<void> {
  const add = (header: Partial<Header> & Pick<Header, 'name'>, body?: Buffer | Readable) =>
    new Promise<void>((resolve, reject) => {
      const done = (e?: Error | null) => (e ? reject(e) : resolve());
      const full = { mode: header.type === 'directory' ? 0o755 : 0o644, mtime: EPOCH, uid: 0, gid: 0, ...header };
      if (!body || Buffer.isBuffer(body)) {
        pack.entry(full, body ?? Buffer.alloc(0), done);
        return;
      }
      pipeline(body, pack.entry(full, done) as unknown as NodeJS.WritableStream).catch(reject);
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
    RepoTags: tags.map(familiarName),
    Layers: image.manifest.layers.map((l) => blobName(l.digest)),
  }));
  await file('manifest.json', manifest);
  await file('oci-layout', { imageLayoutVersion: '1.0.0' });
}
