import { UsageError } from './errors.ts';
import { Progress } from './progress.ts';
import { checkOperands, parseInvocation, type Invocation, type OptionSpec, type ToolSpec } from './tool.ts';
import type { Steps } from './trace.ts';

/** What a tool's main did when run by runHere: what it printed on stdout, and what it returned. */
export interface RanHere<T> {
  output: string;
  value: T;
}

/**
 * A tool's main run by a program that has the tool's code in it (cutaway, on every container's way up and down:
 * issue 22), not as a process of its own: ARGS parsed and their operands checked against the tool's spec as
 * runTool does, its steps traced to `steps`, no progress shown, and what it would print on stdout captured
 * (trimmed). Help, the version and --dry-run are refused: they print instead of doing the work. A failure is
 * thrown; `main` makes its own checks on top (the one verb it is used for, say).
 */
export async function runHere<O extends readonly OptionSpec[], T>(
  spec: ToolSpec<O>,
  args: readonly string[],
  steps: Steps,
  main: (inv: Invocation<O>, print: (text: string) => void) => Promise<T>,
): Promise<RanHere<T>> {
  const { options, positionals, command } = parseInvocation(spec, [...args]);
  if (options.help || options.version || options['dry-run']) throw new UsageError('help, --version and --dry-run are not done here');
  checkOperands(spec, positionals);
  let output = '';
  const value = await main({ options, positionals, command, steps, progress: new Progress(true), json: options.json }, (text) => (output += text));
  return { output: output.trim(), value };
}
