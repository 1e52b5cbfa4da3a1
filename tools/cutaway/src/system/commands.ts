import { ROOT_OPTION, stateRoot, UsageError, type Invocation, type ToolSpec } from '@cutaway/cli';
import { removeLayer } from '@cutaway/layer';
import type { Command } from '../command.ts';
import { confirmOrCancel } from '../confirm.ts';
import { ContainerStore } from '../containers/store.ts';
import { createdSince, ellipsis, humanSize, table } from '../format.ts';
import { familiarName, ImageStore, isCacheName, isIntermediate, repositoryAndTag, shortId, tags, type StoreImage } from '../images/store.ts';
import { teardown } from '../containers/lifecycle.ts';
import { listNetworks, unusedNetworks } from '../networks/commands.ts';
import { planPrune, storeBytes, takeInventory, uses, type Inventory } from './usage.ts';
import { tool } from '../tools.ts';
import { reclaimedLine } from '../volumes/commands.ts';
import { VolumeStore } from '../volumes/store.ts';

/** docker system df and docker system prune, on the state root. */

const spec: ToolSpec = {
  name: 'cutaway system',
  version: '0.1.0',
  synopsis: ['df [-v] [--format json]', 'prune [-a] [--volumes] [-f]'],
  description: [
    "df: the space images, containers, volumes and the build cache take on disk (cutaway build's step images,",
    'localhost/cutaway-cache:<key>): blobs and unpacked layers, container directories, volume data, each file once.',
    'ACTIVE counts what a container uses; RECLAIMABLE is what `system prune -a --volumes` would free, to the byte.',
    'prune: removes stopped containers, networks no container uses, images without a name (with -a: every image no',
    'running container uses), the build cache, with --volumes the volumes no container left uses, and the blobs and',
    'unpacked layers nothing left needs; it prints what it removed and the space that freed.',
  ].join('\n'),
  options: [
    { name: 'verbose', short: 'v', type: 'boolean', help: 'df: each image, container, volume and cache entry' },
    { name: 'format', type: 'string', arg: 'FORMAT', help: 'df: table (default) or json: a JSON object per row, with SizeBytes and ReclaimableBytes' },
    { name: 'all', short: 'a', type: 'boolean', help: 'prune: every image no container uses, not only those without a name' },
    { name: 'volumes', type: 'boolean', help: 'prune: volumes too' },
    { name: 'force', short: 'f', type: 'boolean', help: 'prune: do not ask for confirmation' },
    ROOT_OPTION,
  ],
  examples: ['cutaway system df', 'cutaway system df -v', 'cutaway system prune -f', 'cutaway system prune -a --volumes -f'],
  classic: ['docker system df', 'docker system prune', 'du -s /var/lib/cutaway/{images,layers,containers,volumes}'],
};

const size = (bytes: number) => humanSize(bytes, 4);

/** docker/cli formatter DiskUsage: the reclaimable share as a whole percentage, when there is anything. */
function withPercent(reclaimable: number, total: number): string {
  return total > 0 ? `${size(reclaimable)} (${Math.floor((reclaimable * 100) / total)}%)` : size(reclaimable);
}

