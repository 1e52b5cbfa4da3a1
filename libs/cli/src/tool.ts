import { ToolError, UsageError } from './errors.ts';
import { CLOSED_OUTPUT_STATUS, isClosedOutput, settleOutput, stdoutClosed, watchClosedOutput } from './output.ts';
import { Progress } from './progress.ts';
import { Steps } from './trace.ts';

export type OptionType = 'boolean' | 'string' | 'list';

export interface OptionSpec {
  /** Long name, without dashes: `memory` for `--memory`. */
  name: string;
  /** One-letter alias: `m` for `-m`. */
  short?: string;
  /** boolean: a switch; string: takes a value; list: takes a value, may repeat. */
  type: OptionType;
  /** The value's name in help: `--memory BYTES`. */
  arg?: string;
  help: string;
  /** A boolean's value when it is not given (false unless said); `--rm=false` turns a true one off, as Docker's pflag flags. */
  default?: boolean;
}

/**
 * The operands after the options, checked before the tool's main runs, as Docker's CLI checks them (cobra
 * Args: NoArgs, ExactArgs, RequiresMinArgs, RequiresMaxArgs, RequiresRangeArgs); `names` ends the error.
 */
export interface OperandSpec {
  min: number;
  /** Unbounded when absent. */
  max?: number;
  /** How the usage error names them: `IMAGE [COMMAND] [ARG…]`. */
  names: string;
}

export interface ToolSpec<O extends readonly OptionSpec[] = readonly OptionSpec[]> {
  name: string;
  version: string;
  /** Usage lines without the tool's name: `[options] REF`. */
  synopsis: string[];
  /** What it does, a short paragraph. */
  description: string;
  /** The other command lines that run it (`cutaway container ls, cutaway ps`): help's Aliases, as Docker's help shows them. */
  aliases?: readonly string[];
  options: O;
  /** How many operands it takes; unchecked when absent (a tool whose operands depend on its mode checks them itself). */
  operands?: OperandSpec;
  /**
   * false: the options end at the first operand, and every word from it on is an operand, options of its
   * own included — `docker run [OPTIONS] IMAGE [COMMAND] [ARG…]`, `runc exec` (pflag's SetInterspersed(false)).
   */
  interspersed?: boolean;
  examples: string[];
  /** The classic commands the tool stands for. */
  classic: string[];
  /** Whether the tool takes `-- CMD [ARG…]` after its own arguments (chain-loading). */
  command?: boolean;
  /**
   * The status of every error of the tool's own, usage errors included, where
   * 1 and 2 could be mistaken for its command's: docker run's 125 for ns-exec.
   */
  errorStatus?: number;
  /**
   * The status of a usage error (an unknown option, a missing value, a wrong number of operands): 2 unless
   * said; cutaway's commands say 125, as Docker's CLI exits on a usage error (cli/cobra.go FlagErrorFunc).
   */
  usageStatus?: number;
  /**
   * Common options (COMMON_OPTIONS) the tool does not have: left out of its help, and refused with a one-line
   * usage error (cutaway's commands have no --json; only some have a --dry-run).
   */
  without?: readonly ('json' | 'dry-run')[];
}

