import { DockerfileError } from './errors.ts';
import type { Heredoc } from './heredoc.ts';

/**
 * Physical lines to logical lines, as BuildKit's parser.Parse reads them
 * (frontend/dockerfile/parser/parser.go): parser directives at the top,
 * full-line comments, and line continuations with the escape character.
 */

export type EscapeChar = '\\' | '`';

export interface LogicalLine {
  /** The instruction text: continuations joined, comment lines dropped. */
  text: string;
  /** 1-based line where the instruction starts, and where it ends. */
  line: number;
  endLine: number;
  /** Here-documents after the line (RUN, COPY, ADD), read by `readBodies` (heredoc.ts). */
  heredocs?: Heredoc[];
}

/** Reads what follows a logical line that belongs to it (heredoc bodies): what it read, and the index after. */
export type ReadBodies = (text: string, physical: readonly string[], next: number, line: number, file: string) => { heredocs: Heredoc[]; next: number };

export interface ReadLines {
  lines: LogicalLine[];
  escape: EscapeChar;
  /** Parser directives that were honoured, by lower-case name (`syntax`, `escape`, `check`). */
  directives: Record<string, string>;
  warnings: string[];
}

// Go's regexp \s is [\t\n\f\r ]; JS's \s is wider, so spell it out.
const DIRECTIVE = /^#[\t\n\f\r ]*([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);
const BOM = '\uFEFF';

/** Go's unicode.IsSpace, which is narrower than JS's \s (no U+FEFF) and has U+0085. */
export const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;
const LEADING_SPACE = new RegExp(`^${GO_SPACE.source}+`);

function trimNewline(s: string): string {
  return s.replace(/[\r\n]+$/, '');
}

function isComment(raw: string): boolean {
  return trimNewline(raw).replace(LEADING_SPACE, '').startsWith('#');
}

function continuationPattern(escape: EscapeChar): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  // The escape character at the end (spaces and tabs may follow) continues the
  // line, unless it is itself escaped: "foo \\" ends the line. A line that is
  // only the escape character continues too.
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

export function readLogicalLines(text: string, file = 'Dockerfile', readBodies?: ReadBodies): ReadLines {
  const physical = text.split('\n');
  // A trailing newline ends the last line; it does not start an empty one.
  if (physical.length > 0 && physical[physical.length - 1] === '') physical.pop();
  if (physical[0]?.startsWith(BOM)) physical[0] = physical[0].slice(BOM.length);

  let escape: EscapeChar = '\\';
  let continuation = continuationPattern(escape);
  const directives: Record<string, string> = {};
  let directivesDone = false;
  const lines: LogicalLine[] = [];
  const warnings: string[] = [];

  // Directives are only looked for until the first line that is not one:
  // a blank line, an ordinary comment, an unknown directive or an instruction.
  const lookForDirective = (token: string, lineNo: number): void => {
    if (directivesDone) return;
    const m = DIRECTIVE.exec(token);
    const name = m?.[1]?.toLowerCase();
    if (!m || !name || !KNOWN_DIRECTIVES.has(name)) {
      directivesDone = true;
      return;
    }
    if (name in directives) throw new DockerfileError(`only one ${name} parser directive can be used`, lineNo, file);
    const value = m[2] ?? '';
    if (name === 'escape') {
      if (value !== '\\' && value !== '`') throw new DockerfileError(`invalid escape token '${value}' does not match \` or \\`, lineNo, file);
      escape = value;
      continuation = continuationPattern(escape);
    }
    directives[name] = value;
  };

  const trimContinuation = (s: string): [string, boolean] => {
    if (continuation.test(s)) return [s.replace(continuation, '$1'), false];
    return [s, true];
  };

  let i = 0;
  while (i < physical.length) {
    const raw = physical[i++] ?? '';
    const lineNo = i;
    let token = trimNewline(raw).replace(LEADING_SPACE, '');
    lookForDirective(token, lineNo);
    if (token.startsWith('#')) token = '';

    let [line, ended] = trimContinuation(token);
    if (ended && line === '') continue;

    let emptyContinuation = false;
    while (!ended && i < physical.length) {
      const next = physical[i++] ?? '';
      // Comment lines inside a continuation are dropped, and so are empty
      // lines (which Docker warns about: "Empty continuation line").
      if (isComment(next)) continue;
      const body = trimNewline(next);
      if (body.replace(LEADING_SPACE, '') === '') {
        emptyContinuation = true;
        continue;
      }
      // Unlike the first line, continuation lines keep their leading whitespace.
      const [part, end] = trimContinuation(body);
      line += part;
      ended = end;
    }
    if (emptyContinuation) warnings.push(`${file}:${lineNo}: empty continuation line (Docker warns; these will become errors)`);
    const bodies = readBodies?.(line, physical, i, lineNo, file);
    if (bodies?.heredocs.length) i = bodies.next;
    lines.push({ text: line, line: lineNo, endLine: i, ...(bodies?.heredocs.length && { heredocs: bodies.heredocs }) });
  }
  return { lines, escape, directives, warnings };
}
