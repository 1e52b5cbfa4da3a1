import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { imageStoreDir, ToolError } from '@cutaway/cli';
import {
  CONFIG_TYPES,
  familiarReference,
  matchImage,
  OciLayout,
  parseReference,
  readCatalog,
  repositoryName,
  type Descriptor,
  type Digest,
  type ImageEntry,
  type ImageMatch,
  type LayoutImage,
} from '@cutaway/oci';

/** Where the build cache lives: each step's image, tagged CACHE_REPOSITORY:<key> (Docker's intermediate images). */
export const CACHE_REPOSITORY = 'localhost/cutaway-cache';

/**
 * The images of the store ($CUTAWAY_ROOT/images, one OCI layout) as Docker's
 * image commands see them: one image per image ID (the config's digest), as
 * libs/oci's catalog counts them — every entry of index.json that resolves to
 * that config, whatever its manifest, with all their names — and everything
 * they reach. Lookups take every image handle (libs/oci image-handle.ts: a
 * name, an ID or unique prefix, a manifest digest, NAME@DIGEST). The snapshot
 * can be changed in memory (untag, drop), so that a command can check a whole
 * list of changes before it makes any.
 */

export interface StoreImage extends LayoutImage {
  /** Its first entry of index.json (annotations aside): a manifest, or an index of several platforms. */
  descriptor: Descriptor;
  /** Every blob its entries reach (their manifests, configs and layers, of every platform of an index). */
  blobs: Map<Digest, Descriptor>;
  /** The diff_ids of every config among them: the unpacked layers (layers/<alg>/<hex>) it may use. */
  diffIds: Set<Digest>;
}

/** The 12 hex digits Docker shows of an image ID. */
export function shortId(id: Digest): string {
  return id.slice(id.indexOf(':') + 1, id.indexOf(':') + 13);
}

/** A name of the build cache (`cutaway build`'s step images): not a tag a user gave. */
export function isCacheName(name: string): boolean {
  return name.startsWith(`${CACHE_REPOSITORY}:`);
}

/** The names a user gave the image (everything but build-cache names). */
export function tags(image: StoreImage): string[] {
  return image.names.filter((n) => !isCacheName(n));
}

/** Docker's intermediate image: one known only to the build cache (`docker images -a` shows it as <none>). */
export function isIntermediate(image: StoreImage): boolean {
  return image.names.length > 0 && tags(image).length === 0;
}

/** A stored name as Docker shows it: `busybox:latest`, `localhost:5000/app:1`; a name that is no reference as it is. */
export function familiarName(name: string): string {
  try {
    return familiarReference(parseReference(name));
  } catch {
    return name;
  }
}

/** REPOSITORY and TAG columns of a stored name (a digest reference has no tag: <none>). */
export function repositoryAndTag(name: string): [string, string] {
  try {
    const ref = parseReference(name);
    return [familiarReference({ domain: ref.domain, path: ref.path }), ref.tag ?? '<none>'];
  } catch {
    return [name, '<none>'];
  }
}

/** Whether a reference as typed names a tag or digest itself (`busybox:1`, `busybox@sha256:…`), which parseReference cannot tell: it adds :latest. */
export function givesTagOrDigest(ref: string): boolean {
  return /[:@]/.test(ref.slice(ref.lastIndexOf('/') + 1));
}

/** Whether a stored name is a tag, as RepoTags holds them: a reference with a tag and no digest. */
export function isTagName(name: string): boolean {
  try {
    const ref = parseReference(name);
    return ref.tag !== undefined && ref.digest === undefined;
  } catch {
    return false;
  }
}

/** The repository a stored name belongs to (`docker.io/library/busybox`), or the name itself. */
export function repositoryOf(name: string): string {
  try {
    return repositoryName(parseReference(name));
  } catch {
    return name;
  }
}

/** Whether a stored name is a digest reference (`busybox@sha256:…`): the image pulled by digest. */
export function isDigestName(name: string): boolean {
  try {
    return parseReference(name).digest !== undefined;
  } catch {
    return false;
  }
}

/**
 * Docker's RepoDigests: REPOSITORY@DIGEST for each name a user gave the image, the digest the name was
 * pulled by, else its manifest's (what `NAME@DIGEST` finds, and what a registry serves it as), each once.
 */
export function repoDigests(image: StoreImage): string[] {
  const digests = new Set<string>();
  for (const entry of image.entries) {
    for (const name of entry.names.filter((n) => !isCacheName(n))) {
      try {
        const ref = parseReference(name);
        digests.add(familiarReference({ domain: ref.domain, path: ref.path, digest: ref.digest ?? entry.descriptor.digest }));
      } catch {
        // a name that is no reference (a layout from elsewhere) has no repository
      }
    }
  }
  return [...digests];
}

