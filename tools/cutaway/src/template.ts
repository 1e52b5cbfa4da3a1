/**
 * Go's text/template, the part of it Docker's and podman's --format use: text and {{actions}} with
 * `{{-`/`-}}` trimming and comments; fields (`.State.Pid`), `.`, `$`, variables (`$v := …`, `$v = …`),
 * literals, parenthesised pipelines, pipelines (`.X | lower`); if/else if/else, with, range (`$i, $v :=`,
 * over lists, maps in key order and integers; else; break, continue); Go's functions (and or not len index
 * slice print printf println eq ne lt le gt ge) and Docker's (json split join title lower upper pad
 * truncate). Data is JSON-like: objects (Go maps and structs), arrays, strings, numbers, booleans, null;
 * an object's function is a method, called with the command's arguments (`.Label "k"`). Errors read as
 * Go's: `template: :1: unclosed action`, `template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"`.
 */

export class TemplateError extends Error {
  override name = 'TemplateError';
}

type Value = unknown;
type Fn = (...args: Value[]) => Value;

// ---- lexer ----

type TokenKind = 'field' | 'var' | 'string' | 'number' | 'ident' | 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma';
interface Token {
  kind: TokenKind;
  /** field: the names; var: the name then its fields; ident, string, number: the value. */
  text: string;
  names: string[];
  pos: number;
  end: number;
  /** Whether a space (or the action's start) comes before it: `(x).F` chains, `(x) .F` is two arguments. */
  spaced: boolean;
}
type Piece = { text: string } | { pos: number; end: number; tokens: Token[] };

const SPACE = /[ \t\r\n]/;
const NAME = /^[\p{L}_][\p{L}\p{N}_]*/u;

function lineOf(source: string, pos: number): number {
  return source.slice(0, pos).split('\n').length;
}

function parseError(source: string, pos: number, message: string): TemplateError {
  return new TemplateError(`template: :${lineOf(source, pos)}: ${message}`);
}

