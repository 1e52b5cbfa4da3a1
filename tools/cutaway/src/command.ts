import type { Invocation, ToolSpec } from '@cutaway/cli';

/**
 * One of cutaway's Docker-like commands: its options and help (spec), and what it does (run → exit status).
 * A command that runs a command (exec) takes its options only before its first positional: the rest, the
 * container and the command with its own options, comes as `rest`.
 */
export interface Command {
  spec: ToolSpec;
  takesCommand?: boolean;
  run(inv: Invocation, rest: string[]): Promise<number>;
}
