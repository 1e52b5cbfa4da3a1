import { ToolError } from '@cutaway/cli';
import { parseTemplate, TemplateError, type ExecuteOptions, type Template } from './template.ts';

/**
 * How Docker's CLI prints its tables (ps, images, volume ls, system df, …): columns aligned as Go's tabwriter
 * does (docker/cli formatter: minimum width 10, padding 3), times and sizes
 * in go-units' human forms (HumanDuration, HumanSizeWithPrecision).
 */

/** Rows (the header first) as Docker's tables: each column as wide as its widest cell plus 3, at least 10; the last one unpadded. */
export function table(rows: string[][]): string {
  return tabwrite(rows.map((r) => `${r.join('\t')}\n`).join(''));
}

/**
 * Go's text/tabwriter as docker/cli sets it up (minimum width 10, padding 3, spaces): a cell is text ended by a
 * tab; the cells of a column in consecutive lines form a block as wide as its widest cell plus the padding;
 * a line's last cell (no tab after it) is not in any column.
 */
export function tabwrite(text: string, minWidth = 10, padding = 3): string {
  const lines = text.split('\n');
  const last = lines.pop()!;
  const cells = lines.map((l) => l.split('\t'));
  const width = (cell: string) => [...cell].length;
  const widths: number[] = [];
  const out: string[] = [];
  const write = (from: number, to: number) => {
    for (let i = from; i < to; i++) out.push(cells[i]!.map((c, j) => (j < widths.length ? c + ' '.repeat(Math.max(0, widths[j]! - width(c))) : c)).join(''));
  };
  const format = (line0: number, line1: number) => {
    const column = widths.length;
    for (let row = line0; row < line1; row++) {
      if (column >= cells[row]!.length - 1) continue;
      write(line0, row);
      line0 = row;
      let w = minWidth;
      for (; row < line1 && column < cells[row]!.length - 1; row++) w = Math.max(w, width(cells[row]![column]!) + padding);
      widths.push(w);
      format(line0, row);
      widths.pop();
      line0 = row;
    }
    write(line0, line1);
  };
  format(0, cells.length);
  return out.map((l) => `${l}\n`).join('') + last;
}

/** The --format option of a listing (ps, images, volume ls, …). */
export const FORMAT_OPTION = { name: 'format', type: 'string', arg: 'FORMAT', help: "table, table TEMPLATE, json, or a Go template ('{{.ID}}'): see the README" } as const;

/** --no-trunc (ps, images, history). */
export const NO_TRUNC = { name: 'no-trunc', type: 'boolean', help: "don't truncate IDs (and commands: ps's COMMAND, history's CREATED BY)" } as const;

/** The --format (-f) option of an inspect. */
export const INSPECT_FORMAT_OPTION = { name: 'format', short: 'f', type: 'string', arg: 'FORMAT', help: "a Go template for each object ('{{.State.Pid}}'), or json (the default)" } as const;

/** How a --format template runs on each row or object (docker/cli formatter.Context). */
export interface FormatSpec {
  /** The command's default `table {{.A}}\t{{.B}}…`, for no --format or `--format table`. */
  table?: string;
  /** A column's header where it is not the field's name in capitals, word by word (CreatedAt: CREATED AT). */
  headers?: Record<string, string>;
  /** Go's type of a row, named by the error for a field it lacks (docker's `*formatter.ContainerContext`). */
  structType?: string;
}

