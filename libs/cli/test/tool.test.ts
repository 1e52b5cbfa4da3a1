import { describe, expect, it } from 'vitest';
import { formatHelp, parseInvocation, shellCommand, Steps, type ToolSpec } from '../src/index.ts';

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

  it('gives an empty list for a list option not given', () => {
    expect(parseInvocation(spec, []).options.env).toEqual([]);
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
