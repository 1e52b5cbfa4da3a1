import { join } from 'node:path';
import { layerPath } from '@cutaway/layer';
import type { Digest } from '@cutaway/oci';
import { command } from '../command.ts';
import { formatInspect, INSPECT_FORMAT_OPTION } from '../format.ts';
import { familiarName, ImageStore, isCacheName, isTagName, repoDigests, storedSize, type StoreImage } from './store.ts';

/**
 * docker image inspect: Docker's document for an image (API 1.44's keys), from the store. Id is the image
 * ID (the config's digest); RepoTags the tags a user gave it, RepoDigests NAME@DIGEST of each of its
 * repositories; Parent the build step it was made on, when the store still has it; Size what `images`
 * shows (config and layers as stored); GraphDriver.Data.LowerDir its unpacked layers, top first.
 */
export function imageInspectOf(store: ImageStore, image: StoreImage, root: string): Record<string, unknown> {
  const { config } = image.image;
  const comment = typeof config.comment === 'string' ? config.comment : (config.history?.at(-1)?.comment ?? '');
  return {
    Id: image.id,
    RepoTags: image.names.filter((n) => isTagName(n) && !isCacheName(n)).map(familiarName),
    RepoDigests: repoDigests(image),
    Parent: store.parentOf(image)?.id ?? '',
    Comment: comment,
    Created: config.created ?? '',
    DockerVersion: typeof config.docker_version === 'string' ? config.docker_version : '',
    Author: config.author ?? '',
    Config: config.config ?? null,
    Architecture: config.architecture,
    ...(config.variant !== undefined && { Variant: config.variant }),
    Os: config.os,
    ...(config['os.version'] !== undefined && { OsVersion: config['os.version'] }),
    Size: storedSize(image),
    GraphDriver: { Name: GRAPH_DRIVER, Data: { LowerDir: lowerDir(root, config.rootfs.diff_ids) } },
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
    // Docker sets LastTagTime when an image is tagged locally (docker tag, build -t); the store keeps no such time.
    Metadata: { LastTagTime: ZERO_TIME },
  };
}

/** inspect's GraphDriver.Name: the kernel's overlay filesystem, as containers-storage names its driver (Docker: overlay2). */
export const GRAPH_DRIVER = 'overlay';

/** Go's zero time, which Docker writes for a time that never was (FinishedAt of a container never stopped, LastTagTime). */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** GraphDriver.Data.LowerDir: the unpacked layers, top first, as overlay's lowerdir= lists them. */
export function lowerDir(root: string, diffIds: readonly Digest[]): string {
  return [...diffIds].reverse().map((d) => layerPath(join(root, 'layers'), d)).join(':');
}

export const inspect = command(
  {
    name: 'image inspect',
    summary: 'Show images in detail, as JSON',
    synopsis: ['[-f FORMAT] IMAGE…'],
    description: [
      "Everything known about images, as JSON in Docker's shape. IMAGE is a name, an image ID (the config digest,",
      'with or without sha256:) or a unique prefix of one, a manifest digest, or NAME@DIGEST.',
    ].join('\n'),
    options: [INSPECT_FORMAT_OPTION],
    operands: { min: 1, names: 'IMAGE…' },
    examples: ['cutaway image inspect busybox', "cutaway image inspect $(cutaway build -q .) | jq -r '.[0].RootFS.Layers[]'"],
    classic: ['docker image inspect', 'jq . $CUTAWAY_ROOT/images/blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const store = await ImageStore.open(root);
    // Every image is looked up first: an unknown one or an ambiguous prefix prints nothing.
    const images = inv.positionals.map((handle) => store.find(handle).image);
    process.stdout.write(formatInspect(inv.options.format, images.map((image) => imageInspectOf(store, image, root))));
  },
);
