import { ToolError } from '@cutaway/cli';
import { formatPlatform, OciLayout, resolveNamedImage, type Descriptor } from '@cutaway/oci';
import { localTarget, type OciSource, type PulledBlob, type PullContext, type PullResult } from './source.ts';

/**
 * Copies one image between two OCI layouts (`oci:DIR:TAG` as a source): the
 * platform's manifest, its config and layers, each blob verified as it is
 * read and stored once, then tagged in the target.
 */
export async function copyImage(source: OciSource, ctx: PullContext): Promise<PullResult> {
  const { name, tag } = source;
  const { platform, progress } = ctx;
  const to = await localTarget(ctx);
  const from = await OciLayout.open(source.dir).catch((e: Error) => {
    throw new ToolError(e.message);
  });
  const image = await resolveNamedImage(from, name, platform).catch((e: Error) => {
    throw new ToolError(`oci:${from.dir}:${name}: ${e.message}`);
  });
  const copyBlob = async (d: Descriptor, label: string): Promise<PulledBlob> => {
    const summary = { mediaType: d.mediaType, digest: d.digest, size: d.size };
    const cached = await to.hasBlob(d.digest);
    if (!cached) {
      await to.putBlob(from.openBlob(d.digest), { digest: d.digest, size: d.size }).catch((e: Error) => {
        throw new ToolError(`oci:${from.dir}:${name}: blob ${d.digest}: ${e.message}`);
      });
    }
    progress.item(label, d.size).finish(cached ? 'already exists' : 'copied');
    return { ...summary, cached };
  };
  return to.withLease(async () => {
    const config = await copyBlob(image.manifest.config, 'config');
    const layers: PulledBlob[] = [];
    for (const [i, layer] of image.manifest.layers.entries()) layers.push(await copyBlob(layer, `layer ${i + 1}/${image.manifest.layers.length} ${layer.digest.slice(7, 19)}`));
    await copyBlob(image.descriptor, 'manifest');
    const { mediaType, digest, size } = image.descriptor;
    await to.addRef(tag, { mediaType, digest, size });
    return { reference: `oci:${from.dir}:${name}`, digest: image.descriptor.digest, platform: formatPlatform(platform), config, layers };
  });
}
