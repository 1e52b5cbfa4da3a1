/**
 * How Docker's CLI prints its tables (ps, images, volume ls, system df, …): columns aligned as Go's tabwriter
 * does (docker/cli formatter: minimum width 10, padding 3), times and sizes
 * in go-units' human forms (HumanDuration, HumanSizeWithPrecision).
 */

/** Rows (the header first) as Docker's tables: each column as wide as its widest cell plus 3, at least 10; the last one unpadded. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(10, ...rows.map((r) => r[i]!.length + 3)));
  return rows.map((r) => `${r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i]!) : c)).join('')}\n`).join('');
}

/** go-units HumanDuration: "Less than a second", "About a minute", "3 weeks", "2 years". */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(ms / 3_600_000 / 24 / 365)} years`;
}

/** A time as docker ps shows it: "Up 5 minutes", "Exited (0) 2 hours ago" (HumanDuration since then). */
export function ago(iso: string | undefined): string {
  return iso ? humanDuration(Date.now() - Date.parse(iso)) : '';
}

/** Docker's CREATED column: "3 weeks ago", or N/A for an image without a creation time. */
export function createdSince(created: string | undefined, now = Date.now()): string {
  const at = created ? Date.parse(created) : NaN;
  return Number.isNaN(at) || at <= 0 ? 'N/A' : `${humanDuration(now - at)} ago`;
}

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

/**
 * go-units HumanSizeWithPrecision: decimal units, `precision` significant digits — "4.26MB", "0B". docker
 * images uses 3; HumanSize, which docker system df and the prune commands' "Total reclaimed space" use, 4.
 */
export function humanSize(bytes: number, precision = 3): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${Number(size.toPrecision(precision))}${UNITS[unit]}`;
}

/** docker/cli's Ellipsis: at most `max` characters, the last one "…" when cut. */
export function ellipsis(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : `${chars.slice(0, max - 1).join('')}…`;
}

/** Docker's progress lines (pull, push), on stderr unless -q. */
export function stderrLines(quiet: boolean): (line: string) => void {
  return (line) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
}

/** Docker's `Total reclaimed space:` line (go-units HumanSize), which every prune ends with. */
export function reclaimedLine(bytes: number): string {
  return `Total reclaimed space: ${humanSize(bytes, 4)}\n`;
}
