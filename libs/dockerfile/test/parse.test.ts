import { describe, expect, it } from 'vitest';
import { DockerfileError, parseDockerfile, type Instruction } from '../src/index.ts';

/** The instructions of a Dockerfile, without the bookkeeping fields. */
function parse(text: string): Instruction[] {
  return parseDockerfile(text).instructions;
}

function errorOf(fn: () => unknown): DockerfileError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DockerfileError) return e;
    throw e;
  }
  throw new Error('expected a DockerfileError');
}

describe('lines, comments and continuations', () => {
  it('joins continuation lines, keeping the leading whitespace of the continued lines', () => {
    const [, run] = parse(
      ['FROM debian:bookworm-slim', 'RUN apt-get update && \\', '    apt-get install -y --no-install-recommends \\', '      curl ca-certificates'].join('\n'),
    );
    expect(run).toMatchObject({
      keyword: 'RUN',
      line: 2,
      endLine: 4,
      command: { form: 'shell', text: 'apt-get update &&     apt-get install -y --no-install-recommends       curl ca-certificates' },
    });
  });

  it('drops comment lines and empty lines inside a continuation, with a warning for the empty ones', () => {
    const df = parseDockerfile(
      ['FROM alpine', 'RUN apk add --no-cache \\', '    # the compiler', '    gcc \\', '', '    # and make', '    make'].join('\n'),
    );
    expect(df.instructions[1]).toMatchObject({ line: 2, endLine: 7, command: { form: 'shell', text: 'apk add --no-cache     gcc     make' } });
    expect(df.warnings).toEqual([expect.stringMatching(/^Dockerfile:2: empty continuation line/)]);
  });

  it('treats # as a comment only at the start of a line; elsewhere it is text', () => {
    const [, run, workdir] = parse(['  # indented comment', 'FROM alpine', 'RUN echo hello # the shell sees this', 'WORKDIR /app # not a comment'].join('\n'));
    expect(run).toMatchObject({ command: { form: 'shell', text: 'echo hello # the shell sees this' } });
    expect(workdir).toMatchObject({ keyword: 'WORKDIR', path: '/app # not a comment' });
  });

  it('ignores case in keywords and accepts CRLF line endings and a byte-order mark', () => {
    const ins = parse('\uFEFFfrom alpine AS Base\r\nRun echo hi \\\r\n  there\r\nworkdir /x\r\n');
    expect(ins.map((i) => i.keyword)).toEqual(['FROM', 'RUN', 'WORKDIR']);
    expect(ins[0]).toMatchObject({ image: 'alpine', stageName: 'base' });
    expect(ins[1]).toMatchObject({ command: { text: 'echo hi   there' }, line: 2, endLine: 3 });
  });

  it('does not continue a line that ends with an escaped escape character', () => {
    const [, run, cmd] = parse('FROM alpine\nRUN echo a\\\\\nCMD ["sh"]');
    expect(run).toMatchObject({ command: { text: 'echo a\\\\' } });
    expect(cmd).toMatchObject({ keyword: 'CMD' });
  });

  it('ends an instruction at the end of the file even after a continuation', () => {
    // (and, as in Docker, the arguments are trimmed)
    expect(parse('FROM alpine\nRUN echo hi \\')[1]).toMatchObject({ command: { text: 'echo hi' } });
  });

  it('keeps the original text of each instruction', () => {
    const [, copy] = parse('FROM alpine\n  COPY --chown=app:app \\\n   src/ /app/src/');
    expect(copy).toMatchObject({ original: 'COPY --chown=app:app    src/ /app/src/', line: 2, endLine: 3 });
  });
});

