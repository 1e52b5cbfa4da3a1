/**
 * cutaway build end to end, with the real tools underneath (overlay-mount,
 * netbridge, ns-exec, layer-commit) and the busybox fixture image as the base,
 * in a temporary store. What is checked is what `docker build` promises: the
 * step log on stderr and the digest on stdout, the tag in the store, the image
 * config each instruction makes, the files COPY, ADD and RUN put in the image
 * (seen by `cutaway run`), the build cache, a failing RUN that stops the build
 * and leaves nothing behind, one-line errors for bad input. Then the same
 * Dockerfiles are built by buildah (Debian's 1.28, its storage in a temporary
 * directory) and the two images are compared.
 *
 * afterEach takes down whatever a build left (a cwbuild-* container's network
 * endpoint and overlay) and checks that the mounts under the work directory,
 * the veths and network namespaces of cwbuild-* containers are as before
 * (none: other test files' networks come and go meanwhile, see hostState).
 */
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { findImage, OciLayout, type ImageConfig } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { BUSYBOX_REF, buildBusyboxImage, DEFAULT_PATH, removeTree, run } from '../../../test/fixtures/images.ts';
import { mountsUnder } from '../../../test/fixtures/mounts.ts';
import { BUILDAH_RUN_LEFTOVERS, buildahComparison, compareHistory, comparedConfig, haveBuildah, imageConfig } from '../../../test/fixtures/buildah.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';

const HELLO = fileURLToPath(new URL('../../../examples/hello/', import.meta.url)).replace(/\/$/, '');
/** Every file of the generated contexts gets this mtime, so copies can be compared to the second. */
const CONTEXT_MTIME = 1_600_000_000; // 2020-09-13T12:26:40Z

let work: string;
let root: string;
let before: HostState;

function cutaway(args: string[], options: { root?: string } = {}): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: options.root ?? root } });
}

interface HostState {
  mounts: string[];
  links: string[];
  netns: string[];
}

/**
 * The network namespaces this file's builds made: `cwbuild-` and the first 10 digits of a step container's
 * id, each container's create event in the root's events.log. Other test files build at the same time, and
 * their steps' namespaces come and go under the same prefix.
 */
function ownStepNamespaces(): Set<string> {
  const log = join(root, 'events.log');
  const created = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('"Action":"create"') && l.includes('"Type":"container"')) : [];
  return new Set(created.map((l) => `cwbuild-${(JSON.parse(l) as { Actor: { ID: string } }).Actor.ID.slice(0, 10)}`));
}

/**
 * What a build may leave on the host: mounts under the work directory, the
 * network namespaces of its RUN containers (cwbuild-*) and the host ends of
 * their veth pairs (cwv…, whose peer is in such a namespace). The default
 * network's bridge (cw0) is not compared: other test files use that network
 * at the same time, as they do networks of their own (cw-…).
 */
async function hostState(): Promise<HostState> {
  const mounts = mountsUnder(work);
  const own = ownStepNamespaces();
  const links = (await run('ip', ['-o', 'link']))
    .split('\n')
    .filter((l) => own.has(/ link-netns (cwbuild-\S+)/.exec(l)?.[1] ?? ''))
    .map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
    .sort();
  const netns = (await run('ip', ['netns', 'list']))
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => own.has(n))
    .sort();
  return { mounts, links, netns };
}

/** cutaway build's step containers (RUN, COPY) still in the store: the builds here make no other container. */
function buildContainers(storeRoot = root): string[] {
  const dir = join(storeRoot, 'containers');
  return existsSync(dir) ? readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)) : [];
}

interface StepLog {
  n: number;
  total: number;
  /** The instruction as the log shows it. */
  text: string;
  keyword: string;
  /** The lines after the Step line, up to the next one. */
  lines: string[];
  cached: boolean;
}

/** The log of `cutaway build` (stderr), step by step. */
function stepsOf(stderr: string): StepLog[] {
  const steps: StepLog[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Step (\d+)\/(\d+) : (.*)$/.exec(line);
    if (m) steps.push({ n: Number(m[1]), total: Number(m[2]), text: m[3]!, keyword: m[3]!.split(' ')[0]!.toUpperCase(), lines: [], cached: false });
    else if (line.startsWith('Successfully ')) break;
    else if (steps.length && line) {
      steps.at(-1)!.lines.push(line);
      if (line === ' ---> Using cache') steps.at(-1)!.cached = true;
    }
  }
  return steps;
}

/** The steps that make an image (and so can come from the cache): all but FROM and ARG. */
const imageSteps = (steps: StepLog[]) => steps.filter((s) => s.keyword !== 'FROM' && s.keyword !== 'ARG');


/** One container of the image: `sh -c SCRIPT` as the image's user, in its WorkingDir, with its Env. */
async function inImage(image: string, script: string): Promise<string> {
  const out = await cutaway(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', script]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return out.stdout;
}

/** A file of the context, with the fixed mtime. */
function contextFile(dir: string, path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(join(dir, path)), { recursive: true });
  writeFileSync(join(dir, path), content);
  chmodSync(join(dir, path), mode);
}

