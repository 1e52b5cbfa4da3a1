import { closeSync, openSync, readSync, statSync, watch, type FSWatcher } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import { familiarReference, parseReference } from '@cutaway/oci';
import { command, NO_OPERANDS } from '../command.ts';
import { FILTER_OPTION, Filters } from '../filters.ts';
import { formatEach } from '../format.ts';
import { eventNanos, eventsLogPath, parseEvents, type EventRecord } from './events-log.ts';
import { parseTimestamp, rfc3339NanoFixed } from './timestamps.ts';

/**
 * docker events (docker/cli cli/command/system/events.go over moby's /events), from ROOT/events.log, which
 * every command that changes something appends to (events-log.ts). podman's `events --format json` prints
 * another shape (Name, Status, Time, Type, Attributes, …); this one is Docker's documented events.Message.
 */

/** The keys moby's /events accepts (daemon/events/filter.go); those of swarm and plugins match no event here but are no error. */
const KEYS = ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume'];
/** Keys matched against an event's actor, whatever its type: its ID or its name, each as given or by prefix (fuzzyMatchName). */
const NAME_KEYS = ['config', 'container', 'daemon', 'network', 'node', 'plugin', 'secret', 'service', 'volume'];
/** event= values matched as prefixes too, when one of them is given (the exec events' action ends with the command). */
const PREFIX_ACTIONS = ['exec_create', 'exec_start', 'health_status'];

/** A reference without its tag or digest, as Docker's stripTag (`busybox:1` → `busybox`); else as it is. */
function stripTag(name: string): string {
  try {
    const ref = parseReference(name);
    return familiarReference({ domain: ref.domain, path: ref.path });
  } catch {
    return name;
  }
}

/** Whether an event passes every filter given (moby daemon/events/filter.go Include). */
function matcher(filters: Filters): (e: EventRecord) => boolean {
  const actions = filters.values('event');
  const byPrefix = actions.some((a) => PREFIX_ACTIONS.includes(a));
  return (e) => {
    const attributes = e.Actor.Attributes ?? {};
    const name = attributes.name ?? '';
    const named = (v: string) => e.Actor.ID.startsWith(v) || name.startsWith(v);
    // An image event's image is its name, a container's the image it was made from.
    const image = (e.Type === 'image' ? attributes.name : attributes.image) ?? '';
    return (
      filters.any('event', (v) => v === e.Action || (byPrefix && e.Action.startsWith(v))) &&
      filters.any('type', (v) => v === e.Type) &&
      filters.any('scope', (v) => v === e.scope) &&
      NAME_KEYS.every((key) => filters.any(key, named)) &&
      filters.any('image', (v) => [e.Actor.ID, image, stripTag(e.Actor.ID), stripTag(image)].includes(v)) &&
      filters.labels(attributes)
    );
  };
}

