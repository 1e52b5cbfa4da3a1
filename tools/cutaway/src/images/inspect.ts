import { join } from 'node:path';
import { layerPath } from '@cutaway/layer';
import { command } from '../command.ts';
import { familiarName, ImageStore, isCacheName, isTagName, repoDigests, storedSize, type StoreImage } from './store.ts';

/**
 * docker image inspect: Docker's document for an image (API 1.44's keys), from the store. Id is the image
 * ID (the config's digest); RepoTags the tags a user gave it, RepoDigests NAME@DIGEST of each of its
 * repositories; Parent the build step it was made on, when the store still has it; Size what `images`
 * shows (config and layers as stored); GraphDriver.Data.LowerDir its unpacked layers, top first.
 */
export function imageInspectOf(store: ImageStore, image: StoreImage, root: string): unknown {
  const { config } = image.image;
  const comment = typeof config.comment === 'string' ? config.comment : (config.history?.at(-1)?.comment ?? '');
  const layersDir = join(root, 'layers');
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
    GraphDriver: { Name: 'overlay', Data: { LowerDir: [...config.rootfs.diff_ids].reverse().map((d) => layerPath(layersDir, d)).join(':') } },
    RootFS: { Type: config.rootfs.type, Layers: config.rootfs.diff_ids },
  };
}

export const inspect = command(
  {
    name: 'image inspect',
    synopsis: ['IMAGE…'],
    description: [
      "Everything known about images, as JSON in Docker's shape. IMAGE is a name, an image ID (the config digest,",
      'with or without sha256:) or a unique prefix of one, a manifest digest, or NAME@DIGEST.',
    ].join('\n'),
    options: [],
    operands: { min: 1, names: 'IMAGE…' },
    examples: ['cutaway image inspect busybox', "cutaway image inspect $(cutaway build -q .) | jq -r '.[0].RootFS.Layers[]'"],
    classic: ['docker image inspect', 'jq . $CUTAWAY_ROOT/images/blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const store = await ImageStore.open(root);
    // Every image is looked up first: an unknown one or an ambiguous prefix prints nothing.
    const images = inv.positionals.map((handle) => store.find(handle).image);
    process.stdout.write(`${JSON.stringify(images.map((image) => imageInspectOf(store, image, root)), null, 2)}\n`);
  },
);