/** The text and the actions' tokens, the trim markers applied. */
function lex(source: string): Piece[] {
  const pieces: Piece[] = [];
  let i = 0;
  let trimNext = false;
  while (i <= source.length) {
    const open = source.indexOf('{{', i);
    let text = source.slice(i, open < 0 ? source.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open < 0) {
      if (text) pieces.push({ text });
      break;
    }
    let p = open + 2;
    if (source[p] === '-' && SPACE.test(source[p + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      p += 2;
    }
    if (text) pieces.push({ text });
    const { tokens, end, trim } = lexAction(source, p);
    if (tokens) pieces.push({ pos: open, end, tokens });
    trimNext = trim;
    i = end;
  }
  return pieces;
}

/** One action's tokens from `p` (after `{{` and its trim marker), up to its `}}`; null for a comment. */
function lexAction(source: string, start: number): { tokens: Token[] | null; end: number; trim: boolean } {
  const close = (at: number): { end: number; trim: boolean } | undefined => {
    if (source.startsWith('}}', at)) return { end: at + 2, trim: false };
    if (SPACE.test(source[at] ?? '') && source.startsWith('-}}', at + 1)) return { end: at + 4, trim: true };
    return undefined;
  };
  let p = start;
  while (SPACE.test(source[p] ?? '') && !close(p)) p++;
  if (source.startsWith('/*', p)) {
    const endComment = source.indexOf('*/', p + 2);
    const c = endComment < 0 ? undefined : close(endComment + 2);
    if (!c) throw parseError(source, start, endComment < 0 ? 'unclosed comment' : 'comment ends before closing delimiter');
    return { tokens: null, ...c };
  }
  const tokens: Token[] = [];
  let spaced = true;
  const push = (kind: TokenKind, text: string, pos: number, end: number, names: string[] = []) => {
    tokens.push({ kind, text, names, pos, end, spaced });
    spaced = false;
    p = end;
  };
  const fieldNames = (from: number): [string[], number] => {
    const names: string[] = [];
    while (source[from] === '.' && NAME.test(source.slice(from + 1))) {
      const name = NAME.exec(source.slice(from + 1))![0];
      names.push(name);
      from += 1 + name.length;
    }
    return [names, from];
  };
  for (;;) {
    const c = close(p);
    if (c) return { tokens, ...c };
    const ch = source[p];
    if (ch === undefined) throw parseError(source, start, 'unclosed action');
    if (SPACE.test(ch)) {
      p++;
      spaced = true;
      continue;
    }
    const rest = source.slice(p);
    if (ch === '.' && !/^\.\d/.test(rest)) {
      const [names, end] = fieldNames(p);
      // `.` alone is dot; `.Name.Other` a chain of fields.
      push('field', names.length ? rest.slice(0, end - p) : '.', p, names.length ? end : p + 1, names);
    } else if (ch === '$') {
      const name = /^\$[\p{L}\p{N}_]*/u.exec(rest)![0];
      const [names, end] = fieldNames(p + name.length);
      push('var', name, p, end, names);
    } else if (ch === '"' || ch === '`') {
      const m = ch === '"' ? /^"(?:[^"\\\n]|\\.)*"/.exec(rest) : /^`[^`]*`/.exec(rest);
      if (!m) throw parseError(source, p, ch === '"' ? 'unterminated quoted string' : 'unterminated raw quoted string');
      push('string', ch === '"' ? unquote(source, p, m[0]) : m[0].slice(1, -1), p, p + m[0].length);
    } else if (/^[-+]?(\d|\.\d)/.test(rest)) {
      const m = /^[-+]?(0[xX][\da-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|(\d[\d_]*)?\.?\d*([eE][-+]?\d+)?)/.exec(rest)!;
      push('number', m[0], p, p + m[0].length);
    } else if (ch === "'") {
      const m = /^'(?:[^'\\]|\\.)+'/.exec(rest);
      if (!m) throw parseError(source, p, 'unterminated character constant');
      push('number', String(unquote(source, p, `"${m[0].slice(1, -1)}"`).codePointAt(0)), p, p + m[0].length);
    } else if (NAME.test(rest)) {
      const name = NAME.exec(rest)![0];
      push('ident', name, p, p + name.length);
    } else if (rest.startsWith(':=')) {
      push('declare', ':=', p, p + 2);
    } else {
      const kinds: Record<string, TokenKind> = { '|': 'pipe', '(': 'lparen', ')': 'rparen', '=': 'assign', ',': 'comma' };
      const kind = kinds[ch];
      if (!kind) throw parseError(source, p, `unexpected ${JSON.stringify(ch)} in command`);
      push(kind, ch, p, p + 1);
    }
  }
}

