import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { imageStoreDir } from '@cutaway/cli';
import { layerPath } from '@cutaway/layer';
import type { Digest } from '@cutaway/oci';
import { currentState } from '../containers/state.ts';
import { ContainerStore, overlayLowers, type ContainerConfigRecord, type ContainerState } from '../containers/store.ts';
import { diskUsage } from './disk-usage.ts';
import { deadTempBlobs, type TempBlob } from './temp-blobs.ts';
import { ImageStore, isIntermediate, type StoreImage } from '../images/store.ts';
import { VolumeStore } from '../volumes/store.ts';

/**
 * What the state root holds and what of it is in use, measured on disk: the
 * inventory behind docker system df, and the plan that docker system prune
 * carries out. df's RECLAIMABLE is the size of what the plan for `system
 * prune -a --volumes` would remove, so that the two agree to the byte.
 *
 * Images and the build cache (cutaway build's step images, named
 * localhost/cutaway-cache:<key> only) share blobs and unpacked layers: each
 * blob (images/blobs/…) and each unpacked layer (layers/<alg>/<hex>) counts
 * once, for the build cache when only its images reach it, else for Images
 * (blobs and layers that nothing reaches, left by a tag that moved, too).
 *
 * The temp files a killed writer left in the image store (temp-blobs.ts) count
 * for the build cache, one entry each: docker system df has no other row for
 * what is neither an image, a container nor a volume and that prune frees
 * without touching any of them, and BuildKit counts its own unfinished records
 * there. Every prune removes them: nothing uses them.
 */

export interface ContainerEntry {
  id: string;
  config: ContainerConfigRecord;
  state: ContainerState;
  /** Its directory (upper, work, log, config), not what is mounted in it. */
  size: number;
  /** The unpacked layers its overlay stacks, as overlay-mount recorded them (overlay.json). */
  lowers: string[];
}

export interface VolumeEntry {
  name: string;
  size: number;
  /** The containers that mount it, running or not. */
  users: string[];
}

export interface Inventory {
  containers: ContainerEntry[];
  volumes: VolumeEntry[];
  images: StoreImage[];
  /** Every stored blob and its size. */
  blobs: Map<Digest, number>;
  /** Every unpacked layer (by diff_id) and its size. */
  layers: Map<Digest, number>;
  layersDir: string;
  /** The image store's temp files whose writers were killed. */
  temps: TempBlob[];
}

export type Owner = 'images' | 'cache';

export interface PruneOptions {
  /** Images without a container too, not only those without a name (-a). */
  all: boolean;
  volumes: boolean;
  /** The build cache only (builder prune): no container, volume or image goes, and what any container uses stays. */
  cacheOnly?: boolean;
}

export interface PrunePlan {
  containers: ContainerEntry[];
  volumes: VolumeEntry[];
  /** Images to delete: unused and, without -a, without a name. */
  images: StoreImage[];
  /** Build-cache images to delete: those no container uses. */
  cache: StoreImage[];
  /** Blobs and unpacked layers that no image left reaches and no container left stacks. */
  blobs: Digest[];
  layers: Digest[];
  /** Every dead writer's temp file. */
  temps: TempBlob[];
}


/** layers/<alg>/<hex> directories (not the .lock files beside them, nor an unpack's .tmp in progress). */
function unpackedLayers(layersDir: string): Map<Digest, number> {
  const layers = new Map<Digest, number>();
  for (const algorithm of existsSync(layersDir) ? readdirSync(layersDir) : []) {
    for (const name of readdirSync(join(layersDir, algorithm))) {
      if (/^[0-9a-f]{64}$/.test(name) && statSync(join(layersDir, algorithm, name)).isDirectory()) layers.set(`${algorithm}:${name}` as Digest, diskUsage(join(layersDir, algorithm, name)));
    }
  }
  return layers;
}