describe('parser directives', () => {
  it('reads # syntax= and # escape= at the top, in any spacing and case', () => {
    const df = parseDockerfile('# syntax=docker/dockerfile:1.7\n#  ESCAPE = `\nFROM alpine');
    expect(df.directives).toEqual({ syntax: 'docker/dockerfile:1.7', escape: '`' });
    expect(df.escape).toBe('`');
  });

  it('stops looking for directives after a comment, a blank line or an instruction', () => {
    expect(parseDockerfile('# a comment\n# escape=`\nFROM alpine').escape).toBe('\\');
    expect(parseDockerfile('\n# escape=`\nFROM alpine').escape).toBe('\\');
    expect(parseDockerfile('FROM alpine\n# escape=`').escape).toBe('\\');
    // An unknown directive is an ordinary comment, and ends the directives.
    expect(parseDockerfile('# unknowndirective=value\n# escape=`\nFROM alpine').directives).toEqual({});
  });

  it('rejects a repeated directive and an escape that is not ` or \\', () => {
    expect(() => parseDockerfile('# escape=`\n# escape=\\\nFROM alpine')).toThrow('Dockerfile:2: only one escape parser directive can be used');
    expect(() => parseDockerfile('# escape=x\nFROM alpine')).toThrow("Dockerfile:1: invalid escape token 'x' does not match ` or \\");
  });

  it('with escape=`, continues lines with ` and leaves Windows paths alone', () => {
    const df = parseDockerfile(
      [
        '# escape=`',
        '',
        'FROM mcr.microsoft.com/windows/servercore:ltsc2022',
        'COPY testfile.txt c:\\',
        'RUN powershell -Command `',
        "    $ErrorActionPreference = 'Stop'; `",
        '    Write-Host hi',
        'WORKDIR C:\\Users\\app',
      ].join('\n'),
    );
    const [, copy, run, workdir] = df.instructions;
    expect(copy).toMatchObject({ sources: ['testfile.txt'], dest: 'c:\\', line: 4 });
    expect(run).toMatchObject({ command: { form: 'shell', text: "powershell -Command     $ErrorActionPreference = 'Stop';     Write-Host hi" }, line: 5, endLine: 7 });
    expect(workdir).toMatchObject({ path: 'C:\\Users\\app' });
  });

  it('without escape=`, a Windows path ending in \\ swallows the next line (Docker documents this trap)', () => {
    const ins = parse('FROM mcr.microsoft.com/windows/servercore\nCOPY testfile.txt c:\\\nRUN dir c:\\');
    expect(ins).toHaveLength(2);
    expect(ins[1]).toMatchObject({ keyword: 'COPY', sources: ['testfile.txt', 'c:RUN', 'dir'], dest: 'c:', line: 2, endLine: 3 });
  });
});

describe('exec form and shell form', () => {
  it('reads a JSON array as the exec form and anything else as the shell form', () => {
    const [, run, cmd, entrypoint] = parse('FROM alpine\nRUN ["/bin/echo", "hello world"]\nCMD echo $HOME\nENTRYPOINT [ "nginx", "-g", "daemon off;" ]');
    expect(run).toMatchObject({ command: { form: 'exec', args: ['/bin/echo', 'hello world'] } });
    expect(cmd).toMatchObject({ command: { form: 'shell', text: 'echo $HOME' } });
    expect(entrypoint).toMatchObject({ command: { form: 'exec', args: ['nginx', '-g', 'daemon off;'] } });
  });

  it('falls back to the shell form for malformed JSON, as Docker does', () => {
    const [, single, trailing, unclosed, empty] = parse(
      ["FROM alpine", "CMD ['echo', 'hi']", 'RUN ["ls"] extra', 'ENTRYPOINT ["sh", "-c"', 'CMD []'].join('\n'),
    );
    expect(single).toMatchObject({ command: { form: 'shell', text: "['echo', 'hi']" } });
    expect(trailing).toMatchObject({ command: { form: 'shell', text: '["ls"] extra' } });
    expect(unclosed).toMatchObject({ command: { form: 'shell', text: '["sh", "-c"' } });
    expect(empty).toMatchObject({ command: { form: 'exec', args: [] } });
  });

  it('rejects a JSON array of non-strings instead of falling back', () => {
    expect(() => parse('FROM alpine\nCMD ["sleep", 10]')).toThrow('Dockerfile:2: when using JSON array syntax, arrays must be comprised of strings only');
    expect(() => parse('FROM alpine\nCMD [ "echo", [ "nested json" ] ]')).toThrow(/arrays must be comprised of strings only/);
  });

  it('keeps the shell form verbatim: quotes, escapes and $VARS are for the shell', () => {
    const [, run] = parse('FROM alpine\nRUN echo "$HOME" \'$PATH\' \\$x');
    expect(run).toMatchObject({ command: { form: 'shell', text: 'echo "$HOME" \'$PATH\' \\$x' } });
  });

  it('separates RUN flags from the command', () => {
    const [, run] = parse('FROM alpine\nRUN --mount=type=cache,target=/root/.cache --network=none pip install -r requirements.txt');
    expect(run).toMatchObject({
      flags: ['--mount=type=cache,target=/root/.cache', '--network=none'],
      mounts: ['type=cache,target=/root/.cache'],
      network: 'none',
      command: { form: 'shell', text: 'pip install -r requirements.txt' },
    });
  });

  it('reads heredocs (heredoc.test.ts); <<< is a bash here-string, not a heredoc; CMD goes to the shell as written', () => {
    expect(parse('FROM alpine\nRUN <<EOF\necho hi\nEOF')[1]).toMatchObject({ heredocs: [{ name: 'EOF', content: 'echo hi\n' }] });
    expect(parse('FROM alpine\nRUN cat <<< "hi"')[1]).toMatchObject({ command: { text: 'cat <<< "hi"' } });
    expect(parse('FROM alpine\nCMD cat <<EOF')[1]).toMatchObject({ command: { text: 'cat <<EOF' } });
  });
});

