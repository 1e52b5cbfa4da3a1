import { UsageError } from '@cutaway/cli';
import { command, NO_OPERANDS } from '../command.ts';
import { createdSince, ellipsis, FORMAT_OPTION, formatOutput, humanSize, table } from '../format.ts';
import { familiarName, isCacheName, isIntermediate, repositoryAndTag, shortId, tags, type StoreImage } from '../images/store.ts';
import { planPrune, storeBytes, sum, takeInventory, uses, type Inventory } from './usage.ts';

const size = (bytes: number) => humanSize(bytes, 4);

/** docker/cli formatter DiskUsage: the reclaimable share as a whole percentage, when there is anything. */
function withPercent(reclaimable: number, total: number): string {
  return total > 0 ? `${size(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : size(reclaimable);
}

/** What an image takes on disk: its blobs and its unpacked layers; `shared`, what of it other images reach too. */
function imageBytes(inventory: Inventory, image: StoreImage): { size: number; shared: number } {
  const others = inventory.images.filter((i) => i !== image);
  let total = 0;
  let shared = 0;
  for (const d of image.blobs.keys()) {
    const bytes = inventory.blobs.get(d) ?? 0;
    total += bytes;
    if (others.some((i) => i.blobs.has(d))) shared += bytes;
  }
  for (const d of image.diffIds) {
    const bytes = inventory.layers.get(d) ?? 0;
    total += bytes;
    if (others.some((i) => i.diffIds.has(d))) shared += bytes;
  }
  return { size: total, shared };
}

function verboseDf(inventory: Inventory): string {
  const users = (image: StoreImage) => inventory.containers.filter((c) => uses(c, image)).length;
  const imageRows = inventory.images.filter((i) => !isIntermediate(i)).flatMap((image) => {
    const { size: bytes, shared } = imageBytes(inventory, image);
    const cells = [shortId(image.id), createdSince(image.image.config.created), size(bytes), size(shared), size(bytes - shared), String(users(image))];
    const names = tags(image).map(repositoryAndTag);
    return (names.length ? names : [['<none>', '<none>']]).map(([repository, tag]) => [repository!, tag!, ...cells]);
  });
  const containerRows = inventory.containers.map((c) => [
    c.id.slice(0, 12),
    familiarName(c.config.image),
    `"${ellipsis(c.config.command.join(' '), 20)}"`,
    String(inventory.volumes.filter((v) => v.users.includes(c.id)).length),
    size(c.size),
    createdSince(c.config.created),
    c.state.status,
    c.config.name,
  ]);
  const cache = inventory.images.filter(isIntermediate);
  const cacheRows = cache.map((image) => [
    image.names.find(isCacheName)!.split(':').at(-1)!.slice(0, 12),
    'regular',
    size(storeBytes(inventory, image.blobs.keys(), image.diffIds, 'cache')),
    createdSince(image.image.config.created),
    String(inventory.images.some((i) => i !== image && ([...image.blobs.keys()].some((d) => i.blobs.has(d)) || [...image.diffIds].some((d) => i.diffIds.has(d))))),
  ]);
  // A killed writer's temp file, by its name in images/.cutaway/.
  const tempRows = inventory.temps.map((t) => [t.name, 'temp', size(t.size), createdSince(t.modified.toISOString()), 'false']);
  return [
    'Images space usage:\n\n',
    table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], ...imageRows]),
    '\nContainers space usage:\n\n',
    table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'], ...containerRows]),
    '\nLocal Volumes space usage:\n\n',
    table([['VOLUME NAME', 'LINKS', 'SIZE'], ...inventory.volumes.map((v) => [v.name, String(v.users.length), size(v.size)])]),
    `\nBuild cache usage: ${size(storeBytes(inventory, inventory.blobs.keys(), inventory.layers.keys(), 'cache') + sum(inventory.temps, (t) => t.size))}\n\n`,
    table([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'SHARED'], ...cacheRows, ...tempRows]),
  ].join('');
}

interface DfRow {
  type: string;
  total: number;
  active: number;
  size: number;
  reclaimable: number;
}

/** docker system df: one row each for images, containers, volumes and the build cache. */
function dfRows(inventory: Inventory): DfRow[] {
  const plan = planPrune(inventory, { all: true, volumes: true });
  const used = (image: StoreImage) => inventory.containers.some((c) => uses(c, image));
  const images = inventory.images.filter((i) => !isIntermediate(i));
  const cache = inventory.images.filter(isIntermediate);
  const store = (owner: 'images' | 'cache') => ({ size: storeBytes(inventory, inventory.blobs.keys(), inventory.layers.keys(), owner), reclaimable: storeBytes(inventory, plan.blobs, plan.layers, owner) });
  return [
    { type: 'Images', total: images.length, active: images.filter(used).length, ...store('images') },
    { type: 'Containers', total: inventory.containers.length, active: inventory.containers.filter((c) => c.state.status === 'running').length, size: sum(inventory.containers, (c) => c.size), reclaimable: sum(plan.containers, (c) => c.size) },
    { type: 'Local Volumes', total: inventory.volumes.length, active: inventory.volumes.filter((v) => v.users.length).length, size: sum(inventory.volumes, (v) => v.size), reclaimable: sum(plan.volumes, (v) => v.size) },
    // With the temp files killed writers left in the image store (usage.ts says why there).
    { type: 'Build Cache', total: cache.length + inventory.temps.length, active: cache.filter(used).length, size: store('cache').size + sum(inventory.temps, (t) => t.size), reclaimable: store('cache').reclaimable + sum(plan.temps, (t) => t.size) },
  ];
}

/**
 * A row with docker/cli's diskUsage fields (--format's; the build cache's Reclaimable has no percentage there)
 * and, for scripts, the sizes in bytes.
 */
function dfRow(r: DfRow): Record<string, string | number> {
  const reclaimable = r.type === 'Build Cache' ? size(r.reclaimable) : withPercent(r.reclaimable, r.size);
  return { Type: r.type, TotalCount: String(r.total), Active: String(r.active), Size: size(r.size), SizeBytes: r.size, Reclaimable: reclaimable, ReclaimableBytes: r.reclaimable };
}

const DF_TABLE = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';

/** docker system df: the space images, containers, volumes and the build cache take, and what prune would free. */
export const df = command(
  {
    name: 'system df',
    summary: 'Show the disk space cutaway uses',
    synopsis: ['[-v] [--format FORMAT]'],
    description: [
      "The space images, containers, volumes and the build cache take on disk (cutaway build's step images,",
      'localhost/cutaway-cache:<key>, and the temp files a killed writer left in images/.cutaway/): blobs and',
      'unpacked layers, container directories, volume data, each file once.',
      'ACTIVE counts what a container uses; RECLAIMABLE is what `system prune -a --volumes` would free, to the byte.',
    ].join('\n'),
    options: [
      { name: 'verbose', short: 'v', type: 'boolean', help: 'each image, container, volume and cache entry' },
      { ...FORMAT_OPTION, help: "table, json (a JSON object per row, with SizeBytes and ReclaimableBytes), or a Go template ('{{.Type}} {{.Size}}')" },
    ],
    operands: NO_OPERANDS,
    examples: ['cutaway system df', 'cutaway system df -v', 'cutaway system df --format json', "cutaway system df --format '{{.Type}}: {{.Reclaimable}}'"],
    classic: ['docker system df', 'du -s /var/lib/cutaway/{images,layers,containers,volumes}'],
  },
  async (inv, root) => {
    const format = inv.options.format;
    if (format !== undefined && format !== 'table' && inv.options.verbose) throw new UsageError(`--format ${format} takes the summary, not -v`);
    const inventory = await takeInventory(root);
    process.stdout.write(inv.options.verbose ? verboseDf(inventory) : formatOutput(format, dfRows(inventory).map(dfRow), { table: DF_TABLE, headers: { TotalCount: 'TOTAL' }, structType: '*formatter.diskUsageContext' }));
  },
);
