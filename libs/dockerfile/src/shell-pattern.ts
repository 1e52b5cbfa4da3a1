/**
 * The shell patterns of `${VAR#pattern}`, `${VAR%pattern}` and
 * `${VAR/pattern/replacement}` (BuildKit's convertShellPatternToRegex):
 * `*` and `?` only; no bracket expressions.
 */

export class PatternError extends Error {}

export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, flags = 'u'): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    let tok = chars[i] as string;
    if (tok === '*') {
      out += greedy ? '.*' : '.*?';
      continue;
    }
    if (tok === '?') {
      out += '.';
      continue;
    }
    if (tok === '\\') {
      // "\}" and "\/" only protect the ${} syntax; the backslash is not part of the pattern.
      const nextTok = chars[i + 1];
      if (nextTok === '}' || nextTok === '/') continue;
      tok = chars[++i] ?? '';
      if (tok !== '*' && tok !== '?' && tok !== '\\') throw new PatternError(`invalid escape '\\${tok}'`);
      out += `\\${tok}`;
      continue;
    }
    out += '[]{}.+()|^$'.includes(tok) ? `\\${tok}` : tok;
  }
  return new RegExp(out, flags);
}

/** Removes the shortest (or, greedy, the longest) prefix of `value` that matches `pattern`. */
export function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m[0].length) : value;
}

/**
 * Removes the shortest (or longest) matching suffix. A regular expression
 * cannot find the shortest rightmost match, so both the pattern and the value
 * are reversed and the prefix is trimmed instead, as BuildKit does.
 */
export function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

/** Reverses a pattern but keeps each escape before the character it escapes: `a\*c` → `c\*a`. */
function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const tok = chars[i] as string;
    const at = last - i;
    if (tok === '\\' && i !== last) {
      out[at - 1] = tok;
      out[at] = chars[i + 1] as string;
      i += 2;
    } else {
      out[at] = tok;
      i++;
    }
  }
  return out.join('');
}
