import { describe, expect, it } from 'vitest';
import {
  automaticPlatformArgs,
  commandArgv,
  expandInstruction,
  exposedPorts,
  findStage,
  parseDockerfile,
  resolveBase,
  resolveGlobalArgs,
  StageScope,
  type Dockerfile,
  type Instruction,
} from '../src/index.ts';

/** Applies every instruction of a stage and returns the scope and the substituted instructions. */
function walk(df: Dockerfile, stageIndex: number, scope: StageScope): Instruction[] {
  return (df.stages[stageIndex]?.instructions ?? []).map((i) => scope.apply(i));
}

describe('global ARGs and FROM', () => {
  const df = parseDockerfile(
    ['ARG VERSION=latest', 'ARG REGISTRY=docker.io', 'ARG IMAGE=${REGISTRY}/library/busybox', 'FROM ${IMAGE}:${VERSION}', 'WORKDIR /v$VERSION', 'ARG VERSION', 'RUN echo $VERSION > image_version', 'WORKDIR /v$VERSION'].join('\n'),
  );

  it('substitutes FROM with the global ARGs, each default seeing the ones before it', () => {
    const globals = resolveGlobalArgs(df);
    expect(globals).toEqual(new Map([['VERSION', 'latest'], ['REGISTRY', 'docker.io'], ['IMAGE', 'docker.io/library/busybox']]));
    expect(resolveBase(df, df.stages[0]!, globals)).toEqual({ image: 'docker.io/library/busybox:latest', platform: undefined, stage: undefined });
  });

  it('lets --build-arg override declared global ARGs only', () => {
    const globals = resolveGlobalArgs(df, { buildArgs: { VERSION: '1.36', UNDECLARED: 'x' } });
    expect(globals.get('VERSION')).toBe('1.36');
    expect(globals.has('UNDECLARED')).toBe(false);
    expect(resolveBase(df, df.stages[0]!, globals).image).toBe('docker.io/library/busybox:1.36');
  });

  it('hides global ARGs inside a stage until `ARG name` re-declares them', () => {
    const scope = new StageScope(df, { globalArgs: resolveGlobalArgs(df) });
    const [before, , run, after] = walk(df, 0, scope);
    expect(before).toMatchObject({ keyword: 'WORKDIR', path: '/v' });
    expect(after).toMatchObject({ keyword: 'WORKDIR', path: '/vlatest' });
    // RUN is not substituted by Docker; the shell sees $VERSION in its environment.
    expect(run).toMatchObject({ command: { form: 'shell', text: 'echo $VERSION > image_version' } });
    expect(scope.runEnv()).toContain('VERSION=latest');
    expect(scope.env.has('VERSION')).toBe(false); // an ARG does not go into the image config
  });

  it('fails when FROM substitutes to nothing', () => {
    const bad = parseDockerfile('ARG BASE\nFROM $BASE');
    expect(() => resolveBase(bad, bad.stages[0]!, resolveGlobalArgs(bad))).toThrow('Dockerfile:2: base name ($BASE) should not be blank');
  });

  it('gives the automatic platform ARGs to FROM and, once declared, to the stage', () => {
    const cross = parseDockerfile('FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nARG TARGETOS TARGETARCH\nENV GOOS=$TARGETOS GOARCH=$TARGETARCH');
    const globals = resolveGlobalArgs(cross, { automatic: automaticPlatformArgs('linux/amd64', 'linux/arm64/v8') });
    expect(resolveBase(cross, cross.stages[0]!, globals)).toMatchObject({ image: 'golang:1.22', platform: 'linux/amd64' });
    const scope = new StageScope(cross, { globalArgs: globals });
    walk(cross, 0, scope);
    expect(scope.env).toEqual(new Map([['GOOS', 'linux'], ['GOARCH', 'arm64']]));
    expect(automaticPlatformArgs('linux/arm64/v8')).toMatchObject({ TARGETPLATFORM: 'linux/arm64/v8', TARGETVARIANT: 'v8', BUILDARCH: 'arm64' });
  });
});

