import { COMMON_OPTIONS, optionLines, reportError, ROOT_OPTION, UsageError, type OptionSpec } from '@cutaway/cli';
import type { Command } from './command.ts';
import { needsUserNamespace, reexecInUserNamespace } from './rootless.ts';
import { versionLine } from './system/version.ts';

/**
 * One line of cutaway's table: a command, its name at the top level ('' for none; `__` names are not listed),
 * and where it is in a management group — `GROUP NAME [ALIAS…]`, as `container ls ps list` — if it is in one.
 */
export type Verb = readonly [command: Command, top: string, grouped?: string];

export interface Table {
  verbs: readonly Verb[];
  /** The management groups and their lines in help. */
  groups: Readonly<Record<string, string>>;
  /** The top-level names help lists under Common Commands, in its order. */
  common: readonly string[];
  /** The line under help's usage line. */
  description: string;
}

/** The options that may come before the verb (`cutaway --root DIR ps`, `cutaway --trace run …`); each goes to the verb's command. */
const PASSED_ON: readonly OptionSpec[] = [ROOT_OPTION, ...COMMON_OPTIONS.filter((o) => ['trace', 'debug', 'quiet'].includes(o.name))];
/** cutaway's own, as docker's -v and --help: answered here, never passed on. */
const VERSION_OPTION = { name: 'version', short: 'v', type: 'boolean', help: 'print the version and quit' } as const satisfies OptionSpec;
const HELP_WORDS = new Set(['--help', '-h']);
const VERSION_WORDS = new Set(['--version', '-v']);

/** The words before the verb that are global options (passed on, or cutaway's own), and the rest. */
function splitGlobalOptions(argv: string[]): { global: string[]; help: boolean; version: boolean; rest: string[] } {
  const global: string[] = [];
  let help = false;
  let version = false;
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    const name = word.split('=')[0]!;
    const o = PASSED_ON.find((p) => `--${p.name}` === name || (p.short && `-${p.short}` === name));
    if (o) {
      const words = o.type !== 'boolean' && !word.includes('=') ? 2 : 1;
      global.push(...argv.slice(i, i + words));
      i += words - 1;
    } else if (HELP_WORDS.has(word)) help = true;
    else if (VERSION_WORDS.has(word)) version = true;
    else break;
  }
  return { global, help, version, rest: argv.slice(i) };
}

/** The table looked up: each name → command, and each command's names as command lines. */
class Index {
  readonly top = new Map<string, Command>();
  /** group → every name in it (aliases too) → command. */
  readonly groups = new Map<string, Map<string, Command>>();
  /** group → its verbs by their own names, as its help lists them. */
  readonly listed = new Map<string, [string, Command][]>();
  /** A command's names as command lines: its group's first, then the top-level one (Docker's Aliases order). */
  readonly names = new Map<Command, string[]>();

  constructor(readonly table: Table) {
    for (const group of Object.keys(table.groups)) {
      this.groups.set(group, new Map());
      this.listed.set(group, []);
    }
    for (const [command, top, grouped] of table.verbs) {
      const names = this.names.get(command) ?? [];
      this.names.set(command, names);
      if (grouped) {
        const [group, ...words] = grouped.split(' ');
        const verbs = this.groups.get(group!);
        if (!verbs || !words.length) throw new Error(`cutaway's table: ${grouped}: no such group, or no name`);
        for (const word of words) verbs.set(word, command);
        this.listed.get(group!)!.push([words[0]!, command]);
        names.push(...words.map((w) => `cutaway ${group} ${w}`));
      }
      if (top) {
        this.top.set(top, command);
        names.push(`cutaway ${top}`);
      }
    }
  }

  /** The top-level names help lists: not those of `__` (cutaway's own plumbing). */
  visible(): string[] {
    return [...this.top.keys()].filter((v) => !v.startsWith('__'));
  }
}

/** Help's `NAME  SUMMARY` lines, the summaries in one column (at least Docker's 11 wide). */
function commandLines(entries: [string, string][]): string[] {
  const width = Math.max(11, ...entries.map(([name]) => name.length)) + 1;
  return entries.map(([name, summary]) => `  ${name.padEnd(width)}${summary}`);
}

const section = (title: string, lines: string[]): string[] => (lines.length ? ['', `${title}:`, ...lines] : []);
const byName = <T>(entries: [string, T][]): [string, T][] => entries.sort(([a], [b]) => a.localeCompare(b));

