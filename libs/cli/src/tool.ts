import minimist from 'minimist';
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
  // An option that takes a value takes the next word even when it is a negative number
  // (`--pids-limit -1`, as docker run reads it); minimist would read that as another option.
  const longNameOf = new Map(all.filter((o) => o.type !== 'boolean').flatMap((o) => [[`--${o.name}`, o.name], ...(o.short ? [[`-${o.short}`, o.name] as const] : [])]));
  const joined: string[] = [];
  for (let i = 0; i < own.length; i++) {
    const name = longNameOf.get(own[i]!);
    const next = own[i + 1];
    if (name !== undefined && next !== undefined && /^-\d/.test(next)) {
      joined.push(`--${name}=${next}`);
      i++;
    } else joined.push(own[i]!);
  }
  const parsed = minimist(joined, {
    boolean: all.filter((o) => o.type === 'boolean').map((o) => o.name),
    string: all.filter((o) => o.type !== 'boolean').map((o) => o.name),
    alias: Object.fromEntries(all.filter((o) => o.short).map((o) => [o.short!, o.name])),
    unknown: (arg) => {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg.split('=')[0]}`);
      return true;
    },
  });
  const options: OptionValues = {};
  for (const o of all) {
    const value = parsed[o.name] as unknown;
    if (o.type === 'boolean') {
      options[o.name] = Boolean(value);
      continue;
    }
    if (value === undefined) {
      if (o.type === 'list') options[o.name] = [];
      continue;
    }
    const values = (Array.isArray(value) ? value : [value]).map(String);
    // minimist gives "" for a value-less `--name` at the end or before another option.
    if (values.includes('')) throw new UsageError(`option --${o.name} needs a value${o.arg ? ` (${o.arg})` : ''}`);
    if (o.type === 'string' && values.length > 1) throw new UsageError(`option --${o.name} given more than once`);
    options[o.name] = o.type === 'list' ? values : values[0];
  }
  return { options, positionals: parsed._.map(String), command };
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
