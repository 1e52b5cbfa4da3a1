import { open, rename, rm } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ToolError } from '@cutaway/cli';
import { parseReference, repositoryName, saveDockerArchive, tempPathBeside, type ArchiveImage } from '@cutaway/oci';
import { command } from '../command.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { givesTagOrDigest, ImageStore, isTagName, repositoryOf, tags, type StoreImage } from './store.ts';

/** The repository a reference names when it gives no tag or digest (`busybox`, not `busybox:1`), else undefined. */
function namedRepository(ref: string): string | undefined {
  if (givesTagOrDigest(ref)) return undefined;
  try {
    return repositoryName(parseReference(ref));
  } catch {
    return undefined; // an ID, or no reference at all: find() says which
  }
}

/**
 * The images `docker save` writes and the tags it gives them: a name saves that tag; a repository without a
 * tag, every tag of it (moby tarexport parseNames); an ID, the image without tags.
 */
function imagesToSave(store: ImageStore, refs: string[]): ArchiveImage[] {
  const chosen = new Map<StoreImage, Set<string>>();
  const add = (image: StoreImage, name?: string) => {
    const names = chosen.get(image) ?? new Set<string>();
    // RepoTags holds tags only: a digest reference names no tag.
    if (name !== undefined && isTagName(name)) names.add(name);
    chosen.set(image, names);
  };
  for (const ref of refs) {
    const repository = namedRepository(ref);
    const inRepository = store.images.flatMap((image) => tags(image).filter((t) => isTagName(t) && repositoryOf(t) === repository).map((t) => ({ image, t })));
    if (inRepository.length) for (const { image, t } of inRepository) add(image, t);
    else {
      const { image, name } = store.find(ref);
      add(image, name);
    }
  }
  return [...chosen].map(([image, names]) => ({ image: image.image, tags: [...names] }));
}

/** docker save: to -o FILE (whole or not at all: written beside it, then renamed), or to stdout when it is no terminal. */
async function saveImages(root: string, refs: string[], output: string | undefined): Promise<void> {
  if (output === undefined && process.stdout.isTTY) throw new ToolError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  // Every image is found before anything is written.
  const store = await ImageStore.open(root);
  const images = imagesToSave(store, refs);
  const archive = saveDockerArchive(store.layout, images);
  await (output === undefined ? pipeline(archive, process.stdout, { end: false }) : saveToFile(archive, output));
  for (const { image } of images) recordImageEvent(root, 'save', image.manifest.config.digest, image.manifest.config.digest);
}

/** The archive to FILE, whole or not at all: written beside it, then renamed. */
async function saveToFile(archive: Readable, output: string): Promise<void> {
  const temp = tempPathBeside(output);
  const handle = await open(temp, 'wx', 0o644).catch((e: NodeJS.ErrnoException) => {
    throw new ToolError(`failed to save to ${output}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
  });
  try {
    await pipeline(archive, handle.createWriteStream());
    await rename(temp, output);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

export const save = command(
  {
    name: 'save',
    summary: 'Write images to a tar archive',
    synopsis: ['[-o FILE] IMAGE…'],
    description: [
      'Write images to a docker-archive tar (manifest.json, configs, layers; an OCI layout too, as Docker 25 writes it) that',
      "docker load, podman load, skopeo's docker-archive: and cutaway load read; to stdout unless -o.",
    ].join('\n'),
    options: [{ name: 'output', short: 'o', type: 'string', arg: 'FILE', help: 'write to FILE instead of stdout' }],
    operands: { min: 1, names: 'IMAGE…' },
    examples: ['cutaway save -o busybox.tar busybox', 'cutaway save busybox myapp:1 | gzip > images.tar.gz', 'skopeo copy docker-archive:busybox.tar oci:DIR:busybox'],
    classic: ['docker save', 'skopeo copy oci:$CUTAWAY_ROOT/images:NAME docker-archive:FILE:NAME'],
  },
  (inv, root) => saveImages(root, inv.positionals, inv.options.output),
);