describe('FROM and stages', () => {
  it('splits stages at FROM, with AS names lower-cased and --platform', () => {
    const df = parseDockerfile(
      [
        'FROM --platform=$BUILDPLATFORM golang:1.22 AS Build',
        'WORKDIR /src',
        'COPY . .',
        'RUN go build -o /out/app ./cmd/app',
        '',
        'FROM gcr.io/distroless/static',
        'COPY --from=build /out/app /app',
        'ENTRYPOINT ["/app"]',
      ].join('\n'),
    );
    expect(df.stages.map((s) => [s.index, s.name, s.from.image, s.instructions.map((i) => i.keyword)])).toEqual([
      [0, 'build', 'golang:1.22', ['WORKDIR', 'COPY', 'RUN']],
      [1, undefined, 'gcr.io/distroless/static', ['COPY', 'ENTRYPOINT']],
    ]);
    expect(df.stages[0]?.from).toMatchObject({ platform: '$BUILDPLATFORM', line: 1 });
    expect(df.stages[1]?.instructions[0]).toMatchObject({ keyword: 'COPY', from: 'build', sources: ['/out/app'], dest: '/app' });
  });

  it('keeps ARGs before the first FROM as global args', () => {
    const df = parseDockerfile('ARG BASE=alpine\nARG TAG\nFROM ${BASE}:${TAG:-3.19}\nARG TAG');
    expect(df.globalArgs.map((a) => a.args)).toEqual([[{ name: 'BASE', default: 'alpine' }], [{ name: 'TAG' }]]);
    expect(df.stages[0]?.instructions).toHaveLength(1);
  });

  it('requires FROM first, after any ARGs', () => {
    const e = errorOf(() => parseDockerfile('ARG X=1\nRUN echo hi\nFROM alpine'));
    expect(e.message).toBe('Dockerfile:2: RUN before the first FROM: no build stage in current context');
    expect(e.hint).toMatch(/only ARG/);
    expect(() => parseDockerfile('ARG X=1\n')).toThrow('no FROM');
    expect(() => parseDockerfile('# just a comment\n\n')).toThrow('Dockerfile: file with no instructions');
  });

  it('checks FROM arguments and stage names', () => {
    expect(() => parse('FROM alpine AS')).toThrow('Dockerfile:1: FROM requires either one or three arguments');
    expect(() => parse('FROM alpine latest extra more')).toThrow(/one or three/);
    expect(() => parse('\nFROM alpine AS 1st')).toThrow(`Dockerfile:2: invalid name for build stage: "1st", name can't start with a number or contain symbols`);
    expect(() => parse('FROM alpine AS a\nFROM alpine AS A')).toThrow('Dockerfile:2: duplicate stage name "a"');
    expect(() => parse('FROM --platform linux/amd64 alpine')).toThrow('Dockerfile:1: missing a value on flag: --platform');
  });
});

