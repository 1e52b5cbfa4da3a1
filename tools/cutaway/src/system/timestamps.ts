import { ToolError } from '@cutaway/cli';

/**
 * The times `docker events --since/--until` (and `docker logs --since`) take, as docker's client reads them
 * (moby api/types/time GetTimestamp): a Go duration before now (`10m`, `1h30m`, `1.5s`), an RFC 3339 date or
 * time (`2024-05-01`, `2024-05-01T10:20`, `2024-05-01T10:20:30.5Z`, `…+02:00`; without a zone in the
 * current one), or Unix seconds with an optional fraction (`1714558830.25`).
 */

const NANOS_PER = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 } as const;
const DURATION = /^[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$/;

/** Go's time.ParseDuration, in nanoseconds; undefined when `text` is none. */
export function parseGoDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, value, unit] of text.matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) total += Number(value) * NANOS_PER[unit as keyof typeof NANOS_PER];
  return text.startsWith('-') ? -total : total;
}

/** The Go layout GetTimestamp picks for a value of this shape (for its error message). */
function layoutOf(inLocation: boolean, fraction: boolean, colons: number, hasTime: boolean): string {
  const zone = inLocation ? '' : 'Z07:00';
  if (fraction) return `2006-01-02T15:04:05.999999999${zone}`;
  if (!hasTime) return `2006-01-02${zone}`;
  return ['2006-01-02T15', '2006-01-02T15:04', '2006-01-02T15:04:05'][Math.min(colons, 2)] + zone;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/** An RFC 3339-like time as GetTimestamp parses it, in nanoseconds since the epoch; throws Go's `parsing time` error. */
function parseRfc3339(value: string, now: Date): bigint {
  // GetTimestamp's rule: a zone is there if the value has z, Z or + in it, or three dashes (a negative offset).
  const inLocation = !/[zZ+]/.test(value) && value.split('-').length - 1 !== 3;
  const hasTime = value.includes('T');
  let colons = (value.match(/:/g) ?? []).length;
  if (!inLocation && !/[zZ]/.test(value) && colons > 0) colons--;
  const layout = layoutOf(inLocation, value.includes('.'), colons, hasTime);
  const fail = (why: string) => new ToolError(`parsing time ${JSON.stringify(value)} as ${JSON.stringify(layout)}: ${why}`);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{1,2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?)?(Z|[+-]\d{2}:\d{2})?$/.exec(value);
  // The value must have the layout's shape: a zone exactly when the layout has one, a fraction only after seconds.
  if (!m || (m[8] === undefined) !== inLocation || (layout.includes('.') && m[6] === undefined) || (layout.includes(':05') && m[6] === undefined)) throw fail('not in that form');
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) throw fail('month out of range');
  if (day < 1 || day > daysIn(year, month)) throw fail('day out of range');
  if (hour > 23) throw fail('hour out of range');
  if (minute > 59) throw fail('minute out of range');
  if (second > 59) throw fail('second out of range');
  // Without a zone: the current one's offset, as Go's ParseInLocation with time.FixedZone(now.Zone()).
  const zone = m[8];
  const offsetMinutes = zone === undefined ? -now.getTimezoneOffset() : zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMinutes * 60_000;
  return BigInt(ms) * 1_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
}

/** A --since or --until value, in nanoseconds since the epoch; a ToolError for one that is no time. */
export function parseTimestamp(value: string, now = new Date()): bigint {
  const duration = value !== '0' ? parseGoDuration(value) : undefined;
  // now - duration, in whole seconds (GetTimestamp formats it with Unix()).
  if (duration !== undefined) return BigInt(Math.floor((now.getTime() - duration / 1e6) / 1000)) * 1_000_000_000n;
  try {
    return parseRfc3339(value, now);
  } catch (e) {
    // A dash: it was meant as a date, and its error is the parser's.
    if (value.includes('-')) throw e;
  }
  const unix = /^\+?(\d+)(?:\.(\d+))?$/.exec(value);
  if (!unix) throw new ToolError(`failed to parse value as time or duration: ${JSON.stringify(value)}`);
  return BigInt(unix[1]!) * 1_000_000_000n + BigInt((unix[2] ?? '').slice(0, 9).padEnd(9, '0'));
}

/** Docker's jsonmessage.RFC3339NanoFixed in the local zone, as docker events prints an event's time: `2024-05-01T10:20:30.123456789Z`. */
export function rfc3339NanoFixed(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const offset = -new Date(ms).getTimezoneOffset();
  const local = new Date(ms + offset * 60_000).toISOString().slice(0, 19);
  const two = (n: number) => String(Math.floor(n)).padStart(2, '0');
  const zone = offset === 0 ? 'Z' : `${offset < 0 ? '-' : '+'}${two(Math.abs(offset) / 60)}:${two(Math.abs(offset) % 60)}`;
  return `${local}.${String(nanos % 1_000_000_000n).padStart(9, '0')}${zone}`;
}
