import { ToolError } from '@cutaway/cli';
import type { Digest } from '@cutaway/oci';
import { command, NO_OPERANDS } from '../command.ts';
import { Filters, FILTER_OPTION } from '../filters.ts';
import { ago, ellipsis, FORMAT_OPTION, formatOutput, goTime, humanSize, NO_TRUNC } from '../format.ts';
import { familiarName, ImageStore, storedSize } from '../images/store.ts';
import { diskUsage } from '../system/disk-usage.ts';
import { healthSuffix } from './health.ts';
import { networksOf } from './networks.ts';
import { portsText } from './ports.ts';
import { currentState, exitCodeOf, isPaused, statusName } from './state.ts';
import { bindMounts, ContainerStore, type ContainerConfigRecord, type ContainerState } from './store.ts';

function statusText(state: ContainerState): string {
  if (state.status === 'running') return `Up ${ago(state.startedAt)}${isPaused(state) ? ' (Paused)' : ''}`;
  // Unknown (the keeper was killed, nothing recorded the exit): Docker's 255, with no time, which nobody knows.
  if (state.status === 'exited') return `Exited (${exitCodeOf(state)})${state.finishedAt ? ` ${ago(state.finishedAt)} ago` : ''}`;
  return 'Created';
}

interface Container {
  id: string;
  config: ContainerConfigRecord;
  state: ContainerState;
  /** ` (healthy)`, … (health.ts healthSuffix). */
  health?: string;
}

/** The -v mounts ns-exec got: a named volume's name (its source is volumes/NAME/_data), else the host path. */
function mountNames(c: ContainerConfigRecord): { name: string; volume: boolean; destination: string }[] {
  return bindMounts(c).map(({ source, destination }) => {
    const volume = /\/volumes\/([^/]+)\/_data$/.exec(source);
    return { name: volume ? volume[1]! : source, volume: volume !== null, destination };
  });
}

const commaList = (items: string[]) => items.join(',');

/**
 * A row as docker/cli's ContainerContext shows it; its fields are --format's. Size (the upper directory,
 * and with the image's what the container sees) only when asked: it walks the upper directory.
 */
/** Docker's IMAGE: the image as run was given it, familiar and without a digest (`busybox`); an image ID's 12 digits. */
function imageColumn(config: ContainerConfigRecord): string {
  const typed = config.imageRef;
  if (typed === undefined) return familiarName(config.image);
  if (/^(sha256:)?[0-9a-f]{64}$/.test(typed)) return typed.replace(/^sha256:/, '').slice(0, 12);
  return typed.replace(/@sha256:[0-9a-f]{64}$/, '').replace(/^docker\.io\/(library\/)?/, '');
}