function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((n, i) => n + of(i), 0);
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
  return [
    'Images space usage:\n\n',
    table([['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'SHARED SIZE', 'UNIQUE SIZE', 'CONTAINERS'], ...imageRows]),
    '\nContainers space usage:\n\n',
    table([['CONTAINER ID', 'IMAGE', 'COMMAND', 'LOCAL VOLUMES', 'SIZE', 'CREATED', 'STATUS', 'NAMES'], ...containerRows]),
    '\nLocal Volumes space usage:\n\n',
    table([['VOLUME NAME', 'LINKS', 'SIZE'], ...inventory.volumes.map((v) => [v.name, String(v.users.length), size(v.size)])]),
    `\nBuild cache usage: ${size(storeBytes(inventory, inventory.blobs.keys(), inventory.layers.keys(), 'cache'))}\n\n`,
    table([['CACHE ID', 'CACHE TYPE', 'SIZE', 'CREATED', 'SHARED'], ...cacheRows]),
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
    { type: 'Build Cache', total: cache.length, active: cache.filter(used).length, ...store('cache') },
  ];
}

/** docker/cli's df table; the build cache's RECLAIMABLE has no percentage there. */
function dfTable(rows: DfRow[]): string {
  const reclaimable = (r: DfRow) => (r.type === 'Build Cache' ? size(r.reclaimable) : withPercent(r.reclaimable, r.size));
  return table([['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], ...rows.map((r) => [r.type, String(r.total), String(r.active), size(r.size), reclaimable(r)])]);
}

/** --format json: a JSON object per row, with docker's fields ({{json .}}) and, for scripts, the sizes in bytes. */
function dfJson(rows: DfRow[]): string {
  return rows
    .map((r) => `${JSON.stringify({ Active: String(r.active), Reclaimable: r.type === 'Build Cache' ? size(r.reclaimable) : withPercent(r.reclaimable, r.size), ReclaimableBytes: r.reclaimable, Size: size(r.size), SizeBytes: r.size, TotalCount: String(r.total), Type: r.type })}\n`)
    .join('');
}

/** A section of prune's report, as docker/cli prints each prune's output: a title, a line each, a blank line. */
function section(title: string, lines: string[]): string {
  return lines.length ? `${title}:\n${lines.map((l) => `${l}\n`).join('')}\n` : '';
}

/** docker system prune: in Docker's order (containers, networks, volumes, images, build cache), then what that left unneeded. */
async function prune(inv: Invocation, root: string): Promise<string> {
  const all = Boolean(inv.options.all);
  const volumes = Boolean(inv.options.volumes);
  const warnings = [
    'all stopped containers',
    'all networks not used by at least one container',
    ...(volumes ? ['all volumes not used by at least one container'] : []),
    all ? 'all images without at least one container associated to them' : 'all dangling images',
    all ? 'all build cache' : 'unused build cache',
  ];
  await confirmOrCancel(Boolean(inv.options.force), `This will remove:\n${warnings.map((w) => `  - ${w}`).join('\n')}\n`, 'system prune');
  const env = { CUTAWAY_ROOT: root };
  const containers = new ContainerStore(root);
  const inventory = await takeInventory(root);
  const plan = planPrune(inventory, { all, volumes });
  let freed = 0;

  for (const c of plan.containers) {
    await teardown(containers, c.config, env, true);
    freed += c.size;
  }
  const networks = unusedNetworks(containers, await listNetworks(env)).map((n) => n.name);
  if (networks.length) await tool('netbridge', ['network', 'rm', ...networks], env);
  const volumeStore = new VolumeStore(root);
  for (const v of plan.volumes) {
    volumeStore.remove(v.name);
    freed += v.size;
  }

  const imageLines: string[] = [];
  const cacheLines: string[] = [];
  if (plan.images.length || plan.cache.length || plan.blobs.length) {
    const { layout } = await ImageStore.open(root);
    for (const image of [...plan.images, ...plan.cache]) {
      const names = await layout.removeManifest(image.descriptor.digest);
      if (isIntermediate(image)) cacheLines.push(...names.map((n) => n.split(':').at(-1)!));
      else imageLines.push(...names.filter((n) => !isCacheName(n)).map((n) => `untagged: ${familiarName(n)}`), `deleted: ${image.id}`);
    }
    // Only what the plan found unneeded, and of that what nothing reaches now (gc checks again under its lock).
    const { removed } = await layout.gc({ only: plan.blobs });
    freed += sum(removed, (r) => r.size);
  }
  for (const diffId of plan.layers) if (await removeLayer(inventory.layersDir, diffId)) freed += inventory.layers.get(diffId)!;

  return [
    section('Deleted Containers', plan.containers.map((c) => c.id)),
    section('Deleted Networks', networks),
    section('Deleted Volumes', plan.volumes.map((v) => v.name)),
    section('Deleted Images', imageLines),
    section('Deleted build cache objects', cacheLines),
    reclaimedLine(freed),
  ].join('');
}

async function systemCommand(inv: Invocation): Promise<number> {
  const root = stateRoot(inv.options.root);
  const [verb, ...args] = inv.positionals;
  if (args.length) throw new UsageError(`"cutaway system ${verb}" accepts no arguments`);
  if (verb === 'df') {
    const format = inv.options.format ?? 'table';
    if (format !== 'table' && format !== 'json') throw new UsageError(`--format ${format}: table or json (templates are not supported)`);
    if (format === 'json' && inv.options.verbose) throw new UsageError('--format json takes the summary, not -v');
    const inventory = await takeInventory(root);
    process.stdout.write(inv.options.verbose ? verboseDf(inventory) : format === 'json' ? dfJson(dfRows(inventory)) : dfTable(dfRows(inventory)));
  }
  else if (verb === 'prune') process.stdout.write(await prune(inv, root));
  else throw new UsageError(`cutaway system ${verb ? `${verb}: no such command` : 'COMMAND'}: df or prune`);
  return 0;
}

export const systemCommands: Record<string, Command> = { system: { spec, run: systemCommand } };
