import { shellCommand } from './shell.ts';

/**
 * `--trace` (or CUTAWAY_TRACE=1): each kernel- or wire-level step goes to
 * stderr as it happens, `+ `-prefixed like `set -x`.
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
    private readonly label?: string,
  ) {}

  private get stderr(): NodeJS.WritableStream {
    return this.output ?? process.stderr;
  }

  /** Records a step given as a command line (words) or as shell text. */
  run(step: readonly string[] | string): void {
    const line = typeof step === 'string' ? step : shellCommand(step);
    if (this.mode.dryRun) this.script.push(line);
    else if (this.mode.trace) this.stderr.write(`+ ${line}${this.label ? `  # ${this.label}` : ''}\n`);
  }

  /** A comment in the dry-run script; in trace mode it is shown as `# …`. */
  note(text: string): void {
    if (this.mode.dryRun) this.script.push(`# ${text}`);
    else if (this.mode.trace) this.stderr.write(`+ # ${text}\n`);
  }

  /** The dry-run script, ready to print. */
  toScript(): string {
    return ['#!/bin/sh', 'set -eu', ...this.script, ''].join('\n');
  }
}
