import { open, rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { ROOT_OPTION, stateRoot, ToolError, UsageError, type Invocation, type OptionSpec } from '@cutaway/cli';
import { formatReference, parseReference, repositoryName, tempPathBeside } from '@cutaway/oci';
import type { Command } from '../command.ts';
import { dockerArchive, type ArchiveImage } from './archive.ts';
import { imageHistory, listImages } from './list.ts';
import { loadImages } from './load.ts';
import { pullImage, pushImage } from './registry.ts';
import { removeImages } from './remove.ts';
import { givesTagOrDigest, ImageStore, isTagName, repositoryOf, tags, type StoreImage } from './store.ts';

/**
 * Docker's image commands — images, pull, push, tag, rmi, history, save,
 * load — on the store: $CUTAWAY_ROOT/images, one OCI image layout, with
 * layers/ (overlay-mount's unpacked layers) and containers/ (what uses them).
 * pull, push and load run oci-pull and oci-push; the others read and change
 * the layout themselves.
 */

const NO_TRUNC: OptionSpec = { name: 'no-trunc', type: 'boolean', help: "don't truncate IDs (and, in history, CREATED BY)" };
const PLATFORM: OptionSpec = { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the platform (default: this host's)" };

function command(name: string, synopsis: string, description: string, options: OptionSpec[], examples: string[], run: (inv: Invocation, root: string) => Promise<string | void>, classic: string[] = []): Command {
  return {
    spec: { name: `cutaway ${name}`, version: '0.1.0', synopsis: [synopsis], description, options: [...options, ROOT_OPTION], examples, classic: [`docker ${name}`, ...classic] },
    async run(inv) {
      const out = await run(inv, stateRoot(inv.options.root));
      if (out) process.stdout.write(out);
      return 0;
    },
  };
}

/** Exactly `n` positionals, as Docker's "requires exactly N arguments" says. */
function positionals(inv: Invocation, verb: string, n: number, names: string): string[] {
  if (inv.positionals.length !== n) throw new UsageError(`"cutaway ${verb}" requires exactly ${n} argument${n > 1 ? 's' : ''}: ${names}`);
  return inv.positionals;
}

function atLeastOne(inv: Invocation, verb: string, name: string): string[] {
  if (!inv.positionals.length) throw new UsageError(`"cutaway ${verb}" requires at least 1 argument: ${name}…`);
  return inv.positionals;
}

const lines = (list: string[]) => list.map((l) => `${l}\n`).join('');

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
async function save(inv: Invocation, root: string): Promise<void> {
  const refs = atLeastOne(inv, 'save', 'IMAGE');
  const output = inv.options.output as string | undefined;
  if (output === undefined && process.stdout.isTTY) throw new ToolError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
  // Every image is found before anything is written.
  const store = await ImageStore.open(root);
  const archive = dockerArchive(store.layout, imagesToSave(store, refs));
  if (output === undefined) {
    await pipeline(archive, process.stdout, { end: false });
    return;
  }
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

async function tag(inv: Invocation, root: string): Promise<void> {
  const [source, target] = positionals(inv, 'tag', 2, 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]');
  const store = await ImageStore.open(root);
  const { image } = store.find(source!);
  const ref = parseReference(target!);
  if (ref.digest) throw new ToolError(`refusing to create a tag with a digest reference: ${target}`);
  // Under a lease: a concurrent rmi's gc waits, and cannot take the blobs from under the new name.
  await store.layout.withLease(() => store.layout.addRef(formatReference(ref), image.descriptor));
}

export const imageCommands: Record<string, Command> = {
  images: command(
    'images',
    '[-a] [-q] [--no-trunc] [REPOSITORY[:TAG]]',
    [
      'List the images of the store: a row per tag, newest first. IMAGE ID is the config digest (Docker\'s image ID);',
      'SIZE what the image takes in the store (config and layers, compressed as pulled). -a adds the build cache\'s',
      'step images (Docker\'s intermediate images) as <none>; -q prints only the IDs.',
    ].join('\n'),
    [{ name: 'all', short: 'a', type: 'boolean', help: 'intermediate images (the build cache) too' }, NO_TRUNC],
    ['cutaway images', 'cutaway images busybox', 'cutaway rmi $(cutaway images -q)'],
    async (inv, root) => {
      if (inv.positionals.length > 1) throw new UsageError('"cutaway images" accepts at most 1 argument: REPOSITORY[:TAG]');
      const o = inv.options;
      return listImages(await ImageStore.open(root), { all: Boolean(o.all), quiet: Boolean(o.quiet), noTrunc: Boolean(o['no-trunc']), ...(inv.positionals[0] !== undefined && { filter: inv.positionals[0] }) });
    },
    ['ls $CUTAWAY_ROOT/images/blobs/sha256; jq -r \'.manifests[].annotations["org.opencontainers.image.ref.name"]\' $CUTAWAY_ROOT/images/index.json'],
  ),
  pull: command(
    'pull',
    '[--platform P] [-q] NAME[:TAG|@DIGEST]',
    'Pull an image from a registry into the store (oci-pull): each blob verified by its digest, those the store has not fetched again. Prints the full reference.',
    [PLATFORM],
    ['cutaway pull busybox', 'cutaway pull --platform linux/arm64 localhost:5000/app:1'],
    async (inv, root) => `${await pullImage(root, positionals(inv, 'pull', 1, 'NAME[:TAG|@DIGEST]')[0]!, { platform: inv.options.platform as string | undefined, quiet: Boolean(inv.options.quiet) })}\n`,
    ['oci-pull NAME', 'skopeo copy docker://NAME oci:$CUTAWAY_ROOT/images:NAME'],
  ),
  push: command(
    'push',
    '[-q] NAME[:TAG]',
    'Push an image of the store to its registry (oci-push): only the blobs the registry lacks, then the manifest. Prints the digest pushed.',
    [],
    ['cutaway tag busybox localhost:5000/busybox:1 && cutaway push localhost:5000/busybox:1'],
    async (inv, root) => `${await pushImage(root, positionals(inv, 'push', 1, 'NAME[:TAG]')[0]!, { quiet: Boolean(inv.options.quiet) })}\n`,
    ['oci-push NAME', 'skopeo copy oci:$CUTAWAY_ROOT/images:NAME docker://NAME'],
  ),
  tag: command(
    'tag',
    'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
    'Give an image of the store (by name or ID) another name: an entry in index.json for the same manifest.',
    [],
    ['cutaway tag busybox localhost:5000/busybox:1', 'cutaway tag 4567abcd0123 myapp:latest'],
    tag,
    ['jq \'.manifests += [{… "annotations": {"org.opencontainers.image.ref.name": "TARGET"}}]\' index.json'],
  ),
  rmi: command(
    'rmi',
    '[-f] [--no-prune] IMAGE…',
    [
      'Remove images (by name or ID): a name is untagged; an image left without a name is deleted — those of its blobs',
      'that no other image uses, and its unpacked layers (ROOT/layers) that no image left and no container uses. Its',
      'untagged parents (the build cache\'s steps) go too unless --no-prune. Refused while a container uses the image, unless -f.',
    ].join('\n'),
    [
      { name: 'force', short: 'f', type: 'boolean', help: 'remove even when containers use it, or it has names in several repositories' },
      { name: 'no-prune', type: 'boolean', help: 'keep untagged parents' },
    ],
    ['cutaway rmi busybox', 'cutaway rmi -f 4567abcd0123'],
    async (inv, root) => lines(await removeImages(root, atLeastOne(inv, 'rmi', 'IMAGE'), { force: Boolean(inv.options.force), prune: !inv.options['no-prune'] })),
    ['jq \'del(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "NAME"))\' index.json; rm blobs/sha256/…; rm -r layers/sha256/…'],
  ),
  history: command(
    'history',
    '[-q] [--no-trunc] IMAGE',
    'Show how an image was made: its config\'s history, newest first, with the size of each layer (as stored).',
    [NO_TRUNC],
    ['cutaway history busybox', 'cutaway history --no-trunc myapp:1'],
    async (inv, root) => {
      const store = await ImageStore.open(root);
      const { image } = store.find(positionals(inv, 'history', 1, 'IMAGE')[0]!);
      return imageHistory(store, image, { quiet: Boolean(inv.options.quiet), noTrunc: Boolean(inv.options['no-trunc']) });
    },
    ['jq .history blobs/sha256/CONFIG'],
  ),
  save: command(
    'save',
    '[-o FILE] IMAGE…',
    [
      'Write images to a docker-archive tar (manifest.json, configs, layers; an OCI layout too, as Docker 25 writes it) that',
      'docker load, podman load, skopeo\'s docker-archive: and cutaway load read; to stdout unless -o.',
    ].join('\n'),
    [{ name: 'output', short: 'o', type: 'string', arg: 'FILE', help: 'write to FILE instead of stdout' }],
    ['cutaway save -o busybox.tar busybox', 'cutaway save busybox myapp:1 | gzip > images.tar.gz', 'skopeo copy docker-archive:busybox.tar oci:DIR:busybox'],
    save,
    ['skopeo copy oci:$CUTAWAY_ROOT/images:NAME docker-archive:FILE:NAME'],
  ),
  load: command(
    'load',
    '[-i FILE] [--platform P] [-q]',
    'Load the images of a docker-archive tar (docker save\'s, skopeo\'s or podman\'s; plain or gzip), from -i FILE or stdin, with every tag it gives them.',
    [{ name: 'input', short: 'i', type: 'string', arg: 'FILE', help: 'read FILE instead of stdin' }, PLATFORM],
    ['cutaway load -i busybox.tar', 'gunzip -c images.tar.gz | cutaway load'],
    async (inv, root) => lines((await loadImages(root, inv.options.input as string | undefined, inv.options.platform as string | undefined)).map((name) => `Loaded image: ${name}`)),
    ['oci-pull docker-archive:FILE:NAME', 'skopeo copy docker-archive:FILE oci:$CUTAWAY_ROOT/images:NAME'],
  ),
};
