import { describe, expect, it } from 'vitest';
import { cleanPath, compileGoPattern, contextPath, goMatch, hasWildcards, matchSources } from '../src/index.ts';

const context = ['Dockerfile', 'go.mod', 'go.sum', 'main.go', 'cmd/app/main.go', 'cmd/tool/main.go', 'config/a.yaml', 'config/b.yml', 'hom/x', 'home.txt', 'hommer.txt', 'web/', 'my file.txt'];

describe('matchSources: COPY/ADD sources in the context', () => {
  it('finds a plain path, file or directory, or nothing', () => {
    expect(matchSources(context, 'go.mod')).toEqual(['go.mod']);
    expect(matchSources(context, 'config')).toEqual(['config/']);
    expect(matchSources(context, 'config/')).toEqual(['config/']);
    expect(matchSources(context, 'web')).toEqual(['web/']);
    expect(matchSources(context, 'missing.txt')).toEqual([]);
    expect(matchSources(context, 'my file.txt')).toEqual(['my file.txt']);
  });

  it('matches globs the way Go filepath.Match does: * stays within a directory', () => {
    expect(matchSources(context, 'go.*')).toEqual(['go.mod', 'go.sum']);
    expect(matchSources(context, '*.go')).toEqual(['main.go']);
    expect(matchSources(context, 'cmd/*/main.go')).toEqual(['cmd/app/main.go', 'cmd/tool/main.go']);
    expect(matchSources(context, 'hom?.txt')).toEqual(['home.txt']);
    expect(matchSources(context, 'hom*')).toEqual(['hom/', 'home.txt', 'hommer.txt']);
    expect(matchSources(context, 'config/*.y[a]ml')).toEqual(['config/a.yaml']);
    expect(matchSources(context, '**/main.go')).toEqual([]); // no ** for COPY
  });

  it('returns a matching directory as a whole, not its contents', () => {
    expect(matchSources(context, 'c*')).toEqual(['cmd/', 'config/']);
  });

  it('keeps sources inside the context: leading /, ./ and .. do not leave it', () => {
    expect(matchSources(context, '/go.mod')).toEqual(['go.mod']);
    expect(matchSources(context, './cmd/app/../tool/main.go')).toEqual(['cmd/tool/main.go']);
    expect(matchSources(context, '../../go.sum')).toEqual(['go.sum']);
    expect(matchSources(context, '.')).toEqual(['./']);
    expect(matchSources(context, '/')).toEqual(['./']);
  });

  it('rejects a malformed pattern', () => {
    expect(() => matchSources(context, 'config/[a-')).toThrow('COPY source: syntax error in pattern "config/[a-"');
  });

  it('knows what has wildcards; an escaped one is not', () => {
    expect(hasWildcards('*.txt')).toBe(true);
    expect(hasWildcards('file[12]')).toBe(true);
    expect(hasWildcards('what?')).toBe(true);
    expect(hasWildcards('plain/path')).toBe(false);
    expect(hasWildcards('star\\*')).toBe(false);
  });
});

describe('Go filepath.Match', () => {
  it.each([
    ['abc', 'abc', true],
    ['*', 'abc', true],
    ['*c', 'abc', true],
    ['a*', 'a', true],
    ['a*', 'ab/c', false],
    ['a*/b', 'abc/b', true],
    ['a*b*c*d*e*/f', 'axbxcxdxe/f', true],
    ['a*b?c*x', 'abxbbxdbxebxczzx', true],
    ['a*b?c*x', 'abxbbxdbxebxczzy', false],
    ['ab[c]', 'abc', true],
    ['ab[b-d]', 'abc', true],
    ['ab[e-g]', 'abc', false],
    ['ab[^c]', 'abc', false],
    ['ab[^b-d]', 'abe', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'ab', false],
    ['a?b', 'a☺b', true],
    ['a[^a]b', 'a☺b', true],
    ['[\\-]', '-', true],
    ['[x\\-]', 'z', false],
    ['[a-b-c]', 'a', false],
    ['a?b', 'a/b', false],
    // Quirk: a class does match the separator.
    ['a[^x]b', 'a/b', true],
    ['[z-a]', 'm', false],
  ])('Match(%s, %s) = %s', (pattern, name, expected) => {
    if (pattern === '[a-b-c]') {
      expect(() => goMatch(pattern, name)).toThrow(/syntax error/);
      return;
    }
    expect(goMatch(pattern, name)).toBe(expected);
  });

  it.each(['[', '[^', '[^bc', 'a[', 'a\\', '[]a]', '[-]', '[x-]', '[-x]', 'ab[^]', '[a-'])('%s is a bad pattern', (pattern) => {
    expect(() => compileGoPattern(pattern)).toThrow('syntax error in pattern');
  });
});

describe('paths', () => {
  it('cleans like Go path.Clean', () => {
    expect(['', '.', 'a//b', 'a/./b/', '/../a', 'a/../..', '../a/b/..', '/'].map(cleanPath)).toEqual(['.', '.', 'a/b', 'a/b', '/a', '..', '../a', '/']);
  });

  it('keeps context paths inside the context', () => {
    expect(['/', '', './a/', '../../etc/passwd', 'a/../../b'].map(contextPath)).toEqual(['.', '.', 'a', 'etc/passwd', 'b']);
  });
});
