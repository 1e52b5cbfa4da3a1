import { writeSync } from 'node:fs';
import { ToolError } from './errors.ts';
import { shellCommand } from './shell.ts';

/**
 * `--trace` (or CUTAWAY_TRACE=1): each kernel- or wire-level step goes to
 * stderr as it happens, `+ `-prefixed like `set -x` — or to the file
 * descriptor CUTAWAY_TRACE_FD names (cutaway --trace gives ns-exec a pipe
 * there: ns-exec's stderr is the container's, and logged).
 * `--dry-run`: the same steps are collected as a shell script for stdout, and
 * nothing is changed.
 */
export class Steps {
  private readonly script: string[] = [];

  /**
   * stderr is only made when a step is traced (see Progress: making it costs ~9 ms). `label`: each traced
   * line ends with `# LABEL` (the tool's name, when cutaway's --trace shows the steps of every tool it runs).
   */
  constructor(
    readonly mode: { trace: boolean; dryRun: boolean },
    private readonly output?: NodeJS.WritableStream,
    readonly label?: string,
  ) {
    this.fd = mode.trace && !output ? traceFd() : 2;
  }

  /** Where traced lines go (without `output`): 2, or CUTAWAY_TRACE_FD's number. ns-exec hands it on in its plan. */
  readonly fd: number;

  private write(text: string): void {
    if (this.output) this.output.write(text);
    else if (this.fd === 2) process.stderr.write(text);
    // Synchronous, as process.stderr is on a pipe or a file: lines stay in order with whatever else is written.
    else writeSync(this.fd, text);
  }

  /** Records a step given as a command line (words) or as shell text. */
  run(step: readonly string[] | string): void {
    const line = typeof step === 'string' ? step : shellCommand(step);
    if (this.mode.dryRun) this.script.push(line);
    else if (this.mode.trace) this.write(`+ ${line}${this.label ? `  # ${this.label}` : ''}\n`);
  }

  /** A comment in the dry-run script; in trace mode it is shown as `# …`. */
  note(text: string): void {
    if (this.mode.dryRun) this.script.push(`# ${text}`);
    else if (this.mode.trace) this.write(`+ # ${text}\n`);
  }

  /** The dry-run script, ready to print. */
  toScript(): string {
    return ['#!/bin/sh', 'set -eu', ...this.script, ''].join('\n');
  }
}

/** CUTAWAY_TRACE_FD: the file descriptor traced steps go to instead of stderr (2 when unset). */
function traceFd(): number {
  const value = process.env.CUTAWAY_TRACE_FD;
  if (!value) return 2;
  if (!/^\d+$/.test(value)) throw new ToolError(`CUTAWAY_TRACE_FD=${value}: not a file descriptor number`);
  return Number(value);
}
