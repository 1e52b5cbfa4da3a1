import { DockerfileError } from './errors.ts';
import { GO_SPACE } from './lines.ts';

/**
 * The word splitters of BuildKit's parser (line_parsers.go, split_command.go).
 * They split only: quotes and escapes stay in the words, for the shell-word
 * lexer to remove later when (and if) the instruction substitutes variables.
 */

const isSpace = (ch: string): boolean => GO_SPACE.test(ch);
const SURROUNDING_SPACE = new RegExp(`^${GO_SPACE.source}+|${GO_SPACE.source}+$`, 'g');
const LEADING_SPACE = new RegExp(`^${GO_SPACE.source}+`);

/** Go's strings.TrimSpace. */
export function trimSpace(s: string): string {
  return s.replace(SURROUNDING_SPACE, '');
}

/** Docker's reWhitespace: the separator of FROM, EXPOSE and shell-form COPY/ADD/VOLUME words. */
const WHITESPACE_RUN = /[\t\v\f\r ]+/;

/** Whitespace-separated words, with no regard for quotes (`COPY "a b" /x` gives `"a`, `b"`, `/x`). */
export function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(WHITESPACE_RUN);
}

/**
 * Words separated by whitespace outside quotes (ENV, LABEL, ARG). Quotes and
 * escape characters are kept; an escape character escapes anything outside
 * quotes, and anything but inside single quotes.
 */
export function parseWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote = '';
  let inWord = false;
  let blankOk = false; // "" is a word
  for (let pos = 0; pos < rest.length; pos++) {
    let ch = rest[pos] as string;
    if (!inWord) {
      if (isSpace(ch)) continue;
      inWord = true;
    }
    if (quote === '') {
      if (isSpace(ch)) {
        if (blankOk || word !== '') words.push(word);
        word = '';
        inWord = false;
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
      } else if (ch === escape) {
        if (pos + 1 === rest.length) continue; // an escape at the very end is dropped
        word += ch;
        ch = rest[++pos] as string;
      }
      word += ch;
    } else {
      if (ch === quote) quote = '';
      else if (ch === escape && quote !== "'") {
        if (pos + 1 === rest.length) continue;
        word += ch;
        ch = rest[++pos] as string;
      }
      word += ch;
    }
  }
  if (inWord && (blankOk || word !== '')) words.push(word);
  return words;
}

/**
 * Splits `KEYWORD [--flag=value ...] rest`. Flags are the leading words that
 * start with `--`; `--` alone ends them. Quotes in flags are removed and `\`
 * escapes (always `\`, whatever the escape directive says, as in BuildKit).
 */
export function splitInstruction(text: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = trimSpace(text);
  const m = /[\t\v\f\r ]+/.exec(trimmed);
  if (!m) return { keyword: trimmed, flags: [], rest: '' };
  const { flags, rest } = extractFlags(trimmed.slice(m.index + m[0].length));
  return { keyword: trimmed.slice(0, m.index), flags, rest: trimSpace(rest) };
}

function extractFlags(line: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let pos = 0;
  for (;;) {
    while (pos < line.length && isSpace(line[pos] as string)) pos++;
    if (pos >= line.length) return { flags, rest: '' };
    if (!line.startsWith('--', pos)) return { flags, rest: line.slice(pos) };
    let word = '';
    let quote = '';
    let blankOk = false;
    for (; pos < line.length; pos++) {
      let ch = line[pos] as string;
      if (quote === '') {
        if (isSpace(ch)) break;
        if (ch === "'" || ch === '"') {
          quote = ch;
          blankOk = true;
          continue;
        }
      } else if (ch === quote) {
        quote = '';
        continue;
      }
      if (ch === '\\') {
        if (pos + 1 === line.length) continue;
        ch = line[++pos] as string;
      }
      word += ch;
    }
    if (word === '--') return { flags, rest: pos >= line.length ? '' : line.slice(pos) };
    if (blankOk || word !== '') flags.push(word);
  }
}

const NOT_STRING_ARRAY = 'when using JSON array syntax, arrays must be comprised of strings only';

/**
 * The exec form: `rest` is a JSON array of strings. Anything that is not valid
 * JSON (trailing text included) is not the exec form, and the caller falls back
 * to the shell form, as Docker does; a JSON array of non-strings is an error.
 */
export function parseJsonArray(rest: string): string[] | undefined {
  const trimmed = rest.replace(LEADING_SPACE, '');
  if (!trimmed.startsWith('[')) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value)) return undefined;
  if (!value.every((v): v is string => typeof v === 'string')) throw new DockerfileError(NOT_STRING_ARRAY);
  return value;
}
