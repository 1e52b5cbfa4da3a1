import { describe, expect, it } from 'vitest';
import { checkOperands, formatHelp, parseInvocation, shellCommand, Steps, toolSpec, type ToolSpec } from '../src/index.ts';

const spec: ToolSpec = {
  name: 'demo-tool',
  version: '1.2.3',
  synopsis: ['[options] REF', '[options] -- CMD [ARG…]'],
  description: 'Does a demo thing.',
  options: [
    { name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit' },
    { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'set a variable' },
    { name: 'read-only', type: 'boolean', help: 'read-only root' },
  ],
  examples: ['demo-tool busybox'],
  classic: ['echo 64M > memory.limit_in_bytes'],
  command: true,
};

describe('parseInvocation', () => {
  it('reads long, short, repeated and boolean options, positionals and the command after --', () => {
    const inv = parseInvocation(spec, ['-m', '64m', '--env=A=1', '-e', 'B=2', '--read-only', 'ref', '--', 'sh', '-c', 'echo --memory']);
    expect(inv.options.memory).toBe('64m');
    expect(inv.options.env).toEqual(['A=1', 'B=2']);
    expect(inv.options['read-only']).toBe(true);
    expect(inv.options.json).toBe(false);
    expect(inv.positionals).toEqual(['ref']);
    expect(inv.command).toEqual(['sh', '-c', 'echo --memory']);
  });

  it('takes a negative number as the value of an option that needs one, as docker run does', () => {
    expect(parseInvocation(spec, ['--memory', '-1']).options.memory).toBe('-1');
    expect(parseInvocation(spec, ['-m', '-1', 'ref']).options.memory).toBe('-1');
    expect(parseInvocation(spec, ['-e', '-2']).options.env).toEqual(['-2']);
    expect(() => parseInvocation(spec, ['--read-only', '-1'])).toThrow('unknown option -1');
  });

  it('takes an empty value given explicitly (docker run --entrypoint ""), and still wants one where none is given', () => {
    expect(parseInvocation(spec, ['--memory', '', 'ref'])).toMatchObject({ options: { memory: '' }, positionals: ['ref'] });
    expect(parseInvocation(spec, ['--memory=']).options.memory).toBe('');
    expect(parseInvocation(spec, ['-m', '']).options.memory).toBe('');
    expect(parseInvocation(spec, ['-e', '', '--env=']).options.env).toEqual(['', '']);
    expect(() => parseInvocation(spec, ['ref', '--memory'])).toThrow('option --memory needs a value (BYTES)');
    expect(() => parseInvocation(spec, ['--memory', '--read-only'])).toThrow('option --memory needs a value (BYTES)');
    expect(() => parseInvocation(spec, ['--read-only='])).toThrow('invalid argument "" for --read-only');
  });

  it('gives an empty list for a list option not given', () => {
    expect(parseInvocation(spec, []).options.env).toEqual([]);
  });

  it('reads a boolean\'s =VALUE as Docker\'s flags do (strconv.ParseBool), and its default when not given', () => {
    const withDefault = { ...spec, options: [...spec.options, { name: 'rm', type: 'boolean', help: 'remove', default: true }] } as const;
    expect(parseInvocation(withDefault, []).options.rm).toBe(true);
    expect(parseInvocation(withDefault, []).options['read-only']).toBe(false);
    for (const word of ['false', '0', 'f', 'FALSE', 'False']) expect(parseInvocation(withDefault, [`--rm=${word}`]).options.rm, word).toBe(false);
    for (const word of ['true', '1', 't', 'TRUE', 'True']) expect(parseInvocation(withDefault, ['--rm=false', `--rm=${word}`]).options.rm, word).toBe(true);
    expect(parseInvocation(withDefault, ['--rm']).options.rm).toBe(true);
    expect(() => parseInvocation(withDefault, ['--rm=no'])).toThrow('invalid argument "no" for --rm: true or false');
    expect(formatHelp(withDefault)).toMatch(/--rm +remove \(default true\)\n/);
  });

  it.each([
    [['--nope'], 'unknown option --nope'],
    [['--nope=1'], 'unknown option --nope'],
    [['-x'], 'unknown option -x'],
    [['--memory'], 'option --memory needs a value (BYTES)'],
    [['-m', '1', '-m', '2'], 'option --memory given more than once'],
  ])('rejects %j: %s', (argv, message) => {
    expect(() => parseInvocation(spec, argv)).toThrow(message);
  });

  it('refuses a command after -- when the tool does not chain-load', () => {
    expect(() => parseInvocation({ ...spec, command: false }, ['--', 'sh'])).toThrow('unexpected arguments after --: sh');
  });
});

describe('a command that runs a command (interspersed: false)', () => {
  const run = toolSpec({
    name: 'demo run',
    version: '1',
    synopsis: ['[options] IMAGE [COMMAND] [ARG…]'],
    description: 'docker run-like',
    options: [
      { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'a variable' },
      { name: 'tty', short: 't', type: 'boolean', help: 'a terminal' },
      { name: 'name', type: 'string', arg: 'NAME', help: 'a name' },
    ],
    operands: { min: 1, names: 'IMAGE [COMMAND] [ARG…]' },
    interspersed: false,
    examples: [],
    classic: [],
  });

  it('ends its options at the first operand: the command keeps its own options and a -- of its own', () => {
    const inv = parseInvocation(run, ['-te', 'A=1', '--name', 'web', 'busybox', 'sh', '-c', 'echo -e x -- y', '-t']);
    expect(inv.positionals).toEqual(['busybox', 'sh', '-c', 'echo -e x -- y', '-t']);
    expect(inv.options.env).toEqual(['A=1']);
    expect(inv.options.tty).toBe(true);
    expect(inv.options.name).toBe('web');
  });

  it('takes -- before the first operand as the end of the options, and - as an operand', () => {
    expect(parseInvocation(run, ['-t', '--', '-image-', 'x']).positionals).toEqual(['-image-', 'x']);
    expect(parseInvocation(run, ['-', '-t']).positionals).toEqual(['-', '-t']);
  });

  it('types each option from its declaration', () => {
    const { options } = parseInvocation(run, ['x']);
    const env: string[] = options.env;
    const tty: boolean = options.tty;
    const name: string | undefined = options.name;
    expect([env, tty, name]).toEqual([[], false, undefined]);
  });
});

describe('checkOperands', () => {
  const withOperands = (min: number, max: number | undefined) => ({ ...spec, name: 'demo x', operands: { min, ...(max !== undefined && { max }), names: 'A B' } });
  it.each([
    [0, 0, ['a'], '"demo x" accepts no arguments'],
    [2, 2, ['a'], '"demo x" requires exactly 2 arguments: A B'],
    [1, 1, [], '"demo x" requires exactly 1 argument: A B'],
    [2, undefined, ['a'], '"demo x" requires at least 2 arguments: A B'],
    [0, 1, ['a', 'b'], '"demo x" requires at most 1 argument: A B'],
    [1, 2, ['a', 'b', 'c'], '"demo x" requires at least 1 and at most 2 arguments: A B'],
  ])('min %i, max %s, %j: %s', (min, max, operands, message) => {
    expect(() => checkOperands(withOperands(min, max), operands)).toThrow(message);
  });

  it('lets a count in range through, and a spec without operands check nothing', () => {
    expect(() => checkOperands(withOperands(1, 2), ['a', 'b'])).not.toThrow();
    expect(() => checkOperands(spec, ['a', 'b', 'c'])).not.toThrow();
  });
});

describe('help', () => {
  it('has synopsis, options (own and common), examples and the classic commands', () => {
    const help = formatHelp(spec);
    expect(help).toMatch(/^Usage: demo-tool \[options\] REF\n       demo-tool \[options\] -- CMD/);
    expect(help).toMatch(/-m, --memory BYTES\s+memory limit/);
    expect(help).toMatch(/--dry-run\s+print the classic commands/);
    expect(help).toMatch(/Examples:\n  demo-tool busybox/);
    expect(help).toMatch(/Stands for:\n  echo 64M > memory.limit_in_bytes/);
  });
});

describe('Steps', () => {
  it('collects a dry-run script with quoted words', () => {
    const steps = new Steps({ trace: false, dryRun: true });
    steps.note('fetch the manifest');
    steps.run(['curl', '-H', 'Accept: a, b', 'http://x/v2/']);
    expect(steps.toScript()).toBe("#!/bin/sh\nset -eu\n# fetch the manifest\ncurl -H 'Accept: a, b' http://x/v2/\n");
  });

  it('traces to stderr with a + prefix', () => {
    let written = '';
    const sink = { write: (s: string) => ((written += s), true) } as unknown as NodeJS.WritableStream;
    new Steps({ trace: true, dryRun: false }, sink).run(['mount', '-t', 'overlay', 'overlay', '/m']);
    expect(written).toBe('+ mount -t overlay overlay /m\n');
  });

  it('quotes only what needs quoting', () => {
    expect(shellCommand(['echo', "it's", 'a b', 'plain/path:1', ''])).toBe(`echo 'it'\\''s' 'a b' plain/path:1 ''`);
  });
});