/** The options every tool has (DESIGN.md, the command-line contract). */
export const COMMON_OPTIONS = [
  { name: 'json', type: 'boolean', help: 'print one JSON object with everything done, instead of the one handle' },
  { name: 'dry-run', type: 'boolean', help: 'print the classic commands that would do the same, as a shell script; change nothing' },
  { name: 'trace', type: 'boolean', help: 'print each step on stderr as it happens, + prefixed (also CUTAWAY_TRACE=1)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'no progress output' },
  { name: 'debug', type: 'boolean', help: 'stack traces on errors (also CUTAWAY_DEBUG=1)' },
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  { name: 'version', type: 'boolean', help: 'show the version' },
] as const satisfies readonly OptionSpec[];

/** An option's value where it is read: a switch is a boolean, a string option its value or undefined, a list its values. */
type ValueOf<T extends OptionType> = T extends 'boolean' ? boolean : T extends 'list' ? string[] : string | undefined;

type ValuesOf<O extends readonly OptionSpec[]> = { [S in O[number] as S['name']]: ValueOf<S['type']> };

/** The values of a spec's options and the common ones, by long name, each typed by its declaration. */
export type OptionValues<O extends readonly OptionSpec[] = readonly OptionSpec[]> = ValuesOf<O> & ValuesOf<typeof COMMON_OPTIONS>;

/**
 * A tool's spec with its options' names and types kept literal, so that `inv.options` is typed from it:
 * `toolSpec({ …, options: [{ name: 'memory', type: 'string', … }] })` reads `options.memory` as `string | undefined`.
 */
export function toolSpec<const O extends readonly OptionSpec[]>(spec: ToolSpec<O>): ToolSpec<O> {
  return spec;
}

export interface Invocation<O extends readonly OptionSpec[] = readonly OptionSpec[]> {
  options: OptionValues<O>;
  positionals: string[];
  /** The words after `--` (the command to chain-load), when the tool takes one. */
  command: string[];
  /** Progress on stderr, honouring -q and whether stderr is a terminal. */
  progress: Progress;
  /** Trace and dry-run recorder. */
  steps: Steps;
  json: boolean;
}

function optionLabel(o: OptionSpec): string {
  const long = `--${o.name}${o.type === 'boolean' ? '' : ` ${o.arg ?? 'VALUE'}`}`;
  return o.short ? `-${o.short}, ${long}` : `    ${long}`;
}

/** The common options a tool has. */
const commonOptions = (spec: ToolSpec<readonly OptionSpec[]>): readonly OptionSpec[] => COMMON_OPTIONS.filter((o) => !spec.without?.some((name) => name === o.name));

/** Options as help lists them, one a line: `-m, --memory BYTES  memory limit`, the texts in one column. */
export function optionLines(options: readonly OptionSpec[]): string[] {
  const width = Math.max(...options.map((o) => optionLabel(o).length)) + 2;
  return options.map((o) => `${optionLabel(o).padEnd(width)}${o.help}${o.default ? ' (default true)' : ''}`);
}

export function formatHelp(spec: ToolSpec<readonly OptionSpec[]>): string {
  const all = [...spec.options, ...commonOptions(spec)];
  const section = (title: string, lines: string[]) => (lines.length ? [``, `${title}:`, ...lines.map((l) => `  ${l}`)] : []);
  return [
    ...spec.synopsis.map((s, i) => `${i === 0 ? 'Usage:' : '      '} ${spec.name} ${s}`),
    '',
    spec.description,
    ...section('Aliases', spec.aliases?.length ? [spec.aliases.join(', ')] : []),
    ...section('Options', optionLines(all)),
    ...section('Examples', spec.examples),
    ...section('Stands for', spec.classic),
    '',
  ].join('\n');
}

/**
 * Parses argv against the spec; unknown options and missing values are usage errors. Options and operands
 * mix (getopt_long's permutation) unless the spec says `interspersed: false`; `--` ends the options: what
 * follows is the command to chain-load where the tool takes one, else operands of a non-interspersed tool.
 */
export function parseInvocation<O extends readonly OptionSpec[]>(spec: ToolSpec<O>, argv: string[]): Omit<Invocation<O>, 'progress' | 'steps' | 'json'> {
  const all: readonly OptionSpec[] = [...spec.options, ...COMMON_OPTIONS];
  const byLong = new Map(all.map((o) => [o.name, o]));
  const byShort = new Map(all.filter((o) => o.short).map((o) => [o.short!, o]));
  const values = new Map<OptionSpec, string[]>();
  const positionals: string[] = [];
  let command: string[] = [];
  // An empty value given explicitly is a value (`--entrypoint ""`, `--entrypoint=`: docker run's reset), as pflag takes it.
  const give = (o: OptionSpec, value: string) => values.set(o, [...(values.get(o) ?? []), value]);
  // A value is the next word, even one that looks like a negative number (`--pids-limit -1`, as docker run reads it).
  const nextValue = (i: number, o: OptionSpec): string => {
    const next = argv[i + 1];
    if (next === undefined || next === '--' || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) throw new UsageError(`option --${o.name} needs a value${o.arg ? ` (${o.arg})` : ''}`);
    return next;
  };
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      const after = argv.slice(i + 1);
      if (spec.command) command = after;
      else if (spec.interspersed === false) positionals.push(...after);
      else throw new UsageError(`unexpected arguments after --: ${after.join(' ')}`);
      break;
    }
    if (word.startsWith('--')) {
      // --name, --name=value
      const eq = word.indexOf('=');
      const name = eq < 0 ? word.slice(2) : word.slice(2, eq);
      const o = byLong.get(name);
      if (!o) throw new UsageError(`unknown option --${name}`);
      if (o.type === 'boolean') give(o, eq < 0 ? 'true' : word.slice(eq + 1));
      else if (eq >= 0) give(o, word.slice(eq + 1));
      else give(o, nextValue(i++, o));
    } else if (word.startsWith('-') && word !== '-') {
      // getopt's short options: -it (two switches), -e K=V, -eK=V, -p8080:80
      for (let j = 1; j < word.length; j++) {
        const o = byShort.get(word[j]!);
        if (!o) throw new UsageError(`unknown option -${word[j]}`);
        if (o.type === 'boolean') {
          give(o, 'true');
          continue;
        }
        give(o, j + 1 < word.length ? word.slice(j + 1) : nextValue(i++, o));
        break;
      }
    } else if (spec.interspersed === false) {
      positionals.push(...argv.slice(i));
      break;
    } else positionals.push(word);
  }
  for (const name of spec.without ?? []) if (values.has(byLong.get(name)!)) throw new UsageError(`--${name} is not supported by ${spec.name}`);
  const options: Record<string, string | boolean | string[] | undefined> = {};
  for (const o of all) {
    const given = values.get(o);
    if (o.type === 'boolean') options[o.name] = given === undefined ? (o.default ?? false) : booleanValue(o, given.at(-1)!);
    else if (o.type === 'list') options[o.name] = given ?? [];
    else if (given !== undefined) {
      if (given.length > 1) throw new UsageError(`option --${o.name} given more than once`);
      options[o.name] = given[0];
    }
  }
  return { options: options as OptionValues<O>, positionals, command };
}