export async function takeInventory(root: string): Promise<Inventory> {
  const containerStore = new ContainerStore(root);
  const containers = containerStore.ids().map((id) => {
    const config = containerStore.config(id);
    // Its directory and its name's reservation: what rm and prune free.
    const size = diskUsage(containerStore.path(id)) + diskUsage(containerStore.namePath(config.name));
    return { id, config, state: currentState(containerStore, id), size, lowers: overlayLowers(containerStore.path(id)) ?? [] };
  });
  const volumeStore = new VolumeStore(root);
  const volumes = volumeStore.names().map((name) => ({ name, size: diskUsage(volumeStore.path(name)), users: volumeStore.usersOf(name, containers.map((c) => c.config)) }));
  // overlay-mount records lowers by their real path.
  const layersDir = join(existsSync(root) ? realpathSync(root) : root, 'layers');
  const images = await ImageStore.open(root);
  const blobs = existsSync(join(imageStoreDir(root), 'oci-layout')) ? await images.layout.storedBlobs() : [];
  return { containers, volumes, images: images.images, blobs: new Map(blobs.map(([digest, path]) => [digest, statSync(path).size])), layers: unpackedLayers(layersDir), layersDir, temps: deadTempBlobs(imageStoreDir(root)) };
}

/** Whether a container runs this image (by its manifest, as rmi checks). */
export function uses(container: ContainerEntry, image: StoreImage): boolean {
  return image.blobs.has(container.config.imageDigest as Digest);
}

/** Who a blob or unpacked layer counts for: the build cache when only its images reach it. */
function ownerOf(inventory: Inventory, reaches: (image: StoreImage) => boolean): Owner {
  const by = inventory.images.filter(reaches);
  return by.length && by.every(isIntermediate) ? 'cache' : 'images';
}

function blobOwner(inventory: Inventory, digest: Digest): Owner {
  return ownerOf(inventory, (image) => image.blobs.has(digest));
}

function layerOwner(inventory: Inventory, diffId: Digest): Owner {
  return ownerOf(inventory, (image) => image.diffIds.has(diffId));
}

/**
 * What docker system prune removes, in its order: stopped containers first,
 * so that what only they used goes too; then (with --volumes) the volumes no
 * container left mounts; images (-a: every one no container left uses;
 * otherwise those without a name) and the build cache; and with them the
 * blobs and unpacked layers nothing left needs.
 */
export function planPrune(inventory: Inventory, options: PruneOptions): PrunePlan {
  const remaining = options.cacheOnly ? inventory.containers : inventory.containers.filter((c) => c.state.status === 'running');
  const used = (image: StoreImage) => remaining.some((c) => uses(c, image));
  const images = options.cacheOnly ? [] : inventory.images.filter((i) => !isIntermediate(i) && !used(i) && (options.all || !i.names.length));
  const cache = inventory.images.filter((i) => isIntermediate(i) && !used(i));
  const kept = inventory.images.filter((i) => !images.includes(i) && !cache.includes(i));
  const keptBlobs = new Set(kept.flatMap((i) => [...i.blobs.keys()]));
  const keptLayers = new Set(kept.flatMap((i) => [...i.diffIds]));
  const stacked = new Set(remaining.flatMap((c) => c.lowers));
  const running = new Set(remaining.map((c) => c.id));
  return {
    containers: inventory.containers.filter((c) => !running.has(c.id)),
    volumes: options.volumes ? inventory.volumes.filter((v) => !v.users.some((id) => running.has(id))) : [],
    images,
    cache,
    blobs: [...inventory.blobs.keys()].filter((d) => !keptBlobs.has(d)),
    layers: [...inventory.layers.keys()].filter((d) => !keptLayers.has(d) && !stacked.has(layerPath(inventory.layersDir, d))),
    temps: inventory.temps,
  };
}

/** The bytes of `blobs` and `layers` that count for `owner`. */
export function storeBytes(inventory: Inventory, blobs: Iterable<Digest>, layers: Iterable<Digest>, owner: Owner): number {
  let total = 0;
  for (const d of blobs) if (blobOwner(inventory, d) === owner) total += inventory.blobs.get(d) ?? 0;
  for (const d of layers) if (layerOwner(inventory, d) === owner) total += inventory.layers.get(d) ?? 0;
  return total;
}

/** The total of `of` over `items`. */
export function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((n, i) => n + of(i), 0);
}