/** Every entry under `dir` (itself included) gets CONTEXT_MTIME, directories last so that nothing touches them again. */
function fixMtimes(dir: string): void {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (lstatSync(path).isDirectory()) fixMtimes(path);
    else utimesSync(path, CONTEXT_MTIME, CONTEXT_MTIME);
  }
  utimesSync(dir, CONTEXT_MTIME, CONTEXT_MTIME);
}

/**
 * A Dockerfile with every instruction cutaway build supports: global ARGs
 * (one used by FROM, one re-declared in a stage), FROM … AS, ARG after FROM,
 * ENV in both forms, LABEL, WORKDIR absolute then relative, COPY with a glob,
 * a directory, --chown and several files, ADD of a local .tar.gz (extracted),
 * RUN in exec form (in the builder stage) and shell form, SHELL and a RUN
 * through it, USER and a RUN as that user, EXPOSE, VOLUME, STOPSIGNAL, CMD,
 * ENTRYPOINT, and COPY --from the first stage.
 */
const ALL_DOCKERFILE = `ARG BASE=${BUSYBOX_REF}
ARG GREETING_ARG=from-global
FROM $BASE AS builder
ARG VERSION=1.2
WORKDIR /build
RUN ["/bin/sh", "-c", "mkdir -p out/nested && echo artifact $VERSION > out/artifact.txt && echo nested > out/nested/n.txt && chown 1000:1000 out/nested/n.txt"]

FROM $BASE AS final
ARG GREETING_ARG
ARG VERSION=2.0
ENV APP_VERSION=$VERSION GREETING="hello $GREETING_ARG"
ENV LEGACY_FORM legacy value with spaces
LABEL org.example.title="all instructions" org.example.version=$VERSION
WORKDIR /srv
WORKDIR app
COPY *.txt texts/
COPY tree/ tree/
COPY --chown=1000:1000 owned.txt owned/
COPY myshell.sh entry.sh ./
ADD bundle.tar.gz /opt/
COPY --from=builder /build/out/ built/
RUN echo "shell form: $GREETING $APP_VERSION in $(pwd) as $(id -u)" > run-shell.txt
SHELL ["/bin/sh", "/srv/app/myshell.sh"]
RUN echo "custom shell: $VIA_CUSTOM_SHELL" > shelled.txt
USER app
RUN id -un > /home/app/whoami.txt
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
CMD ["--flag"]
ENTRYPOINT ["/bin/sh", "/srv/app/entry.sh"]
`;

/** The context for ALL_DOCKERFILE: text files, a tree, a file to --chown, two scripts, a .tar.gz (one member owned by 1000). */
async function writeAllContext(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  contextFile(dir, 'Dockerfile', ALL_DOCKERFILE);
  contextFile(dir, 'a.txt', 'alpha\n');
  contextFile(dir, 'b.txt', 'beta\n');
  contextFile(dir, 'c.md', 'not a .txt: the glob leaves it out\n');
  contextFile(dir, 'owned.txt', 'owned\n');
  contextFile(dir, 'tree/top.txt', 'top\n');
  contextFile(dir, 'tree/sub/inner.txt', 'inner\n');
  // The SHELL: marks what it runs, so that a RUN shows it went through it.
  contextFile(dir, 'myshell.sh', '#!/bin/sh\nexport VIA_CUSTOM_SHELL=yes\nexec /bin/sh -c "$1"\n', 0o755);
  contextFile(dir, 'entry.sh', '#!/bin/sh\necho "entry: $*"\n', 0o755);
  const bundle = mkdtempSync(join(work, 'cw-bundle-'));
  contextFile(bundle, 'bundle/x.txt', 'x\n');
  contextFile(bundle, 'bundle/inner/z.txt', 'z\n', 0o600);
  chownSync(join(bundle, 'bundle/inner/z.txt'), 1000, 1000);
  fixMtimes(bundle);
  await run('tar', ['--create', '--gzip', '--numeric-owner', '--file', join(dir, 'bundle.tar.gz'), '--directory', bundle, 'bundle']);
  await removeTree(bundle);
  fixMtimes(dir);
}

const ALL_ENV = [DEFAULT_PATH, 'APP_VERSION=2.0', 'GREETING=hello from-global', 'LEGACY_FORM=legacy value with spaces'];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-build-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  await writeAllContext(join(work, 'all'));
});

beforeEach(async () => {
  before = await hostState();
});

