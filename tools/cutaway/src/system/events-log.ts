import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { familiarReference, parseReference } from '@cutaway/oci';

/**
 * ROOT/events.log: what `cutaway events` shows, one JSON line per event in Docker's shape (moby
 * api/types/events Message, as the daemon's /events sends it). Every command that changes a container, an
 * image, a volume or a network appends its events here; there is no daemon to keep them in memory.
 */

export type EventType = 'container' | 'image' | 'volume' | 'network';

export interface EventRecord {
  /** The fields Docker keeps for old clients: container and image events only (moby daemon/events Log). */
  status?: string;
  id?: string;
  from?: string;
  Type: EventType;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  /** Unix seconds. */
  time: number;
  /**
   * Unix nanoseconds, to the microsecond (…123456000). Such a number up to 2^62 (the year 2116) is printed and
   * parsed back exactly by JSON.stringify and JSON.parse, which a nanosecond count above 2^53 would not be.
   */
  timeNano: number;
}

export function eventsLogPath(root: string): string {
  return join(root, 'events.log');
}

/** The time now, in microseconds since the epoch: Node's clock has no nanoseconds to give. */
function nowMicros(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * Appends one event to ROOT/events.log: a single write(2) on an O_APPEND descriptor, so that the lines of
 * commands writing at once never interleave. Attributes are written in key order, as Go's encoding/json writes
 * a map. Never throws: an event that cannot be written is lost, and the command that made it goes on.
 */
export function recordEvent(root: string, type: EventType, action: string, actorId: string, attributes: Record<string, string> = {}): void {
  try {
    const micros = nowMicros();
    const sorted = Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const legacy = type === 'container' ? { status: action, id: actorId, ...(sorted.image && { from: sorted.image }) } : type === 'image' ? { status: action, id: actorId } : {};
    const record: EventRecord = { ...legacy, Type: type, Action: action, Actor: { ID: actorId, Attributes: sorted }, scope: 'local', time: Math.floor(micros / 1e6), timeNano: micros * 1000 };
    const fd = openSync(eventsLogPath(root), 'a', 0o644);
    try {
      writeSync(fd, Buffer.from(`${JSON.stringify(record)}\n`));
    } finally {
      closeSync(fd);
    }
  } catch {
    // Lost (a read-only root, a full disk): the command's own work is what matters.
  }
}

/**
 * An image event as moby's LogImageEvent makes it: the image (its ID, or a reference for pull and push) and
 * `name`. Not the image's labels, which Docker adds as attributes too.
 */
export function recordImageEvent(root: string, action: string, id: string, name: string): void {
  recordEvent(root, 'image', action, id, { name });
}

/** pull and push: the reference as Docker shows it (`busybox:latest`), named by its repository (`busybox`). */
export function recordReferenceEvent(root: string, action: 'pull' | 'push', ref: string): void {
  try {
    const parsed = parseReference(ref);
    recordImageEvent(root, action, familiarReference(parsed), familiarReference({ domain: parsed.domain, path: parsed.path }));
  } catch {
    recordImageEvent(root, action, ref, ref);
  }
}

/** The time of an event in nanoseconds, exactly (timeNano is to the microsecond). */
export function eventNanos(record: EventRecord): bigint {
  return BigInt(Math.round(record.timeNano / 1000)) * 1000n;
}

/** The events of a stretch of events.log (whole lines); a line that is no event is skipped. */
export function parseEvents(text: string): EventRecord[] {
  const events: EventRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    try {
      const record = JSON.parse(line) as EventRecord;
      if (typeof record.Action === 'string' && typeof record.timeNano === 'number' && record.Actor) events.push(record);
    } catch {
      // not an event: skipped
    }
  }
  return events;
}
