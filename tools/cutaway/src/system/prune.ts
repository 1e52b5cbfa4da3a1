import { removeLayer } from '@cutaway/layer';
import { command, NO_OPERANDS } from '../command.ts';
import { confirmOrCancel, FORCE_OPTION } from '../confirm.ts';
import { teardown } from '../containers/lifecycle.ts';
import { ContainerStore } from '../containers/store.ts';
import { reclaimedLine } from '../format.ts';
import { familiarName, ImageStore, isCacheName, isIntermediate, removeImage } from '../images/store.ts';
import { listNetworks, recordNetworkEvent, unusedNetworks } from '../networks/store.ts';
import { pruningStore } from '../store-lock.ts';
import { tool } from '../tools.ts';
import { VolumeStore } from '../volumes/store.ts';
import { recordImageEvent } from './events-log.ts';
import { removeTempBlob } from './temp-blobs.ts';
import { planPrune, sum, takeInventory, type Inventory, type PrunePlan } from './usage.ts';
import { removeCacheMounts } from '../build/run-mounts.ts';

/** A section of prune's report, as docker/cli prints each prune's output: a title, a line each, a blank line. */
export function section(title: string, lines: string[]): string {
  return lines.length ? `${title}:\n${lines.map((l) => `${l}\n`).join('')}\n` : '';
}

/** docker system prune: in Docker's order (containers, networks, volumes, images, build cache), then what that left unneeded. */
async function pruneSystem(root: string, options: { all: boolean; volumes: boolean; force: boolean }): Promise<string> {
  const { all, volumes } = options;
  const warnings = [
    'all stopped containers',
    'all networks not used by at least one container',
    ...(volumes ? ['all volumes not used by at least one container'] : []),
    all ? 'all images without at least one container associated to them' : 'all dangling images',
    all ? 'all build cache' : 'unused build cache',
  ];
  await confirmOrCancel(options.force, `This will remove:\n${warnings.map((w) => `  - ${w}`).join('\n')}\n`, 'system prune');
  // From the inventory to the last removal, no run may be starting and no build running (store-lock.ts).
  return pruningStore(root, () => pruneUnder(root, options));
}

async function pruneUnder(root: string, { all, volumes }: { all: boolean; volumes: boolean }): Promise<string> {
  const env = { CUTAWAY_ROOT: root };
  const containers = new ContainerStore(root);
  const inventory = await takeInventory(root);
  const plan = planPrune(inventory, { all, volumes });
  let freed = 0;

  for (const c of plan.containers) {
    await teardown(containers, c.config, env, true);
    freed += c.size;
  }
  // Directories of containers a killed run never finished recording: nothing was made for them yet.
  for (const id of containers.incomplete()) containers.remove(id);
  const unused = unusedNetworks(containers, await listNetworks(env));
  const networks = unused.map((n) => n.name);
  if (networks.length) await tool('netbridge', ['network', 'rm', ...networks], env);
  for (const n of unused) recordNetworkEvent(root, 'destroy', n);
  const volumeStore = new VolumeStore(root);
  for (const v of plan.volumes) {
    volumeStore.remove(v.name);
    freed += v.size;
  }

  const removed = await removeImages(root, inventory, plan);
  freed += removed.freed;
  return [
    section('Deleted Containers', plan.containers.map((c) => c.id)),
    section('Deleted Networks', networks),
    section('Deleted Volumes', plan.volumes.map((v) => v.name)),
    section('Deleted Images', removed.images),
    section('Deleted build cache objects', removed.cache),
    reclaimedLine(freed),
  ].join('');
}

/**
 * The plan's images and build cache removed, then the blobs, unpacked layers and dead writers' temp files it
 * found unneeded: the report's lines for each (`untagged: …`/`deleted: …`, the cache keys) and the bytes freed.
 * system prune's and builder prune's (whose plan has no images but the cache).
 */
export async function removeImages(root: string, inventory: Inventory, plan: PrunePlan): Promise<{ images: string[]; cache: string[]; freed: number }> {
  let freed = 0;
  const imageLines: string[] = [];
  const cacheLines: string[] = [];
  if (plan.images.length || plan.cache.length || plan.blobs.length) {
    const { layout } = await ImageStore.open(root);
    for (const image of [...plan.images, ...plan.cache]) {
      const names = await removeImage(layout, image);
      if (isIntermediate(image)) cacheLines.push(...names.map((n) => n.split(':').at(-1)!));
      else {
        const untagged = names.filter((n) => !isCacheName(n));
        imageLines.push(...untagged.map((n) => `untagged: ${familiarName(n)}`), `deleted: ${image.id}`);
        // Docker's events of an image removed: an untag for each name, then delete (moby image_delete.go).
        for (const action of [...untagged.map(() => 'untag'), 'delete']) recordImageEvent(root, action, image.id, image.id);
      }
    }
    // Only what the plan found unneeded, and of that what nothing reaches now (gc checks again under its lock).
    const { removed } = await layout.gc({ only: plan.blobs });
    freed += sum(removed, (r) => r.size);
  }
  for (const diffId of plan.layers) if (await removeLayer(inventory.layersDir, diffId)) freed += inventory.layers.get(diffId)!;
  // What killed writers left in the image store, each checked again as it goes (never a live writer's).
  for (const temp of plan.temps) {
    const bytes = await removeTempBlob(temp);
    if (bytes === undefined) continue;
    cacheLines.push(temp.name);
    freed += bytes;
  }
  // RUN --mount=type=cache's directories (build/run-mounts.ts): no build runs while a prune holds the store.
  const mounts = removeCacheMounts(root);
  cacheLines.push(...mounts.ids);
  freed += mounts.freed;
  return { images: imageLines, cache: cacheLines, freed };
}

export const prune = command(
  {
    name: 'system prune',
    summary: 'Remove what nothing uses: stopped containers, networks, images, build cache',
    synopsis: ['[-a] [--volumes] [-f]'],
    description: [
      'Remove stopped containers, networks no container uses, images without a name (with -a: every image no',
      'running container uses), the build cache, with --volumes the volumes no container left uses, the blobs and',
      'unpacked layers nothing left needs, and the temp files of killed writers in images/.cutaway/ (never a',
      "running writer's); print what was removed and the space that freed.",
    ].join('\n'),
    options: [
      { name: 'all', short: 'a', type: 'boolean', help: 'every image no container uses, not only those without a name' },
      { name: 'volumes', type: 'boolean', help: 'volumes too' },
      FORCE_OPTION,
    ],
    operands: NO_OPERANDS,
    examples: ['cutaway system prune -f', 'cutaway system prune -a --volumes -f'],
    classic: ['docker system prune', 'cutaway rm $(cutaway ps -aq -f status=exited); cutaway rmi …; cutaway volume prune'],
  },
  async (inv, root) => {
    process.stdout.write(await pruneSystem(root, inv.options));
  },
);
