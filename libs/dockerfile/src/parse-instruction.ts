import { parseGoDuration } from './duration.ts';
import { DockerfileError } from './errors.ts';
import { Flags } from './flags.ts';
import { heredocBody, parseHeredocWord, withHeredocs, type Heredoc } from './heredoc.ts';
import type { CommandLine, HealthCheck, InlineFile, Instruction, KeyValue } from './instructions.ts';
import { KEYWORDS } from './instructions.ts';
import type { EscapeChar, LogicalLine } from './lines.ts';
import { parseJsonArray, parseWords, splitInstruction, splitWhitespace } from './words.ts';

/**
 * One logical line to one instruction, with the argument rules of BuildKit's
 * line parsers (parser/line_parsers.go) and the checks of
 * instructions/parse.go. Errors are thrown without a line; the caller adds it.
 */

interface Parsed {
  keyword: string;
  flags: string[];
  rest: string;
  base: { original: string; line: number; endLine: number; flags: string[] };
  heredocs: Heredoc[];
}

export function parseInstruction(logical: LogicalLine, escape: EscapeChar): Instruction {
  const { keyword: written, flags, rest } = splitInstruction(logical.text);
  const keyword = written.toUpperCase();
  const p: Parsed = { keyword, flags, rest, base: { original: logical.text.trim(), line: logical.line, endLine: logical.endLine, flags }, heredocs: logical.heredocs ?? [] };
  switch (keyword) {
    case 'FROM':
      return parseFrom(p);
    case 'RUN': {
      const f = new Flags(flags, { mount: 'list', network: 'string', security: 'string' });
      return { keyword, ...p.base, command: commandLine(rest), heredocs: p.heredocs, mounts: f.list('mount'), network: f.string('network'), security: f.string('security') };
    }
    case 'CMD':
    case 'ENTRYPOINT':
      new Flags(flags, {});
      return { keyword, ...p.base, command: commandLine(rest) };
    case 'COPY':
    case 'ADD':
      return parseCopyLike(p);
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER': {
      new Flags(flags, {});
      // The whole rest of the line is the one argument, spaces included.
      if (rest === '') throw new DockerfileError(`${keyword} requires exactly one argument`);
      if (keyword === 'WORKDIR') return { keyword, ...p.base, path: rest };
      if (keyword === 'USER') return { keyword, ...p.base, user: rest };
      if (keyword === 'STOPSIGNAL') return { keyword, ...p.base, signal: rest };
      return { keyword, ...p.base, maintainer: rest };
    }
    case 'ENV':
    case 'LABEL': {
      new Flags(flags, {});
      const { pairs, legacy } = parseKeyValues(keyword, rest, escape);
      return { keyword, ...p.base, pairs, legacy };
    }
    case 'ARG':
      return parseArg(p, escape);
    case 'EXPOSE': {
      new Flags(flags, {});
      const ports = splitWhitespace(rest);
      if (ports.length === 0) throw new DockerfileError('EXPOSE requires at least one argument');
      return { keyword, ...p.base, ports };
    }
    case 'VOLUME': {
      new Flags(flags, {});
      const json = parseJsonArray(rest);
      const paths = (json ?? splitWhitespace(rest)).map((v) => v.trim());
      if (paths.length === 0) throw new DockerfileError('VOLUME requires at least one argument');
      if (paths.includes('')) throw new DockerfileError('VOLUME specified can not be an empty string');
      return { keyword, ...p.base, paths, json: json !== undefined };
    }
    case 'SHELL':
      return parseShell(p);
    case 'HEALTHCHECK':
      return { keyword, ...p.base, check: parseHealthcheck(p) };
    case 'ONBUILD':
      return parseOnbuild(p);
    default:
      throw new DockerfileError(`unknown instruction: ${keyword}`, undefined, undefined, suggestion(keyword));
  }
}

/** RUN, CMD and ENTRYPOINT: a JSON array is the exec form; anything else, even broken JSON, is the shell form. */
function commandLine(rest: string): CommandLine {
  if (rest === '') return { form: 'shell', text: '' };
  const args = parseJsonArray(rest);
  if (args) return { form: 'exec', args };
  return { form: 'shell', text: rest };
}

