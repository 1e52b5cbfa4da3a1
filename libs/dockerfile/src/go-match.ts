/**
 * Go's filepath.Match patterns (on Linux), compiled to regular expressions:
 * `*` is any run of characters but `/`, `?` one character but `/`, `[...]` a
 * class (`[^...]` negated, `a-z` ranges, `\` escapes; a class does match `/`),
 * `\x` the character x. Malformed patterns are errors, as Go's
 * ErrBadPattern: "syntax error in pattern".
 */

export class PatternSyntaxError extends Error {
  constructor(readonly pattern: string) {
    super(`syntax error in pattern ${JSON.stringify(pattern)}`);
  }
}

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|/]/;

/** A literal character in a `u`-mode regular expression. */
export function regexLiteral(ch: string): string {
  return REGEX_SYNTAX.test(ch) ? `\\${ch}` : ch;
}

const codePoint = (ch: string): number => ch.codePointAt(0) as number;
const inClass = (ch: string): string => `\\u{${codePoint(ch).toString(16)}}`;

/**
 * Reads the class that starts after the `[` at `chars[start - 1]`; returns
 * its regular expression and the index after its `]`. Throws on a malformed class.
 */
export function readClass(chars: readonly string[], start: number, pattern: string): { source: string; end: number } {
  const bad = (): never => {
    throw new PatternSyntaxError(pattern);
  };
  // One class character, maybe escaped; Go's getEsc. A class may not end the pattern.
  const char = (i: number): [string, number] => {
    let c = chars[i];
    if (c === undefined || c === '-' || c === ']') bad();
    if (c === '\\') c = chars[++i] ?? bad();
    if (i + 1 >= chars.length) bad();
    return [c as string, i + 1];
  };
  let i = start;
  const negated = chars[i] === '^';
  if (negated) i++;
  let body = '';
  for (let ranges = 0; ; ranges++) {
    if (chars[i] === ']' && ranges > 0) break;
    const [lo, afterLo] = char(i);
    let hi = lo;
    i = afterLo;
    if (chars[i] === '-') [hi, i] = char(i + 1);
    // A reversed range (z-a) is not an error in Go; it matches nothing.
    if (codePoint(lo) <= codePoint(hi)) body += lo === hi ? inClass(lo) : `${inClass(lo)}-${inClass(hi)}`;
  }
  return { source: negated ? `[^${body}]` : `[${body}]`, end: i + 1 };
}

/** The regular expression (anchored, `u` mode) of a filepath.Match pattern. */
export function compileGoPattern(pattern: string): RegExp {
  const chars = Array.from(pattern);
  let re = '';
  for (let i = 0; i < chars.length; ) {
    const ch = chars[i++] as string;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const cls = readClass(chars, i, pattern);
      re += cls.source;
      i = cls.end;
    } else if (ch === '\\') {
      const next = chars[i++];
      if (next === undefined) throw new PatternSyntaxError(pattern);
      re += regexLiteral(next);
    } else re += regexLiteral(ch);
  }
  return new RegExp(`^${re}$`, 'u');
}

/** Go's filepath.Match(pattern, name). */
export function goMatch(pattern: string, name: string): boolean {
  return compileGoPattern(pattern).test(name);
}
