import { ToolError, UsageError } from './errors.ts';
import { Progress } from './progress.ts';
import { Steps } from './trace.ts';

export interface OptionSpec {
  /** Long name, without dashes: `memory` for `--memory`. */
  name: string;
  /** One-letter alias: `m` for `-m`. */
  short?: string;
  /** boolean: a switch; string: takes a value; list: takes a value, may repeat. */
  type: 'boolean' | 'string' | 'list';
  /** The value's name in help: `--memory BYTES`. */
  arg?: string;
  help: string;
}

export interface ToolSpec {
  name: string;
  version: string;
  /** Usage lines without the tool's name: `[options] REF`. */
  synopsis: string[];
  /** What it does, a short paragraph. */
  description: string;
  options: OptionSpec[];
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
}

/** The options every tool has (DESIGN.md, the command-line contract). */
export const COMMON_OPTIONS: OptionSpec[] = [
  { name: 'json', type: 'boolean', help: 'print one JSON object with everything done, instead of the one handle' },
  { name: 'dry-run', type: 'boolean', help: 'print the classic commands that would do the same, as a shell script; change nothing' },
  { name: 'trace', type: 'boolean', help: 'print each step on stderr as it happens, + prefixed (also CUTAWAY_TRACE=1)' },
  { name: 'quiet', short: 'q', type: 'boolean', help: 'no progress output' },
  { name: 'debug', type: 'boolean', help: 'stack traces on errors (also CUTAWAY_DEBUG=1)' },
  { name: 'help', short: 'h', type: 'boolean', help: 'show this help' },
  { name: 'version', type: 'boolean', help: 'show the version' },
];

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface Invocation {
  options: OptionValues;
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

export function formatHelp(spec: ToolSpec): string {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const width = Math.max(...all.map((o) => optionLabel(o).length)) + 2;
  const section = (title: string, lines: string[]) => (lines.length ? [``, `${title}:`, ...lines.map((l) => `  ${l}`)] : []);
  return [
    ...spec.synopsis.map((s, i) => `${i === 0 ? 'Usage:' : '      '} ${spec.name} ${s}`),
    '',
    spec.description,
    ...section(
      'Options',
      all.map((o) => `${optionLabel(o).padEnd(width)}${o.help}`),
    ),
    ...section('Examples', spec.examples),
    ...section('Stands for', spec.classic),
    '',
  ].join('\n');
}

/** Parses argv against the spec; unknown options and missing values are usage errors. */
export function parseInvocation(spec: ToolSpec, argv: string[]): Omit<Invocation, 'progress' | 'steps' | 'json'> {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const terminator = argv.indexOf('--');
  const own = terminator >= 0 ? argv.slice(0, terminator) : argv;
  const command = terminator >= 0 ? argv.slice(terminator + 1) : [];
  if (terminator >= 0 && !spec.command) throw new UsageError(`unexpected arguments after --: ${command.join(' ')}`);
  const byLong = new Map(all.map((o) => [o.name, o]));
  const byShort = new Map(all.filter((o) => o.short).map((o) => [o.short!, o]));
  const values = new Map<OptionSpec, string[]>();
  const positionals: string[] = [];
  const give = (o: OptionSpec, value: string) => {
    if (o.type !== 'boolean' && value === '') throw new UsageError(`option --${o.name} needs a value${o.arg ? ` (${o.arg})` : ''}`);
    values.set(o, [...(values.get(o) ?? []), value]);
  };
  // A value is the next word, even one that looks like a negative number (`--pids-limit -1`, as docker run reads it).
  const nextValue = (i: number, o: OptionSpec): string => {
    const next = own[i + 1];
    if (next === undefined || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) throw new UsageError(`option --${o.name} needs a value${o.arg ? ` (${o.arg})` : ''}`);
    return next;
  };
  for (let i = 0; i < own.length; i++) {
    const word = own[i]!;
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
    } else positionals.push(word);
  }
  const options: OptionValues = {};
  for (const o of all) {
    const given = values.get(o);
    if (o.type === 'boolean') options[o.name] = given !== undefined && given.at(-1) !== 'false';
    else if (o.type === 'list') options[o.name] = given ?? [];
    else if (given !== undefined) {
      if (given.length > 1) throw new UsageError(`option --${o.name} given more than once`);
      options[o.name] = given[0];
    }
  }
  return { options, positionals, command };
}

/**
 * docker run's shape, `[OPTIONS] IMAGE [COMMAND] [ARG…]`: the options end at
 * the first word that is neither an option nor an option's value, and what
 * follows it is the command, options of its own included.
 */
export function splitAtFirstPositional(spec: ToolSpec, argv: string[]): { own: string[]; rest: string[] } {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const longTakesValue = new Set(all.filter((o) => o.type !== 'boolean').map((o) => `--${o.name}`));
  const shortTakesValue = new Set(all.filter((o) => o.type !== 'boolean' && o.short).map((o) => o.short!));
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return { own: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (!word.startsWith('-') || word === '-') return { own: argv.slice(0, i), rest: argv.slice(i) };
    if (word.startsWith('--')) {
      if (!word.includes('=') && longTakesValue.has(word)) i++;
      continue;
    }
    // getopt: in `-it` both are switches; in `-eK=V` the rest is e's value; in `-te K=V` the value is the next word.
    const valueAt = [...word.slice(1)].findIndex((c) => shortTakesValue.has(c));
    if (valueAt === word.length - 2) i++;
  }
  return { own: argv, rest: [] };
}

function envFlag(name: string): boolean {
  const v = process.env[name];
  return v !== undefined && v !== '' && v !== '0';
}

/**
 * Runs a tool's main with the contract every tool keeps: --help and --version,
 * stdout for data only, errors as one line `TOOL: error: …` on stderr, exit 2
 * for usage errors and 1 for failures (a main may return its own status).
 */
export async function runTool(spec: ToolSpec, main: (inv: Invocation) => Promise<number | void>, argv = process.argv.slice(2)): Promise<never> {
  const debug = argv.includes('--debug') || envFlag('CUTAWAY_DEBUG');
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
    const dryRun = Boolean(options['dry-run']);
    const steps = new Steps({ trace: Boolean(options.trace) || envFlag('CUTAWAY_TRACE'), dryRun });
    const progress = new Progress(Boolean(options.quiet) || dryRun);
    status = (await main({ options, positionals, command, progress, steps, json: Boolean(options.json) })) ?? 0;
  } catch (e) {
    status = reportError(spec.name, e, debug);
    if (spec.errorStatus !== undefined) status = spec.errorStatus;
  }
  // Let stdout drain before exiting (a pipe may be slower than we are).
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
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
