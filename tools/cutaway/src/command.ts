import { ROOT_OPTION, runTool, stateRoot, UsageError, type Invocation, type OptionSpec, type OptionValues, type ToolSpec } from '@cutaway/cli';
import { traceTools } from './tools.ts';

/** cutaway's version, which every command reports (`cutaway ps --version`). */
export const VERSION = '0.1.0';

/**
 * One of cutaway's Docker-like commands: its spec (options, operands, help) and how it starts from its
 * arguments (the words after the verb). Its options are typed from the spec where the command reads them.
 */
export interface Command {
  spec: ToolSpec;
  start(argv: string[]): Promise<never>;
}

/** A command's spec as its file declares it: its name is the verb (`ps`, `network create`); --root is added. */
export type VerbSpec<O extends readonly OptionSpec[]> = Omit<ToolSpec<O>, 'name' | 'version'> & { name: string };

/** The options a command's run reads: its own and --root. */
export type VerbInvocation<O extends readonly OptionSpec[]> = Invocation<[...O, typeof ROOT_OPTION]>;

/**
 * A command from its spec and what it does. `run` gets the invocation and the state root (--root, else
 * $CUTAWAY_ROOT), and returns the exit status (0 when it returns nothing). --trace shows each tool command;
 * --dry-run and --json come with every tool's options, and cutaway's commands refuse them rather than run
 * anything as if they had them.
 */
export function command<const O extends readonly OptionSpec[]>(spec: VerbSpec<O>, run: (inv: VerbInvocation<O>, root: string) => Promise<number | void>): Command {
  const full: ToolSpec<[...O, typeof ROOT_OPTION]> = { ...spec, name: `cutaway ${spec.name}`, version: VERSION, options: [...spec.options, ROOT_OPTION] };
  return {
    spec: full,
    start: (argv) =>
      runTool(full, async (inv) => {
        if (inv.steps.mode.dryRun) throw new UsageError(`--dry-run is not supported by ${full.name}: the tools' own --dry-run show each step`);
        if (inv.json) throw new UsageError(`--json is not supported by ${full.name}`);
        traceTools(inv.steps.mode.trace);
        // --root, typed as declared (TypeScript does not look into the values of the generic O's options).
        return run(inv, stateRoot((inv.options as OptionValues<[typeof ROOT_OPTION]>).root));
      }, argv),
  };
}

/** A command that takes no operands (`ps`, `info`, the prunes): any is Docker's "accepts no arguments". */
export const NO_OPERANDS = { min: 0, max: 0, names: '' } as const;