function unquote(source: string, pos: number, quoted: string): string {
  try {
    return JSON.parse(quoted.replace(/\\([abfnrtv'\\"])/g, (_, c: string) => ({ a: '\\u0007', v: '\\u000b', "'": "'" })[c] ?? `\\${c}`).replace(/\\x([\da-fA-F]{2})/g, '\\u00$1')) as string;
  } catch {
    throw parseError(source, pos, `invalid syntax in ${quoted}`);
  }
}

// ---- parser ----

type Arg =
  | { kind: 'field'; pos: number; src: string; names: string[] }
  | { kind: 'var'; pos: number; src: string; name: string; names: string[] }
  | { kind: 'chain'; pos: number; src: string; pipe: Pipe; names: string[] }
  | { kind: 'ident'; pos: number; src: string; name: string }
  | { kind: 'literal'; pos: number; src: string; value: Value };
interface Command {
  pos: number;
  src: string;
  args: Arg[];
}
interface Pipe {
  pos: number;
  decl: string[];
  assign: boolean;
  cmds: Command[];
}
interface Control {
  kind: 'if' | 'with' | 'range';
  pipe: Pipe;
  list: Node[];
  elseList: Node[];
}
type Node = { kind: 'text'; text: string } | { kind: 'action'; pipe: Pipe } | Control | { kind: 'break' | 'continue'; pos: number };

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'break', 'continue', 'define', 'template', 'block']);

class Parser {
  private at = 0;
  /** The variables in scope, innermost last. */
  private vars: string[] = ['$'];
  private ranges = 0;

  constructor(
    private readonly source: string,
    private readonly pieces: Piece[],
    private readonly funcs: Record<string, Fn>,
  ) {}

  parse(): Node[] {
    const { list, end } = this.list();
    if (end) throw this.error(end.pos, `unexpected {{${end.word}}}`);
    return list;
  }

  private error(pos: number, message: string): TemplateError {
    return parseError(this.source, pos, message);
  }

  /** Nodes up to an {{end}} or {{else …}} (returned with its tokens after the keyword), or the end of the text. */
  private list(): { list: Node[]; end?: { word: string; pos: number; rest: Token[] } } {
    const list: Node[] = [];
    for (; this.at < this.pieces.length; ) {
      const piece = this.pieces[this.at++]!;
      if ('text' in piece) {
        list.push({ kind: 'text', text: piece.text });
        continue;
      }
      const [first, ...rest] = piece.tokens;
      if (!first) throw this.error(piece.pos, 'missing value for command');
      const word = first.kind === 'ident' && KEYWORDS.has(first.text) ? first.text : undefined;
      if (word === 'end' || word === 'else') {
        if (word === 'end' && rest.length) throw this.error(first.pos, `unexpected ${rest[0]!.text} in end`);
        return { list, end: { word, pos: first.pos, rest } };
      }
      if (word === 'if' || word === 'with' || word === 'range') list.push(this.control(word, piece.pos, rest));
      else if (word === 'break' || word === 'continue') {
        if (!this.ranges) throw this.error(first.pos, `{{${word}}} outside {{range}}`);
        list.push({ kind: word, pos: first.pos });
      } else if (word) throw this.error(first.pos, `{{${word}}} is not supported`);
      else list.push({ kind: 'action', pipe: this.pipeline(piece.tokens, 'command') });
    }
    return { list };
  }

  private control(kind: 'if' | 'with' | 'range', pos: number, tokens: Token[]): Node {
    const mark = this.vars.length;
    const pipe = this.pipeline(tokens, kind, pos);
    // The pipeline's variables are seen up to the {{end}}, else branches too; the body's, up to its end.
    const scope = this.vars.length;
    if (kind === 'range') this.ranges++;
    const body = this.list();
    if (kind === 'range') this.ranges--;
    this.vars.length = scope;
    let elseList: Node[] = [];
    let end = body.end;
    if (end?.word === 'else') {
      const chained = end.rest[0];
      if (chained?.kind === 'ident' && (chained.text === 'if' || chained.text === 'with')) {
        // {{else if …}}: an if inside the else, ended by the same {{end}}.
        elseList = [this.control(chained.text, chained.pos, end.rest.slice(1))];
        this.vars.length = mark;
        return { kind, pipe, list: body.list, elseList };
      }
      if (end.rest.length) throw this.error(end.pos, 'unexpected tokens after else');
      const other = this.list();
      this.vars.length = scope;
      elseList = other.list;
      end = other.end;
      if (end?.word === 'else') throw this.error(end.pos, 'expected end; found {{else}}');
    }
    this.vars.length = mark;
    if (!end) throw this.error(this.source.length, 'unexpected EOF');
    return { kind, pipe, list: body.list, elseList };
  }

  /** A pipeline: `[$a[, $b] :=|=] command [| command]…`. */
  private pipeline(tokens: Token[], context: string, pos = tokens[0]?.pos ?? 0): Pipe {
    let t = tokens;
    const decl: string[] = [];
    let assign = false;
    const declEnd = t.findIndex((x) => x.kind === 'declare' || x.kind === 'assign');
    if (declEnd > 0 && t.slice(0, declEnd).every((x, i) => (i % 2 === 0 ? x.kind === 'var' && !x.names.length : x.kind === 'comma'))) {
      const names = t.slice(0, declEnd).filter((x) => x.kind === 'var').map((x) => x.text);
      if (names.length > (context === 'range' ? 2 : 1)) throw this.error(t[0]!.pos, `too many declarations in ${context}`);
      assign = t[declEnd]!.kind === 'assign';
      for (const name of names) {
        if (assign && !this.vars.includes(name)) throw this.error(t[0]!.pos, `undefined variable "${name}"`);
        decl.push(name);
      }
      t = t.slice(declEnd + 1);
    }
    if (!t.length) throw this.error(pos, `missing value for ${context}`);
    const cmds: Command[] = [];
    let i = 0;
    for (;;) {
      const { cmd, next } = this.command(t, i);
      cmds.push(cmd);
      i = next;
      if (i >= t.length) break;
      i++; // the |
    }
    if (!assign) this.vars.push(...decl);
    return { pos, decl, assign, cmds };
  }

  /** One command, from tokens[i] up to a `|` or the end (or a `)` when inside parentheses). */
  private command(t: Token[], i: number, inParens = false): { cmd: Command; next: number } {
    const args: Arg[] = [];
    const start = t[i]?.pos ?? t.at(-1)?.pos ?? 0;
    while (i < t.length && t[i]!.kind !== 'pipe' && !(inParens && t[i]!.kind === 'rparen')) {
      const { arg, next } = this.operand(t, i);
      args.push(arg);
      i = next;
    }
    if (!args.length) throw this.error(start, 'missing command');
    return { cmd: { pos: args[0]!.pos, src: this.source.slice(start, t[i - 1]!.end), args }, next: i };
  }

  private operand(t: Token[], i: number): { arg: Arg; next: number } {
    const token = t[i]!;
    const src = () => this.source.slice(token.pos, token.end);
    switch (token.kind) {
      // Where Go places a chain of fields, in errors: at its second link (`.State.Nope` at `.Nope`, `$v.A` at `.A`).
      case 'field':
        return { arg: { kind: 'field', pos: token.names.length > 1 ? token.pos + 1 + token.names[0]!.length : token.pos, src: src(), names: token.names }, next: i + 1 };
      case 'var':
        if (!this.vars.includes(token.text)) throw this.error(token.pos, `undefined variable "${token.text}"`);
        return { arg: { kind: 'var', pos: token.names.length ? token.pos + token.text.length : token.pos, src: src(), name: token.text, names: token.names }, next: i + 1 };
      case 'string':
        return { arg: { kind: 'literal', pos: token.pos, src: src(), value: token.text }, next: i + 1 };
      case 'number': {
        const value = Number(token.text.replaceAll('_', ''));
        if (Number.isNaN(value)) throw this.error(token.pos, `bad number syntax: "${token.text}"`);
        return { arg: { kind: 'literal', pos: token.pos, src: token.text, value }, next: i + 1 };
      }
      case 'ident': {
        const literals: Record<string, Value> = { true: true, false: false, nil: null };
        if (token.text in literals) return { arg: { kind: 'literal', pos: token.pos, src: token.text, value: literals[token.text] }, next: i + 1 };
        if (!(token.text in this.funcs)) throw this.error(token.pos, `function "${token.text}" not defined`);
        return { arg: { kind: 'ident', pos: token.pos, src: token.text, name: token.text }, next: i + 1 };
      }
      case 'lparen': {
        const cmds: Command[] = [];
        let j = i + 1;
        for (;;) {
          const { cmd, next } = this.command(t, j, true);
          cmds.push(cmd);
          j = next;
          if (t[j]?.kind === 'rparen') break;
          if (j >= t.length) throw this.error(token.pos, 'unclosed left paren');
          j++;
        }
        let names: string[] = [];
        if (t[j + 1]?.kind === 'field' && !t[j + 1]!.spaced) names = t[++j]!.names;
        return { arg: { kind: 'chain', pos: token.pos, src: this.source.slice(token.pos, t[j]!.end), pipe: { pos: token.pos, decl: [], assign: false, cmds }, names }, next: j + 1 };
      }
      default:
        throw this.error(token.pos, `unexpected ${JSON.stringify(token.text)} in operand`);
    }
  }
}

// ---- values as Go prints and judges them ----

/** Go's name for a value's type, in errors. */
function typeName(v: Value): string {
  if (v === null || v === undefined) return 'interface {}';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'function') return 'func';
  return 'map[string]interface {}';
}

const isObject = (v: Value): v is Record<string, Value> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** fmt's %v: lists as [a b], maps as map[k:v] in key order, nothing as <no value>, nil as <nil>. */
export function goString(v: Value): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? '<nil>' : goString(x))).join(' ')}]`;
  if (isObject(v)) return `map[${Object.keys(v).sort().map((k) => `${k}:${goString(v[k] ?? null)}`).join(' ')}]`;
  return String(v);
}

/** Go's truth: false, 0, "", nil and empty lists and maps are false. */
function truth(v: Value): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (isObject(v)) return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Docker's json function: encoding/json with HTML left alone, no trailing newline. */
function json(v: Value): string {
  const text = JSON.stringify(v === undefined ? null : v) ?? 'null';
  return text.replace(/[\u2028\u2029\b\f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** fmt.Sprintf, for the verbs scripts use: %v %s %d %q %x %X %f %e %g %t %c %%, with flags, width and precision. */
function sprintf(format: string, ...args: Value[]): string {
  let n = 0;
  return format.replace(/%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])/g, (_all, flags: string, width: string | undefined, precision: string | undefined, verb: string) => {
    if (verb === '%') return '%';
    const w = width === '*' ? Number(args[n++]) : width ? Number(width) : 0;
    const prec = precision === '*' ? Number(args[n++]) : precision;
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case 'd':
        s = typeof a === 'number' ? Math.trunc(a).toString() : `%!d(${typeName(a)}=${goString(a)})`;
        if (flags.includes('+') && typeof a === 'number' && a >= 0) s = `+${s}`;
        break;
      case 'q':
        s = typeof a === 'string' ? json(a) : `'${String.fromCodePoint(Number(a))}'`;
        break;
      case 'x':
      case 'X':
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(goString(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'g':
        if (typeof a !== 'number') s = `%!${verb}(${typeName(a)}=${goString(a)})`;
        else if (verb === 'e') s = a.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2');
        else if (verb === 'g') s = prec === undefined ? String(a) : Number(a.toPrecision(Number(prec))).toString();
        else s = fixed(a, prec === undefined ? 6 : Number(prec));
        break;
      case 'c':
        s = String.fromCodePoint(Number(a));
        break;
      case 't':
      case 'v':
      case 's':
        // %s of a number or a bool is a bad verb in Go; %t of anything but a bool too.
        if ((verb === 's' && (typeof a === 'number' || typeof a === 'boolean')) || (verb === 't' && typeof a !== 'boolean')) s = `%!${verb}(${typeName(a)}=${goString(a)})`;
        else s = goString(a);
        if (prec !== undefined && verb === 's') s = [...s].slice(0, Number(prec)).join('');
        break;
      default:
        s = `%!${verb}(${typeName(a)}=${goString(a)})`;
    }
    const pad = Math.max(0, w - [...s].length);
    if (flags.includes('-')) return s + ' '.repeat(pad);
    if (flags.includes('0') && /^[dfFeg]$/.test(verb)) return s.startsWith('-') ? `-${'0'.repeat(pad)}${s.slice(1)}` : '0'.repeat(pad) + s;
    return ' '.repeat(pad) + s;
  });
}

/** %.Nf as Go rounds: the exact binary value, a tie to even (2.25 → 2.2), where toFixed rounds a tie up. */
function fixed(a: number, digits: number): string {
  const rounded = a.toFixed(digits);
  const exact = a.toFixed(Math.min(100, digits + 60));
  const cut = exact.indexOf('.') + digits + (digits ? 1 : 0);
  const tie = /^50*$/.test(exact.slice(cut + (digits ? 0 : 1)));
  if (!tie) return rounded;
  const truncated = exact.slice(0, cut).replace(/\.$/, '');
  return Number(truncated.at(-1)) % 2 === 0 ? truncated : rounded;
}

function compare(name: string, a: Value, b: Value): number {
  if (typeof a !== typeof b || !['string', 'number', 'boolean'].includes(typeof a) || a === null) {
    if (name === 'eq' || name === 'ne') {
      if (a === null || b === null) return a === b ? 0 : 1;
    }
    throw new Error(`error calling ${name}: incompatible types for comparison`);
  }
  if (typeof a === 'boolean' && !['eq', 'ne'].includes(name)) throw new Error(`error calling ${name}: invalid type for comparison`);
  return a === b ? 0 : (a as number | string) < (b as number | string) ? -1 : 1;
}

function indexInto(v: Value, key: Value): Value {
  if (Array.isArray(v) || typeof v === 'string') {
    const list = typeof v === 'string' ? [...Buffer.from(v)] : v;
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new Error(`error calling index: cannot index slice/array with type ${typeName(key)}`);
    if (key < 0 || key >= list.length) throw new Error(`error calling index: index out of range: ${key}`);
    return list[key];
  }
  if (isObject(v)) return Object.hasOwn(v, String(key)) ? v[String(key)] : undefined;
  if (v === null || v === undefined) throw new Error('error calling index: index of untyped nil');
  throw new Error(`error calling index: can't index item of type ${typeName(v)}`);
}

