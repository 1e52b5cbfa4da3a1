/**
 * Go's time.ParseDuration, for HEALTHCHECK's --interval and friends:
 * `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` or "0". Returns nanoseconds.
 */

const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

export function parseGoDuration(text: string): number {
  const invalid = (): never => {
    throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  };
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') invalid();
  let total = 0;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
  while (s !== '') {
    const m = part.exec(s);
    if (!m || (m[1] === '' && (m[2] ?? '') === '')) return invalid();
    const unit = UNITS[m[3] as string];
    if (unit === undefined) throw new Error(`time: unknown unit ${JSON.stringify(m[3])} in duration ${JSON.stringify(text)}`);
    total += Number(`${m[1] || '0'}.${m[2] ?? ''}0`) * unit;
    s = s.slice(m[0].length);
  }
  return sign * Math.round(total);
}