describe('COPY and ADD', () => {
  it('reads sources, destination and flags', () => {
    const [, copy, add] = parse(
      'FROM alpine\nCOPY --chown=1000:1000 --chmod=0755 --link package.json package-lock.json ./\nADD --checksum=sha256:abc https://example.com/x.tar.gz /opt/',
    );
    expect(copy).toMatchObject({ sources: ['package.json', 'package-lock.json'], dest: './', json: false, chown: '1000:1000', chmod: '0755', link: true });
    expect(add).toMatchObject({ keyword: 'ADD', sources: ['https://example.com/x.tar.gz'], dest: '/opt/', checksum: 'sha256:abc' });
  });

  it('needs the JSON form for paths with spaces; the shell form splits at every space', () => {
    const [, json, shell] = parse('FROM alpine\nCOPY ["my file.txt", "/dest dir/"]\nCOPY "my file.txt" /dest/');
    expect(json).toMatchObject({ sources: ['my file.txt'], dest: '/dest dir/', json: true });
    expect(shell).toMatchObject({ sources: ['"my', 'file.txt"'], dest: '/dest/', json: false });
  });

  it('reports a missing destination, and unknown or repeated flags', () => {
    expect(() => parse('FROM alpine\nCOPY app.py')).toThrow(
      'Dockerfile:2: COPY requires at least two arguments, but only one was provided. Destination could not be determined',
    );
    expect(() => parse('FROM alpine\nCOPY --frm=build a b')).toThrow('Dockerfile:2: unknown flag: --frm');
    expect(() => parse('FROM alpine\nADD --from=build a b')).toThrow('unknown flag: --from');
    expect(() => parse('FROM alpine\nCOPY --from=a --from=b x y')).toThrow('duplicate flag specified: --from');
    expect(() => parse('FROM alpine\nCOPY --link=maybe x y')).toThrow('expecting boolean value for flag --link, not: maybe');
  });

  it('reads flags before the arguments of any instruction, as Docker does', () => {
    expect(() => parse('FROM alpine\nCMD --version')).toThrow('Dockerfile:2: unknown flag: --version');
    expect(parse('FROM alpine\nCMD ["--version"]')[1]).toMatchObject({ command: { form: 'exec', args: ['--version'] } });
    // "--" ends the flags.
    expect(parse('FROM alpine\nCMD -- --version')[1]).toMatchObject({ command: { form: 'shell', text: '--version' } });
  });

  it('removes quotes from flag values', () => {
    expect(parse('FROM alpine\nCOPY --chown="app user" a b')[1]).toMatchObject({ chown: 'app user', flags: ['--chown=app user'] });
  });
});

