import { formatReference, parseReference, repositoryName, type HistoryEntry } from '@cutaway/oci';
import { createdSince, ellipsis, humanSize, table } from '../format.ts';
import { givesTagOrDigest, isIntermediate, isParentOf, repositoryAndTag, repositoryOf, shortId, tags, type ImageStore, type StoreImage } from './store.ts';

/** docker images and docker history: the store's images, and one image's history, as Docker's tables. */

export interface ListOptions {
  /** Intermediate images (the build cache's steps) too, as `docker images -a` shows them. */
  all: boolean;
  quiet: boolean;
  noTrunc: boolean;
  /** `REPOSITORY[:TAG]`: only that repository's images (or that one tag). */
  filter?: string;
}

/** The size an image takes in the store: its config and its layers as stored (compressed as pulled). */
function storedSize(image: StoreImage): number {
  return [image.image.manifest.config, ...image.image.manifest.layers].reduce((sum, d) => sum + d.size, 0);
}

/** Whether a stored name matches `docker images REPOSITORY[:TAG]`: a tag (or digest) given, that name; else every tag of the repository. */
function matches(name: string, filter: string): boolean {
  const ref = parseReference(filter);
  return givesTagOrDigest(filter) ? name === formatReference(ref) : repositoryOf(name) === repositoryName(ref);
}

export function listImages(store: ImageStore, options: ListOptions): string {
  const rows: { image: StoreImage; repository: string; tag: string }[] = [];
  const created = (image: StoreImage) => Date.parse(image.image.config.created ?? '') || 0;
  const newestFirst = [...store.images].sort((a, b) => created(b) - created(a));
  for (const image of newestFirst) {
    const names = tags(image).filter((n) => options.filter === undefined || matches(n, options.filter));
    for (const name of names) rows.push({ image, repository: repositoryAndTag(name)[0], tag: repositoryAndTag(name)[1] });
    // A dangling image (no name at all) always shows, an intermediate one with -a; neither matches a filter.
    if (!tags(image).length && options.filter === undefined && (!isIntermediate(image) || options.all)) rows.push({ image, repository: '<none>', tag: '<none>' });
  }
  const id = (image: StoreImage) => (options.noTrunc ? image.id : shortId(image.id));
  if (options.quiet) return [...new Set(rows.map((r) => id(r.image)))].map((i) => `${i}\n`).join('');
  return table([
    ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'],
    ...rows.map((r) => [r.repository, r.tag, id(r.image), createdSince(r.image.image.config.created), humanSize(storedSize(r.image))]),
  ]);
}

export interface HistoryOptions {
  quiet: boolean;
  noTrunc: boolean;
}

/**
 * docker history: the config's history, newest first, each entry that made a
 * layer with that layer's size (as stored), empty_layer entries 0B. IMAGE is
 * the image's ID on its top entry and, below, the ID of a step image the store
 * still has (the build cache's), else <missing>, as Docker shows pulled images.
 */
export function imageHistory(store: ImageStore, image: StoreImage, options: HistoryOptions): string {
  const { config, manifest } = image.image;
  // Without a history, each layer is an entry of its own.
  const history: HistoryEntry[] = config.history ?? manifest.layers.map(() => ({ ...(config.created !== undefined && { created: config.created }) }));
  let layer = 0;
  const rows = history.map((entry, i) => {
    const size = entry.empty_layer ? 0 : (manifest.layers[layer++]?.size ?? 0);
    const step = i === history.length - 1 ? image : store.images.find((p) => p.image.config.history?.length === i + 1 && isParentOf(p, image));
    const id = step ? (options.noTrunc ? step.id : shortId(step.id)) : '<missing>';
    const createdBy = (entry.created_by ?? '').replaceAll('\t', ' ');
    return [id, createdSince(entry.created), options.noTrunc ? createdBy : ellipsis(createdBy, 45), humanSize(size), entry.comment ?? ''];
  });
  rows.reverse();
  if (options.quiet) return rows.map((r) => `${r[0]}\n`).join('');
  return table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...rows]);
}