/** Go's builtins and Docker's (docker/cli templates.basicFunctions). and/or are the evaluator's: they stop early. */
export const FUNCTIONS: Record<string, Fn> = {
  and: () => undefined,
  or: () => undefined,
  not: (v) => !truth(v),
  len: (v) => {
    if (typeof v === 'string') return Buffer.byteLength(v);
    if (Array.isArray(v)) return v.length;
    if (isObject(v)) return Object.keys(v).length;
    throw new Error(`error calling len: len of type ${typeName(v)}`);
  },
  index: (v, ...keys) => keys.reduce((at, k) => indexInto(at, k), v),
  slice: (v, ...bounds) => {
    if (typeof v !== 'string' && !Array.isArray(v)) throw new Error(`error calling slice: can't slice item of type ${typeName(v)}`);
    const [from = 0, to = v.length] = bounds as number[];
    if (from < 0 || to > v.length || from > to) throw new Error(`error calling slice: index out of range: ${to}`);
    return v.slice(from, to);
  },
  print: (...args) => args.map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goString(a)).join(''),
  println: (...args) => `${args.map(goString).join(' ')}\n`,
  printf: (format, ...args) => sprintf(String(format), ...args),
  eq: (a, ...bs) => {
    if (!bs.length) throw new Error('error calling eq: missing argument for comparison');
    return bs.some((b) => compare('eq', a, b) === 0);
  },
  ne: (a, b) => compare('ne', a, b) !== 0,
  lt: (a, b) => compare('lt', a, b) < 0,
  le: (a, b) => compare('le', a, b) <= 0,
  gt: (a, b) => compare('gt', a, b) > 0,
  ge: (a, b) => compare('ge', a, b) >= 0,
  json,
  split: (s, sep) => String(s).split(String(sep)),
  join: (list, sep) => {
    if (!Array.isArray(list)) throw new Error(`error calling join: wrong type for value; expected []string; got ${typeName(list)}`);
    return list.map(goString).join(String(sep));
  },
  title: (s) => String(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_, before: string, letter: string) => before + letter.toUpperCase()),
  lower: (s) => String(s).toLowerCase(),
  upper: (s) => String(s).toUpperCase(),
  pad: (s, before, after) => ' '.repeat(Number(before)) + String(s) + ' '.repeat(Number(after)),
  truncate: (s, n) => [...String(s)].slice(0, Number(n)).join(''),
};

