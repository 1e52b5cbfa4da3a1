import { DockerfileError } from './errors.ts';
import { compileGoPattern, PatternSyntaxError, readClass, regexLiteral } from './go-match.ts';
import { cleanPath, contextEntries, contextPath, dirname, entryName } from './path.ts';

/**
 * .dockerignore as Docker reads it (moby/patternmatcher, its ignorefile
 * reader, and the context walk of tonistiigi/fsutil).
 */

/**
 * The patterns of a .dockerignore, one per line: `#` comments (only in the
 * first column), surrounding whitespace trimmed, each pattern cleaned
 * (`./a/` is `a`, a leading `/` goes), `!` marks an exception.
 */
export function parseDockerignore(text: string): string[] {
  const patterns: string[] = [];
  const lines = text.split('\n');
  if (lines[0]?.startsWith('\uFEFF')) lines[0] = lines[0].slice(1);
  for (const line of lines) {
    // Quirk: a comment is a "#" in column one; "  # x" is the pattern "# x".
    if (line.startsWith('#')) continue;
    let pattern = line.trim();
    if (pattern === '') continue;
    const exception = pattern.startsWith('!');
    if (exception) pattern = pattern.slice(1).trim();
    if (pattern !== '') {
      pattern = cleanPath(pattern);
      if (pattern.length > 1 && pattern.startsWith('/')) pattern = pattern.slice(1);
    }
    // Docker documents that "." is ignored, for historical reasons.
    if (pattern === '.') continue;
    patterns.push(exception ? `!${pattern}` : pattern);
  }
  return patterns;
}

type MatchType = 'exact' | 'prefix' | 'suffix' | 'regexp';

interface Rule {
  pattern: string;
  exception: boolean;
  type: MatchType;
  regexp?: RegExp;
}

/**
 * A pattern to a matcher, as patternmatcher's compile: `**` matches any
 * number of directories (zero included), `*` and `?` stay within one.
 * Plain patterns compare exactly; `a/**` is a prefix and `**\/a` a suffix.
 */
function compileRule(pattern: string, exception: boolean): Rule {
  const chars = Array.from(pattern);
  let re = '';
  let type: MatchType = 'exact';
  for (let i = 0, token = 0; i < chars.length; token++) {
    const ch = chars[i++] as string;
    if (ch === '*' && chars[i] === '*') {
      i++;
      if (chars[i] === '/') i++; // "**/" is "**"
      if (i >= chars.length) {
        // A trailing "**" matches everything below, as in .gitignore.
        if (type === 'exact') type = 'prefix';
        else [re, type] = [`${re}.*`, 'regexp'];
      } else [re, type] = [`${re}(?:.*/)?`, 'regexp'];
      if (token === 0) type = 'suffix';
    } else if (ch === '*') [re, type] = [`${re}[^/]*`, 'regexp'];
    else if (ch === '?') [re, type] = [`${re}[^/]`, 'regexp'];
    else if (ch === '\\' && i < chars.length) [re, type] = [re + regexLiteral(chars[i++] as string), 'regexp'];
    else if (ch === '[') {
      // Docker passes classes to Go's regexp raw; translating them as
      // filepath.Match defines them gives the same result for sane patterns.
      const cls = readClass(chars, i, pattern);
      [re, type, i] = [re + cls.source, 'regexp', cls.end];
    } else if (ch === ']') [re, type] = [`${re}\\]`, 'regexp'];
    else re += regexLiteral(ch);
  }
  return { pattern, exception, type, regexp: type === 'regexp' ? new RegExp(`^${re}$`, 'u') : undefined };
}

function ruleMatches(rule: Rule, path: string): boolean {
  switch (rule.type) {
    case 'exact':
      return path === rule.pattern;
    case 'prefix':
      return path.startsWith(rule.pattern.slice(0, -2));
    case 'suffix': {
      const suffix = rule.pattern.slice(2);
      // "**/a" matches "a" too.
      return path.endsWith(suffix) || (suffix.startsWith('/') && path === suffix.slice(1));
    }
    case 'regexp':
      return (rule.regexp as RegExp).test(path);
  }
}

/** What fsutil counts as a wildcard when deciding whether an excluded directory can be skipped. */
const PATTERN_CHARS = /[*[\]?^\\]/;

