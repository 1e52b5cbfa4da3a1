import { formatReference, parseReference, repositoryName } from '@cutaway/oci';
import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { Filters, FILTER_OPTION } from '../filters.ts';
import { createdSince, FORMAT_OPTION, formatOutput, goTime, humanSize, NO_TRUNC } from '../format.ts';
import { givesTagOrDigest, ImageStore, isIntermediate, isTagName, repoDigests, repositoryAndTag, repositoryOf, shortId, storedSize, tags, type StoreImage } from './store.ts';

export interface ListOptions {
  /** Intermediate images (the build cache's steps) too, as `docker images -a` shows them. */
  all: boolean;
  quiet: boolean;
  noTrunc: boolean;
  /** `REPOSITORY[:TAG]`: only that repository's images (or that one tag). */
  filter?: string;
  /** --filter KEY=VALUE… */
  filters?: string[];
  /** --format. */
  format?: string;
}

/** Whether a stored name matches `docker images REPOSITORY[:TAG]`: a tag (or digest) given, that name; else every tag of the repository. */
function matches(name: string, filter: string): boolean {
  const ref = parseReference(filter);
  return givesTagOrDigest(filter) ? name === formatReference(ref) : repositoryOf(name) === repositoryName(ref);
}

/** Go's path.Match, as Docker's reference filter matches a familiar name: `*` and `?` within a path segment, [classes]. */
function globMatch(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replaceAll('*', '[^/]*').replaceAll('?', '[^/]');
  return new RegExp(`^${re}$`).test(name);
}

const FILTER_KEYS = ['dangling', 'reference', 'label', 'before', 'since'];

interface Row {
  image: StoreImage;
  repository: string;
  tag: string;
}

/** docker images --filter: dangling (true: the untagged only; false: the tagged only), reference, label, before, since. */
function filterRows(rows: Row[], filters: Filters, store: ImageStore): Row[] {
  for (const d of filters.values('dangling')) if (d !== 'true' && d !== 'false') throw new ToolError(`invalid filter 'dangling=${d}'`);
  const created = (image: StoreImage) => Date.parse(image.image.config.created ?? '') || 0;
  const before = filters.values('before').map((h) => created(store.find(h).image));
  const since = filters.values('since').map((h) => created(store.find(h).image));
  return rows.filter((r) => {
    const dangling = r.repository === '<none>';
    const name = `${r.repository}:${r.tag}`;
    return (
      filters.any('dangling', (d) => (d === 'true') === dangling) &&
      filters.any('reference', (p) => !dangling && (globMatch(p, r.repository) || globMatch(p, name))) &&
      filters.labels(r.image.image.config.config?.Labels ?? {}) &&
      before.every((t) => created(r.image) < t) &&
      since.every((t) => created(r.image) > t)
    );
  });
}

/** A row as docker/cli's ImageContext shows it; its fields are --format's. */
function rowOf(r: Row, noTrunc: boolean): Record<string, unknown> {
  const size = humanSize(storedSize(r.image));
  const digest = repoDigests(r.image).find((d) => d.slice(0, d.indexOf('@')) === r.repository);
  return {
    ID: noTrunc ? r.image.id : shortId(r.image.id),
    Repository: r.repository,
    Tag: r.tag,
    Digest: digest ? digest.slice(digest.indexOf('@') + 1) : '<none>',
    CreatedSince: createdSince(r.image.image.config.created),
    CreatedAt: goTime(r.image.image.config.created),
    Size: size,
    VirtualSize: size,
    SharedSize: 'N/A',
    UniqueSize: 'N/A',
    Containers: 'N/A',
  };
}

const HEADERS = { ID: 'IMAGE ID', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', Size: 'SIZE' };

export function listImages(store: ImageStore, options: ListOptions): string {
  const filters = new Filters(options.filters ?? [], FILTER_KEYS);
  let rows: Row[] = [];
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
  rows = filterRows(rows, filters, store);
  const id = (image: StoreImage) => (options.noTrunc ? image.id : shortId(image.id));
  // -q: each image once; a --format of its own wins over it, as in docker images.
  if (options.quiet && !options.format) return [...new Set(rows.map((r) => id(r.image)))].map((i) => `${i}\n`).join('');
  return formatOutput(options.format, rows.map((r) => rowOf(r, options.noTrunc)), { table: 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}', headers: HEADERS, structType: '*formatter.ImageContext' });
}

export const images = command(
  {
    name: 'images',
    summary: 'List images',
    synopsis: ['[-a] [-q] [--no-trunc] [-f KEY=VALUE]… [--format FORMAT] [REPOSITORY[:TAG]]'],
    description: [
      "List the images of the store: a row per tag, newest first. IMAGE ID is the config digest (Docker's image ID);",
      "SIZE what the image takes in the store (config and layers, compressed as pulled). -a adds the build cache's",
      "step images (Docker's intermediate images) as <none>; -q prints only the IDs. --filter (-f): dangling=true|false,",
      'reference=PATTERN (busybox, busy*:1.*), label=KEY[=VALUE], before=IMAGE, since=IMAGE. --format: a Go template on',
      'each row, `table TEMPLATE`, or json (see the README).',
    ].join('\n'),
    options: [{ name: 'all', short: 'a', type: 'boolean', help: 'intermediate images (the build cache) too' }, NO_TRUNC, FILTER_OPTION, FORMAT_OPTION],
    operands: { min: 0, max: 1, names: 'REPOSITORY[:TAG]' },
    examples: ['cutaway images', 'cutaway images busybox', 'cutaway rmi $(cutaway images -q)', 'cutaway images -f dangling=true -q', "cutaway images --format '{{.Repository}}:{{.Tag}}'"],
    classic: ['docker images', 'ls $CUTAWAY_ROOT/images/blobs/sha256; jq -r \'.manifests[].annotations["org.opencontainers.image.ref.name"]\' $CUTAWAY_ROOT/images/index.json'],
  },
  async (inv, root) => {
    const o = inv.options;
    const filter = inv.positionals[0];
    const given = { ...(filter !== undefined && { filter }), ...(o.format !== undefined && { format: o.format }) };
    process.stdout.write(listImages(await ImageStore.open(root), { all: o.all, quiet: o.quiet, noTrunc: o['no-trunc'], filters: o.filter, ...given }));
  },
);