describe('a stage: ENV, ARG and SHELL', () => {
  it('substitutes every ENV pair with the values from before the instruction (Docker docs example)', () => {
    const df = parseDockerfile('FROM busybox\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc');
    const scope = new StageScope(df);
    walk(df, 0, scope);
    expect(Object.fromEntries(scope.env)).toEqual({ abc: 'bye', def: 'hello', ghi: 'bye' });
  });

  it('removes the quotes and escapes of ENV values, in both forms', () => {
    const df = parseDockerfile('FROM busybox\nENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog\nENV ONE TWO= THREE=world\nENV GREETING "hello"   world');
    const scope = new StageScope(df);
    walk(df, 0, scope);
    expect(Object.fromEntries(scope.env)).toEqual({ MY_NAME: 'John Doe', MY_DOG: 'Rex The Dog', ONE: 'TWO= THREE=world', GREETING: 'hello   world' });
  });

  it('starts from the base image Env and substitutes with it', () => {
    const df = parseDockerfile('FROM python:3.12\nENV PATH=/opt/venv/bin:$PATH\nWORKDIR $HOME/app');
    const scope = new StageScope(df, { imageEnv: ['PATH=/usr/local/bin:/usr/bin', 'HOME=/root', 'LANG=C.UTF-8'] });
    const [, workdir] = walk(df, 0, scope);
    expect(scope.env.get('PATH')).toBe('/opt/venv/bin:/usr/local/bin:/usr/bin');
    expect(workdir).toMatchObject({ path: '/root/app' });
  });

  it('takes an ARG value from --build-arg, else its default, else the global value', () => {
    const df = parseDockerfile('ARG G=global\nFROM alpine\nENV E=env\nARG A=$E-default B G C\nRUN true');
    const scope = new StageScope(df, { globalArgs: resolveGlobalArgs(df), buildArgs: { B: 'from-cli' } });
    const [, arg] = walk(df, 0, scope);
    expect(arg).toMatchObject({ args: [{ name: 'A', default: 'env-default' }, { name: 'B', default: 'from-cli' }, { name: 'G', default: 'global' }, { name: 'C' }] });
    expect(Object.fromEntries(scope.vars)).toEqual({ E: 'env', A: 'env-default', B: 'from-cli', G: 'global' });
  });

  it('lets ENV and ARG of the same name override each other in order, but only ENV reaches the image', () => {
    // BuildKit keeps one ordered set of variables: the last ENV or ARG wins.
    const df = parseDockerfile('FROM alpine\nARG V=arg\nENV V=${V}-env\nARG V=again\nWORKDIR /$V');
    const scope = new StageScope(df);
    const [, , , workdir] = walk(df, 0, scope);
    expect(workdir).toMatchObject({ path: '/again' });
    expect(scope.env.get('V')).toBe('arg-env');
  });

  it('removes quotes where Docker does: ENV, LABEL, WORKDIR, USER, COPY, VOLUME, STOPSIGNAL', () => {
    const df = parseDockerfile(
      [
        'FROM alpine',
        'ENV APP="my app" DIR=/srv',
        `LABEL "org.opencontainers.image.title"="$APP" description='$APP is literal here'`,
        'WORKDIR "$DIR/$APP"',
        'USER "${UID:-1000}:1000"',
        'COPY ["$APP/config.json", "$DIR/"]',
        'VOLUME "$DIR/data"',
        'STOPSIGNAL "SIGTERM"',
        'CMD ["echo", "$APP"]',
      ].join('\n'),
    );
    const scope = new StageScope(df);
    const [, label, workdir, user, copy, volume, stopsignal, cmd] = walk(df, 0, scope);
    expect(label).toMatchObject({ pairs: [{ key: 'org.opencontainers.image.title', value: 'my app' }, { key: 'description', value: '$APP is literal here' }] });
    expect(workdir).toMatchObject({ path: '/srv/my app' });
    expect(user).toMatchObject({ user: '1000:1000' });
    expect(copy).toMatchObject({ sources: ['my app/config.json'], dest: '/srv/' });
    expect(volume).toMatchObject({ paths: ['/srv/data'] });
    expect(stopsignal).toMatchObject({ signal: 'SIGTERM' });
    expect(cmd).toMatchObject({ command: { form: 'exec', args: ['echo', '$APP'] } });
  });

  it('substitutes COPY flags', () => {
    const df = parseDockerfile('FROM alpine AS base\nFROM alpine\nARG UID=1000 STAGE=base\nCOPY --from=$STAGE --chown=$UID:$UID --chmod=0644 /etc/os-release /tmp/');
    const scope = new StageScope(df);
    const [, copy] = walk(df, 1, scope);
    expect(copy).toMatchObject({ from: 'base', chown: '1000:1000', chmod: '0644' });
  });

  it('fails like Docker on quotes that do not close once substituted', () => {
    // The shell form of COPY splits at spaces first, so `"a b"` is two broken words.
    const df = parseDockerfile('FROM alpine\nCOPY "my file" /dst/');
    expect(() => walk(df, 0, new StageScope(df))).toThrow(`Dockerfile:2: failed to process "\\"my": unexpected end of statement while looking for matching double-quote`);
    // Even the JSON form of VOLUME is substituted, so a lone ' breaks it (moby/buildkit#4253).
    const vol = parseDockerfile(`FROM alpine\nVOLUME ["/foo'bar"]`);
    expect(() => walk(vol, 0, new StageScope(vol))).toThrow(/single-quote/);
  });

  it('splits EXPOSE after substitution and gives ExposedPorts keys', () => {
    const df = parseDockerfile('FROM alpine\nARG PORTS="80 443"\nEXPOSE $PORTS 53/udp 9000-9002/TCP');
    const [, expose] = walk(df, 0, new StageScope(df));
    expect(expose).toMatchObject({ ports: ['80', '443', '53/udp', '9000-9002/TCP'] });
    expect(exposedPorts((expose as { ports: string[] }).ports)).toEqual(['80/tcp', '443/tcp', '53/udp', '9000/tcp', '9001/tcp', '9002/tcp']);
    expect(() => exposedPorts(['80/http'])).toThrow('invalid proto: http');
    expect(() => exposedPorts(['99999'])).toThrow('invalid port');
    expect(() => exposedPorts(['90-80'])).toThrow('invalid range');
  });

  it('places substitution errors at the instruction line', () => {
    const df = parseDockerfile('FROM alpine\n\nWORKDIR ${DIR');
    expect(() => walk(df, 0, new StageScope(df))).toThrow(`Dockerfile:3: failed to process "\${DIR": syntax error: missing '}'`);
    expect(() => expandInstruction(df.stages[0]!.instructions[0]!, {}, { file: 'x/Dockerfile' })).toThrow(/^x\/Dockerfile:3: /);
  });

  it('runs shell forms with the current SHELL, exec forms as written', () => {
    const df = parseDockerfile(
      ['FROM ubuntu', 'RUN echo one', 'SHELL ["/bin/bash", "-o", "pipefail", "-c"]', 'RUN curl -fsSL https://example.com | sh', 'RUN ["/usr/bin/env", "true"]', 'CMD nginx -g "daemon off;"'].join('\n'),
    );
    const scope = new StageScope(df);
    const argvs = df.stages[0]!.instructions.map((ins) => {
      const i = scope.apply(ins);
      return i.keyword === 'RUN' || i.keyword === 'CMD' ? scope.argv(i) : undefined;
    });
    expect(argvs).toEqual([
      ['/bin/sh', '-c', 'echo one'],
      undefined,
      ['/bin/bash', '-o', 'pipefail', '-c', 'curl -fsSL https://example.com | sh'],
      ['/usr/bin/env', 'true'],
      ['/bin/bash', '-o', 'pipefail', '-c', 'nginx -g "daemon off;"'],
    ]);
    expect(commandArgv({ form: 'shell', text: 'dir' }, ['cmd', '/S', '/C'])).toEqual(['cmd', '/S', '/C', 'dir']);
    expect(new StageScope(df, { imageShell: ['/bin/ash', '-c'] }).shell).toEqual(['/bin/ash', '-c']);
  });
});

