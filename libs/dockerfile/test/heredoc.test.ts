/**
 * Heredocs as BuildKit's Dockerfile frontend reads them (frontend/dockerfile/parser heredoc handling, the
 * Dockerfile reference's "Here-Documents"): which words open one, the bodies read after the line, `<<-`,
 * quoted delimiters, several on a line, what RUN runs and what COPY writes, ONBUILD triggers.
 */
import { describe, expect, it } from 'vitest';
import { DockerfileError, expandInstruction, heredocRun, parseDockerfile, parseHeredocWord, parseTriggers, type Instruction } from '../src/index.ts';

const parse = (text: string): Instruction[] => parseDockerfile(text).instructions;

describe('heredoc words', () => {
  it.each([
    ['<<EOF', { name: 'EOF', expand: true, chomp: false, fd: 0 }],
    ['<<-EOF', { name: 'EOF', expand: true, chomp: true, fd: 0 }],
    ["<<'EOF'", { name: 'EOF', expand: false, chomp: false, fd: 0 }],
    ['<<"EOF"', { name: 'EOF', expand: false, chomp: false, fd: 0 }],
    ['<<-"E"OF', { name: 'EOF', expand: false, chomp: true, fd: 0 }],
    ['3<<EOF', { name: 'EOF', expand: true, chomp: false, fd: 3 }],
    ['<<file.txt', { name: 'file.txt', expand: true, chomp: false, fd: 0 }],
  ])('%s opens a heredoc', (word, doc) => {
    expect(parseHeredocWord(word)).toEqual(doc);
  });

  it.each(['<<', '<<<EOF', 'a<<EOF', '"<<EOF"', '<<EOF bash'])('%s does not', (word) => {
    expect(parseHeredocWord(word)).toBeUndefined();
  });
});

describe('heredocs in a Dockerfile', () => {
  it('reads the body after the line, up to the delimiter; the next instruction follows', () => {
    const [, run, cmd] = parse('FROM alpine\nRUN <<EOF\necho hi\n  echo indented\nEOF\nCMD ["sh"]\n');
    expect(run).toMatchObject({ keyword: 'RUN', line: 2, endLine: 5, command: { form: 'shell', text: '<<EOF' }, heredocs: [{ name: 'EOF', content: 'echo hi\n  echo indented\n', expand: true, chomp: false }] });
    expect(cmd).toMatchObject({ keyword: 'CMD', line: 6 });
  });

  it('several heredocs on one line are read one after the other; a body may hold # lines and blank lines', () => {
    const [, run] = parse('FROM alpine\nRUN cat <<A <<-B > /out\n# not a comment\n\nA\n\tb1\n\t\tb2\n\tB\n');
    expect(run).toMatchObject({ heredocs: [{ name: 'A', content: '# not a comment\n\n' }, { name: 'B', content: '\tb1\n\t\tb2\n', chomp: true }] });
    // Not one heredoc alone: the shell gets the command with the bodies and delimiters after it, and strips the tabs itself.
    expect(heredocRun('cat <<A <<-B > /out', (run as Extract<Instruction, { keyword: 'RUN' }>).heredocs)).toEqual({ kind: 'text', text: 'cat <<A <<-B > /out\n# not a comment\n\nA\n\tb1\n\t\tb2\nB' });
  });

  it('RUN <<EOF alone runs the body; with #! first, as a script file; <<- strips leading tabs', () => {
    const runOf = (text: string) => {
      const run = parse(text)[1] as Extract<Instruction, { keyword: 'RUN' }>;
      return heredocRun((run.command as { text: string }).text, run.heredocs);
    };
    expect(runOf('FROM a\nRUN <<EOF\necho $HOME\nEOF')).toEqual({ kind: 'text', text: 'echo $HOME\n' });
    expect(runOf("FROM a\nRUN <<-'EOF'\n\techo one\n\t\techo two\n\tEOF")).toEqual({ kind: 'text', text: 'echo one\necho two\n' });
    expect(runOf('FROM a\nRUN <<py\n#!/usr/bin/env python3\nprint(1)\npy')).toEqual({ kind: 'script', name: 'py', body: '#!/usr/bin/env python3\nprint(1)\n' });
  });

  it('COPY and ADD: heredoc sources are files named by their delimiter; unquoted ones substitute variables (quotes kept), quoted ones not', () => {
    const df = parseDockerfile("FROM a\nCOPY <<one.txt <<'two.txt' ctx.txt /dir/\nv=$V '$V' \"$V\"\none.txt\nv=$V\ntwo.txt\nADD <<-EOF /f\n\tx\n\tEOF\n");
    const copy = df.instructions[1] as Extract<Instruction, { keyword: 'COPY' }>;
    expect(copy).toMatchObject({ sources: ['ctx.txt'], dest: '/dir/', inline: [{ name: 'one.txt', data: 'v=$V \'$V\' "$V"\n', expand: true }, { name: 'two.txt', data: 'v=$V\n', expand: false }] });
    expect(expandInstruction(copy, { V: 'x' }).inline).toEqual([{ name: 'one.txt', data: 'v=x \'x\' "x"\n', expand: true }, { name: 'two.txt', data: 'v=$V\n', expand: false }]);
    expect(df.instructions[2]).toMatchObject({ keyword: 'ADD', sources: [], inline: [{ name: 'EOF', data: 'x\n' }] });
  });

  it('not in the JSON form, nor in CMD; <<< is a here-string', () => {
    expect(parse('FROM a\nRUN ["sh", "-c", "cat <<EOF"]\nCMD cat <<EOF\nRUN cat <<< hi\n').map((i) => i.keyword)).toEqual(['FROM', 'RUN', 'CMD', 'RUN']);
  });

  it('errors: an unterminated heredoc, a heredoc as the destination', () => {
    const err = (text: string) => {
      try {
        parse(text);
      } catch (e) {
        if (e instanceof DockerfileError) return e.message;
      }
      return 'no error';
    };
    expect(err('FROM a\nRUN <<EOF\necho hi\n')).toBe('Dockerfile:2: unterminated heredoc');
    expect(err('FROM a\nCOPY a <<EOF\nx\nEOF\n')).toBe('Dockerfile:2: COPY cannot accept a heredoc as a destination');
  });

  it('an ONBUILD trigger keeps its heredoc, and parses again as the instruction', () => {
    const [, onbuild] = parse('FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n');
    expect(onbuild).toMatchObject({ keyword: 'ONBUILD', trigger: 'RUN <<EOF\necho hi\nEOF' });
    const [run] = parseTriggers([(onbuild as { trigger: string }).trigger], 'base');
    expect(run).toMatchObject({ keyword: 'RUN', heredocs: [{ name: 'EOF', content: 'echo hi\n' }] });
    expect(() => parseTriggers(['ONBUILD RUN x'], 'base')).toThrow("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect(() => parseTriggers(['FROM x'], 'base')).toThrow("FROM isn't allowed as an ONBUILD trigger");
  });
});