/** COPY and ADD sources: heredoc words become files of their own (BuildKit's parseSourcesAndDest). */
function inlineSources(keyword: string, words: string[], heredocs: Heredoc[]): { sources: string[]; inline: InlineFile[] } {
  if (!heredocs.length) return { sources: words.slice(0, -1), inline: [] };
  if (parseHeredocWord(words[words.length - 1] as string)) throw new DockerfileError(`${keyword} cannot accept a heredoc as a destination`);
  const byName = new Map(heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const inline: InlineFile[] = [];
  for (const word of words.slice(0, -1)) {
    const doc = parseHeredocWord(word);
    const found = doc && byName.get(doc.name);
    if (found) inline.push({ name: found.name, data: heredocBody(found), expand: found.expand });
    else sources.push(word);
  }
  return { sources, inline };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

function parseFrom({ flags, rest, base }: Parsed): Instruction {
  const f = new Flags(flags, { platform: 'string' });
  const args = splitWhitespace(rest);
  let stageName: string | undefined;
  if (args.length === 3 && args[1]?.toLowerCase() === 'as') {
    stageName = (args[2] as string).toLowerCase();
    if (!STAGE_NAME.test(stageName)) {
      throw new DockerfileError(`invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
    }
  } else if (args.length !== 1) {
    throw new DockerfileError('FROM requires either one or three arguments');
  }
  return { keyword: 'FROM', ...base, image: args[0] as string, stageName, platform: f.string('platform') };
}

function parseCopyLike({ keyword, flags, rest, base, heredocs }: Parsed): Instruction {
  const common = { chown: 'string', chmod: 'string', link: 'bool', exclude: 'list' } as const;
  const f =
    keyword === 'COPY'
      ? new Flags(flags, { ...common, from: 'string', parents: 'bool' })
      : new Flags(flags, { ...common, checksum: 'string', 'keep-git-dir': 'bool' });
  const json = parseJsonArray(rest);
  // Shell form splits at whitespace with no regard for quotes: `COPY "a b" /x`
  // has the sources `"a` and `b"`. Paths with spaces need the JSON form.
  const words = json ?? splitWhitespace(rest);
  if (words.length < 2) throw new DockerfileError(`${keyword} requires at least two arguments, but only one was provided. Destination could not be determined`);
  const copy = {
    ...base,
    ...inlineSources(keyword, words, heredocs),
    dest: words[words.length - 1] as string,
    json: json !== undefined,
    chown: f.string('chown'),
    chmod: f.string('chmod'),
    link: f.bool('link'),
    exclude: f.list('exclude'),
  };
  if (keyword === 'COPY') return { keyword, ...copy, from: f.string('from'), parents: f.bool('parents') };
  return { keyword: 'ADD', ...copy, checksum: f.string('checksum'), keepGitDir: f.bool('keep-git-dir') };
}

const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/**
 * ENV and LABEL: `key=value ...`, or the legacy `key value` (one pair whose
 * value is the rest of the line). Which one is decided by whether the first
 * word contains "=".
 */
function parseKeyValues(keyword: string, rest: string, escape: EscapeChar): { pairs: KeyValue[]; legacy: boolean } {
  const words = parseWords(rest, escape);
  if (words.length === 0) throw new DockerfileError(`${keyword} requires at least one argument`);
  let pairs: KeyValue[];
  let legacy = false;
  if (!(words[0] as string).includes('=')) {
    const m = WHITESPACE_RUN.exec(rest);
    if (!m) throw new DockerfileError(`${keyword} must have two arguments`);
    pairs = [{ key: rest.slice(0, m.index), value: rest.slice(m.index + m[0].length) }];
    legacy = true;
  } else {
    pairs = words.map((word) => {
      const eq = word.indexOf('=');
      if (eq < 0) throw new DockerfileError(`Syntax error - can't find = in ${JSON.stringify(word)}. Must be of the form: name=value`);
      return { key: word.slice(0, eq), value: word.slice(eq + 1) };
    });
  }
  if (pairs.some((kv) => kv.key === '')) throw new DockerfileError(`${keyword} names can not be blank`);
  return { pairs, legacy };
}

function parseArg({ flags, rest, base }: Parsed, escape: EscapeChar): Instruction {
  new Flags(flags, {});
  const words = parseWords(rest, escape);
  if (words.length === 0) throw new DockerfileError('ARG requires at least one argument');
  const args = words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) return { name: word };
    if (eq === 0) throw new DockerfileError('ARG names can not be blank');
    return { name: word.slice(0, eq), default: word.slice(eq + 1) };
  });
  return { keyword: 'ARG', ...base, args };
}

