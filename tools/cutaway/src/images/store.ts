import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { imageStoreDir, ToolError } from '@cutaway/cli';
import {
  CONFIG_TYPES,
  familiarReference,
  isAttestation,
  nameCandidates,
  OciLayout,
  parseReference,
  REF_NAME,
  repositoryName,
  resolveImage,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type Platform,
  type ResolvedImage,
} from '@cutaway/oci';

/** Where the build cache lives: each step's image, tagged CACHE_REPOSITORY:<key> (Docker's intermediate images). */
export const CACHE_REPOSITORY = 'localhost/cutaway-cache';

/**
 * The images of the store ($CUTAWAY_ROOT/images, one OCI layout) as Docker's
 * image commands see them: each entry of index.json (by digest) with all its
 * names, its image ID (the config's digest, as Docker's), and everything it
 * reaches. Lookups go by name or by ID, as `docker rmi`, `tag`, `history` and
 * `save` take them. The snapshot can be changed in memory (untag, drop), so
 * that a command can check a whole list of changes before it makes any.
 */

export interface StoreImage {
  /** The entry of index.json (annotations aside): a manifest, or an index of several platforms. */
  descriptor: Descriptor;
  /** Its names, full references as stored, build-cache names included. */
  names: string[];
  /** The image itself: this host's, or its own platform's for an image of another one. */
  image: ResolvedImage;
  /** Docker's image ID: the config's digest. */
  id: Digest;
  /** Every blob the entry reaches (its manifests, configs and layers, of every platform of an index). */
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

function configPlatform(config: ImageConfig): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant !== undefined && { variant: config.variant }) };
}

/**
 * The image an entry of index.json stands for: this host's; for an image of
 * another platform only (`oci-pull --platform`), its own, as `docker images`
 * lists those too.
 */
async function imageOf(layout: OciLayout, descriptor: Descriptor): Promise<ResolvedImage> {
  try {
    return await resolveImage(layout, descriptor);
  } catch (e) {
    const doc = await layout.readManifestDocument(descriptor);
    const own = doc.kind === 'index' ? doc.index.manifests.find((m) => m.platform && !isAttestation(m))?.platform : configPlatform(await layout.readConfig(doc.manifest.config.digest));
    if (!own) throw e;
    return resolveImage(layout, descriptor, own);
  }
}

async function describe(layout: OciLayout, descriptor: Descriptor, names: string[]): Promise<StoreImage> {
  const what = names[0] ?? descriptor.digest;
  try {
    const image = await imageOf(layout, descriptor);
    const blobs = await layout.reachable([descriptor]);
    const diffIds = new Set<Digest>();
    for (const d of blobs.values()) {
      if (CONFIG_TYPES.includes(d.mediaType) && (await layout.hasBlob(d.digest))) for (const id of (await layout.readConfig(d.digest)).rootfs.diff_ids) diffIds.add(id);
    }
    return { descriptor, names, image, id: image.manifest.config.digest, blobs, diffIds };
  } catch (e) {
    throw new ToolError(`${familiarName(what)}: ${(e as Error).message}`, 'the store holds a damaged image');
  }
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
    const entries = new Map<Digest, { descriptor: Descriptor; names: string[] }>();
    for (const d of (await layout.readIndex()).manifests) {
      const { annotations, ...rest } = d;
      const { [REF_NAME]: name, ...others } = annotations ?? {};
      const entry = entries.get(d.digest) ?? { descriptor: { ...rest, ...(Object.keys(others).length && { annotations: others }) }, names: [] };
      if (name !== undefined) entry.names.push(name);
      entries.set(d.digest, entry);
    }
    const images: StoreImage[] = [];
    for (const { descriptor, names } of entries.values()) images.push(await describe(layout, descriptor, names));
    return new ImageStore(layout, images);
  }

  get layout(): OciLayout {
    if (!this.store) throw new ToolError('no image store yet: pull, build or load an image first');
    return this.store;
  }

  /**
   * An image by what a user typed, in Docker's order (daemon/images
   * GetImage): a full ID (`sha256:…` or 64 hex digits; a manifest digest, as
   * oci-pull and cutaway build print, too), a name as stored or as Docker
   * normalises it, then a unique ID prefix. `name` is the stored name when it
   * was found by one.
   */
  find(ref: string): { image: StoreImage; name?: string } {
    const hex = /^(?:sha256:)?([0-9a-f]+)$/.exec(ref)?.[1];
    if (hex?.length === 64) {
      const digest = `sha256:${hex}`;
      const image = this.images.find((i) => i.id === digest || i.descriptor.digest === digest || i.image.descriptor.digest === digest);
      if (image) return { image };
    } else {
      for (const name of nameCandidates(ref)) {
        const image = this.images.find((i) => i.names.includes(name));
        if (image) return { image, name };
      }
      if (hex) {
        const matches = this.images.filter((i) => i.id.startsWith(`sha256:${hex}`));
        if (matches.length > 1) throw new ToolError(`multiple IDs found with provided prefix: ${ref}`);
        if (matches[0]) return { image: matches[0] };
      }
      // A reference Docker would refuse is reported as such, not as missing.
      if (!hex) parseReference(ref);
    }
    throw new ToolError(`No such image: ${ref}`);
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
  }

  /** In memory: the image is gone from the store. */
  drop(image: StoreImage): void {
    this.images.splice(this.images.indexOf(image), 1);
  }
}
