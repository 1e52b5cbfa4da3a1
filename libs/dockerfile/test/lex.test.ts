import { describe, expect, it } from 'vitest';
import { expand, expandList, expandWords } from '../src/index.ts';

const env = { PWD: '/home', SHELL: 'bash', NULL: '' };

describe('expand: substitution and quote removal like Docker', () => {
  // Word → result, after BuildKit's shell lexer tests (envVarTest), with
  // PWD=/home, SHELL=bash and NULL set but empty.
  it.each([
    ['hello', 'hello'],
    ["he'll'o", 'hello'],
    ["he\\'llo", "he'llo"],
    ['abc\\tdef', 'abctdef'],
    ['"abc\\tdef"', 'abc\\tdef'],
    ['"abc\\\\tdef"', 'abc\\tdef'],
    ["'abc\\tdef'", 'abc\\tdef'],
    ['hello\\', 'hello'],
    ['hello\\\\', 'hello\\'],
    ['"hel\'lo"', "hel'lo"],
    ["'hello\\'", 'hello\\'],
    ['"\'\'"', "''"],
    ['$.', '$.'],
    ['$1', ''],
    ['he$1x', 'hex'],
    ['he$.x', 'he$.x'],
    ['he$pwd.', 'he.'],
    ['he$PWD', 'he/home'],
    ['he\\$PWD', 'he$PWD'],
    ['he\\\\$PWD', 'he\\/home'],
    ['"he\\$PWD"', 'he$PWD'],
    ['"he\\\\$PWD"', 'he\\/home'],
    ['\\${}', '${}'],
    ['he\\${}xx', 'he${}xx'],
    ['he${hi}xx', 'hexx'],
    ['he${PWD}', 'he/home'],
    ['he${XXX:-000}xx', 'he000xx'],
    ['he${PWD:-000}xx', 'he/homexx'],
    ['he${XXX:-$PWD}xx', 'he/homexx'],
    ['he${XXX:-${PWD:-yyy}}xx', 'he/homexx'],
    ['he${XXX:-${YYY:-yyy}}xx', 'heyyyxx'],
    ['he${PWD?}', 'he/home'],
    ['he${PWD:?}', 'he/home'],
    ['he${NULL?}', 'he'],
    ['he${XXX:+${PWD}}xx', 'hexx'],
    ['he${PWD:+${XXX}}xx', 'hexx'],
    ['he${PWD:+${SHELL}}xx', 'hebashxx'],
    ['he${XXX:+000}xx', 'hexx'],
    ['he${PWD:+000}xx', 'he000xx'],
    ["'he${XX}'", 'he${XX}'],
    ['"he${PWD}"', 'he/home'],
    ['"he\'$PWD\'"', "he'/home'"],
    ["'$PWD'", '$PWD'],
    ["'\\$PWD'", '\\$PWD'],
    ['he${PWD:+${PWD}:}xx', 'he/home:xx'],
    ['he${XXX:-\\$PWD:}xx', 'he$PWD:xx'],
    ['he${XXX:-\\${PWD}z}xx', 'he${PWDz}xx'],
    ['안녕\\\'하세요', "안녕'하세요"],
    ["안'녕'하세요", '안녕하세요'],
    ['$$ $? $# $0 $@', '    '],
  ])('%s → %s', (word, expected) => {
    expect(expand(word, env)).toBe(expected);
  });

  it.each([
    ["he'llo", 'unexpected end of statement while looking for matching single-quote'],
    ["he\\\\'llo", 'single-quote'],
    ['"hello', 'unexpected end of statement while looking for matching double-quote'],
    ['"hello\\"', 'double-quote'],
    ['${}', 'syntax error: bad substitution'],
    ['he${}xx', 'bad substitution'],
    ['he${.}', "unsupported modifier (.) in substitution"],
    ['he${XXX:YYY}', 'unsupported modifier (:Y) in substitution'],
    ['he${XXX?}', 'XXX: is not allowed to be unset'],
    ['he${XXX:?}', 'XXX: is not allowed to be unset'],
    ['he${NULL:?}', 'NULL: is not allowed to be empty'],
    ['${XXX?set XXX first}', 'XXX: set XXX first'],
    ['he${PWD', "syntax error: missing '}'"],
    ['he${PWD:=000}xx', 'unsupported modifier (:=) in substitution'],
    ['${PWD:#x}', 'unsupported modifier (:#) in substitution'],
  ])('%s is an error: %s', (word, message) => {
    expect(() => expand(word, env)).toThrow(message);
  });

  it('names the word that failed', () => {
    expect(() => expand('${A', {})).toThrow(`failed to process "\${A": syntax error: missing '}'`);
  });

  it('treats unset and empty differently without the colon', () => {
    expect(expand('[${NULL-default}] [${NULL:-default}] [${NULL+alt}] [${NULL:+alt}]', env)).toBe('[] [default] [alt] []');
    expect(expand('[${UNSET-default}] [${UNSET:-default}] [${UNSET+alt}] [${UNSET:+alt}]', env)).toBe('[default] [default] [] []');
  });

  it('removes quotes in defaults, and expands inside double quotes only', () => {
    expect(expand('${NOPE:-"a b"}', env)).toBe('a b');
    expect(expand(`\${NOPE:-'$PWD'}`, env)).toBe('$PWD');
    expect(expand('"${NOPE:-$PWD}"', env)).toBe('/home');
  });

  it('trims prefixes and suffixes with shell patterns, and replaces', () => {
    const files = { FILE: 'archive.tar.gz', PATHV: '/usr/local/bin' };
    expect(expand('${FILE#*.}', files)).toBe('tar.gz');
    expect(expand('${FILE##*.}', files)).toBe('gz');
    expect(expand('${FILE%.*}', files)).toBe('archive.tar');
    expect(expand('${FILE%%.*}', files)).toBe('archive');
    expect(expand('${FILE#nomatch}', files)).toBe('archive.tar.gz');
    expect(expand('${PATHV/local/opt}', files)).toBe('/usr/opt/bin');
    expect(expand('${PATHV//\\//:}', files)).toBe(':usr:local:bin');
    expect(expand('${FILE/a?c/X}', files)).toBe('Xhive.tar.gz');
  });

  it('uses the escape character it is given', () => {
    // With escape=` (Windows Dockerfiles), backslashes are ordinary characters.
    expect(expand('C:\\Users\\$USER', { USER: 'app' }, '`')).toBe('C:\\Users\\app');
    expect(expand('price: `$5', {}, '`')).toBe('price: $5');
    expect(expand('C:\\Users\\$USER', { USER: 'app' })).toBe('C:Users$USER');
  });

  it('takes a Map as well as a record, and ignores inherited properties', () => {
    expect(expand('$A-$B', new Map([['A', '1']]))).toBe('1-');
    expect(expand('[$constructor][$toString]', {})).toBe('[][]');
  });
});

describe('expandWords: split after substitution (EXPOSE)', () => {
  it('splits expanded values at spaces but keeps quoted ones together', () => {
    expect(expandWords('$PORTS 8080/tcp', { PORTS: '80  443' })).toEqual(['80', '443', '8080/tcp']);
    expect(expandWords('"$PORTS" a\\ b', { PORTS: '80 443' })).toEqual(['80 443', 'a b']);
    expect(expandWords('  ', {})).toEqual([]);
  });
});

describe('expandList', () => {
  it('expands each word on its own', () => {
    expect(expandList(['$A', '"b c"', "'$A'"], { A: 'x' })).toEqual(['x', 'b c', '$A']);
  });
});
