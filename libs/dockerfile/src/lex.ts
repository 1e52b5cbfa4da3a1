import { DockerfileError } from './errors.ts';
import { GO_SPACE, type EscapeChar } from './lines.ts';
import { PatternError, shellPatternToRegExp, trimPrefix, trimSuffix } from './shell-pattern.ts';

/**
 * Docker's shell-word lexer (BuildKit frontend/dockerfile/shell/lex.go):
 * `$VAR` and `${VAR}` with the modifiers `:-` `-` `:+` `+` `:?` `?`, `#` `##`
 * `%` `%%` and `/` `//`; single quotes (literal), double quotes (`$` expands,
 * the escape character escapes `"`, `$` and itself), the escape character
 * outside quotes, and quote removal. Unset variables expand to "".
 */

/** Variables for substitution: a Map or a plain record. */
export type Env = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

export function lookupEnv(env: Env, name: string): string | undefined {
  if (env instanceof Map) return env.get(name);
  const record = env as Readonly<Record<string, string>>;
  return Object.hasOwn(record, name) ? record[name] : undefined;
}

class LexError extends Error {}

const isSpace = (ch: string): boolean => GO_SPACE.test(ch);
const isDigit = (ch: string): boolean => /^\p{Nd}$/u.test(ch);
const isLetter = (ch: string): boolean => /^\p{L}$/u.test(ch);
/** POSIX special parameters: `$$`, `$?`, `$0`… read as one-character names, which are never set. */
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);
const MISSING_BRACE = "syntax error: missing '}'";

/** Collects the words of ProcessWords: whitespace splits, except what came from quotes or escapes. */
class Words {
  private words: string[] = [];
  private buf = '';
  private inWord = false;

  addChar(ch: string): void {
    if (isSpace(ch)) {
      if (this.inWord && this.buf !== '') {
        this.words.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
    } else this.addRaw(ch);
  }
  addRaw(s: string): void {
    this.buf += s;
    this.inWord = true;
  }
  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }
  done(): string[] {
    if (this.buf !== '') this.words.push(this.buf);
    this.buf = '';
    this.inWord = false;
    return this.words;
  }
}

class ShellWord {
  private readonly chars: string[];
  private pos = 0;
  /** Keep escape characters in the output (inside the patterns of # % /). */
  private rawEscapes = false;

  constructor(
    word: string,
    private readonly env: Env,
    private readonly escape: EscapeChar,
    /** Quotes are ordinary characters (BuildKit's SkipProcessQuotes, for a COPY heredoc's body). */
    private readonly skipQuotes = false,
  ) {
    this.chars = Array.from(word);
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }
  private next(): string | undefined {
    return this.chars[this.pos++];
  }

  process(): { result: string; words: string[] } {
    return this.processStopOn(undefined, false);
  }

