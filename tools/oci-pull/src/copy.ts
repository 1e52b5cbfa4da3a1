import { ToolError, type Progress } from '@cutaway/cli';
import { formatPlatform, resolveNamedImage, type Descriptor, type OciLayout, type Platform } from '@cutaway/oci';
import type { PulledBlob, PullResult } from './pull.ts';

/**
 * Copies one image between two OCI layouts (`oci:DIR:TAG` as a source): the
 * platform's manifest, its config and layers, each blob verified as it is
 * read and stored once, then tagged in the target.
 */
export async function copyImage(from: OciLayout, name: string, to: OciLayout, tagName: string, platform: Platform, progress: Progress): Promise<PullResult> {
  const image = await resolveNamedImage(from, name, platform).catch((e: Error) => {
    throw new ToolError(`oci:${from.dir}:${name}: ${e.message}`);
  });
  const copyBlob = async (d: Descriptor, label: string): Promise<PulledBlob> => {
    const summary = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    const cached = await to.hasBlob(d.digest);
    if (!cached) await to.putBlob(from.openBlob(d.digest), { digest: d.digest, size: d.size });
    progress.item(label, d.size).finish(cached ? 'already exists' : 'copied');
    return { ...summary, cached };
  };
  return to.withLease(async () => {
    const config = await copyBlob(image.manifest.config, 'config');
    const layers: PulledBlob[] = [];
    for (const [i, layer] of image.manifest.layers.entries()) layers.push(await copyBlob(layer, `layer ${i + 1}/${image.manifest.layers.length} ${layer.digest.slice(7, 19)}`));
    await copyBlob(image.descriptor, 'manifest');
    const { mediaType, digest, size } = image.descriptor;
    await to.addRef(tagName, { mediaType, digest, size });
    return { reference: `oci:${from.dir}:${name}`, digest: image.descriptor.digest, platform: formatPlatform(platform), config, layers };
  });
}