/** The entry of index.json a stored name is on. */
export function entryNamed(image: StoreImage, name: string): ImageEntry | undefined {
  return image.entries.find((e) => e.names.includes(name));
}

/** The size an image takes in the store, as `images` and `inspect` show it: its config and its layers as stored (compressed as pulled). */
export function storedSize(image: StoreImage): number {
  return [image.image.manifest.config, ...image.image.manifest.layers].reduce((sum, d) => sum + d.size, 0);
}

/**
 * Whether `parent`'s history and layers are where `child`'s begin: the image
 * a build step started from, as Docker's parent images are (each step adds
 * one history entry). Images without a history have no parents.
 */
export function isParentOf(parent: StoreImage, child: StoreImage): boolean {
  const [p, c] = [parent.image.config, child.image.config];
  if (!p.history?.length || !c.history || p.history.length >= c.history.length) return false;
  const prefix = <T>(a: T[], b: T[]) => a.length <= b.length && a.every((x, i) => isDeepStrictEqual(x, b[i]));
  return prefix(p.history, c.history) && prefix(p.rootfs.diff_ids, c.rootfs.diff_ids);
}

/**
 * Removes an image from index.json: every entry that is it (one manifest, or several — an OCI and a Docker
 * one of the same config), with all their names, which it returns. Its blobs stay until gc.
 */
export async function removeImage(layout: OciLayout, image: StoreImage): Promise<string[]> {
  const names: string[] = [];
  for (const entry of image.entries) names.push(...(await layout.removeManifest(entry.descriptor.digest)));
  return names;
}

/** Adds what the image's entries reach: its blobs and the diff_ids of their configs. */
async function describe(layout: OciLayout, image: LayoutImage): Promise<StoreImage> {
  const blobs = await layout.reachable(image.entries.map((e) => e.descriptor));
  const diffIds = new Set<Digest>();
  for (const d of blobs.values()) {
    if (CONFIG_TYPES.includes(d.mediaType) && (await layout.hasBlob(d.digest))) for (const id of (await layout.readConfig(d.digest)).rootfs.diff_ids) diffIds.add(id);
  }
  return { ...image, descriptor: image.entries[0]!.descriptor, blobs, diffIds };
}

export class ImageStore {
  private constructor(
    private readonly store: OciLayout | undefined,
    /** In index.json's order. */
    readonly images: StoreImage[],
  ) {}

  /** The store's images; none when there is no store yet (nothing is created by looking). */
  static async open(root: string): Promise<ImageStore> {
    const dir = imageStoreDir(root);
    if (!existsSync(join(dir, 'oci-layout'))) return new ImageStore(undefined, []);
    const layout = await OciLayout.open(dir);
    let catalog: LayoutImage[];
    try {
      catalog = await readCatalog(layout);
    } catch (e) {
      throw new ToolError((e as Error).message, 'the store holds a damaged image');
    }
    const images: StoreImage[] = [];
    for (const image of catalog) images.push(await describe(layout, image));
    return new ImageStore(layout, images);
  }

  get layout(): OciLayout {
    if (!this.store) throw new ToolError('no image store yet: pull, build or load an image first');
    return this.store;
  }

  /**
   * An image by any handle a user typed (libs/oci image-handle.ts); `name` is the stored name when it was
   * found by one. Throws NoSuchImageError (`No such image: X`), AmbiguousImageError, or an invalid reference's OciError.
   */
  find(handle: string): ImageMatch<StoreImage> {
    return matchImage(this.images, handle);
  }

  /** The image a build step of `child` started from, if the store has it (the longest history that begins child's). */
  parentOf(child: StoreImage): StoreImage | undefined {
    return this.images.filter((p) => isParentOf(p, child)).sort((a, b) => (b.image.config.history?.length ?? 0) - (a.image.config.history?.length ?? 0))[0];
  }

  childrenOf(parent: StoreImage): StoreImage[] {
    return this.images.filter((c) => isParentOf(parent, c));
  }

  /** In memory: the name no longer names its image. */
  untag(image: StoreImage, name: string): void {
    image.names = image.names.filter((n) => n !== name);
    for (const entry of image.entries) entry.names = entry.names.filter((n) => n !== name);
  }

  /** In memory: the image is gone from the store. */
  drop(image: StoreImage): void {
    this.images.splice(this.images.indexOf(image), 1);
  }
}
