/**
 * Progress on stderr: bars that redraw in place on a terminal, a plain line
 * per step otherwise, nothing with -q.
 */
export interface ProgressItem {
  /** Bytes (or units) done so far. */
  update(done: number): void;
  finish(status: string): void;
}

const REDRAW_MS = 100;

function human(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export class Progress {
  private readonly items: { label: string; total?: number; done: number; status?: string }[] = [];
  private drawn = 0;
  private lastDraw = 0;
  private ttyKnown?: boolean;

  /**
   * Nothing of stderr is touched until it is needed: making process.stderr loads node:tty, net and
   * stream, ~9 ms that a tool printing nothing (ns-exec's planner) need not spend.
   */
  constructor(
    private readonly quiet: boolean,
    private readonly output?: NodeJS.WriteStream,
  ) {}

  private get stream(): NodeJS.WriteStream {
    return this.output ?? process.stderr;
  }

  private get tty(): boolean {
    this.ttyKnown ??= !this.quiet && Boolean(this.stream.isTTY);
    return this.ttyKnown;
  }

  /** Whether bars are drawn (stderr is a terminal and not -q): callers may skip counting bytes otherwise. */
  get interactive(): boolean {
    return this.tty;
  }

  /** A one-line message about a step. */
  step(message: string): void {
    if (this.quiet) return;
    this.clear();
    this.stream.write(`${message}\n`);
    this.draw(true);
  }

  /** Starts an item (a layer download, say) with an optional total size. */
  item(label: string, total?: number): ProgressItem {
    const entry = { label, ...(total !== undefined && { total }), done: 0 } as (typeof this.items)[number];
    if (this.tty) this.items.push(entry);
    return {
      update: (done) => {
        entry.done = done;
        this.draw(false);
      },
      finish: (status) => {
        entry.status = status;
        if (this.tty) this.draw(true);
        else if (!this.quiet) this.stream.write(`${label}: ${status}\n`);
      },
    };
  }

  private bar(e: (typeof this.items)[number]): string {
    if (e.status) return `${e.label}: ${e.status}`;
    if (!e.total) return `${e.label}: ${human(e.done)}`;
    const width = 30;
    const filled = Math.min(width, Math.round((e.done / e.total) * width));
    return `${e.label}: [${'='.repeat(filled)}${' '.repeat(width - filled)}] ${human(e.done)}/${human(e.total)}`;
  }

  private clear(): void {
    if (!this.tty || this.drawn === 0) return;
    this.stream.write(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }

  private draw(force: boolean): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    this.clear();
    const cols = this.stream.columns || 80;
    for (const e of this.items) this.stream.write(`${this.bar(e).slice(0, cols - 1)}\n`);
    this.drawn = this.items.length;
  }
}
