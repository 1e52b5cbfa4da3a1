import type { ImageConfig } from './config.ts';
import type { Descriptor } from './descriptor.ts';
import type { Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { resolveImage, type ResolvedImage } from './image.ts';
import { REF_NAME, type OciLayout } from './layout.ts';
import { isAttestation } from './manifest.ts';
import { hostPlatform, type Platform } from './platform.ts';

/**
 * The images of a layout as Docker counts them: one image per image ID, the
 * config's digest. Every entry of index.json that resolves to the same config
 * — whatever its manifest (OCI or Docker schema 2, an index or a manifest) —
 * is the same image, with the names of all those entries. This is what
 * `docker images`, `rmi`, `inspect` and every image handle see.
 */

/** One entry of index.json (all its names together, as index.json may repeat a digest under several names). */
export interface ImageEntry {
  /** The entry as stored, less its ref.name annotation: a manifest, or an index of several platforms. */
  descriptor: Descriptor;
  /** The names index.json gives it, in its order. */
  names: string[];
  /** The image it stands for: the platform's; for an entry with no image for it, its own platform's. */
  resolved: ResolvedImage;
}

export interface LayoutImage {
  /** Docker's image ID: the config's digest. */
  id: Digest;
  /** The entries of index.json that are this image, in index.json's order. */
  entries: ImageEntry[];
  /** Every name of those entries, in index.json's order. */
  names: string[];
  /** The image itself (its first entry's). */
  image: ResolvedImage;
}

function configPlatform(config: ImageConfig): Platform {
  return { os: config.os, architecture: config.architecture, ...(config.variant !== undefined && { variant: config.variant }) };
}

/**
 * The image an entry of index.json stands for: the platform's; for an image
 * of another platform only (`oci-pull --platform`), its own, as `docker
 * images` lists those too.
 */
async function entryImage(layout: OciLayout, descriptor: Descriptor, platform: Platform): Promise<ResolvedImage> {
  try {
    return await resolveImage(layout, descriptor, platform);
  } catch (e) {
    const doc = await layout.readManifestDocument(descriptor);
    const own = doc.kind === 'index' ? doc.index.manifests.find((m) => m.platform && !isAttestation(m))?.platform : configPlatform(await layout.readConfig(doc.manifest.config.digest));
    if (!own) throw e;
    return resolveImage(layout, descriptor, own);
  }
}

/** The entries of index.json, one per digest, each with all its names (the ref.name annotation taken off). */
export async function layoutEntries(layout: OciLayout): Promise<{ descriptor: Descriptor; names: string[] }[]> {
  const entries = new Map<Digest, { descriptor: Descriptor; names: string[] }>();
  for (const d of (await layout.readIndex()).manifests) {
    const { annotations, ...rest } = d;
    const { [REF_NAME]: name, ...others } = annotations ?? {};
    const entry = entries.get(d.digest) ?? { descriptor: { ...rest, ...(Object.keys(others).length && { annotations: others }) }, names: [] };
    if (name !== undefined) entry.names.push(name);
    entries.set(d.digest, entry);
  }
  return [...entries.values()];
}

/**
 * Every image of the layout, by image ID, in index.json's order (of each
 * image's first entry). An entry that does not resolve (a blob missing or
 * corrupt) is an error that names it: the store is damaged.
 */
export async function readCatalog(layout: OciLayout, platform: Platform = hostPlatform()): Promise<LayoutImage[]> {
  const images = new Map<Digest, LayoutImage>();
  for (const { descriptor, names } of await layoutEntries(layout)) {
    let resolved: ResolvedImage;
    try {
      resolved = await entryImage(layout, descriptor, platform);
    } catch (e) {
      throw new OciError(`${names[0] ?? descriptor.digest}: ${(e as Error).message}`);
    }
    const id = resolved.manifest.config.digest;
    const entry: ImageEntry = { descriptor, names, resolved };
    const image = images.get(id);
    if (image) {
      image.entries.push(entry);
      image.names.push(...names);
    } else images.set(id, { id, entries: [entry], names: [...names], image: resolved });
  }
  return [...images.values()];
}
