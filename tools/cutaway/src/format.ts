/**
 * How Docker's listings look: durations in words (go-units HumanDuration, as in "Up 5 minutes" and "2 hours
 * ago") and columns padded to the widest cell plus three spaces.
 */
export function ago(iso: string | undefined): string {
  if (!iso) return '';
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  const minutes = Math.round(seconds / 60);
  const hours = Math.round(seconds / 3600);
  if (seconds < 1) return 'Less than a second';
  if (Math.round(seconds) === 1) return '1 second';
  if (seconds < 60) return `${Math.round(seconds)} seconds`;
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.round(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.round(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.round(hours / 24 / 30)} months`;
  return `${Math.round(hours / 24 / 365)} years`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)) + 3);
  return `${rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('').trimEnd()).join('\n')}\n`;
}