/** A field's column header: Docker's where the spec names one, else `RunningFor` → `RUNNING FOR`. */
function header(field: string, spec: FormatSpec): string {
  return spec.headers?.[field] ?? field.replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** A template's errors as Docker reports them (exit status 1). */
function template(source: string): Template {
  try {
    return parseTemplate(source);
  } catch (e) {
    throw e instanceof TemplateError ? new ToolError(`template parsing error: ${e.message}`) : e;
  }
}

function run(t: Template, data: unknown, options: ExecuteOptions): string {
  try {
    return t.execute(data, options);
  } catch (e) {
    throw e instanceof TemplateError ? new ToolError(`template parsing error: ${e.message}`) : e;
  }
}

/** An object with its keys in order, as Go's encoding/json writes a map (and docker/cli a row's {{json .}}). */
function sortedKeys(row: object): object {
  return Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * --format as Docker's listing commands take it (ps, images, stats, … version): `table` or nothing, the spec's
 * default table; `table TEMPLATE`, a header row (each field's header) and a row per item, aligned by tabwriter;
 * `json`, {{json .}} per item; else TEMPLATE per item, each followed by a newline. A literal \t or \n in it is a
 * tab or a newline. One object is a listing of one.
 */
export function formatOutput(format: string | undefined, data: object | readonly object[], spec: FormatSpec = {}): string {
  const rows = (Array.isArray(data) ? data : [data]).map(sortedKeys);
  let source = format?.trim() || 'table';
  if (source === 'table') source = spec.table ?? 'table {{json .}}';
  const isTable = source.startsWith('table');
  if (isTable) source = source.slice('table'.length);
  else if (source === 'json') source = '{{json .}}';
  source = source.trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const t = template(source);
  const options: ExecuteOptions = spec.structType ? { structType: spec.structType } : {};
  const body = rows.map((row) => `${run(t, row, options)}\n`).join('');
  if (!isTable) return body;
  // The header row: each field's header (a method's whatever its arguments, `{{.Label "k"}}`), also for fields
  // of rows there are none of.
  const headerRow: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rows[0] ?? {})) headerRow[k] = typeof v === 'function' ? Object.defineProperty(() => header(k, spec), 'length', { value: v.length }) : header(k, spec);
  return tabwrite(`${run(t, headerRow, { fallback: (field) => header(field, spec) })}\n${body}`);
}

/**
 * --format for a stream printed item by item as it comes (docker events): `json` is {{json .}}, anything else
 * a Go template as given (no `table`, no \t escapes: docker/cli parses it as it is). The template is run once on
 * `empty` first, as docker/cli does, so that a field the items lack fails before any item. Returns each item's
 * line.
 */
export function formatEach(format: string, empty: object, spec: Pick<FormatSpec, 'structType'> = {}): (item: object) => string {
  const t = template(format === 'json' ? '{{json .}}' : format);
  const options: ExecuteOptions = spec.structType ? { structType: spec.structType } : {};
  run(t, empty, options);
  return (item) => `${run(t, item, options)}\n`;
}

/**
 * --format (-f) as docker inspect takes it: nothing or `json`, the documents as a JSON array; else the template
 * on each document in turn, each followed by a newline, a key a document lacks an error (missingkey=error).
 */
export function formatInspect(format: string | undefined, documents: readonly unknown[]): string {
  if (!format || format === 'json') return `${JSON.stringify(documents, null, 2)}\n`;
  const t = template(format);
  return documents.map((d) => `${run(t, d, { missingKey: 'error' })}\n`).join('');
}

/** A time as Go's time.Time String() prints it, which Docker's CreatedAt fields use: `2024-05-01 10:20:30 +0000 UTC`. */
export function goTime(iso: string | undefined): string {
  const at = new Date(iso ?? NaN);
  if (Number.isNaN(at.getTime())) return '';
  const two = (n: number) => String(n).padStart(2, '0');
  const offset = -at.getTimezoneOffset();
  const zone = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(at).find((p) => p.type === 'timeZoneName')?.value ?? '';
  const sign = offset < 0 ? '-' : '+';
  const numeric = `${sign}${two(Math.floor(Math.abs(offset) / 60))}${two(Math.abs(offset) % 60)}`;
  const date = `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}`;
  return `${date} ${numeric} ${zone === 'GMT' ? 'UTC' : /^GMT[-+]/.test(zone) ? numeric : zone}`;
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