// ---- evaluation ----

export interface ExecuteOptions {
  /**
   * The data is a Go struct of this type (`*formatter.ContainerContext`): a field it lacks is Go's "can't
   * evaluate field X in type T". Without it the data is a map, and a missing key is `map has no entry`.
   */
  structType?: string;
  /** A map's missing key: an error (missingkey=error, as docker inspect runs templates), or <no value>. */
  missingKey?: 'error' | 'default';
  /** The value of a field the top object lacks, instead of an error (a table's header row: every field has one). */
  fallback?: (field: string) => Value;
}

class Break {}
class Continue {}
/** An error found while executing, with the node it was found at. */
class ExecError extends Error {
  constructor(
    readonly pos: number,
    readonly src: string,
    message: string,
  ) {
    super(message);
  }
}

class Executor {
  private vars: { name: string; value: Value }[];
  private out = '';

  constructor(
    private readonly root: Value,
    private readonly options: ExecuteOptions,
  ) {
    this.vars = [{ name: '$', value: root }];
  }

  run(list: Node[]): string {
    this.walk(list, this.root);
    return this.out;
  }

  private walk(list: Node[], dot: Value): void {
    for (const node of list) {
      switch (node.kind) {
        case 'text':
          this.out += node.text;
          break;
        case 'action': {
          const v = this.pipe(node.pipe, dot);
          if (!node.pipe.decl.length) this.out += goString(v);
          break;
        }
        case 'break':
          throw new Break();
        case 'continue':
          throw new Continue();
        case 'if':
        case 'with': {
          const mark = this.vars.length;
          const v = this.pipe(node.pipe, dot);
          if (truth(v)) this.walk(node.list, node.kind === 'with' ? v : dot);
          else this.walk(node.elseList, dot);
          this.vars.length = mark;
          break;
        }
        case 'range':
          this.range(node, dot);
      }
    }
  }