/** docker/cli's prettyPrintEvent: time, type, action, actor, and the attributes in key order. */
function textLine(e: EventRecord): string {
  const attributes = Object.entries(e.Actor.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${rfc3339NanoFixed(eventNanos(e))} ${e.Type} ${e.Action} ${e.Actor.ID}${attributes.length ? ` (${attributes.map(([k, v]) => `${k}=${v}`).join(', ')})` : ''}\n`;
}

/**
 * What a --format template sees: events.Message's Go fields (.ID, .Status, .Actor.Attributes.name, …), and
 * {{json .}} the record as the daemon sends it (a toJSON that is no field).
 */
function templateData(e: Partial<EventRecord>): object {
  const data = {
    Status: e.status ?? '', ID: e.id ?? '', From: e.from ?? '', Type: e.Type ?? '', Action: e.Action ?? '',
    Actor: { ID: e.Actor?.ID ?? '', Attributes: e.Actor?.Attributes ?? {} }, Scope: e.scope ?? '', Time: e.time ?? 0, TimeNano: e.timeNano ?? 0,
  };
  return Object.defineProperty(data, 'toJSON', { value: () => e });
}

/** events.log from an offset on: the whole lines appended since the last read (a line being written waits for its end). */
class LogTail {
  private pending = Buffer.alloc(0);

  constructor(
    private readonly path: string,
    private offset: number,
  ) {}

  static sizeOf(path: string): number {
    try {
      return statSync(path).size;
    } catch {
      return 0;
    }
  }

  read(): EventRecord[] {
    const size = LogTail.sizeOf(this.path);
    // Shorter than read so far: removed or replaced by hand; read from its start.
    if (size < this.offset) [this.offset, this.pending] = [0, Buffer.alloc(0)];
    if (size === this.offset) return [];
    const chunk = Buffer.alloc(size - this.offset);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, chunk, 0, chunk.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const data = Buffer.concat([this.pending, chunk]);
    const end = data.lastIndexOf(0x0a) + 1;
    this.pending = data.subarray(end);
    return parseEvents(data.subarray(0, end).toString('utf8'));
  }
}

/** Resolves at SIGINT or SIGTERM: docker events ends there, with status 0. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => resolve());
  });
}

const nowNanos = (): bigint => BigInt(Date.now()) * 1_000_000n;

/** A promise that resolves when the state root changes (inotify), or after a while anyway: the next look at events.log. */
function changes(root: string): { next: () => Promise<void>; close: () => void } {
  let wake: () => void = () => {};
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(root, (_event, file) => {
      if (file === 'events.log') wake();
    });
  } catch {
    // no root yet, or no inotify: polling alone
  }
  return {
    next: () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250);
      }),
    close: () => watcher?.close(),
  };
}

export const events = command(
  {
    name: 'events',
    summary: 'Show what happens to containers, images, volumes and networks',
    synopsis: ['[--since TIME] [--until TIME] [-f KEY=VALUE]… [--format F]'],
    description: [
      "The events every cutaway command records in $CUTAWAY_ROOT/events.log, as Docker's: container create, start,",
      'attach, die, kill, stop, restart, destroy, rename, pause, unpause, update, commit, export, top, exec_*; image',
      "pull, push, tag, untag, delete, import, load, save; volume create, destroy; network create, destroy, connect,",
      'disconnect. Without --until it waits for new ones until interrupted (Ctrl-C: status 0), after those since',
      "--since if given; with --until it ends there. TIME: RFC 3339 (2024-05-01T10:20:30Z, 2024-05-01), Unix seconds",
      '(1714558830.5), or a duration before now (10m, 1h30m). -f: container, event, image, label, network, type, volume.',
    ].join('\n'),
    options: [
      FILTER_OPTION,
      { name: 'format', type: 'string', arg: 'FORMAT', help: "json, or a Go template ('{{.Action}} {{.Actor.Attributes.name}}')" },
      { name: 'since', type: 'string', arg: 'TIME', help: 'the events since TIME first' },
      { name: 'until', type: 'string', arg: 'TIME', help: 'the events until TIME, and end there' },
    ],
    operands: NO_OPERANDS,
    examples: [
      'cutaway events   # waits; in another terminal: cutaway run --rm busybox true',
      "cutaway events --since 10m --until 0s --filter type=container --filter event=die",
      "cutaway events --since 1h --until 0s -f container=web --format '{{.Action}} {{.Actor.Attributes.exitCode}}'",
      "cutaway events --since 2024-05-01 --until 2024-05-02 --format '{{json .}}' | jq .Action",
    ],
    classic: ['docker events', 'podman events', 'tail -n 0 -f $CUTAWAY_ROOT/events.log'],
  },
  async (inv, root) => {
    const o = inv.options;
    const filters = new Filters(o.filter, KEYS);
    const now = new Date();
    const time = (option: string, value: string | undefined) => {
      if (value === undefined) return undefined;
      try {
        return parseTimestamp(value, now);
      } catch (e) {
        throw new ToolError(`--${option} ${value}: ${(e as Error).message}`);
      }
    };
    const since = time('since', o.since);
    const until = time('until', o.until);
    if (since !== undefined && until !== undefined && since > until) throw new ToolError(`\`since\` time (${o.since}) cannot be after \`until\` time (${o.until})`);
    const line = o.format !== undefined ? formatEach(o.format, templateData({}), { structType: 'events.Message' }) : undefined;
    const passes = matcher(filters);
    const print = (list: EventRecord[], from: bigint | undefined) => {
      for (const e of list) {
        const at = eventNanos(e);
        if ((from !== undefined && at < from) || (until !== undefined && at > until) || !passes(e)) continue;
        process.stdout.write(line ? line(templateData(e)) : textLine(e));
      }
    };

    const path = eventsLogPath(root);
    // Without --since or --until, only what happens from now on (the daemon shows no past then either).
    const tail = new LogTail(path, since === undefined && until === undefined ? LogTail.sizeOf(path) : 0);
    print(tail.read(), since);
    if (until !== undefined && until < nowNanos()) return 0;
    // Then what comes, until interrupted or until --until has passed (looked at every 250 ms at least).
    const end = interrupted();
    let done = false;
    void end.then(() => (done = true));
    const watcher = changes(root);
    try {
      while (!done && (until === undefined || nowNanos() <= until)) {
        await Promise.race([end, watcher.next()]);
        print(tail.read(), undefined);
      }
    } finally {
      watcher.close();
    }
    return 0;
  },
);