function parseShell({ flags, rest, base }: Parsed): Instruction {
  new Flags(flags, {});
  const shell = rest === '' ? undefined : parseJsonArray(rest);
  if (shell?.length === 0 || rest === '') throw new DockerfileError('SHELL requires at least one argument');
  if (shell === undefined) {
    // Docker's hint for Windows paths with unescaped backslashes in what was meant as JSON.
    const lower = base.original.toLowerCase();
    const windowsPath = /"[a-z]:\\.*/.test(lower) && !lower.includes('\\\\') && lower.includes('[') && lower.includes(']');
    throw new DockerfileError(
      'SHELL requires the arguments to be in JSON form',
      undefined,
      undefined,
      windowsPath ? 'JSON requires back-slashes to be escaped, as in ["c:\\\\path\\\\to\\\\file.exe", "/parameter"]' : undefined,
    );
  }
  return { keyword: 'SHELL', ...base, shell };
}

function parseHealthcheck({ flags, rest }: Parsed): HealthCheck {
  const sep = rest.search(/\s/);
  const type = (sep < 0 ? rest : rest.slice(0, sep)).toUpperCase();
  const args = sep < 0 ? '' : rest.slice(sep).trimStart();
  if (type === '') throw new DockerfileError('HEALTHCHECK requires at least one argument');
  if (type === 'NONE') {
    if (args !== '') throw new DockerfileError('HEALTHCHECK NONE takes no arguments');
    return { type: 'NONE' };
  }
  const f = new Flags(flags, { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' });
  if (type !== 'CMD') throw new DockerfileError(`Unknown type ${JSON.stringify(type)} in HEALTHCHECK (try CMD)`);
  const command = commandLine(args);
  if (command.form === 'exec' ? command.args.length === 0 : command.text === '') throw new DockerfileError('Missing command after HEALTHCHECK CMD');
  const check: HealthCheck = { type: 'CMD', command };
  const durations = { interval: 'interval', timeout: 'timeout', startPeriod: 'start-period', startInterval: 'start-interval' } as const;
  for (const [field, flag] of Object.entries(durations) as [keyof typeof durations, string][]) {
    const value = f.string(flag);
    if (value === undefined || value === '') continue;
    let ns: number;
    try {
      ns = parseGoDuration(value);
    } catch (e) {
      throw new DockerfileError(`--${flag}: ${(e as Error).message}`);
    }
    // 0 means "Docker's default"; anything else must be at least 1ms.
    if (ns !== 0 && ns < 1e6) throw new DockerfileError(`Interval ${JSON.stringify(flag)} cannot be less than 1ms`);
    if (ns !== 0) check[field] = ns;
  }
  const retries = f.string('retries');
  if (retries !== undefined && retries !== '') {
    if (!/^[+-]?\d+$/.test(retries) || Math.abs(Number(retries)) > 2 ** 31 - 1) throw new DockerfileError(`--retries: invalid value ${JSON.stringify(retries)}`);
    if (Number(retries) < 1) throw new DockerfileError(`--retries must be at least 1 (not ${Number(retries)})`);
    check.retries = Number(retries);
  }
  return check;
}

function parseOnbuild({ flags, rest, base, heredocs }: Parsed): Instruction {
  new Flags(flags, {});
  if (rest === '') throw new DockerfileError('ONBUILD requires at least one argument');
  const triggerKeyword = splitInstruction(rest).keyword.toUpperCase();
  if (triggerKeyword === 'ONBUILD') throw new DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  if (triggerKeyword === 'FROM' || triggerKeyword === 'MAINTAINER') throw new DockerfileError(`${triggerKeyword} isn't allowed as an ONBUILD trigger`);
  return { keyword: 'ONBUILD', ...base, triggerKeyword, trigger: withHeredocs(base.original.replace(/^\s*ONBUILD\s*/i, ''), heredocs) };
}

/** Docker's "did you mean" for a misspelt instruction: the closest keyword within two edits. */
function suggestion(word: string): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of KEYWORDS) {
    const d = editDistance(word, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best && `did you mean ${best}?`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length] as number;
}
