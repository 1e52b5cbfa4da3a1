/**
 * runc's `--log FILE` and `--log-format text|json`: every error and warning is also appended to FILE, one line
 * each, as logrus writes them — `{"level":"error","msg":"…","time":"2006-01-02T15:04:05Z"}` in json (containerd's
 * shim and conmon pass `--log-format json` and read the last error line to say why a container did not start),
 * `time="…" level=error msg="…"` in text. stderr gets the one-line `ns-exec: error: …` of every tool: engines
 * match words in it ("does not exist", "container not running"), which runc's texts keep.
 */
import { appendFileSync } from 'node:fs';

export type LogLevel = 'error' | 'warning';

/** RFC 3339 to the second, UTC: logrus' default timestamp. */
function logTime(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

export class RuntimeLog {
  constructor(
    private readonly file: string | undefined,
    private readonly format: 'text' | 'json',
  ) {}

  /** The global options that make the same log: for the planner run again (the `cleanup` step's delete). */
  globalOptions(): string[] {
    return this.file === undefined ? [] : ['--log', this.file, '--log-format', this.format];
  }

  /** `hint` goes to stderr only, as every tool's `(hint: …)`; the log gets runc's message alone. */
  error(msg: string, hint?: string): void {
    this.write('error', msg, hint);
  }

  /** What runtime.md says to "log a warning" for (a failing poststart or poststop hook): the work goes on. */
  warn(msg: string): void {
    this.write('warning', msg);
  }

  private write(level: LogLevel, msg: string, hint?: string): void {
    process.stderr.write(`ns-exec: ${level}: ${msg}${hint ? ` (hint: ${hint})` : ''}\n`);
    if (this.file === undefined) return;
    // logrus quotes a text field as Go's %q; JSON.stringify quotes the same for text without control characters.
    const line = this.format === 'json' ? JSON.stringify({ level, msg, time: logTime() }) : `time="${logTime()}" level=${level} msg=${JSON.stringify(msg)}`;
    try {
      appendFileSync(this.file, `${line}\n`);
    } catch (e) {
      process.stderr.write(`ns-exec: error: --log ${this.file}: ${(e as Error).message}\n`);
    }
  }
}
