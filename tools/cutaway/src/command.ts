import { BashScript, ROOT_OPTION, runTool, stateRoot, type Invocation, type OptionSpec, type OptionValues, type ToolSpec } from '@cutaway/cli';
import { realRunner, type Runner } from './runner.ts';
import { ScriptRecorder } from './script-runner.ts';
import { traceTools } from './tools.ts';

/** cutaway's version, which every command reports (`cutaway ps --version`). */
export const VERSION = '0.1.0';

/**
 * One of cutaway's Docker-like commands: its spec (options, operands, help) and how it starts from its
 * arguments (the words after the verb). Its options are typed from the spec where the command reads them.
 */
export interface Command {
  spec: ToolSpec;
  /** One line, as cutaway's help lists its commands ("List containers"). */
  summary: string;
  /** `as`: the words it was reached by (`cutaway container ls`) and all its names, when cutaway's table gives them. */
  start(argv: string[], as?: Reached): Promise<never>;
}

/**
 * How a command was reached: by which of its names (its errors and help say `cutaway container ls` when so
 * called, as Docker's say the command path) and what its other names are (help's Aliases).
 */
export interface Reached {
  name: string;
  aliases: readonly string[];
}

/**
 * A command's spec as its file declares it: its name is the verb (`ps`, `network create`); --root is added.
 * `summary`: its line in cutaway's help. `dryRun`: it takes --dry-run, and prints its steps as a bash script of
 * tool commands instead (runner.ts).
 */
export type VerbSpec<O extends readonly OptionSpec[]> = Omit<ToolSpec<O>, 'name' | 'version' | 'without'> & { name: string; summary: string; dryRun?: boolean };

/** The options a command's run reads: its own and --root. */
export type VerbInvocation<O extends readonly OptionSpec[]> = Invocation<[...O, typeof ROOT_OPTION]>;

/**
 * A command from its spec and what it does. `run` gets the invocation, the state root (--root, else
 * $CUTAWAY_ROOT) and the runner its steps go through, and returns the exit status (0 when it returns nothing).
 * --trace shows each tool command. A command whose spec says `dryRun` takes --dry-run: its steps are recorded
 * (script-runner.ts) and the script printed, nothing done; the others have no --dry-run (nor --json), neither
 * in their help nor on their command line.
 */
export function command<const O extends readonly OptionSpec[]>(spec: VerbSpec<O>, run: (inv: VerbInvocation<O>, root: string, r: Runner) => Promise<number | void>): Command {
  const { dryRun, summary, ...rest } = spec;
  const full: ToolSpec<[...O, typeof ROOT_OPTION]> = {
    ...rest,
    name: `cutaway ${spec.name}`,
    version: VERSION,
    options: [...spec.options, ROOT_OPTION],
    without: dryRun ? ['json'] : ['json', 'dry-run'],
    // Docker's CLI exits 125 on a usage error of any command (cli/cobra.go FlagErrorFunc), as docker run does.
    usageStatus: 125,
  };
  return {
    spec: full,
    summary,
    start: (argv, as) =>
      runTool(as ? { ...full, name: as.name, aliases: as.aliases } : full, async (inv) => {
        traceTools(inv.steps.mode.trace);
        // --root, typed as declared (TypeScript does not look into the values of the generic O's options).
        const root = stateRoot((inv.options as OptionValues<[typeof ROOT_OPTION]>).root);
        if (!inv.steps.mode.dryRun) return run(inv, root, realRunner);
        const recorder = new ScriptRecorder(new BashScript('cutaway', [...spec.name.split(' '), ...argv], SCRIPT_NOTES), root, spec.errorStatus ?? 1, full.name);
        await run(inv, root, recorder);
        process.stdout.write(recorder.toString());
        return 0;
      }, argv),
  };
}

/** What a --dry-run script says of itself, under its command line. */
const SCRIPT_NOTES = [
  "as the tools' commands (--dry-run): run it with bash, with cutaway's tools on PATH (its bin/), and it does what",
  'the command would, with the same output and exit status, leaving the same containers and images in',
  '$CUTAWAY_ROOT (by default the root it was planned against). The ids and names cutaway chooses were chosen',
  'when it was printed; what only a step can tell (a mount path, an address) is taken from that step.',
];

/** A command that takes no operands (`ps`, `info`, the prunes): any is Docker's "accepts no arguments". */
export const NO_OPERANDS = { min: 0, max: 0, names: '' } as const;