  private range(node: Control, dot: Value): void {
    const mark = this.vars.length;
    const pipe = { ...node.pipe, decl: [] };
    const v = this.pipe(pipe, dot);
    const entries: [Value, Value][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : isObject(v)
        ? Object.keys(v).sort().map((k) => [k, v[k]])
        : typeof v === 'number' && Number.isInteger(v)
          ? Array.from({ length: Math.max(0, v) }, (_, i) => [i, i])
          : v === null || v === undefined
            ? []
            : this.fail(node.pipe.pos, node.pipe.cmds[0]!.src, `range can't iterate over ${goString(v)}`);
    if (!entries.length) this.walk(node.elseList, dot);
    for (const [key, element] of entries) {
      this.vars.length = mark;
      const [first, second] = node.pipe.decl;
      if (second !== undefined) this.vars.push({ name: first!, value: key }, { name: second, value: element });
      else if (first !== undefined) this.vars.push({ name: first, value: element });
      try {
        this.walk(node.list, element);
      } catch (e) {
        if (e instanceof Break) break;
        if (!(e instanceof Continue)) throw e;
      }
    }
    this.vars.length = mark;
  }

  private fail(pos: number, src: string, message: string): never {
    throw new ExecError(pos, src, message);
  }

  private pipe(pipe: Pipe, dot: Value): Value {
    let value: Value = undefined;
    pipe.cmds.forEach((cmd, i) => {
      value = this.command(cmd, dot, i > 0 ? [value] : []);
    });
    for (const name of pipe.decl) {
      if (pipe.assign) [...this.vars].reverse().find((v) => v.name === name)!.value = value;
      else this.vars.push({ name, value });
    }
    return value;
  }

  private command(cmd: Command, dot: Value, piped: Value[]): Value {
    const first = cmd.args[0]!;
    const rest = cmd.args.slice(1);
    const args = () => [...rest.map((a) => this.operand(a, dot, [])), ...piped];
    if (first.kind === 'ident') {
      const name = first.name;
      if (name === 'and' || name === 'or') {
        const operands = [...rest.map((a) => () => this.operand(a, dot, [])), ...piped.map((p) => () => p)];
        if (!operands.length) this.fail(cmd.pos, cmd.src, `wrong number of args for ${name}: want at least 1 got 0`);
        let v: Value;
        for (const operand of operands) {
          v = operand();
          if (truth(v) === (name === 'or')) return v;
        }
        return v;
      }
      try {
        return FUNCTIONS[name]!(...args());
      } catch (e) {
        if (e instanceof ExecError) throw e;
        this.fail(cmd.pos, cmd.src, (e as Error).message);
      }
    }
    if (first.kind === 'literal' && (rest.length || piped.length)) this.fail(cmd.pos, cmd.src, `can't give argument to non-function ${first.src}`);
    return this.operand(first, dot, [...rest.map((a) => this.operand(a, dot, [])), ...piped], rest.length + piped.length > 0);
  }

  /** An operand's value; the last field of a chain gets `args` when it is a method (given: there are some). */
  private operand(arg: Arg, dot: Value, args: Value[], given = false): Value {
    switch (arg.kind) {
      case 'literal':
        return arg.value;
      case 'ident':
        return this.fail(arg.pos, arg.src, `can't use ${arg.name} as a value`);
      case 'field':
        return this.fields(arg, dot, arg.names, args, given);
      case 'var': {
        const v = [...this.vars].reverse().find((x) => x.name === arg.name)!.value;
        return this.fields(arg, v, arg.names, args, given);
      }
      case 'chain':
        return this.fields(arg, this.pipe(arg.pipe, dot), arg.names, args, given);
    }
  }

  private fields(arg: Arg, start: Value, names: string[], args: Value[], given: boolean): Value {
    let v = start;
    if (!names.length && given) this.fail(arg.pos, arg.src, `can't give argument to non-function ${arg.src}`);
    names.forEach((name, i) => {
      const last = i === names.length - 1;
      if (isObject(v)) {
        if (!Object.hasOwn(v, name)) {
          if (v === this.root && this.options.fallback) {
            v = this.options.fallback(name);
            return;
          }
          if (v === this.root && this.options.structType) this.fail(arg.pos, arg.src, `can't evaluate field ${name} in type ${this.options.structType}`);
          if (this.options.missingKey === 'error') this.fail(arg.pos, arg.src, `map has no entry for key "${name}"`);
          v = undefined;
          return;
        }
        const field = v[name];
        if (typeof field === 'function') {
          const callArgs = last ? args : [];
          if (callArgs.length !== field.length) this.fail(arg.pos, arg.src, `wrong number of args for ${name}: want ${field.length} got ${callArgs.length}`);
          v = (field as Fn)(...callArgs);
          return;
        }
        if (last && given) this.fail(arg.pos, arg.src, `${name} has arguments but cannot be invoked as function`);
        v = field;
      } else if (v === null || v === undefined) {
        this.fail(arg.pos, arg.src, `nil pointer evaluating interface {}.${name}`);
      } else this.fail(arg.pos, arg.src, `can't evaluate field ${name} in type ${typeName(v)}`);
    });
    return v;
  }
}

export interface Template {
  execute(data: Value, options?: ExecuteOptions): string;
}

/** Parses a template (TemplateError: Go's parse error); execute() runs it on data (TemplateError: Go's exec error). */
export function parseTemplate(source: string): Template {
  const tree = new Parser(source, lex(source), FUNCTIONS).parse();
  return {
    execute(data, options = {}) {
      try {
        return new Executor(data, options).run(tree);
      } catch (e) {
        if (!(e instanceof ExecError)) throw e;
        const line = lineOf(source, e.pos);
        const column = e.pos - source.lastIndexOf('\n', e.pos - 1) - 1;
        throw new TemplateError(`template: :${line}:${column}: executing "" at <${e.src}>: ${e.message}`);
      }
    },
  };
}