afterEach(async () => {
  // A build that failed half-way may have left its temporary container: take it down as cutaway build would have.
  await removeContainers(root);
  expect(await hostState()).toEqual(before);
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('cutaway build', () => {
  it('builds examples/hello: the step log on stderr, the image ID (config digest) on stdout, the tag in the store; the image runs the demo', async () => {
    const out = await cutaway(['build', '-t', 'cwhello', HELLO]);
    expect(out.code).toBe(0);
    expect(out.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const digest = out.stdout.trim();
    const steps = stepsOf(out.stderr);
    expect(steps.map((s) => `${s.n}/${s.total} ${s.keyword}`)).toEqual(
      ['FROM', 'WORKDIR', 'COPY', 'COPY', 'ARG', 'RUN', 'ENV', 'LABEL', 'EXPOSE', 'USER', 'CMD'].map((k, i) => `${i + 1}/11 ${k}`),
    );
    expect(steps[0]!.text).toBe('FROM $BASE');
    expect(steps[2]!.text).toBe('COPY greet.sh message.txt ./');
    expect(steps[10]!.text).toBe('CMD ["sh", "/app/greet.sh"]');
    // Each step but ARG ends with the id of the image it made (the base's for FROM); RUN names its temporary container.
    for (const s of steps.filter((s) => s.keyword !== 'ARG')) expect(s.lines.filter((l) => l.startsWith(' ---> ')).at(-1), s.text).toMatch(/^ ---> [0-9a-f]{12}$/);
    expect(steps[5]!.lines.some((l) => /^ ---> Running in [0-9a-f]{12}$/.test(l))).toBe(true);
    expect(out.stderr).toContain(`Successfully built ${digest.slice(7, 19)}\nSuccessfully tagged docker.io/library/cwhello:latest\n`);

    const layout = await OciLayout.open(join(root, 'images'));
    expect((await findImage(layout, 'docker.io/library/cwhello:latest')).manifest.config.digest).toBe(digest);
    const { config } = await imageConfig(join(root, 'images'), 'cwhello');
    expect(config.config).toMatchObject({
      Env: [DEFAULT_PATH, 'GREETING=Hello from a container that cutaway built', 'APP_HOME=/app'],
      Cmd: ['sh', '/app/greet.sh'],
      WorkingDir: '/app',
      User: 'app',
      ExposedPorts: { '8080/tcp': {} },
      Labels: { 'org.opencontainers.image.title': 'cutaway demo' },
    });

    const demo = await cutaway(['run', '--rm', 'cwhello']);
    expect(demo.code).toBe(0);
    expect(demo.stdout).toMatch(
      new RegExp(
        [
          '^Hello from a container that cutaway built',
          'I am app on [0-9a-f]{12}, in /app',
          "Each step of docker build and docker run, done by a small tool you can run alone\\.",
          'primes made at build time: 2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 ?',
          'built with LIMIT=50',
          // .dockerignore keeps data/scratch.tmp out of the context, so COPY data/ does not see it.
          'data files: one\\.txt two\\.txt ?\n$',
        ].join('\n'),
      ),
    );
  });

  it('--build-arg changes what RUN sees; the steps before it come from the cache', async () => {
    await cutaway(['build', HELLO]);
    const out = await cutaway(['build', '--build-arg', 'LIMIT=20', '-t', 'cwhello:20', HELLO]);
    expect(out.code).toBe(0);
    const steps = imageSteps(stepsOf(out.stderr));
    expect(steps.map((s) => [s.keyword, s.cached])).toEqual([
      ['WORKDIR', true], ['COPY', true], ['COPY', true], ['RUN', false], ['ENV', false], ['LABEL', false], ['EXPOSE', false], ['USER', false], ['CMD', false],
    ]);
    const demo = await cutaway(['run', '--rm', 'cwhello:20']);
    expect(demo.stdout).toContain('primes made at build time: 2 3 5 7 11 13 17 19 \nbuilt with LIMIT=20\n');
  });

  it('builds a Dockerfile with every supported instruction: the image config and the files', async () => {
    const out = await cutaway(['build', '-t', 'cwall:1', join(work, 'all')]);
    expect(out.stderr.split('\n').filter((l) => l.startsWith('cutaway build: error'))).toEqual([]);
    expect(out.code).toBe(0);
    const steps = stepsOf(out.stderr);
    expect(steps.map((s) => s.n)).toEqual(Array.from({ length: 28 }, (_, i) => i + 1));
    expect(steps.every((s) => s.total === 28)).toBe(true);
    // The global ARGs are not steps; each FROM is.
    expect(steps.filter((s) => s.keyword === 'FROM').map((s) => s.text)).toEqual(['FROM $BASE AS builder', 'FROM $BASE AS final']);

    const { config, layers } = await imageConfig(join(root, 'images'), 'cwall:1');
    const c = config.config!;
    expect(c.Env).toEqual(ALL_ENV);
    expect(c.Cmd).toEqual(['--flag']);
    expect(c.Entrypoint).toEqual(['/bin/sh', '/srv/app/entry.sh']);
    expect(c.WorkingDir).toBe('/srv/app');
    expect(c.User).toBe('app');
    expect(c.ExposedPorts).toEqual({ '8080/tcp': {}, '53/udp': {} });
    expect(c.Volumes).toEqual({ '/data': {} });
    expect(c.Labels).toEqual({ 'org.example.title': 'all instructions', 'org.example.version': '2.0' });
    expect(c.StopSignal).toBe('SIGQUIT');
    expect(c.Shell).toEqual(['/bin/sh', '/srv/app/myshell.sh']);
    // busybox, 4 COPY, ADD, COPY --from, 3 RUN; the metadata instructions are history entries without a layer.
    expect(layers).toBe(10);
    const history = config.history ?? [];
    expect(history.filter((h) => !h.empty_layer)).toHaveLength(10);
    expect(history.filter((h) => h.empty_layer)).toHaveLength(12);
    expect(history.filter((h) => !h.empty_layer && !h.created_by?.includes('#(nop)')).map((h) => h.created_by)).toEqual([
      'cutaway fixture: /bin/busybox (busybox-static) with a link per applet, /etc/passwd, /etc/group, /tmp, /root, /home/app',
      // Docker's form: the build args the RUN saw, then the command under the SHELL of the moment.
      '|2 GREETING_ARG=from-global VERSION=2.0 /bin/sh -c echo "shell form: $GREETING $APP_VERSION in $(pwd) as $(id -u)" > run-shell.txt',
      '|2 GREETING_ARG=from-global VERSION=2.0 /bin/sh /srv/app/myshell.sh echo "custom shell: $VIA_CUSTOM_SHELL" > shelled.txt',
      '|2 GREETING_ARG=from-global VERSION=2.0 /bin/sh /srv/app/myshell.sh id -un > /home/app/whoami.txt',
    ]);

    // The image's Entrypoint and Cmd; its Env, as a process sees it.
    expect((await cutaway(['run', '--rm', '--network', 'none', 'cwall:1'])).stdout).toBe('entry: --flag\n');
    const env = (await cutaway(['run', '--rm', '--network', 'none', '--entrypoint', 'env', 'cwall:1'])).stdout.split('\n');
    expect(env).toEqual(expect.arrayContaining(ALL_ENV));
    // ARGs are the build's only.
    expect(env.some((e) => e.startsWith('VERSION=') || e.startsWith('GREETING_ARG='))).toBe(false);

    const listing = await inImage(
      'cwall:1',
      'echo "pwd=$(pwd) user=$(id -un)"; find /srv/app /opt/bundle /home/app/whoami.txt | sort | while read p; do stat -c "%n %F %u:%g %a" "$p"; done',
    );
    expect(listing.split('\n')).toEqual([
      'pwd=/srv/app user=app',
      '/home/app/whoami.txt regular file 1000:1000 644',
      // ADD extracted the archive, owners and modes as the archive has them.
      '/opt/bundle directory 0:0 755',
      '/opt/bundle/inner directory 0:0 755',
      '/opt/bundle/inner/z.txt regular file 1000:1000 600',
      '/opt/bundle/x.txt regular file 0:0 644',
      '/srv/app directory 0:0 755',
      // COPY --from copies the contents of the stage's /build/out/.
      '/srv/app/built directory 0:0 755',
      '/srv/app/built/artifact.txt regular file 0:0 644',
      '/srv/app/built/nested directory 0:0 755',
      // COPY --from keeps the owner the file has in the stage (1000:1000), as Docker and buildah do.
      '/srv/app/built/nested/n.txt regular file 1000:1000 644',
      '/srv/app/entry.sh regular file 0:0 755',
      '/srv/app/myshell.sh regular file 0:0 755',
      // COPY --chown gives the directory it creates the owner too, as Docker and buildah do.
      '/srv/app/owned directory 1000:1000 755',
      '/srv/app/owned/owned.txt regular file 1000:1000 644',
      '/srv/app/run-shell.txt regular file 0:0 644',
      '/srv/app/shelled.txt regular file 0:0 644',
      // The glob: the .txt files at the top of the context (c.md and tree/*.txt are not matched).
      '/srv/app/texts directory 0:0 755',
      '/srv/app/texts/a.txt regular file 0:0 644',
      '/srv/app/texts/b.txt regular file 0:0 644',
      '/srv/app/texts/owned.txt regular file 0:0 644',
      // A directory source copies its contents.
      '/srv/app/tree directory 0:0 755',
      '/srv/app/tree/sub directory 0:0 755',
      '/srv/app/tree/sub/inner.txt regular file 0:0 644',
      '/srv/app/tree/top.txt regular file 0:0 644',
      '',
    ]);
    const contents = await inImage('cwall:1', 'for f in built/artifact.txt run-shell.txt shelled.txt texts/a.txt tree/sub/inner.txt /opt/bundle/inner/z.txt /home/app/whoami.txt; do echo "$f: $(cat $f)"; done');
    expect(contents).toBe(
      [
        // The exec-form RUN of the builder stage saw its ARG.
        'built/artifact.txt: artifact 1.2',
        // The shell-form RUN: ENV (substituted with the ARGs), WORKDIR /srv then app, root before USER.
        'run-shell.txt: shell form: hello from-global 2.0 in /srv/app as 0',
        // The RUN after SHELL went through myshell.sh.
        'shelled.txt: custom shell: yes',
        'texts/a.txt: alpha',
        'tree/sub/inner.txt: inner',
        '/opt/bundle/inner/z.txt: z',
        // The RUN after USER ran as app.
        '/home/app/whoami.txt: app',
        '',
      ].join('\n'),
    );
    // COPY keeps the files' mtimes.
    expect(await inImage('cwall:1', 'stat -c "%n %Y" texts/a.txt tree/top.txt owned/owned.txt')).toBe(
      `texts/a.txt ${CONTEXT_MTIME}\ntree/top.txt ${CONTEXT_MTIME}\nowned/owned.txt ${CONTEXT_MTIME}\n`,
    );
  });

  it('takes unchanged steps from the cache; a changed file reruns its COPY and every step after it', async () => {
    const context = join(work, 'cw-cache');
    await writeAllContext(context);
    const first = await cutaway(['build', context]);
    expect(first.code).toBe(0);
    const second = await cutaway(['build', context]);
    expect(second.code).toBe(0);
    expect(second.stdout).toBe(first.stdout);
    const cachedSteps = imageSteps(stepsOf(second.stderr));
    expect(cachedSteps).toHaveLength(23);
    expect(cachedSteps.filter((s) => !s.cached).map((s) => s.text)).toEqual([]);
    expect(second.stderr).not.toContain('Running in');

    // One file of `COPY tree/ tree/` changes (same size, other bytes: the content counts, not just the size).
    writeFileSync(join(context, 'tree/top.txt'), 'TOP\n');
    const third = await cutaway(['build', '-t', 'cwcache:changed', context]);
    expect(third.code).toBe(0);
    expect(third.stdout).not.toBe(first.stdout);
    const steps = imageSteps(stepsOf(third.stderr));
    const changed = steps.findIndex((s) => s.text === 'COPY tree/ tree/');
    expect(changed).toBeGreaterThan(0);
    expect(steps.slice(0, changed).filter((s) => !s.cached).map((s) => s.text)).toEqual([]);
    expect(steps.slice(changed).filter((s) => s.cached).map((s) => s.text)).toEqual([]);
    expect(steps.slice(changed).filter((s) => s.keyword === 'RUN').every((s) => s.lines.some((l) => /^ ---> Running in [0-9a-f]{12}$/.test(l)))).toBe(true);
    expect(await inImage('cwcache:changed', 'cat tree/top.txt texts/a.txt')).toBe('TOP\nalpha\n');
  });

  it('stops at a failing RUN with its exit status and keeps its container (taken down, in ps -a) as Docker\'s classic builder does, with the command that reruns the step; --force-rm keeps nothing', async () => {
    const context = join(work, 'cw-fail');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo before > /before.txt\nRUN exit 3\nRUN echo never > /never.txt\n`);
    const out = await cutaway(['build', '-t', 'cwfail', context]);
    expect(out.code).toBe(3);
    const last = out.stderr.trim().split('\n').at(-1)!;
    // The error names the step's container, kept as Docker's classic builder keeps it, and how to rerun the step.
    expect(last).toMatch(/^cutaway build: error: The command '\/bin\/sh -c exit 3' returned a non-zero code: 3 \(hint: rerun the step: cutaway run --rm --network \S+ -e PATH=\S+ --entrypoint \/bin\/sh [0-9a-f]{12} -c 'exit 3'; its container ([0-9a-f]{12}) is kept \(cutaway ps -a\)\)$/);
    expect(out.stdout).toBe('');
    const steps = stepsOf(out.stderr);
    expect(steps.map((s) => s.text)).toEqual([`FROM ${BUSYBOX_REF}`, 'RUN echo before > /before.txt', 'RUN exit 3']);
    const container = /Running in ([0-9a-f]{12})$/m.exec(steps[2]!.lines.join('\n'))?.[1];
    expect(container).toBeDefined();

    expect(last).toContain(`its container ${container} is kept`);
    // Taken down but kept (afterEach would tidy up after it, so look before it does): no mount, no network; ps -a
    // shows it exited with the step's status, its upper directory holds what the step did before it failed.
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root))).toEqual([]);
    expect(existsSync(join('/run/netns', `cwbuild-${container!.slice(0, 10)}`))).toBe(false);
    const [kept] = buildContainers();
    expect(kept?.slice(0, 12)).toBe(container);
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(new RegExp(`^${container} .*"/bin/sh -c exit 3".*Exited \\(3\\)`, 'm'));
    expect((await cutaway(['rm', container!])).stdout).toBe(`${container}\n`);
    expect(buildContainers()).toEqual([]);
    // --force-rm: nothing kept.
    const forced = await cutaway(['build', '--force-rm', '-t', 'cwfail', context]);
    expect(forced.code).toBe(3);
    expect(forced.stderr).not.toContain('is kept');
    expect(buildContainers()).toEqual([]);
    expect(await hostState()).toEqual(before);
    // Not tagged.
    expect(await (await OciLayout.open(join(root, 'images'))).resolve('docker.io/library/cwfail:latest')).toBeUndefined();
  });

  it('bad input: a missing context, a missing Dockerfile, an unknown instruction, an invalid tag — one line, non-zero, nothing made', async () => {
    const fresh = join(work, 'cw-fresh-root');
    const noDockerfile = join(work, 'cw-no-dockerfile');
    mkdirSync(noDockerfile);
    const unknown = join(work, 'cw-unknown');
    mkdirSync(unknown);
    writeFileSync(join(unknown, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN true\nFROOB something\n`);
    const cases: [string[], number, RegExp][] = [
      [['build', join(work, 'cw-missing')], 1, /^cutaway build: error: unable to prepare context: path ".*cw-missing" not found$/],
      [['build', noDockerfile], 1, /^cutaway build: error: Cannot locate specified Dockerfile: Dockerfile$/],
      [['build', '-f', join(noDockerfile, 'Other.dockerfile'), noDockerfile], 1, /^cutaway build: error: Cannot locate specified Dockerfile: Other\.dockerfile$/],
      [['build', unknown], 1, /^cutaway build: error: Dockerfile:3: unknown instruction: FROOB/],
      [['build', '-t', 'Not:A:Tag', unknown], 125, /^cutaway build: error: invalid tag "Not:A:Tag": invalid reference format$/],
      [['build', '-t', 'UPPER', unknown], 125, /^cutaway build: error: invalid tag "UPPER": invalid reference format$/],
    ];
    for (const [args, code, message] of cases) {
      const out = await cutaway(args, { root: fresh });
      const lines = out.stderr.trim().split('\n');
      expect(lines[0], args.join(' ')).toMatch(message);
      // A usage error (exit 125, as Docker's) adds the CLI's usual pointer to --help, nothing else.
      expect(lines.slice(1), args.join(' ')).toEqual(code === 125 ? ["Try 'cutaway build --help' for more information."] : []);
      expect(out.code, args.join(' ')).toBe(code);
      expect(out.stdout).toBe('');
    }
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(noDockerfile)).toEqual([]);
    expect(readdirSync(unknown)).toEqual(['Dockerfile']);
  });
});

/** Directories of the cgroup cw-<name> that cg-limit makes, in each hierarchy (v1) or the one (v2). */
function cgroupDirs(name: string): string[] {
  const top = '/sys/fs/cgroup';
  const candidates = [join(top, `cw-${name}`), ...readdirSync(top).map((h) => join(top, h, `cw-${name}`))];
  return candidates.filter((d) => existsSync(d));
}

/** The lines a RUN printed (its output in the log), without the builder's own. */
const runOutput = (step: StepLog) => step.lines.filter((l) => !l.startsWith(' ---> ') && !l.startsWith('Removing intermediate container '));

describe("RUN's containers: the isolation of docker run's, and Docker's --rm and --force-rm", () => {
  /**
   * Seccomp's mode, mknod of a block device in /dev (a tmpfs: not nodev) and an open of it, and the devices
   * cgroup's list, as the container sees them.
   */
  const PROBE = "grep '^Seccomp:' /proc/self/status; mknod /dev/cwx b 8 0 2>&1 && echo made; head -c 1 /dev/cwx 2>&1 || echo \"open: status $?\"; cat /sys/fs/cgroup/devices/devices.list 2>&1 || true";

  it("a RUN gets the devices cgroup and seccomp profile cutaway run gives (Docker's defaults): mknod of a device allowed, its open refused, Seccomp 2, Docker's device list", async () => {
    const context = join(work, 'cw-isolation');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN ${PROBE}\n`);
    const built = await cutaway(['build', '--no-cache', '--network', 'none', context]);
    expect(built.code, built.stderr).toBe(0);
    const step = stepsOf(built.stderr)[1]!;
    const id12 = /Running in ([0-9a-f]{12})$/m.exec(step.lines.join('\n'))![1]!;
    const output = runOutput(step);
    const ran = await cutaway(['run', '--rm', '--network', 'none', BUSYBOX_REF, 'sh', '-c', PROBE]);
    expect(ran.code, ran.stderr).toBe(0);
    expect(output.join('\n')).toBe(ran.stdout.trimEnd());
    expect(output[0]).toMatch(/^Seccomp:\s+2$/);
    if (existsSync('/sys/fs/cgroup/devices')) {
      // As under Docker: the devices cgroup allows mknod of any node (`m`) and refuses the open.
      expect(output.slice(1, 3)).toEqual(['made', 'head: /dev/cwx: Operation not permitted']);
      // v1: the step's own cgroup, as its cgroup namespace shows it: Docker's list, not the root's `a *:* rwm`.
      expect(output).toContain('c 1:3 rwm');
      expect(output).toContain('c *:* m');
      expect(output).not.toContain('a *:* rwm');
    }
    // The step's cgroup went with it.
    expect(cgroupDirs(id12)).toEqual([]);
  });

  it('--rm (the default) removes each RUN\'s container once its step succeeds, saying so; --rm=false keeps them, exited, in ps -a; --rm=false keeps a failed one too, --force-rm none', async () => {
    const context = join(work, 'cw-rm');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo one > /one.txt\nRUN echo two > /two.txt\n`);
    const removed = await cutaway(['build', '--no-cache', '--network', 'none', context]);
    expect(removed.code, removed.stderr).toBe(0);
    const runs = stepsOf(removed.stderr).filter((s) => s.keyword === 'RUN');
    for (const s of runs) {
      const id12 = /Running in ([0-9a-f]{12})$/m.exec(s.lines.join('\n'))![1];
      // Docker's order: the container removed, then the step's image.
      expect(s.lines.slice(-2)).toEqual([`Removing intermediate container ${id12}`, expect.stringMatching(/^ ---> [0-9a-f]{12}$/)]);
    }
    expect(buildContainers()).toEqual([]);

    const kept = await cutaway(['build', '--rm=false', '--no-cache', '--network', 'none', context]);
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stderr).not.toContain('Removing intermediate container');
    const ids = stepsOf(kept.stderr).filter((s) => s.keyword === 'RUN').map((s) => /Running in ([0-9a-f]{12})$/m.exec(s.lines.join('\n'))![1]!);
    expect(buildContainers().map((id) => id.slice(0, 12)).sort()).toEqual([...ids].sort());
    const ps = (await cutaway(['ps', '-a'])).stdout;
    for (const id12 of ids) expect(ps).toMatch(new RegExp(`^${id12} .*Exited \\(0\\)`, 'm'));
    // An ordinary exited container now: not one to remove when it exits again; taken down (no mount, no cgroup).
    for (const id of buildContainers()) expect(JSON.parse(readFileSync(join(root, 'containers', id, 'config.json'), 'utf8'))).toMatchObject({ autoRemove: false });
    expect(mountsUnder(root)).toEqual([]);
    for (const id12 of ids) expect(cgroupDirs(id12)).toEqual([]);
    expect((await cutaway(['rm', ...ids])).code).toBe(0);

    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo one > /one.txt\nRUN exit 4\n`);
    const failed = await cutaway(['build', '--rm=false', '--no-cache', '--network', 'none', context]);
    expect(failed.code).toBe(4);
    expect(buildContainers()).toHaveLength(2);
    await removeContainers(root);
    // --force-rm wins over --rm=false, as Docker's API makes forcerm imply rm.
    const forced = await cutaway(['build', '--rm=false', '--force-rm', '--no-cache', '--network', 'none', context]);
    expect(forced.code).toBe(4);
    expect(forced.stderr.match(/^Removing intermediate container /gm)).toHaveLength(2);
    expect(buildContainers()).toEqual([]);
    // pflag's booleans: --rm=0 is --rm=false; a word that is not a boolean is a usage error.
    const bad = await cutaway(['build', '--rm=no', context]);
    expect([bad.code, bad.stderr.split('\n')[0]]).toEqual([125, 'cutaway build: error: invalid argument "no" for --rm: true or false']);
  });
});

describe('Docker\'s rules that once went wrong', () => {
  it('COPY --from follows a source symlink inside the stage, never into the host: an absolute target, and a link to / on the way', async () => {
    // The same path on the host and in the stage, with other contents: what is copied must be the stage's.
    const hostDir = mkdtempSync(join(tmpdir(), 'cw-host-'));
    try {
      writeFileSync(join(hostDir, 'secret'), 'host\n');
      const context = join(work, 'cw-from-links');
      mkdirSync(context);
      writeFileSync(
        join(context, 'Dockerfile'),
        [
          `FROM ${BUSYBOX_REF} AS b`,
          `RUN mkdir -p ${hostDir} /d && echo image > ${hostDir}/secret && ln -s ${hostDir}/secret /link && ln -s / /d/up`,
          `FROM ${BUSYBOX_REF}`,
          'COPY --from=b /link /got',
          `COPY --from=b /d/up${hostDir}/secret /via-dir`,
          'COPY --from=b /link /into/',
          '',
        ].join('\n'),
      );
      const built = await cutaway(['build', '--network', 'none', '-t', 'cwfromlinks', context]);
      expect(built.code, built.stderr).toBe(0);
      expect(await inImage('cwfromlinks', 'cat /got /via-dir /into/link')).toBe('image\nimage\nimage\n');
    } finally {
      rmSync(hostDir, { recursive: true, force: true });
    }
  });

  it('ENTRYPOINT resets the Cmd of the base image', async () => {
    const context = join(work, 'cw-entrypoint');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nENTRYPOINT ["echo", "entry"]\n`);
    expect((await cutaway(['build', '-t', 'cwentry', context])).code).toBe(0);
    const { config } = await imageConfig(join(root, 'images'), 'cwentry');
    // Docker (and buildah) reset an inherited Cmd when ENTRYPOINT is set (a CMD of the same stage stays).
    expect(config.config?.Cmd ?? null).toBeNull();
    expect((await cutaway(['run', '--rm', '--network', 'none', 'cwentry'])).stdout).toBe('entry\n');
  });

  it('a new stage has no CMD of its own: its ENTRYPOINT resets the one it inherits; ENV keeps tabs and newlines', async () => {
    const context = join(work, 'cw-stages');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF} AS base\nCMD ["from-base"]\nFROM base\nARG V\nENV X=$V\nENTRYPOINT ["echo"]\n`);
    const out = await cutaway(['build', '--network', 'none', '--build-arg', 'V=a\tb\nc', '-t', 'cwstages', context]);
    expect(out.stderr.split('\n').at(-2)).toMatch(/^Successfully tagged/);
    const { config } = await imageConfig(join(root, 'images'), 'cwstages');
    expect(config.config?.Cmd ?? null).toBeNull();
    expect(config.config?.Entrypoint).toEqual(['echo']);
    expect(config.config?.Env).toContain('X=a\tb\nc');
  });

  it("a RUN's output goes to the log on stderr; stdout has only the digest", async () => {
    const context = join(work, 'cw-run-output');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo from-run\n`);
    const out = await cutaway(['build', '--no-cache', context]);
    expect(out.code).toBe(0);
    // `id=$(cutaway build .)` composes: the log is on stderr.
    expect(out.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(out.stderr).toMatch(/^from-run$/m);
  });
});