export class IgnoreMatcher {
  private readonly rules: Rule[];
  /** Whether any pattern is an `!` exception. */
  readonly hasExceptions: boolean;
  private readonly onlyPrefixExceptions: boolean;

  constructor(patterns: readonly string[]) {
    this.rules = patterns.flatMap((raw) => {
      let p = raw.trim();
      if (p === '') return [];
      p = cleanPath(p);
      const exception = p.startsWith('!');
      if (exception) {
        if (p.length === 1) throw new DockerfileError('illegal exclusion pattern: "!"', undefined, '.dockerignore');
        p = p.slice(1);
      }
      try {
        compileGoPattern(p); // Docker rejects what filepath.Match rejects
        return [compileRule(p, exception)];
      } catch (e) {
        if (e instanceof PatternSyntaxError) throw new DockerfileError(e.message, undefined, '.dockerignore');
        throw e;
      }
    });
    this.hasExceptions = this.rules.some((r) => r.exception);
    this.onlyPrefixExceptions = !this.rules.some((r) => r.exception && PATTERN_CHARS.test(withoutTrailingGlob(r.pattern)));
  }

  /** The patterns in effect, cleaned, `!` for exceptions. */
  get patterns(): string[] {
    return this.rules.map((r) => (r.exception ? `!${r.pattern}` : r.pattern));
  }

  /**
   * Whether `path` (relative to the context) is left out. A pattern that
   * matches a parent directory matches everything in it; the last pattern
   * that matches decides, so an exception after an exclusion re-includes.
   */
  excludes(path: string): boolean {
    const file = contextPath(path);
    if (file === '.') return false; // the context itself is never excluded
    const parent = dirname(file);
    const parentDirs = parent === '.' ? [] : parent.split('/');
    let excluded = false;
    for (const rule of this.rules) {
      // An exclusion cannot change an excluded path, nor an exception an included one.
      if (rule.exception !== excluded) continue;
      const match = ruleMatches(rule, file) || parentDirs.some((_, i) => ruleMatches(rule, parentDirs.slice(0, i + 1).join('/')));
      if (match) excluded = !rule.exception;
    }
    return excluded;
  }

  /**
   * For an excluded directory: whether the walk must still go into it,
   * because an exception may re-include something below. Docker (fsutil)
   * skips the directory when every exception is a plain path (trailing `/*`
   * or `/**` aside) that is not under it; with any wildcard in an exception
   * it cannot tell, and walks everything.
   */
  mayIncludeBelow(dir: string): boolean {
    if (!this.hasExceptions) return false;
    if (!this.onlyPrefixExceptions) return true;
    const dirSlash = `${contextPath(dir)}/`;
    return this.rules.some((r) => r.exception && `${withoutTrailingGlob(r.pattern)}/`.startsWith(dirSlash));
  }

  /**
   * What of a context listing is sent to the builder, as Docker's walk
   * decides it: excluded paths are dropped, excluded directories are not
   * walked unless `mayIncludeBelow`, and an excluded directory still comes
   * along when something inside it is included. `paths` are relative; a
   * trailing `/` marks a directory (implied for parents of listed paths).
   * The result is in walk order, directories with a trailing `/`.
   */
  filter(paths: readonly string[]): string[] {
    const included = new Set<string>();
    let skipped: string | undefined;
    const entries = contextEntries(paths);
    for (const entry of entries) {
      if (skipped !== undefined && entry.path.startsWith(skipped)) continue;
      skipped = undefined;
      if (this.excludes(entry.path)) {
        if (entry.dir && !this.mayIncludeBelow(entry.path)) skipped = `${entry.path}/`;
        continue;
      }
      included.add(entry.path);
      for (let d = dirname(entry.path); d !== '.'; d = dirname(d)) included.add(d);
    }
    return entries.filter((e) => included.has(e.path)).map(entryName);
  }
}

function withoutTrailingGlob(pattern: string): string {
  let p = pattern;
  if (p.endsWith('/**')) p = p.slice(0, -3);
  if (p.endsWith('/*')) p = p.slice(0, -2);
  return p;
}

/** Whether `path` is left out of the context by these .dockerignore patterns. */
export function isIgnored(path: string, patterns: readonly string[] | IgnoreMatcher): boolean {
  return (patterns instanceof IgnoreMatcher ? patterns : new IgnoreMatcher(patterns)).excludes(path);
}
