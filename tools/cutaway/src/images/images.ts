import { formatReference, parseReference, repositoryName } from '@cutaway/oci';
import { command } from '../command.ts';
import { createdSince, humanSize, table } from '../format.ts';
import { givesTagOrDigest, ImageStore, isIntermediate, isTagName, repositoryAndTag, repositoryOf, shortId, storedSize, tags, type StoreImage } from './store.ts';

export interface ListOptions {
  /** Intermediate images (the build cache's steps) too, as `docker images -a` shows them. */
  all: boolean;
  quiet: boolean;
  noTrunc: boolean;
  /** `REPOSITORY[:TAG]`: only that repository's images (or that one tag). */
  filter?: string;
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
    // A row per tag; a repository the image has only digest references in, one row with TAG <none> (as Docker lists them).
    const names = tags(image).filter((n) => options.filter === undefined || matches(n, options.filter));
    const tagged = names.filter(isTagName);
    const digestOnly = [...new Set(names.filter((n) => !isTagName(n)).map((n) => repositoryAndTag(n)[0]))].filter((r) => !tagged.some((t) => repositoryAndTag(t)[0] === r));
    for (const name of tagged) rows.push({ image, repository: repositoryAndTag(name)[0], tag: repositoryAndTag(name)[1] });
    for (const repository of digestOnly) rows.push({ image, repository, tag: '<none>' });
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

export const NO_TRUNC = { name: 'no-trunc', type: 'boolean', help: "don't truncate IDs (and, in history, CREATED BY)" } as const;

export const images = command(
  {
    name: 'images',
    synopsis: ['[-a] [-q] [--no-trunc] [REPOSITORY[:TAG]]'],
    description: [
      "List the images of the store: a row per tag, newest first. IMAGE ID is the config digest (Docker's image ID);",
      "SIZE what the image takes in the store (config and layers, compressed as pulled). -a adds the build cache's",
      "step images (Docker's intermediate images) as <none>; -q prints only the IDs.",
    ].join('\n'),
    options: [{ name: 'all', short: 'a', type: 'boolean', help: 'intermediate images (the build cache) too' }, NO_TRUNC],
    operands: { min: 0, max: 1, names: 'REPOSITORY[:TAG]' },
    examples: ['cutaway images', 'cutaway images busybox', 'cutaway rmi $(cutaway images -q)'],
    classic: ['docker images', 'ls $CUTAWAY_ROOT/images/blobs/sha256; jq -r \'.manifests[].annotations["org.opencontainers.image.ref.name"]\' $CUTAWAY_ROOT/images/index.json'],
  },
  async (inv, root) => {
    const o = inv.options;
    const filter = inv.positionals[0];
    process.stdout.write(listImages(await ImageStore.open(root), { all: o.all, quiet: o.quiet, noTrunc: o['no-trunc'], ...(filter !== undefined && { filter }) }));
  },
);
