/**
 * Issue 20, syntax and stages: --target (only the stages it needs are built), heredocs in RUN and COPY, the
 * automatic platform ARGs and FROM --platform, HEALTHCHECK and ONBUILD (stored; a child build runs the
 * triggers first), the Dockerfile or the context on stdin, the unused --build-arg warning.
 *
 * Where buildah 1.28 does the same, the Dockerfiles are built by both (test/fixtures/buildah.ts) and the trees
 * and configs compared. buildah 1.28 has no heredocs (they came in 1.33) and its bud reads no context from
 * stdin: those cases are checked against what Docker's documentation says (the Dockerfile reference's
 * "Here-Documents", `docker build -`), and say so. Every build but buildBoth's runs with --network none; afterEach checks that
 * no step container, mount or cwbuild- namespace is left.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findImage, OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree, run } from '../../../test/fixtures/images.ts';
import { mountsUnder } from '../../../test/fixtures/mounts.ts';
import { BUILDAH_RUN_LEFTOVERS, buildahComparison, comparedConfig, haveBuildah } from '../../../test/fixtures/buildah.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';
import { buildMultiArchSource } from '../../oci-pull/test/multi-arch.ts';

const BIN_DIR = fileURLToPath(new URL('../../../bin', import.meta.url));

let work: string;
let root: string;

function cutaway(args: string[], options: { input?: string; root?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: options.root ?? root, ...options.env }, input: options.input });
}

/** A context directory with a Dockerfile and files. */
function context(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [path, content] of Object.entries(files)) writeFileSync(join(dir, path), content);
  return dir;
}

/** `sh -c SCRIPT` in a container of the image: its stdout. */
async function inImage(image: string, script: string): Promise<string> {
  const out = await cutaway(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', script]);
  expect(out.code, out.stderr).toBe(0);
  return out.stdout;
}

const config = async (name: string) => (await findImage(await OciLayout.open(join(root, 'images')), name)).config;
const steps = (stderr: string) => stderr.split('\n').filter((l) => /^Step \d+\/\d+ : /.test(l)).map((l) => l.replace(/^Step \d+\/\d+ : /, ''));
const stepContainers = () => (existsSync(join(root, 'containers')) ? readdirSync(join(root, 'containers')).filter((d) => /^[0-9a-f]{64}$/.test(d)) : []);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-build-syntax-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  // busybox:1 (amd64 only), arm:1 (arm64 only), multi:1 (an index of both): FROM --platform's cases.
  await buildMultiArchSource(join(root, 'images'));
});

afterEach(async () => {
  // A failed build's step containers are taken down (their endpoints too: buildBoth's builds use the default
  // network, the others none); other test files' namespaces come and go meanwhile, so mounts are what is compared.
  await removeContainers(root);
  expect(mountsUnder(work)).toEqual([]);
});

afterAll(async () => {
  if (work) await removeTree(work);
});

// ─── Compared with buildah bud ───────────────────────────────────────────────

const TARGET_DOCKERFILE = `FROM ${BUSYBOX_REF} AS first
RUN echo first > /first.txt
FROM ${BUSYBOX_REF} AS unused
RUN echo unused > /unused.txt
FROM ${BUSYBOX_REF} AS mid
COPY --from=first /first.txt /from-first.txt
RUN echo mid > /mid.txt
FROM mid AS last
RUN echo last > /last.txt
`;

const PLATFORM_DOCKERFILE = `ARG BASE=${BUSYBOX_REF}
FROM --platform=$BUILDPLATFORM $BASE
ARG TARGETPLATFORM TARGETOS TARGETARCH BUILDPLATFORM BUILDOS BUILDARCH
RUN echo "$TARGETPLATFORM $TARGETOS $TARGETARCH $BUILDPLATFORM $BUILDOS $BUILDARCH" > /platform.txt
`;

const METADATA_DOCKERFILE = `FROM ${BUSYBOX_REF}
HEALTHCHECK --interval=30s --timeout=5s --start-period=1m30s --retries=4 CMD wget -q -O- http://localhost/ || exit 1
ONBUILD RUN echo triggered > /triggered.txt
ONBUILD COPY . /app/
`;

