import { DockerfileError } from './errors.ts';
import { compileGoPattern, PatternSyntaxError } from './go-match.ts';
import { contextEntries, contextPath, entryName } from './path.ts';

/**
 * COPY and ADD sources in the build context. A source with `*`, `?` or `[`
 * is a filepath.Match pattern, matched against whole paths: `*` does not
 * cross `/`, and there is no `**`. A `\` escapes the next character.
 */

/** fsutil's containsWildcards. */
export function hasWildcards(source: string): boolean {
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '\\') i++;
    else if (ch === '*' || ch === '?' || ch === '[') return true;
  }
  return false;
}

/**
 * The context entries a COPY/ADD source names. `contextPaths` lists the
 * context, relative (a trailing `/` marks a directory; parents are implied).
 * Sources are relative to the context root whatever they start with, and
 * `..` cannot leave it: `/a`, `./a` and `../a` are all `a`; `.` is the whole
 * context. A pattern's matches come in walk order, and a matching directory
 * stands for everything in it (it is not searched further). Directories come
 * back with a trailing `/` (COPY copies their contents). No match gives `[]`:
 * BuildKit accepts a pattern that matches nothing, but a plain path that is
 * missing fails the build ("not found"); the caller decides.
 */
export function matchSources(contextPaths: readonly string[], source: string): string[] {
  const wanted = contextPath(source);
  const entries = contextEntries(contextPaths);
  if (wanted === '.') return ['./'];
  if (!hasWildcards(source)) {
    const entry = entries.find((e) => e.path === wanted);
    return entry ? [entryName(entry)] : [];
  }
  let re: RegExp;
  try {
    re = compileGoPattern(wanted);
  } catch (e) {
    if (e instanceof PatternSyntaxError) throw new DockerfileError(`COPY source: ${e.message}`);
    throw e;
  }
  const matches: string[] = [];
  let within: string | undefined;
  for (const entry of entries) {
    if (within !== undefined && entry.path.startsWith(within)) continue;
    within = undefined;
    if (!re.test(entry.path)) continue;
    matches.push(entryName(entry));
    if (entry.dir) within = `${entry.path}/`;
  }
  return matches;
}
