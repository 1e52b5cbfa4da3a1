import { MediaType, OciLayout, type Descriptor, type ImageConfig } from '@cutaway/oci';
import { buildBusyboxImage, type BuiltImage } from '../../../test/fixtures/images.ts';

/** The layout the pull and push tests serve from a registry: busybox, and the same image "for arm64". */
export interface MultiArchSource {
  source: OciLayout;
  /** Tagged busybox:1 (amd64). */
  busybox: BuiltImage;
  /** Another config and manifest over busybox's layer, for linux/arm64/v8; tagged arm:1. */
  armManifest: Descriptor;
  /** An index of both; tagged multi:1. */
  index: Descriptor;
}

export async function buildMultiArchSource(dir: string): Promise<MultiArchSource> {
  const source = await OciLayout.create(dir);
  const busybox = await buildBusyboxImage(source, 'busybox:1');
  const armConfig: ImageConfig = { ...busybox.config, architecture: 'arm64', variant: 'v8' };
  const armManifest = await source.putJson(MediaType.ociManifest, { ...busybox.manifest, config: await source.putJson(MediaType.ociConfig, armConfig) });
  const index = await source.putJson(MediaType.ociIndex, {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      { ...busybox.descriptor, platform: { os: 'linux', architecture: 'amd64' } },
      { ...armManifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    ],
  });
  await source.addRef('multi:1', index);
  await source.addRef('arm:1', armManifest);
  return { source, busybox, armManifest, index };
}