  private processStopOn(stop: string | undefined, rawEscapes: boolean): { result: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
        if (ch === stop) {
          this.next();
          return { result, words: words.done() };
        }
        if (!this.skipQuotes && (ch === "'" || ch === '"')) {
          const quoted = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += quoted;
          words.addRaw(quoted); // quoted text is one word, spaces and all
          continue;
        }
        if (ch === '$') {
          const value = this.processDollar();
          result += value;
          words.addString(value); // an expanded value is split at its spaces
          continue;
        }
        let c = this.next() as string;
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRaw(c);
            result += c;
          }
          const escaped = this.next();
          if (escaped === undefined) break; // an escape at the very end is dropped
          c = escaped;
          words.addRaw(c);
        } else words.addChar(c);
        result += c;
      }
      if (stop !== undefined) throw new LexError(`unexpected end of statement while looking for matching ${stop}`);
      return { result, words: words.done() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  // Single quotes keep everything literally; nothing escapes inside them.
  private processSingleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexError('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") return result;
      result += ch;
    }
  }

  // Double quotes expand `$`; the escape character escapes only `"`, `$` and
  // itself and is otherwise kept, as in sh.
  private processDoubleQuote(): string {
    this.next();
    let result = '';
    for (;;) {
      const p = this.peek();
      if (p === undefined) throw new LexError('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const n = this.peek();
        if (n === undefined) continue; // then fails: no closing quote
        if (n === '"' || n === '$' || n === this.escape) ch = this.next() as string;
      }
      result += ch;
    }
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      return name === '' ? '$' : (lookupEnv(this.env, name) ?? '');
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexError(MISSING_BRACE);
    if (first === '{' || first === '}' || first === ':') throw new LexError('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    if (ch === undefined) throw new LexError(MISSING_BRACE);
    if (ch === '}') return lookupEnv(this.env, name) ?? '';
    if (ch === '/') return this.processReplace(name);

    let modifier = ch;
    const nullIsUnset = ch === ':';
    if (nullIsUnset) {
      ch = this.next();
      if (ch === undefined) throw new LexError(MISSING_BRACE);
      modifier += ch;
    } else if (!'+-?#%'.includes(ch)) {
      throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
    const isPattern = ch === '#' || ch === '%';
    if (nullIsUnset && isPattern) throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    let word = this.readUntil('}', isPattern, MISSING_BRACE);

    const value = lookupEnv(this.env, name);
    const unsetOrNull = value === undefined || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return unsetOrNull ? word : (value as string);
      case '+':
        return unsetOrNull ? '' : word;
      case '?':
        if (value === undefined) throw new LexError(`${name}: ${word || 'is not allowed to be unset'}`);
        if (unsetOrNull) throw new LexError(`${name}: ${word || 'is not allowed to be empty'}`);
        return value;
      case '#':
      case '%': {
        // One # or % trims the shortest match, two the longest.
        const greedy = word.startsWith(ch);
        if (greedy) word = word.slice(1);
        return patternCall(word, () => (ch === '%' ? trimSuffix : trimPrefix)(word, value ?? '', greedy));
      }
      default:
        throw new LexError(`unsupported modifier (${modifier}) in substitution`);
    }
  }

  /** `${VAR/pattern/replacement}` replaces the first (longest) match, `${VAR//pattern/replacement}` all of them. */
  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    const pattern = this.readUntil('/', true, "syntax error: missing '/' in ${}");
    const replacement = this.readUntil('}', true, MISSING_BRACE);
    const value = lookupEnv(this.env, name) ?? '';
    const re = patternCall(pattern, () => shellPatternToRegExp(pattern, true, false, all ? 'gu' : 'u'));
    return value.replace(re, () => replacement);
  }

  private readUntil(stop: string, rawEscapes: boolean, atEnd: string): string {
    try {
      return this.processStopOn(stop, rawEscapes).result;
    } catch (e) {
      if (e instanceof LexError && this.peek() === undefined) throw new LexError(atEnd);
      throw e;
    }
  }

  // A name is letters, digits and _; a leading digit reads digits only ($1),
  // and a special parameter is one character.
  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && isDigit(ch)) {
        while (this.peek() !== undefined && isDigit(this.peek() as string)) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) {
        this.next();
        return ch;
      }
      if (!isLetter(ch) && !isDigit(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }
}

function patternCall<T>(pattern: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof PatternError || e instanceof SyntaxError) throw new LexError(`invalid pattern (${pattern}) in substitution: ${e.message}`);
    throw e;
  }
}

function run<T>(word: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof LexError) throw new DockerfileError(`failed to process ${JSON.stringify(word)}: ${e.message}`);
    throw e;
  }
}

/**
 * One word, substituted and with quotes removed; spaces stay
 * (Docker's ProcessWord, used by ENV, LABEL, WORKDIR, USER, COPY…).
 */
export function expand(word: string, env: Env, escape: EscapeChar = '\\'): string {
  return run(word, () => new ShellWord(word, env, escape).process().result);
}

/**
 * The words of `word` after substitution: split at whitespace, except
 * whitespace from quotes or escapes (Docker's ProcessWords, used by EXPOSE).
 */
export function expandWords(word: string, env: Env, escape: EscapeChar = '\\'): string[] {
  return run(word, () => new ShellWord(word, env, escape).process().words);
}

/** `expand` for each word of a list (COPY sources, VOLUME paths…). */
export function expandList(words: readonly string[], env: Env, escape: EscapeChar = '\\'): string[] {
  return words.map((w) => expand(w, env, escape));
}

/** A COPY heredoc's body with unquoted delimiter: variables substituted, quotes left as they are, escapes removed. */
export function expandHeredoc(text: string, env: Env, escape: EscapeChar = '\\'): string {
  return run(text, () => new ShellWord(text, env, escape, true).process().result);
}