/** What a boolean option's `=VALUE` may be: strconv.ParseBool's words, which Docker's flags (pflag) take. */
const BOOLEAN_WORDS: Record<string, boolean> = Object.fromEntries([
  ...['1', 't', 'T', 'TRUE', 'true', 'True'].map((w) => [w, true]),
  ...['0', 'f', 'F', 'FALSE', 'false', 'False'].map((w) => [w, false]),
]);

function booleanValue(o: OptionSpec, word: string): boolean {
  const value = BOOLEAN_WORDS[word];
  if (value === undefined) throw new UsageError(`invalid argument ${JSON.stringify(word)} for --${o.name}: true or false`);
  return value;
}

/** The operand count the spec declares, with the error Docker's CLI gives (cli/required.go), the operands named. */
export function checkOperands(spec: ToolSpec<readonly OptionSpec[]>, operands: readonly string[]): void {
  if (!spec.operands) return;
  const { min, max, names } = spec.operands;
  const n = operands.length;
  if (n >= min && (max === undefined || n <= max)) return;
  const count = (k: number) => `${k} argument${k === 1 ? '' : 's'}`;
  const rule =
    max === 0 ? 'accepts no arguments'
    : min === max ? `requires exactly ${count(min)}`
    : max === undefined ? `requires at least ${count(min)}`
    : min === 0 ? `requires at most ${count(max)}`
    : `requires at least ${min} and at most ${count(max)}`;
  throw new UsageError(`"${spec.name}" ${rule}${max === 0 ? '' : `: ${names}`}`);
}

function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * A tool's trace and dry-run recorder: traced with `trace` (its --trace) or CUTAWAY_TRACE, each step labelled
 * with the tool's name under CUTAWAY_TRACE_LABELS (set by cutaway --trace for the tools it runs).
 */
export function toolSteps(tool: string, mode: { trace: boolean; dryRun: boolean }): Steps {
  return new Steps({ trace: mode.trace || envFlag('CUTAWAY_TRACE'), dryRun: mode.dryRun }, undefined, envFlag('CUTAWAY_TRACE_LABELS') ? tool : undefined);
}

/**
 * Runs a tool's main with the contract every tool keeps: --help and --version,
 * stdout for data only, errors as one line `TOOL: error: …` on stderr, exit 2
 * for usage errors and 1 for failures (a main may return its own status).
 */
export async function runTool<O extends readonly OptionSpec[]>(spec: ToolSpec<O>, main: (inv: Invocation<O>) => Promise<number | void>, argv = process.argv.slice(2)): Promise<never> {
  const debug = argv.includes('--debug') || envFlag('CUTAWAY_DEBUG');
  watchClosedOutput();
  let status: number;
  try {
    const { options, positionals, command } = parseInvocation(spec, argv);
    if (options.help) {
      process.stdout.write(formatHelp(spec));
      process.exit(0);
    }
    if (options.version) {
      process.stdout.write(`${spec.name} ${spec.version}\n`);
      process.exit(0);
    }
    checkOperands(spec, positionals);
    const dryRun = options['dry-run'];
    const steps = toolSteps(spec.name, { trace: options.trace, dryRun });
    const progress = new Progress(options.quiet || dryRun);
    status = (await main({ options, positionals, command, progress, steps, json: options.json })) ?? 0;
  } catch (e) {
    if (isClosedOutput(e)) status = CLOSED_OUTPUT_STATUS;
    else {
      status = reportError(spec.name, e, debug);
      if (e instanceof UsageError && spec.usageStatus !== undefined) status = spec.usageStatus;
      else if (spec.errorStatus !== undefined) status = spec.errorStatus;
    }
  }
  settleOutput();
  // Let stdout drain before exiting (a pipe may be slower than we are). One that a stream's pipeline has ended
  // (layer-commit -o -) or whose reader has gone has nothing left to drain.
  if (!process.stdout.writableEnded && !stdoutClosed()) await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(status);
}

/** Writes the one-line error and returns the exit status for it. */
export function reportError(tool: string, e: unknown, debug: boolean): number {
  const err = e instanceof Error ? e : new Error(String(e));
  if (err instanceof UsageError) {
    process.stderr.write(`${tool}: error: ${err.message}\nTry '${tool} --help' for more information.\n`);
    return 2;
  }
  const hint = err instanceof ToolError && err.hint ? ` (hint: ${err.hint})` : '';
  process.stderr.write(`${tool}: error: ${err.message}${hint}\n`);
  if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
  return err instanceof ToolError ? err.exitCode : 1;
}
