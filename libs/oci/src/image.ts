import { checkImageConsistency, type ImageConfig } from './config.ts';
import type { Descriptor } from './descriptor.ts';
import { OciError } from './errors.ts';
import type { OciLayout } from './layout.ts';
import { isAttestation, type ImageIndex, type ImageManifest } from './manifest.ts';
import { formatPlatform, hostPlatform, platformRank, type Platform } from './platform.ts';

/**
 * Picks the manifest for a platform from an index: the best-ranked match
 * (exact variant first), never an attestation. When nothing matches, the
 * error lists the platforms the image has.
 */
export function selectPlatform(index: ImageIndex, wanted: Platform): Descriptor {
  let best: { d: Descriptor; rank: number } | undefined;
  for (const d of index.manifests) {
    if (!d.platform || isAttestation(d)) continue;
    const rank = platformRank(wanted, d.platform);
    if (rank >= 0 && (!best || rank < best.rank)) best = { d, rank };
  }
  if (best) return best.d;
  const available = index.manifests.filter((d) => d.platform && !isAttestation(d)).map((d) => formatPlatform(d.platform!));
  throw new OciError(
    `no image for ${formatPlatform(wanted)}; the image has ${available.length ? [...new Set(available)].join(', ') : 'no platform-specific manifests'}`,
  );
}

export interface ResolvedImage {
  /** The image manifest's own descriptor (after platform selection). */
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

/**
 * Follows a descriptor through (nested) indexes to the image manifest for the
 * platform, and reads its config. A manifest without an index is taken as it
 * is, but a config for another OS or architecture is refused.
 */
export async function resolveImage(layout: OciLayout, start: Descriptor, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
  let descriptor = start;
  for (let depth = 0; depth < 8; depth++) {
    const doc = await layout.readManifestDocument(descriptor);
    if (doc.kind === 'index') {
      descriptor = selectPlatform(doc.index, platform);
      continue;
    }
    const config = await layout.readConfig(doc.manifest.config.digest);
    checkImageConsistency(doc.manifest, config);
    if (platformRank(platform, config) < 0) {
      throw new OciError(`the image is for ${formatPlatform(config)}, not ${formatPlatform(platform)}`);
    }
    return { descriptor, manifest: doc.manifest, config };
  }
  throw new OciError('indexes nested more than 8 deep');
}

/** Looks a name up in index.json and resolves it to an image; the error names the missing reference. */
export async function resolveNamedImage(layout: OciLayout, name: string, platform?: Platform): Promise<ResolvedImage> {
  const descriptor = await layout.resolve(name);
  if (!descriptor) throw new OciError(`no image named ${name} in ${layout.dir}`);
  return resolveImage(layout, descriptor, platform);
}