// ─── Compared with buildah ───────────────────────────────────────────────────

describe.skipIf(!haveBuildah)('compared with buildah bud', () => {
  const { buildBoth, treeDiff } = buildahComparison(() => ({ work, root }));
  const compared = comparedConfig;

  it('examples/hello: the same files, config and layers', async () => {
    const { ours, theirs } = await buildBoth('cwhello', HELLO);
    expect(compared(ours.config)).toEqual(compared(theirs.config));
    // buildah adds its own label.
    expect(theirs.config.config?.Labels).toEqual({ ...ours.config.config?.Labels, 'io.buildah.version': expect.any(String) });
    expect(ours.layers).toBe(4);
    expect(theirs.layers).toBe(ours.layers);
    compareHistory(ours.config, theirs.config, ours.layers);
    expect(await treeDiff(ours.rootfs, theirs.rootfs)).toEqual(BUILDAH_RUN_LEFTOVERS);
    expect(readdirSync(join(ours.rootfs, 'app/data'))).toEqual(['one.txt', 'two.txt']);
  });

  it('every instruction: the same config and layers; the files differ only where listed', async () => {
    const { ours, theirs, shell } = await buildBoth('cwall', join(work, 'all'));
    expect(compared(ours.config)).toEqual(compared(theirs.config));
    expect(compared(ours.config).Env).toEqual(ALL_ENV);
    expect(theirs.config.config?.Labels).toEqual({ ...ours.config.config?.Labels, 'io.buildah.version': expect.any(String) });
    expect(ours.config.config?.Shell).toEqual(shell);
    expect(ours.layers).toBe(10);
    expect(theirs.layers).toBe(ours.layers);
    compareHistory(ours.config, theirs.config, ours.layers);
    // A RUN's created_by is the same text (build args, then the argv), except that buildah always writes
    // "/bin/sh -c" there, even for a RUN that went through SHELL (both images show it did: shelled.txt).
    const runs = (c: ImageConfig) => (c.history ?? []).filter((h) => h.created_by?.startsWith('|')).map((h) => h.created_by);
    expect(runs(theirs.config)).toEqual(runs(ours.config).map((r) => r?.replace('/bin/sh /srv/app/myshell.sh ', '/bin/sh -c ')));

    expect(await treeDiff(ours.rootfs, theirs.rootfs)).toEqual([
      ...BUILDAH_RUN_LEFTOVERS,
    ]);
    // (The trees have the same content everywhere else: shelled.txt shows that in both the RUN after SHELL went through myshell.sh.)
    expect(readFileSync(join(ours.rootfs, 'srv/app/shelled.txt'), 'utf8')).toBe('custom shell: yes\n');
    expect(readFileSync(join(theirs.rootfs, 'srv/app/shelled.txt'), 'utf8')).toBe('custom shell: yes\n');

    // mtimes: COPY keeps a file's own, and a directory's below the copied one, in both.
    for (const path of ['srv/app/texts/a.txt', 'srv/app/tree/top.txt', 'srv/app/tree/sub/inner.txt', 'srv/app/owned/owned.txt', 'opt/bundle/x.txt']) {
      expect([path, lstatSync(join(ours.rootfs, path)).mtimeMs / 1000]).toEqual([path, CONTEXT_MTIME]);
      expect([path, lstatSync(join(theirs.rootfs, path)).mtimeMs / 1000]).toEqual([path, CONTEXT_MTIME]);
    }
    expect(lstatSync(join(theirs.rootfs, 'srv/app/tree/sub')).mtimeMs / 1000).toBe(CONTEXT_MTIME);
    expect(lstatSync(join(ours.rootfs, 'srv/app/tree/sub')).mtimeMs / 1000).toBe(CONTEXT_MTIME);
  });
});
