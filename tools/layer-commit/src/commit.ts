import { pipeline } from 'node:stream';
import { ToolError } from '@cutaway/cli';
import { compress, createLayerTar, LayerError, type CreateStats, type LayerSource } from '@cutaway/layer';
import {
  applyConfigChange,
  applyConfigChanges,
  DigestingStream,
  hostPlatform,
  MediaType,
  ociLayerMediaType,
  OciError,
  type Compression,
  type Descriptor,
  type Digest,
  type HistoryEntry,
  type ImageConfig,
  type OciLayout,
  type ResolvedImage,
} from '@cutaway/oci';

export interface LayerResult {
  descriptor: Descriptor;
  diffId: Digest;
  stats: CreateStats;
}

/**
 * Writes the layer of `dir` into the store: the tar is hashed as it streams
 * (its diff_id) and compressed on its way into putBlob (its digest).
 */
export async function storeLayer(layout: OciLayout, dir: string, source: LayerSource, compression: Compression, sourceDateEpoch: number | undefined): Promise<LayerResult> {
  const { stream, done } = createLayerTar(dir, { source, ...(sourceDateEpoch !== undefined && { sourceDateEpoch }) });
  const diff = new DigestingStream();
  const blob = compress(pipeline(stream, diff, () => {}), compression);
  try {
    const [stored, stats] = await Promise.all([layout.putBlob(blob), done]);
    return { descriptor: { mediaType: ociLayerMediaType(compression), ...stored }, diffId: diff.digest, stats };
  } catch (e) {
    if (e instanceof LayerError || e instanceof OciError) throw new ToolError(e.message);
    throw e;
  }
}

/** The OCI media type of a base layer (a Docker schema 2 one names the same bytes). */
function ociLayerType(mediaType: string): string {
  switch (mediaType) {
    case MediaType.dockerLayerGzip:
      return MediaType.ociLayerGzip;
    case MediaType.dockerForeignLayerGzip:
      return MediaType.ociLayerNondistributableGzip;
    default:
      return mediaType;
  }
}

/** `scratch`: an image with no layers, for this host's platform. */
export function scratchImage(): Pick<ResolvedImage, 'config'> & { manifest: { layers: Descriptor[] } } {
  const { os, architecture, variant } = hostPlatform();
  return { config: { architecture, os, ...(variant && { variant }), rootfs: { type: 'layers', diff_ids: [] }, config: {} }, manifest: { layers: [] } };
}

export interface ImageChange {
  layer?: LayerResult;
  history: HistoryEntry;
  changes: string[];
}

/**
 * The base's container config with the --change instructions applied. Called
 * before anything is stored too, so that a bad instruction changes nothing.
 */
export function applyChanges(base: Pick<ResolvedImage, 'config'>, changes: string[]): ImageConfig['config'] {
  const container = base.config.config ?? {};
  // Each checked alone first, so that the error names the instruction; then applied together (CMD before ENTRYPOINT stays).
  for (const instruction of changes) {
    try {
      applyConfigChange(container, instruction);
    } catch (e) {
      throw new ToolError(`--change ${JSON.stringify(instruction)}: ${(e as Error).message}`);
    }
  }
  return applyConfigChanges(container, changes);
}

/**
 * The new image: the base's config with the layer's diff_id appended, a
 * history entry (empty_layer when there is no layer) and the --change
 * instructions applied; a new OCI manifest with the base's layers and the new
 * one. A base without history gets entries for its layers first, so that
 * history and diff_ids stay aligned (as Docker keeps them).
 */
export async function commitImage(layout: OciLayout, base: Pick<ResolvedImage, 'config'> & { manifest: { layers: Descriptor[] } }, change: ImageChange): Promise<Descriptor> {
  const container = applyChanges(base, change.changes);
  const baseHistory = base.config.history ?? base.config.rootfs.diff_ids.map((): HistoryEntry => ({ created_by: 'base layer (no history in the base image)' }));
  const config: ImageConfig = {
    ...base.config,
    ...(change.history.created && { created: change.history.created }),
    ...(change.history.author && { author: change.history.author }),
    config: container,
    rootfs: { type: 'layers', diff_ids: [...base.config.rootfs.diff_ids, ...(change.layer ? [change.layer.diffId] : [])] },
    history: [...baseHistory, { ...change.history, ...(!change.layer && { empty_layer: true }) }],
  };
  const configDescriptor = await layout.putJson(MediaType.ociConfig, config);
  const layers = [...base.manifest.layers.map((l) => ({ ...l, mediaType: ociLayerType(l.mediaType) })), ...(change.layer ? [change.layer.descriptor] : [])];
  return layout.putJson(MediaType.ociManifest, { schemaVersion: 2, mediaType: MediaType.ociManifest, config: configDescriptor, layers });
}