describe('ENV, LABEL and ARG', () => {
  it('reads ENV key=value pairs, quotes and escapes kept for substitution', () => {
    const [, env] = parse('FROM alpine\nENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy');
    expect(env).toMatchObject({
      legacy: false,
      pairs: [
        { key: 'MY_NAME', value: '"John Doe"' },
        { key: 'MY_DOG', value: 'Rex\\ The\\ Dog' },
        { key: 'MY_CAT', value: 'fluffy' },
      ],
    });
  });

  it('reads the legacy ENV key value form: one pair, the value is the rest of the line', () => {
    const [, simple, tricky] = parse('FROM alpine\nENV JAVA_HOME /usr/lib/jvm/java 17\nENV ONE TWO= THREE=world');
    expect(simple).toMatchObject({ legacy: true, pairs: [{ key: 'JAVA_HOME', value: '/usr/lib/jvm/java 17' }] });
    // Docker's own example: the first word has no "=", so this is ONE="TWO= THREE=world".
    expect(tricky).toMatchObject({ legacy: true, pairs: [{ key: 'ONE', value: 'TWO= THREE=world' }] });
  });

  it('rejects ENV without a value, a word without = among pairs, and blank names', () => {
    expect(() => parse('FROM alpine\nENV')).toThrow('Dockerfile:2: ENV requires at least one argument');
    expect(() => parse('FROM alpine\nENV ONLYKEY')).toThrow('ENV must have two arguments');
    expect(() => parse('FROM alpine\nENV A=1 B')).toThrow(`Syntax error - can't find = in "B". Must be of the form: name=value`);
    expect(() => parse('FROM alpine\nENV =value')).toThrow('ENV names can not be blank');
  });

  it('reads LABEL pairs with quoted keys and values, across lines', () => {
    const [, vendor, multi, description] = parse(
      [
        'FROM alpine',
        'LABEL "com.example.vendor"="ACME Incorporated"',
        'LABEL multi.label1="value1" multi.label2="value2" other="value3"',
        'LABEL description="This text illustrates \\',
        'that label-values can span multiple lines."',
      ].join('\n'),
    );
    expect(vendor).toMatchObject({ pairs: [{ key: '"com.example.vendor"', value: '"ACME Incorporated"' }] });
    expect(multi).toMatchObject({ pairs: [{ key: 'multi.label1' }, { key: 'multi.label2' }, { key: 'other', value: '"value3"' }] });
    expect(description).toMatchObject({ pairs: [{ key: 'description', value: '"This text illustrates that label-values can span multiple lines."' }] });
  });

  it('reads several ARGs, with and without defaults', () => {
    const [arg] = parse('ARG USER=app UID=1000 DEBUG GREETING="hello world"\nFROM alpine');
    expect(arg).toMatchObject({
      args: [{ name: 'USER', default: 'app' }, { name: 'UID', default: '1000' }, { name: 'DEBUG' }, { name: 'GREETING', default: '"hello world"' }],
    });
    expect(() => parse('ARG =x\nFROM alpine')).toThrow('Dockerfile:1: ARG names can not be blank');
  });
});