/** `cutaway --help`: Docker's layout — the common commands, the management commands, the others, the global options. */
export function mainHelp(index: Index): string {
  const { table } = index;
  const visible = index.visible();
  const common = table.common.filter((v) => index.top.has(v));
  const others = byName(visible.filter((v) => !common.includes(v)).map((v) => [v, index.top.get(v)!] as [string, Command]));
  return [
    '',
    'Usage:  cutaway [OPTIONS] COMMAND',
    '',
    table.description,
    ...section('Common Commands', commandLines(common.map((v) => [v, index.top.get(v)!.summary]))),
    ...section('Management Commands', commandLines(byName(Object.entries(table.groups)))),
    ...section('Commands', commandLines(others.map(([v, c]) => [v, c.summary]))),
    ...section('Global Options', optionLines([...PASSED_ON, VERSION_OPTION]).map((l) => `  ${l}`)),
    '',
    "Run 'cutaway COMMAND --help' for more information on a command.",
    '',
  ].join('\n');
}

/** `cutaway GROUP --help`: its verbs, each once by its own name, as `docker network --help` lists them. */
export function groupHelp(index: Index, group: string): string {
  return [
    '',
    `Usage:  cutaway ${group} COMMAND`,
    '',
    index.table.groups[group]!,
    ...section('Commands', commandLines(byName([...index.listed.get(group)!]).map(([v, c]) => [v, c.summary]))),
    '',
    `Run 'cutaway ${group} COMMAND --help' for more information on a command.`,
    '',
  ].join('\n');
}

/** A usage error of cutaway's own (an unknown global option): one line, 125 as Docker's (cli/cobra.go FlagErrorFunc). */
function usage(name: string, message: string): never {
  reportError(name, new UsageError(message), false);
  process.exit(125);
}

/** Starts a command by the words that reached it, in the user namespace first where rootless wants one (rootless.ts). */
function start(index: Index, command: Command, reachedBy: string, global: string[], args: string[]): void {
  const verb = command.spec.name.replace(/^cutaway /, '');
  if (needsUserNamespace(verb)) {
    void reexecInUserNamespace(process.argv.slice(2)).catch((e: unknown) => process.exit(reportError('cutaway', e, false)));
    return;
  }
  const names = index.names.get(command)!;
  void command.start([...global, ...args], { name: reachedBy, aliases: names.length > 1 ? names : [] });
}

/**
 * cutaway's command line, as docker's: global options, then a command or a management group and its verb.
 * Help and version are answered here; an unknown command is Docker's line, exit 1 (see cli.test.ts).
 */
export function dispatch(table: Table, argv: string[]): void {
  const index = new Index(table);
  const { global, help, version, rest } = splitGlobalOptions(argv);
  if (version) {
    process.stdout.write(versionLine());
    process.exit(0);
  }
  const [word, ...args] = rest;
  // `cutaway help [COMMAND…]` is `cutaway [COMMAND…] --help`.
  if (word === 'help') return dispatch(table, [...global, ...args, '--help']);
  if (word === undefined) {
    // `docker` alone shows its help on stderr and succeeds; --help on stdout.
    (help ? process.stdout : process.stderr).write(mainHelp(index));
    process.exit(0);
  }
  if (help && !args.includes('--help')) return dispatch(table, [...global, ...rest, '--help']);
  if (word.startsWith('-')) usage('cutaway', `unknown flag: ${word.split('=')[0]}`);
  const command = index.top.get(word);
  if (command) return start(index, command, `cutaway ${word}`, global, args);
  const group = index.groups.get(word);
  if (!group) {
    process.stderr.write(`cutaway: '${word}' is not a cutaway command.\nSee 'cutaway --help'\n`);
    process.exit(1);
  }
  const [sub, ...subArgs] = args;
  if (sub === undefined || HELP_WORDS.has(sub)) {
    (sub === undefined ? process.stderr : process.stdout).write(groupHelp(index, word));
    process.exit(0);
  }
  if (sub.startsWith('-')) usage(`cutaway ${word}`, `unknown flag: ${sub.split('=')[0]}`);
  const verb = group.get(sub);
  if (!verb) {
    // docker/cli's cli/required.go NoArgs for a command with subcommands.
    process.stderr.write(`cutaway: unknown command: cutaway ${word} ${sub}\n\nUsage:  cutaway ${word} COMMAND\n\nRun 'cutaway ${word} --help' for more information\n`);
    process.exit(1);
  }
  start(index, verb, `cutaway ${word} ${sub}`, global, subArgs);
}