describe('multi-stage builds', () => {
  const df = parseDockerfile(
    [
      'FROM node:20 AS deps',
      'ENV NODE_ENV=production',
      'COPY package.json package-lock.json ./',
      'FROM deps AS build',
      'COPY . .',
      'FROM nginx:alpine',
      'COPY --from=build /app/dist /usr/share/nginx/html',
      'COPY --from=0 /app/package.json /tmp/',
      'COPY --from=nginx:latest /etc/nginx/nginx.conf /etc/nginx/',
    ].join('\n'),
  );

  it('resolves FROM and COPY --from to earlier stages by name or index, else images', () => {
    expect(resolveBase(df, df.stages[1]!, new Map()).stage?.name).toBe('deps');
    expect(resolveBase(df, df.stages[2]!, new Map())).toEqual({ image: 'nginx:alpine', platform: undefined, stage: undefined });
    expect(findStage(df, 'BUILD', 2)?.index).toBe(1);
    expect(findStage(df, '0', 2)?.name).toBe('deps');
    expect(findStage(df, 'nginx:latest', 2)).toBeUndefined();
    expect(findStage(df, 'build', 1)).toBeUndefined(); // not before stage 1
    expect(() => findStage(df, '2', 2)).toThrow('invalid stage index 2');
  });

  it('starts a stage built FROM another with its variables', () => {
    const deps = new StageScope(df);
    walk(df, 0, deps);
    const build = new StageScope(df, { parent: deps });
    expect(build.env.get('NODE_ENV')).toBe('production');
    build.apply(parseDockerfile('FROM x\nENV A=1').stages[0]!.instructions[0]!);
    expect(deps.env.has('A')).toBe(false);
  });
});