describe('the other instructions', () => {
  it('reads EXPOSE, USER, VOLUME, STOPSIGNAL, WORKDIR and MAINTAINER', () => {
    const ins = parse(
      [
        'FROM nginx',
        'EXPOSE 80 443/tcp 53/udp 8000-8010',
        'USER www-data:www-data',
        'VOLUME ["/var/log/nginx", "/data"]',
        'VOLUME /a /b',
        'STOPSIGNAL SIGQUIT',
        'WORKDIR /usr/share/nginx/html',
        'MAINTAINER Jane Doe <jane@example.com>',
      ].join('\n'),
    );
    expect(ins.slice(1)).toMatchObject([
      { keyword: 'EXPOSE', ports: ['80', '443/tcp', '53/udp', '8000-8010'] },
      { keyword: 'USER', user: 'www-data:www-data' },
      { keyword: 'VOLUME', paths: ['/var/log/nginx', '/data'], json: true },
      { keyword: 'VOLUME', paths: ['/a', '/b'], json: false },
      { keyword: 'STOPSIGNAL', signal: 'SIGQUIT' },
      { keyword: 'WORKDIR', path: '/usr/share/nginx/html' },
      { keyword: 'MAINTAINER', maintainer: 'Jane Doe <jane@example.com>' },
    ]);
  });

  it('requires exactly one argument for USER, WORKDIR and STOPSIGNAL, and arguments for the rest', () => {
    expect(() => parse('FROM alpine\nWORKDIR')).toThrow('Dockerfile:2: WORKDIR requires exactly one argument');
    expect(() => parse('FROM alpine\nUSER')).toThrow('USER requires exactly one argument');
    expect(() => parse('FROM alpine\nEXPOSE')).toThrow('EXPOSE requires at least one argument');
    expect(() => parse('FROM alpine\nVOLUME ["/a", " "]')).toThrow('VOLUME specified can not be an empty string');
  });

  it('requires SHELL in JSON form, with a hint for unescaped Windows paths', () => {
    expect(parse('FROM alpine\nSHELL ["/bin/bash", "-o", "pipefail", "-c"]')[1]).toMatchObject({ shell: ['/bin/bash', '-o', 'pipefail', '-c'] });
    expect(() => parse('FROM alpine\nSHELL /bin/bash -c')).toThrow('Dockerfile:2: SHELL requires the arguments to be in JSON form');
    expect(() => parse('FROM alpine\nSHELL []')).toThrow('SHELL requires at least one argument');
    const e = errorOf(() => parse('FROM windows\nSHELL ["c:\\windows\\system32\\cmd.exe", "/c"]'));
    expect(e.hint).toMatch(/back-slashes to be escaped/);
  });

  it('reads HEALTHCHECK CMD with its options, and NONE', () => {
    const [, check, shell, none] = parse(
      [
        'FROM nginx',
        'HEALTHCHECK --interval=30s --timeout=3s --start-period=1m30s --retries=3 CMD ["curl", "-f", "http://localhost/"]',
        'HEALTHCHECK CMD curl -f http://localhost/ || exit 1',
        'HEALTHCHECK NONE',
      ].join('\n'),
    );
    expect(check).toMatchObject({
      check: { type: 'CMD', command: { form: 'exec', args: ['curl', '-f', 'http://localhost/'] }, interval: 30e9, timeout: 3e9, startPeriod: 90e9, retries: 3 },
    });
    expect(shell).toMatchObject({ check: { type: 'CMD', command: { form: 'shell', text: 'curl -f http://localhost/ || exit 1' } } });
    expect(none).toMatchObject({ check: { type: 'NONE' } });
  });

  it('rejects bad HEALTHCHECKs', () => {
    expect(() => parse('FROM a\nHEALTHCHECK NONE now')).toThrow('HEALTHCHECK NONE takes no arguments');
    expect(() => parse('FROM a\nHEALTHCHECK CMD')).toThrow('Missing command after HEALTHCHECK CMD');
    expect(() => parse('FROM a\nHEALTHCHECK RUN true')).toThrow('Unknown type "RUN" in HEALTHCHECK (try CMD)');
    expect(() => parse('FROM a\nHEALTHCHECK --interval=10 CMD true')).toThrow(/--interval: time: invalid duration "10"/);
    expect(() => parse('FROM a\nHEALTHCHECK --timeout=10us CMD true')).toThrow('Interval "timeout" cannot be less than 1ms');
    expect(() => parse('FROM a\nHEALTHCHECK --retries=0 CMD true')).toThrow('--retries must be at least 1 (not 0)');
  });

  it('keeps ONBUILD triggers raw and refuses chaining, FROM and MAINTAINER', () => {
    const [, onbuild] = parse('FROM node:20\nONBUILD COPY --chown=node . /app/src');
    expect(onbuild).toMatchObject({ keyword: 'ONBUILD', triggerKeyword: 'COPY', trigger: 'COPY --chown=node . /app/src' });
    expect(() => parse('FROM a\nONBUILD ONBUILD RUN x')).toThrow("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    expect(() => parse('FROM a\nonbuild from b')).toThrow("FROM isn't allowed as an ONBUILD trigger");
  });
});

describe('errors', () => {
  it('names an unknown instruction with its line, and suggests the nearest one', () => {
    const e = errorOf(() => parse('FROM alpine\nRUN true\nCOPPY a b\n'));
    expect(e).toBeInstanceOf(DockerfileError);
    expect(e.message).toBe('Dockerfile:3: unknown instruction: COPPY');
    expect(e.line).toBe(3);
    expect(e.hint).toBe('did you mean COPY?');
    expect(errorOf(() => parse('FROM alpine\nFROBNICATE bar')).hint).toBeUndefined();
  });

  it('reports the first line of a continued instruction', () => {
    expect(() => parse('FROM alpine\n\nCOPY \\\n  onlyone')).toThrow(/^Dockerfile:3: COPY requires at least two arguments/);
  });

  it('uses the file name it is given', () => {
    expect(() => parseDockerfile('FROM a\nBAD x', { file: 'build/Dockerfile.prod' })).toThrow('build/Dockerfile.prod:2: unknown instruction: BAD');
  });
});
