import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { layerPath, removeLayer } from '@cutaway/layer';
import { layerCompression, type Digest } from '@cutaway/oci';
import { command } from '../command.ts';
import { ContainerStore, overlayLowers } from '../containers/store.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { familiarName, ImageStore, isDigestName, isIntermediate, isTagName, removeImage, repositoryOf, shortId, tags, type StoreImage } from './store.ts';

/**
 * docker rmi (moby daemon/images/image_delete.go), on the store's layout,
 * by any image handle (libs/oci image-handle.ts): a name is untagged (a tag
 * that was its repository's last takes that repository's digest names with
 * it); an ID or a digest deletes; an image left without names a user gave is
 * deleted — all its entries in index.json (build-cache names too; an OCI and
 * a Docker manifest of one config are one image), then those of its blobs
 * that no other image reaches, then its unpacked layers (layers/<alg>/<hex>)
 * that no image left has and no container's overlay stacks. Its untagged
 * parents from `cutaway build` (the build cache's step images) go with it, as
 * Docker prunes untagged parents, unless --no-prune. Every argument is
 * checked, conflicts included, before anything changes.
 */

interface ContainerUse {
  id: string;
  /** The image manifest it was made from. */
  imageDigest: Digest;
  running: boolean;
}

interface RemoveOptions {
  force: boolean;
  prune: boolean;
}

type Step = { kind: 'untag'; name: string; id: Digest } | { kind: 'delete'; image: StoreImage };

/** Docker's isSingleReference: at most one tag, and any digest references in the same repository. */
function singleReference(names: string[]): boolean {
  const tagged = names.filter((n) => !n.includes('@'));
  return tagged.length <= 1 && new Set(names.map(repositoryOf)).size <= 1;
}

function containersOf(root: string): ContainerUse[] {
  const store = new ContainerStore(root);
  return store.ids().map((id) => ({ id, imageDigest: store.config(id).imageDigest as Digest, running: store.state(id).status === 'running' }));
}

/** The unpacked layers that containers' overlays stack, as overlay-mount records them (containers/NAME/overlay.json). */
function stackedLayers(root: string): Set<string> {
  const dir = join(root, 'containers');
  return new Set((existsSync(dir) ? readdirSync(dir) : []).flatMap((name) => overlayLowers(join(dir, name)) ?? []));
}

/** Works out what removing `refs` takes, on the in-memory store; throws, having changed nothing, at the first refusal. */
function plan(store: ImageStore, refs: string[], containers: ContainerUse[], options: RemoveOptions): Step[] {
  const steps: Step[] = [];
  const usedBy = (image: StoreImage) => containers.find((c) => image.blobs.has(c.imageDigest));
  const remove = (image: StoreImage) => {
    steps.push({ kind: 'delete', image });
    store.drop(image);
  };
  for (const ref of refs) {
    const { image, name, by, entry } = store.find(ref);
    const id = shortId(image.id);
    if (by === 'repo-digest') {
      // NAME@DIGEST that only a tag carries: the store keeps no such name to untag, and deleting the image would take its tags too.
      const carriers = entry.names.filter((n) => repositoryOf(n) === repositoryOf(ref) && isTagName(n)).map(familiarName);
      throw new ToolError(`cannot untag ${ref}: the store keeps it only as the digest of ${carriers.join(', ')}`, `cutaway rmi ${carriers[0] ?? id}, or the image ID ${id}`);
    }
    if (name !== undefined) {
      // A tag: its removal would leave a container's image without a name unless forced (or another tag remains).
      const user = usedBy(image);
      if (!options.force && user && singleReference(tags(image))) {
        throw new ToolError(`conflict: unable to remove repository reference "${ref}" (must force) - container ${user.id.slice(0, 12)} is using its referenced image ${id}`);
      }
      const untag = (n: string) => {
        steps.push({ kind: 'untag', name: n, id: image.id });
        store.untag(image, n);
      };
      untag(name);
      // A tag gone, and no other tag of its repository left: the digest references of that repository go with it (moby's ImageDelete).
      if (isTagName(name) && !image.names.some((n) => isTagName(n) && repositoryOf(n) === repositoryOf(name))) {
        for (const n of image.names.filter((n) => isDigestName(n) && repositoryOf(n) === repositoryOf(name))) untag(n);
      }
      if (tags(image).length) continue;
    } else {
      // An ID: the image goes, with every name it has.
      if (!options.force && !singleReference(tags(image))) throw new ToolError(`conflict: unable to delete ${id} (must be forced) - image is referenced in multiple repositories`);
      const user = usedBy(image);
      if (!options.force && user) throw new ToolError(`conflict: unable to delete ${id} (must be forced) - image is being used by ${user.running ? 'running' : 'stopped'} container ${user.id.slice(0, 12)}`);
      if ((isIntermediate(image) || !image.names.length) && store.childrenOf(image).length) throw new ToolError(`conflict: unable to delete ${id} (cannot be forced) - image has dependent child images`);
      for (const tag of tags(image)) {
        steps.push({ kind: 'untag', name: tag, id: image.id });
        store.untag(image, tag);
      }
    }
    remove(image);
    // Untagged parents: build-cache step images that nothing else descends from and no container uses.
    for (let parent = store.parentOf(image); options.prune && parent && isIntermediate(parent) && !store.childrenOf(parent).length && !usedBy(parent); parent = store.parentOf(parent)) remove(parent);
  }
  return steps;
}

