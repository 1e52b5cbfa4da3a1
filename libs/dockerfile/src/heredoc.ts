import { DockerfileError } from './errors.ts';
import { expand, expandWords } from './lex.ts';
import { parseJsonArray, parseWords, splitInstruction } from './words.ts';

/**
 * Here-documents, as BuildKit's Dockerfile frontend reads them (parser.go's heredoc functions,
 * dockerfile2llb's dispatchRun and dispatchCopy): `RUN <<EOF`, `COPY <<EOF /file`, several on one line,
 * `<<-EOF` (leading tabs stripped), a quoted delimiter (`<<'EOF'`, `<<"EOF"`: no expansion in COPY).
 * Only RUN, COPY and ADD (also as an ONBUILD trigger) take them, and not in the JSON form.
 */

export interface Heredoc {
  /** The delimiter, quotes removed: the name of a COPY source file, the word that ends the body. */
  name: string;
  /** The body: each line with its newline, the delimiter line not included, tabs not yet stripped. */
  content: string;
  /** Whether COPY substitutes variables in the body: the delimiter was not quoted. */
  expand: boolean;
  /** `<<-`: leading tabs are stripped from each line of the body (and the delimiter line may have them). */
  chomp: boolean;
  /** The file descriptor written before `<<` (`3<<EOF`), for the shell; 0 if none. */
  fd: number;
}

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const KEYWORDS_WITH_HEREDOCS = new Set(['RUN', 'COPY', 'ADD']);

/** A word that starts a heredoc (`<<EOF`, `<<-"EOF"`, `3<<EOF`), else undefined. */
export function parseHeredocWord(word: string): Omit<Heredoc, 'content'> | undefined {
  const m = HEREDOC_WORD.exec(word);
  const rest = m?.[3];
  if (!m || !rest) return undefined;
  let words: string[];
  try {
    words = expandWords(rest, {}, '\\');
  } catch {
    return undefined;
  }
  // Not one word (`<<EOF bash`): not a heredoc word.
  if (words.length !== 1) return undefined;
  const name = expand(rest, {}, '\\');
  const quotes = (s: string) => (s.match(/["']/g) ?? []).length;
  // Any part of the delimiter quoted (quotes in the word as written that quote removal took away): no expansion.
  return { name, expand: quotes(rest) === quotes(name), chomp: m[2] === '-', fd: m[1] ? Number(m[1]) : 0 };
}

/**
 * The heredocs a logical line opens: its words (quotes kept) that are heredoc words, in order. None for an
 * instruction that takes no heredocs (CMD <<EOF is shell text), or for the JSON form.
 */
export function heredocsOf(text: string): Omit<Heredoc, 'content'>[] {
  if (!text.includes('<<')) return [];
  let { keyword, rest } = splitInstruction(text);
  if (keyword.toUpperCase() === 'ONBUILD') ({ keyword, rest } = splitInstruction(rest));
  if (!KEYWORDS_WITH_HEREDOCS.has(keyword.toUpperCase()) || isJsonForm(rest)) return [];
  return parseWords(rest, '\\').flatMap((w) => parseHeredocWord(w) ?? []);
}

function isJsonForm(rest: string): boolean {
  try {
    return parseJsonArray(rest) !== undefined;
  } catch {
    return true; // a JSON array of non-strings: an error the instruction's parser gives
  }
}

/**
 * Reads the bodies of `docs` from `physical` (the file's lines), starting at index `from`, one after the
 * other: each ends at a line that is its delimiter (after leading tabs with `<<-`). Returns the heredocs and
 * the index after the last delimiter line.
 */
export function readHeredocBodies(docs: readonly Omit<Heredoc, 'content'>[], physical: readonly string[], from: number, startLine: number, file: string): { heredocs: Heredoc[]; next: number } {
  let i = from;
  const heredocs = docs.map((doc) => {
    let content = '';
    for (;;) {
      if (i >= physical.length) throw new DockerfileError('unterminated heredoc', startLine, file, `the body must end with a line that is ${JSON.stringify(doc.name)} alone`);
      const line = (physical[i++] ?? '').replace(/\r$/, '');
      if ((doc.chomp ? line.replace(/^\t+/, '') : line) === doc.name) break;
      content += `${line}\n`;
    }
    return { ...doc, content };
  });
  return { heredocs, next: i };
}

/** The body as the file or script gets it: with `<<-`, the leading tabs of each line gone. */
export function heredocBody(doc: Heredoc): string {
  return doc.chomp ? doc.content.replace(/^\t+/gm, '') : doc.content;
}

/** The instruction's text again with its heredocs after it, as a Dockerfile has it (an ONBUILD trigger keeps them). */
export function withHeredocs(text: string, heredocs: readonly Heredoc[]): string {
  return [text, ...heredocs.map((h) => `${h.content}${h.name}`)].join('\n');
}

/**
 * What a shell-form RUN with heredocs runs (dispatchRun): a command that is one heredoc alone runs its body —
 * as a script file (`/dev/pipes/NAME`, mode 0755) when it starts with `#!`, else as the shell's command text;
 * any other command goes to the shell whole, followed by each body and delimiter, for the shell to read.
 */
export type HeredocRun = { kind: 'text'; text: string } | { kind: 'script'; name: string; body: string };

export function heredocRun(text: string, heredocs: readonly Heredoc[]): HeredocRun {
  const first = heredocs[0];
  if (first && parseHeredocWord(text)) {
    const body = heredocBody(first);
    return body.startsWith('#!') ? { kind: 'script', name: first.name, body } : { kind: 'text', text: body };
  }
  return { kind: 'text', text: withHeredocs(text, heredocs) };
}

/** lines.ts's ReadBodies: the heredocs a logical line opens, with their bodies from the lines after it. */
export function readHeredocs(text: string, physical: readonly string[], next: number, line: number, file: string): { heredocs: Heredoc[]; next: number } {
  const docs = heredocsOf(text);
  return docs.length ? readHeredocBodies(docs, physical, next, line, file) : { heredocs: [], next };
}
