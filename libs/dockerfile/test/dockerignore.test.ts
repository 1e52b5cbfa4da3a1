import { describe, expect, it } from 'vitest';
import { IgnoreMatcher, isIgnored, parseDockerignore } from '../src/index.ts';

const matcher = (text: string): IgnoreMatcher => new IgnoreMatcher(parseDockerignore(text));

describe('parseDockerignore', () => {
  it('reads patterns: comments, blank lines, cleaning, leading / and ./', () => {
    const text = ['# comment', '', '  node_modules/  ', '/dist', './build//out/../cache', '!  keep.txt', '  # not a comment', '.', 'a/./b\r'].join('\n');
    expect(parseDockerignore(text)).toEqual(['node_modules', 'dist', 'build/cache', '!keep.txt', '# not a comment', 'a/b']);
  });

  it('rejects an exception with no pattern and malformed patterns', () => {
    expect(() => new IgnoreMatcher(parseDockerignore('!\n'))).toThrow('.dockerignore: illegal exclusion pattern: "!"');
    expect(() => new IgnoreMatcher(['src/[a-'])).toThrow('.dockerignore: syntax error in pattern "src/[a-"');
    expect(() => new IgnoreMatcher(['trailing\\'])).toThrow(/syntax error in pattern/);
  });
});

describe('matching', () => {
  it('matches filepath.Match patterns against whole paths from the context root (Docker docs example)', () => {
    const m = matcher('# comment\n*/temp*\n*/*/temp*\ntemp?');
    expect(m.excludes('somedir/temporary.txt')).toBe(true);
    expect(m.excludes('somedir/temp')).toBe(true);
    expect(m.excludes('somedir/subdir/temporary.txt')).toBe(true);
    expect(m.excludes('tempa')).toBe(true);
    expect(m.excludes('temporary.txt')).toBe(false); // */temp* needs a directory
    expect(m.excludes('a/b/c/temp')).toBe(false); // no ** here
    expect(m.excludes('tempab')).toBe(false);
  });

  it('excludes **/*.log everywhere but keeps an exception that comes after it', () => {
    const m = matcher('**/*.log\n!important.log');
    expect(m.excludes('debug.log')).toBe(true);
    expect(m.excludes('logs/2024/app.log')).toBe(true);
    expect(m.excludes('important.log')).toBe(false);
    // The exception names the root file only; a deeper one stays excluded.
    expect(m.excludes('sub/important.log')).toBe(true);
    expect(matcher('**/*.log\n!**/important.log').excludes('sub/important.log')).toBe(false);
  });

  it('lets the last matching line decide (Docker docs example)', () => {
    const readmes = ['README.md', 'README-secret.md', 'README-public.md', 'notes.md'];
    const first = matcher('*.md\n!README*.md\nREADME-secret.md');
    expect(readmes.filter((f) => !first.excludes(f))).toEqual(['README.md', 'README-public.md']);
    const second = matcher('*.md\nREADME-secret.md\n!README*.md');
    expect(readmes.filter((f) => !second.excludes(f))).toEqual(['README.md', 'README-secret.md', 'README-public.md']);
  });

  it('excludes what is inside an excluded directory, unless an exception re-includes it', () => {
    const m = matcher('docs\n!docs/README.md');
    expect(m.excludes('docs')).toBe(true);
    expect(m.excludes('docs/guide/intro.md')).toBe(true);
    expect(m.excludes('docs/README.md')).toBe(false);
    expect(m.excludes('other/docs')).toBe(false);
    // A directory exception re-includes what is inside it.
    const vendor = matcher('*\n!src\n!package.json');
    expect(['src/a/b.ts', 'package.json', 'node_modules/x/index.js', 'README.md'].filter((f) => !vendor.excludes(f))).toEqual(['src/a/b.ts', 'package.json']);
  });

  it('gives ** its Docker meanings: any depth, a prefix, a suffix', () => {
    expect(isIgnored('a/b/c/x.go', ['**/*.go'])).toBe(true);
    expect(isIgnored('x.go', ['**/*.go'])).toBe(true);
    expect(isIgnored('a/b', ['a/**/b'])).toBe(true);
    expect(isIgnored('a/x/y/b', ['a/**/b'])).toBe(true);
    expect(isIgnored('a/x/b/c', ['a/**/b'])).toBe(true); // via its parent a/x/b
    // "a/**" excludes everything in a, not a itself (which Docker then sends, empty).
    expect(isIgnored('a', ['a/**'])).toBe(false);
    expect(isIgnored('a/deep/file', ['a/**'])).toBe(true);
    expect(isIgnored('anything/at/all', ['**'])).toBe(true);
    // Quirk: a leading ** followed by plain text is a suffix test, so "**.log" acts like "**/*.log".
    expect(isIgnored('dir/app.log', ['**.log'])).toBe(true);
  });

  it('cleans the paths it is asked about', () => {
    const m = matcher('/secret.txt');
    expect(m.excludes('./secret.txt')).toBe(true);
    expect(m.excludes('/secret.txt')).toBe(true);
    expect(m.excludes('x/../secret.txt')).toBe(true);
    expect(m.excludes('.')).toBe(false); // never the context itself
  });

  it('uses Go character classes and escapes', () => {
    expect(isIgnored('file1.txt', ['file[0-9].txt'])).toBe(true);
    expect(isIgnored('fileA.txt', ['file[^0-9].txt'])).toBe(true);
    expect(isIgnored('file*.txt', ['file\\*.txt'])).toBe(true);
    expect(isIgnored('fileX.txt', ['file\\*.txt'])).toBe(false);
  });
});

describe('the context walk', () => {
  const tree = ['Dockerfile', 'app.log', 'important.log', 'src/main.ts', 'src/debug.log', 'node_modules/lib/index.js', 'docs/README.md', 'docs/guide/intro.md', 'empty/'];

  it('skips an excluded directory when no exception can match below it', () => {
    const m = matcher('node_modules\n!docs/README.md');
    expect(m.mayIncludeBelow('node_modules')).toBe(false);
    expect(m.mayIncludeBelow('docs')).toBe(true);
    expect(matcher('node_modules').mayIncludeBelow('node_modules')).toBe(false);
    // Trailing /* and /** do not count as wildcards for this test.
    expect(matcher('docs\n!docs/api/**').mayIncludeBelow('docs')).toBe(true);
  });

  it('walks everything when an exception has a wildcard, since it cannot tell', () => {
    const m = matcher('node_modules\n!**/important.log');
    expect(m.mayIncludeBelow('node_modules')).toBe(true);
    expect(m.mayIncludeBelow('anything')).toBe(true);
  });

  it('sends what is not excluded, and the excluded directories that hold re-included files', () => {
    const m = matcher('**/*.log\n!important.log\nnode_modules\ndocs\n!docs/README.md');
    expect(m.filter(tree)).toEqual(['Dockerfile', 'docs/', 'docs/README.md', 'empty/', 'important.log', 'src/', 'src/main.ts']);
  });

  it('sends everything without a .dockerignore', () => {
    expect(new IgnoreMatcher([]).filter(['b', 'a/c'])).toEqual(['a/', 'a/c', 'b']);
  });
});