describe.skipIf(!haveBuildah)('compared with buildah bud', () => {
  const both = buildahComparison(() => ({ work, root }));

  /** buildah's Docker-format config (skopeo's OCI copy drops Healthcheck and OnBuild, as it drops Shell). */
  const buildahConfig = async (name: string) => JSON.parse((await both.contained('buildah', ['inspect', '--type', 'image', name])).stdout).Docker.config as Record<string, unknown>;

  const cases: { name: string; dockerfile: string; args: string[]; files: string[]; check?: (name: string) => Promise<void> }[] = [
    {
      name: 'cwtarget',
      dockerfile: TARGET_DOCKERFILE,
      args: ['--target', 'mid'],
      files: ['from-first.txt', 'mid.txt'],
      check: async () => {
        // Only the stages the target needs: first (COPY --from) and mid; not unused, not last.
        const out = await cutaway(['build', '--network', 'none', '--no-cache', '--target', 'MID', context('cw-target-log', TARGET_DOCKERFILE)]);
        expect(out.code, out.stderr).toBe(0);
        expect(steps(out.stderr)).toEqual([`FROM ${BUSYBOX_REF} AS first`, 'RUN echo first > /first.txt', `FROM ${BUSYBOX_REF} AS mid`, 'COPY --from=first /first.txt /from-first.txt', 'RUN echo mid > /mid.txt']);
        // By index too.
        const byIndex = await cutaway(['build', '-q', '--network', 'none', '--target', '2', context('cw-target-log', TARGET_DOCKERFILE)]);
        expect(byIndex.stdout).toBe(out.stdout);
      },
    },
    {
      name: 'cwplatform',
      dockerfile: PLATFORM_DOCKERFILE,
      args: [],
      files: ['platform.txt'],
      check: async () => {
        expect(await inImage('cwplatform', 'cat /platform.txt')).toBe('linux/amd64 linux amd64 linux/amd64 linux amd64\n');
      },
    },
    {
      name: 'cwmetadata',
      dockerfile: METADATA_DOCKERFILE,
      args: [],
      files: [],
      check: async (name) => {
        const c = (await config(name)).config!;
        // Docker's Healthcheck: the test, durations in nanoseconds; OnBuild the triggers as written.
        expect(c.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'], Interval: 30e9, Timeout: 5e9, StartPeriod: 90e9, Retries: 4 });
        expect(c.OnBuild).toEqual(['RUN echo triggered > /triggered.txt', 'COPY . /app/']);
        const theirs = await buildahConfig(name);
        expect({ Healthcheck: c.Healthcheck, OnBuild: c.OnBuild }).toEqual({ Healthcheck: theirs.Healthcheck, OnBuild: theirs.OnBuild });
      },
    },
  ];

  it.each(cases)('$name: the same files and config as buildah', async ({ name, dockerfile, args, files, check }) => {
    const dir = context(`cw-${name}`, dockerfile);
    // (The default network: buildah's chroot isolation takes no other.)
    const { ours, theirs } = await both.buildBoth(name, dir, args);
    expect(comparedConfig(ours.config)).toEqual(comparedConfig(theirs.config));
    expect(ours.layers).toBe(theirs.layers);
    expect((await both.treeDiff(ours.rootfs, theirs.rootfs)).filter((d) => !BUILDAH_RUN_LEFTOVERS.includes(d))).toEqual([]);
    for (const f of files) expect(readFileSync(join(ours.rootfs, f), 'utf8')).toBe(readFileSync(join(theirs.rootfs, f), 'utf8'));
    await check?.(name);
  });
});

// ─── Heredocs (buildah 1.28 has none: expected from the Dockerfile reference) ───

describe('heredocs, as the Dockerfile reference describes them (buildah 1.28 has none)', () => {
  const HEREDOC_DOCKERFILE = [
    `FROM ${BUSYBOX_REF}`,
    'ARG NAME=world',
    // One heredoc alone: its body is the shell's script.
    'RUN <<EOF',
    'echo "hello $NAME" > /run1.txt',
    'echo second line >> /run1.txt',
    'EOF',
    // Several on one line, <<- strips leading tabs; the shell gets the command and the bodies.
    'RUN cat <<A > /run2.txt && cat <<-B >> /run2.txt',
    'from A',
    'A',
    '\tfrom B',
    '\tB',
    // A quoted delimiter: RUN gives the body to the shell as it is (BuildKit ignores the quoting there: the shell expands).
    "RUN <<'EOF'",
    'echo "quoted $NAME" > /run3.txt',
    'EOF',
    // #! first: run as that interpreter's script, from /dev/pipes, not kept in the image.
    'RUN <<script',
    '#!/bin/sh -e',
    'echo "script $0" > /run4.txt',
    'script',
    // COPY: files named by their delimiter; unquoted ones substituted, quoted ones as written.
    'COPY <<one.txt <<"two.txt" /dir/',
    'one: $NAME',
    'one.txt',
    'two: $NAME',
    'two.txt',
    'COPY <<-EOF /single.txt',
    '\tsingle $NAME',
    '\tEOF',
    '',
  ].join('\n');

  it('RUN runs the bodies (one alone, several, quoted, #!); COPY writes them as files (0644, root)', async () => {
    const dir = context('cw-heredoc', HEREDOC_DOCKERFILE);
    const out = await cutaway(['build', '--network', 'none', '--build-arg', 'NAME=cutaway', '-t', 'cwheredoc', dir]);
    expect(out.code, out.stderr).toBe(0);
    expect(await inImage('cwheredoc', 'cat /run1.txt /run2.txt /run3.txt /run4.txt /dir/one.txt /dir/two.txt /single.txt')).toBe(
      ['hello cutaway', 'second line', 'from A', 'from B', 'quoted cutaway', 'script /dev/pipes/script', 'one: cutaway', 'two: $NAME', 'single cutaway', ''].join('\n'),
    );
    expect(await inImage('cwheredoc', 'stat -c "%n %a %u:%g" /dir/one.txt /single.txt; ls /dev/pipes 2>&1 || true')).toBe('/dir/one.txt 644 0:0\n/single.txt 644 0:0\nls: /dev/pipes: No such file or directory\n');
    // A changed body is a changed step: not from the cache.
    writeFileSync(join(dir, 'Dockerfile'), HEREDOC_DOCKERFILE.replace('one: $NAME', 'one again: $NAME'));
    const again = await cutaway(['build', '--network', 'none', '--build-arg', 'NAME=cutaway', '-t', 'cwheredoc', dir]);
    expect(again.stderr.split('Step ').filter((s) => s.includes('Using cache')).length).toBe(4);
    expect(await inImage('cwheredoc', 'cat /dir/one.txt')).toBe('one again: cutaway\n');
  });

  it('its --dry-run script builds the same image (SOURCE_DATE_EPOCH: the same ID)', async () => {
    const dir = context('cw-heredoc-dry', HEREDOC_DOCKERFILE);
    const env = { SOURCE_DATE_EPOCH: '1500000000' };
    const rootB = join(work, 'root-dry');
    await buildBusyboxImage(await OciLayout.create(join(rootB, 'images')));
    const printed = await cutaway(['build', '--dry-run', '--network', 'none', '-t', 'cwheredoc-dry', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const real = await cutaway(['build', '-q', '--no-cache', '--network', 'none', '-t', 'cwheredoc-dry', dir], { env });
    expect(real.code, real.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}`, ...env });
    expect(scripted.code, scripted.stderr).toBe(0);
    expect(scripted.stdout).toBe(real.stdout);
    await removeContainers(rootB);
  });
});

// ─── ONBUILD, platforms, stdin, warnings: cutaway alone, Docker's documented behaviour ───

describe('ONBUILD triggers, FROM --platform, stdin, the unused build-arg warning', () => {
  it('a child build runs the base image\'s ONBUILD triggers first; the child keeps none of them', async () => {
    const base = await cutaway(['build', '-q', '--network', 'none', '-t', 'cwonbuild-base', context('cw-onbuild-base', METADATA_DOCKERFILE)]);
    expect(base.code, base.stderr).toBe(0);
    const child = context('cw-onbuild-child', 'FROM cwonbuild-base\nRUN cat /triggered.txt /app/ctx.txt > /seen.txt\n', { 'ctx.txt': 'from the child context\n' });
    const out = await cutaway(['build', '--network', 'none', '-t', 'cwonbuild-child', child]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toContain('# Executing 2 build triggers');
    expect(await inImage('cwonbuild-child', 'cat /seen.txt')).toBe('triggered\nfrom the child context\n');
    const c = (await config('cwonbuild-child')).config!;
    expect(c.OnBuild ?? null).toBeNull();
    // HEALTHCHECK is inherited, as any config field.
    expect(c.Healthcheck).toMatchObject({ Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'] });
  });

  it.each([
    ['ONBUILD ONBUILD RUN x', "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"],
    ['ONBUILD FROM busybox', "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"],
    ['ONBUILD MAINTAINER me', "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger"],
    ['HEALTHCHECK --interval=10 CMD true', 'Dockerfile:2: --interval: time: invalid duration "10"'],
  ])('%s: refused with Docker\'s error, nothing made', async (line, message) => {
    const fresh = join(work, 'cw-fresh');
    const out = await cutaway(['build', context('cw-refused', `FROM ${BUSYBOX_REF}\n${line}\n`)], { root: fresh });
    expect(out.code).toBe(1);
    expect(out.stderr.trim()).toBe(`cutaway build: error: ${message}`);
    expect(existsSync(fresh)).toBe(false);
  });

  it('FROM --platform: an image without a manifest for it is a clear error; another platform than the host\'s is refused', async () => {
    const dir = context('cw-platform', 'FROM scratch\n');
    const cases: [string, RegExp][] = [
      ['FROM --platform=linux/arm64 busybox:1', /^cutaway build: error: busybox:1: no match for platform linux\/arm64: the image is for linux\/amd64, not linux\/arm64 \(hint: pull the image for it first: cutaway pull --platform linux\/arm64 busybox:1\)$/],
      ['FROM --platform=linux/s390x multi:1', /^cutaway build: error: multi:1: no match for platform linux\/s390x: no image for linux\/s390x; the image has linux\/amd64, linux\/arm64 /],
      ['FROM --platform=linux/arm64 multi:1', /^cutaway build: error: multi:1 is an image for linux\/arm64: cutaway build runs steps for this host's platform \(linux\/amd64\) only/],
    ];
    for (const [from, message] of cases) {
      const out = await cutaway(['build', '-f', '-', dir], { input: `${from}\nRUN true\n` });
      expect([out.code, out.stderr.trim().split('\n').at(-1)], from).toEqual([1, expect.stringMatching(message)]);
    }
    // --platform sets TARGETPLATFORM; a FROM without --platform then takes that platform's image.
    const amd = await cutaway(['build', '-q', '--network', 'none', '--platform', 'linux/amd64', '-t', 'cwmulti', '-f', '-', dir], { input: 'FROM multi:1\nARG TARGETARCH\nRUN echo $TARGETARCH > /arch\n' });
    expect(amd.code, amd.stderr).toBe(0);
    expect(await inImage('cwmulti', 'cat /arch')).toBe('amd64\n');
    const bad = await cutaway(['build', '--platform', 'linux', dir]);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([125, expect.stringMatching(/^cutaway build: error: --platform: invalid platform "linux"/)]);
  });

  it('-f - reads the Dockerfile from stdin; - a Dockerfile alone or a context tar (plain or gzip); --target unknown; the unused build-arg warning', async () => {
    const dir = context('cw-stdin', 'FROM scratch\n', { 'ctx.txt': 'context file\n' });
    const dockerfile = `FROM ${BUSYBOX_REF}\nARG USED\nCOPY ctx.txt /ctx.txt\nRUN echo "$USED" > /used.txt\n`;
    const fromStdin = await cutaway(['build', '--network', 'none', '--build-arg', 'USED=yes', '--build-arg', 'ZED=1', '--build-arg', 'ALPHA=2', '-t', 'cwstdin', '-f', '-', dir], { input: dockerfile });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    // Docker's warning (the classic builder's words), the names sorted, before "Successfully built".
    expect(fromStdin.stderr).toMatch(/^\[Warning\] One or more build-args \[ALPHA ZED\] were not consumed\nSuccessfully built /m);
    expect(await inImage('cwstdin', 'cat /ctx.txt /used.txt')).toBe('context file\nyes\n');

    // `-`: a Dockerfile alone, no context.
    const alone = await cutaway(['build', '-q', '--network', 'none', '-'], { input: `FROM ${BUSYBOX_REF}\nRUN echo alone > /alone.txt\n` });
    expect(alone.code, alone.stderr).toBe(0);
    // `-`: a context tar, plain and gzip, with its Dockerfile inside.
    writeFileSync(join(dir, 'Dockerfile'), dockerfile);
    for (const [name, flags] of [['ctx.tar', '-c'], ['ctx.tgz', '-cz']] as const) {
      await run('tar', [flags, '-f', join(work, name), '-C', dir, '.']);
      chmodSync(join(work, name), 0o644);
      const out = await runCommand('/bin/sh', ['-c', `cutaway build -q --network none -t cwstdin-${name.replace('.', '-')} - < ${join(work, name)}`], { env: { CUTAWAY_ROOT: root, PATH: `${BIN_DIR}:${process.env.PATH}` } });
      expect(out.code, out.stderr).toBe(0);
      expect(await inImage(`cwstdin-${name.replace('.', '-')}`, 'cat /ctx.txt')).toBe('context file\n');
    }
    // A --dry-run cannot take a context tar (the script would copy from files gone by then): one line, 125.
    const dry = await runCommand('/bin/sh', ['-c', `cutaway build --dry-run - < ${join(work, 'ctx.tar')}`], { env: { CUTAWAY_ROOT: root, PATH: `${BIN_DIR}:${process.env.PATH}` } });
    expect([dry.code, dry.stderr.trim().split('\n')]).toEqual([125, [expect.stringMatching(/^cutaway build: error: --dry-run cannot take a build context on stdin/)]]);

    const both = await cutaway(['build', '-f', '-', '-']);
    expect([both.code, both.stderr.split('\n')[0]]).toEqual([125, "cutaway build: error: invalid argument: can't use stdin for both build context and dockerfile"]);
    const unknown = await cutaway(['build', '--target', 'nope', dir]);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([1, 'cutaway build: error: target stage "nope" could not be found']);
    expect(stepContainers()).toEqual([]);
  });
});