function rowOf(c: Container, noTrunc: boolean, size: ((c: Container) => string) | undefined): Record<string, unknown> {
  const labels = c.config.labels ?? {};
  const mounts = mountNames(c.config);
  return {
    ID: noTrunc ? c.id : c.id.slice(0, 12),
    Image: imageColumn(c.config),
    Command: JSON.stringify(noTrunc ? c.config.command.join(' ') : ellipsis(c.config.command.join(' '), 20)),
    CreatedAt: goTime(c.config.created),
    RunningFor: `${ago(c.config.created)} ago`,
    Ports: c.state.status === 'running' ? portsText(c.config).join(', ') : '',
    State: statusName(c.state),
    // Docker's State.String: its health after `Up …`, unless paused.
    Status: `${statusText(c.state)}${isPaused(c.state) ? '' : (c.health ?? '')}`,
    Size: size ? size(c) : '0B',
    Names: c.config.name,
    Labels: commaList(Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`)),
    Label: (key: string) => labels[key] ?? '',
    Mounts: commaList(mounts.map((m) => (noTrunc ? m.name : ellipsis(m.name, 15)))),
    Networks: commaList([...networksOf(c.config)].sort()),
    LocalVolumes: String(mounts.filter((m) => m.volume).length),
  };
}

const STATUSES = ['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'];
const FILTER_KEYS = ['id', 'name', 'status', 'label', 'ancestor', 'exited', 'before', 'since', 'network', 'volume'];

/** docker ps --filter: what the daemon's filters keep. `ancestor` takes any image handle (its containers' manifests). */
async function filterContainers(all: Container[], filters: Filters, store: ContainerStore, root: string): Promise<Container[]> {
  for (const s of filters.values('status')) if (!STATUSES.includes(s)) throw new ToolError(`invalid filter 'status=${s}'`);
  for (const e of filters.values('exited')) if (!/^\d+$/.test(e)) throw new ToolError(`invalid filter 'exited=${e}'`);
  const createdOf = (handle: string) => Date.parse(store.config(store.find(handle)).created);
  const before = filters.values('before').map(createdOf);
  const since = filters.values('since').map(createdOf);
  let manifests: Set<string> | undefined;
  if (filters.has('ancestor')) {
    const images = await ImageStore.open(root);
    manifests = new Set(
      filters.values('ancestor').flatMap((a) => {
        try {
          return [...images.find(a).image.blobs.keys()];
        } catch {
          return [];
        }
      }),
    );
  }
  return all.filter((c) => {
    const created = Date.parse(c.config.created);
    const mounts = mountNames(c.config);
    return (
      filters.any('id', (v) => c.id.startsWith(v)) &&
      filters.any('name', (v) => new RegExp(v).test(c.config.name)) &&
      filters.any('status', (v) => v === statusName(c.state)) &&
      filters.labels(c.config.labels ?? {}) &&
      (manifests === undefined || manifests.has(c.config.imageDigest as Digest)) &&
      filters.any('exited', (v) => c.state.status === 'exited' && exitCodeOf(c.state) === Number(v)) &&
      before.every((t) => created < t) &&
      since.every((t) => created > t) &&
      filters.any('network', (v) => networksOf(c.config).includes(v)) &&
      filters.any('volume', (v) => mounts.some((m) => m.name === v || m.destination === v))
    );
  });
}

const HEADERS = { ID: 'CONTAINER ID', RunningFor: 'CREATED', CreatedAt: 'CREATED AT', Names: 'NAMES', Ports: 'PORTS', State: 'STATE', Status: 'STATUS', Size: 'SIZE', Image: 'IMAGE', Command: 'COMMAND', Labels: 'LABELS', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES' };
const TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';

/** docker ps: the running containers (all with -a), newest first; -q (the common --quiet) prints only their ids. */
export const ps = command(
  {
    name: 'ps',
    summary: 'List containers',
    synopsis: ['[-a] [-q] [-s] [-n N | -l] [--no-trunc] [-f KEY=VALUE]… [--format FORMAT]'],
    description: [
      'List containers: the running ones, or all with -a; -q prints only their ids. --filter (-f) keeps those that',
      'match: id, name, status (created, running, paused, exited; all of them, without -a), label (KEY, KEY=VALUE,',
      'KEY!=VALUE), ancestor (an image), exited (a status), before and since (a container), network, volume.',
      '--format: a Go template on each container, `table TEMPLATE`, or json (see the README).',
    ].join('\n'),
    options: [
      { name: 'all', short: 'a', type: 'boolean', help: 'all containers, not only running ones' },
      FILTER_OPTION,
      FORMAT_OPTION,
      { name: 'last', short: 'n', type: 'string', arg: 'N', help: 'the N last created containers (all states)' },
      { name: 'latest', short: 'l', type: 'boolean', help: 'the last created container (all states)' },
      NO_TRUNC,
      { name: 'size', short: 's', type: 'boolean', help: 'the size of each: its own files (virtual: with its image)' },
    ],
    operands: NO_OPERANDS,
    examples: ['cutaway ps', 'cutaway ps -a', 'cutaway rm $(cutaway ps -aq)', "cutaway ps -a -f status=exited --format '{{.Names}}'", "cutaway ps --format 'table {{.ID}}\\t{{.Names}}'"],
    classic: ['docker ps', 'ls $CUTAWAY_ROOT/containers; cat $CUTAWAY_ROOT/containers/*/state.json'],
  },
  async (inv, root) => {
    const o = inv.options;
    const last = o.latest ? 1 : o.last === undefined ? -1 : Number(o.last);
    if (!Number.isInteger(last)) throw new ToolError(`invalid argument "${o.last}" for "-n, --last" flag: strconv.ParseInt: parsing "${o.last}": invalid syntax`);
    const filters = new Filters(o.filter, FILTER_KEYS);
    const store = new ContainerStore(root);
    let rows = store
      .ids()
      .map((id) => ({ id, config: store.config(id), state: currentState(store, id) }))
      .map((c): Container => ({ ...c, health: healthSuffix(store, c.config, c.state) }))
      .sort((a, b) => Date.parse(b.config.created) - Date.parse(a.config.created));
    // As the daemon: a status filter, or -n, lists every state.
    if (!(o.all || last > 0 || filters.has('status'))) rows = rows.filter((c) => c.state.status === 'running');
    rows = await filterContainers(rows, filters, store, root);
    if (last > 0) rows = rows.slice(0, last);
    let format = o.format;
    if (o.quiet) {
      if (format) process.stderr.write('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
      format = '{{.ID}}';
    }
    let size: ((c: Container) => string) | undefined;
    // As docker ps: a template that shows .Size asks for it.
    if (o.size || format?.includes('.Size')) {
      const images = await ImageStore.open(root).catch(() => undefined);
      size = (c) => {
        const rw = diskUsage(store.path(c.id, 'upper'));
        const image = images?.images.find((i) => i.blobs.has(c.config.imageDigest as Digest));
        return `${humanSize(rw)} (virtual ${humanSize(rw + (image ? storedSize(image) : 0))})`;
      };
    }
    process.stdout.write(formatOutput(format, rows.map((c) => rowOf(c, o['no-trunc'], size)), { table: o.size ? `${TABLE}\t{{.Size}}` : TABLE, headers: HEADERS, structType: '*formatter.ContainerContext' }));
  },
);
