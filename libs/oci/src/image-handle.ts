import { readCatalog, type ImageEntry, type LayoutImage } from './catalog.ts';
import type { Descriptor } from './descriptor.ts';
import type { Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { resolveImage, type ResolvedImage } from './image.ts';
import type { OciLayout } from './layout.ts';
import type { Platform } from './platform.ts';
import { formatReference, parseReference, repositoryName } from './reference.ts';

/**
 * One image handle everywhere: what a user may type to name an image of a
 * store, and which image it names — the rules of Docker's image lookup
 * (daemon/images GetImage), in its order, for every tool and command:
 *
 * 1. `sha256:<64 hex>` or 64 hex digits: content, never a name — the image
 *    ID (the config's digest), else a manifest digest (an entry of
 *    index.json, or the platform's manifest of an index entry).
 * 2. `sha256:<hex>` shorter: an ID prefix only.
 * 3. Anything else is a reference: a name index.json holds, as written, then
 *    as Docker normalises it (`busybox` → docker.io/library/busybox:latest;
 *    `NAME:TAG@DIGEST` also as NAME@DIGEST).
 * 4. `NAME@sha256:…` not stored as such: an image whose manifest has that
 *    digest under a name of the same repository (Docker's RepoDigests).
 * 5. Hex digits that name nothing: a unique ID prefix. A prefix of several
 *    IDs is an error (AmbiguousImageError), never a guess.
 *
 * Nothing else matches: NoSuchImageError, `No such image: X`. A handle of
 * content (1 and 2) can only be looked up, never pulled from a registry.
 */

/** `No such image: X` — the handle names no image of the store. */
export class NoSuchImageError extends OciError {
  override name = 'NoSuchImageError';
  constructor(readonly handle: string) {
    super(`No such image: ${handle}`);
  }
}

/** A prefix of more than one image ID. */
export class AmbiguousImageError extends OciError {
  override name = 'AmbiguousImageError';
  constructor(readonly handle: string) {
    super(`multiple IDs found with provided prefix: ${handle}`);
  }
}

export interface ImageHandle {
  text: string;
  /** The stored names it may be, in the order to try them (none for a handle of content). */
  names: string[];
  /** A full sha256 digest: an image ID, else a manifest digest. */
  digest?: Digest;
  /** NAME@DIGEST: a manifest with that digest under a name of that repository. */
  repoDigest?: { repository: string; digest: Digest };
  /** Hex digits an image ID may begin with. */
  idPrefix?: string;
  /** Why it is no reference, for when no stored name is it either. */
  invalid?: OciError;
}

/**
 * The names in index.json that a name a user typed may stand for, in the
 * order to try them: as written (a layout from elsewhere may use short
 * names), then as Docker normalises it (`busybox` → docker.io/library/busybox:latest).
 */
export function nameCandidates(name: string): string[] {
  return parseImageHandle(name).names;
}

export function parseImageHandle(text: string): ImageHandle {
  const full = /^(?:sha256:)?([0-9a-f]{64})$/.exec(text);
  if (full) return { text, names: [], digest: `sha256:${full[1]}` as Digest };
  const short = /^sha256:([0-9a-f]{1,63})$/.exec(text);
  if (short) return { text, names: [], idPrefix: short[1]! };
  const handle: ImageHandle = { text, names: [text], ...(/^[0-9a-f]+$/.test(text) && { idPrefix: text }) };
  try {
    const ref = parseReference(text);
    handle.names.push(formatReference(ref));
    if (ref.digest) {
      if (ref.tag !== undefined) handle.names.push(formatReference({ domain: ref.domain, path: ref.path, digest: ref.digest }));
      handle.repoDigest = { repository: repositoryName(ref), digest: ref.digest };
    }
  } catch (e) {
    handle.invalid = e as OciError;
  }
  handle.names = [...new Set(handle.names)];
  return handle;
}

/** Whether a handle is content (an ID, a prefix of one, a digest): looked up only, never pulled. */
export function isContentHandle(text: string): boolean {
  return parseImageHandle(text).names.length === 0;
}

export interface ImageMatch<T extends LayoutImage = LayoutImage> {
  image: T;
  /** The entry of index.json it was found by (for an ID, the image's first). */
  entry: ImageEntry;
  /** The stored name, when it was found by one. */
  name?: string;
  /** How: a stored name, NAME@DIGEST of a manifest under the repository, the ID (in full or a prefix), a manifest digest. */
  by: 'name' | 'repo-digest' | 'id' | 'manifest';
  /** What to resolve for a platform: the entry for a name, the very manifest for an ID or a digest. */
  descriptor: Descriptor;
}

function repositoryOfName(name: string): string | undefined {
  try {
    return repositoryName(parseReference(name));
  } catch {
    return undefined;
  }
}

/** The manifest of `entry` that has `digest`: the entry itself, or the platform's manifest it resolves to. */
function manifestWith(entry: ImageEntry, digest: Digest): Descriptor | undefined {
  if (entry.descriptor.digest === digest) return entry.descriptor;
  if (entry.resolved.descriptor.digest === digest) return entry.resolved.descriptor;
  return undefined;
}

/** The image a handle names among `images` (a layout's catalog), by the rules above. */
export function matchImage<T extends LayoutImage>(images: T[], handleOrText: ImageHandle | string): ImageMatch<T> {
  const handle = typeof handleOrText === 'string' ? parseImageHandle(handleOrText) : handleOrText;
  for (const name of handle.names) {
    for (const image of images) {
      const entry = image.entries.find((e) => e.names.includes(name));
      if (entry) return { image, entry, name, by: 'name', descriptor: entry.descriptor };
    }
  }
  const { digest, repoDigest, idPrefix } = handle;
  if (digest) {
    const image = images.find((i) => i.id === digest);
    if (image) return { image, entry: image.entries[0]!, by: 'id', descriptor: image.entries[0]!.resolved.descriptor };
    for (const image of images) {
      for (const entry of image.entries) {
        const descriptor = manifestWith(entry, digest);
        if (descriptor) return { image, entry, by: 'manifest', descriptor };
      }
    }
  }
  if (repoDigest) {
    for (const image of images) {
      for (const entry of image.entries) {
        const descriptor = manifestWith(entry, repoDigest.digest);
        if (descriptor && entry.names.some((n) => repositoryOfName(n) === repoDigest.repository)) return { image, entry, by: 'repo-digest', descriptor };
      }
    }
  }
  if (idPrefix) {
    const matches = images.filter((i) => i.id.startsWith(`sha256:${idPrefix}`));
    if (matches.length > 1) throw new AmbiguousImageError(handle.text);
    const image = matches[0];
    if (image) return { image, entry: image.entries[0]!, by: 'id', descriptor: image.entries[0]!.resolved.descriptor };
  }
  // A reference Docker would refuse is reported as such, not as missing.
  if (handle.invalid) throw handle.invalid;
  throw new NoSuchImageError(handle.text);
}

export interface FoundImage extends ResolvedImage {
  /** Docker's image ID: the config's digest. */
  id: Digest;
  /** A handle that names this image again: the stored name it was found by, else its ID. */
  name: string;
  by: ImageMatch['by'];
}

/**
 * Finds an image of a layout by any handle (see above) and resolves it for
 * the platform (default: this host's). A stored name needs index.json only;
 * anything else reads the catalog. Throws NoSuchImageError,
 * AmbiguousImageError, or the OciError of an invalid reference or of an
 * image that is not for the platform.
 */
export async function findImage(layout: OciLayout, text: string, platform?: Platform): Promise<FoundImage> {
  const handle = parseImageHandle(text);
  const found = async (descriptor: Descriptor, name: string | undefined, by: ImageMatch['by']): Promise<FoundImage> => {
    const image = await resolveImage(layout, descriptor, platform);
    return { ...image, id: image.manifest.config.digest, name: name ?? image.manifest.config.digest, by };
  };
  if (handle.names.length) {
    const stored = await layout.list();
    for (const name of handle.names) {
      const entry = stored.find((e) => e.name === name);
      if (entry) return found(entry.descriptor, name, 'name');
    }
  }
  const match = matchImage(await readCatalog(layout, platform), handle);
  return found(match.descriptor, match.name, match.by);
}