/** Carries out the plan; returns Docker's lines: Untagged: NAME, Deleted: IMAGE-ID, Deleted: LAYER. */
async function apply(root: string, store: ImageStore, steps: Step[]): Promise<string[]> {
  const lines: string[] = [];
  const deleted: StoreImage[] = [];
  for (const step of steps) {
    if (step.kind === 'untag') {
      await store.layout.removeRef(step.name);
      // Docker names the image by its ID in both events, not by the name untagged (moby image_delete.go).
      recordImageEvent(root, 'untag', step.id, step.id);
      lines.push(`Untagged: ${familiarName(step.name)}`);
    } else {
      await removeImage(store.layout, step.image);
      recordImageEvent(root, 'delete', step.image.id, step.image.id);
      lines.push(`Deleted: ${step.image.id}`);
      deleted.push(step.image);
    }
  }
  if (!deleted.length) return lines;

  // Blobs: only the deleted images' own, and of those only what no image left reaches (checked again under gc's lock).
  const candidates = new Map(deleted.flatMap((image) => [...image.blobs]));
  const { removed } = await store.layout.gc({ only: candidates.keys() });
  for (const blob of removed) if (layerCompression(candidates.get(blob.digest)!.mediaType) !== undefined) lines.push(`Deleted: ${blob.digest}`);

  // Unpacked layers: what the store now holds (read again: another command may have tagged meanwhile) and what containers stack stay.
  const kept = new Set((await ImageStore.open(root)).images.flatMap((image) => [...image.diffIds]));
  const stacked = stackedLayers(root);
  const layersDir = join(realpathSync(root), 'layers');
  for (const diffId of new Set(deleted.flatMap((image) => [...image.diffIds]))) {
    if (!kept.has(diffId) && !stacked.has(layerPath(layersDir, diffId))) await removeLayer(layersDir, diffId);
  }
  return lines;
}

/** docker rmi IMAGE…: returns the lines to print. */
async function removeImages(root: string, refs: string[], options: RemoveOptions): Promise<string[]> {
  const store = await ImageStore.open(root);
  return apply(root, store, plan(store, refs, containersOf(root), options));
}

export const rmi = command(
  {
    name: 'rmi',
    summary: 'Remove images',
    synopsis: ['[-f] [--no-prune] IMAGE…'],
    description: [
      'Remove images (by name, ID or unique prefix, manifest digest): a name is untagged; an image left without a name is deleted — those of its blobs',
      'that no other image uses, and its unpacked layers (ROOT/layers) that no image left and no container uses. Its',
      "untagged parents (the build cache's steps) go too unless --no-prune. Refused while a container uses the image, unless -f.",
    ].join('\n'),
    options: [
      { name: 'force', short: 'f', type: 'boolean', help: 'remove even when containers use it, or it has names in several repositories' },
      { name: 'no-prune', type: 'boolean', help: 'keep untagged parents' },
    ],
    operands: { min: 1, names: 'IMAGE…' },
    examples: ['cutaway rmi busybox', 'cutaway rmi -f 4567abcd0123'],
    classic: ['docker rmi', 'jq \'del(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "NAME"))\' index.json; rm blobs/sha256/…; rm -r layers/sha256/…'],
  },
  async (inv, root) => {
    const lines = await removeImages(root, inv.positionals, { force: inv.options.force, prune: !inv.options['no-prune'] });
    process.stdout.write(lines.map((l) => `${l}\n`).join(''));
  },
);
