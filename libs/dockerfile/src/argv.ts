import type { CommandLine } from './instructions.ts';

/** Docker's default SHELL on Linux. */
export const DEFAULT_SHELL: readonly string[] = ['/bin/sh', '-c'];

/**
 * The process argv of RUN, CMD or ENTRYPOINT (the instruction or its command
 * line): the exec form as written; the shell form as `[...shell, text]`, the
 * text verbatim as one argument, unsubstituted (the shell does that).
 */
export function commandArgv(source: CommandLine | { command: CommandLine }, shell: readonly string[] = DEFAULT_SHELL): string[] {
  const command = 'form' in source ? source : source.command;
  return command.form === 'exec' ? [...command.args] : [...shell, command.text];
}
