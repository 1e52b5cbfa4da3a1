/**
 * COPY and ADD as today's Dockerfiles write them (issue 20, item 2): --chmod, --chown by name (looked up in the
 * stage's image, symlinks followed inside it only), --link, ADD of http(s) URLs (a server of the test's own on
 * 127.0.0.1) with --checksum, and ADD's naming of an extracted archive. A table of Dockerfiles is built by
 * cutaway and by `buildah bud` (Debian's 1.28) on the same context and the trees compared; where buildah
 * 1.28 differs from BuildKit, the difference is listed with the BuildKit result, from Docker's documentation.
 * Then the errors (Docker's words, nothing left behind) and --dry-run (its script builds the same image).
 *
 * The builds here run their RUNs with --network none (but for buildBoth's, on the default network, as
 * buildah's chroot isolation takes no other): no network namespace or veth to check for, as other test files'
 * come and go meanwhile; each test checks that no step container is left in the store (their teardown takes
 * their network endpoint down), and afterEach that no mount is left under the work directory.
 */
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findImage, OciLayout } from '@cutaway/oci';
import { BIN_DIR, runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree, run } from '../../../test/fixtures/images.ts';
import { mountsUnder } from '../../../test/fixtures/mounts.ts';
import { BUILDAH_RUN_LEFTOVERS, buildahComparison, haveBuildah } from '../../../test/fixtures/buildah.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';

/** The context files' mtime, and the Last-Modified of the files the test's server serves. */
const CONTEXT_MTIME = 1_600_000_000;
const SERVED_MTIME = 1_500_000_000; // 2017-07-14T02:40:00Z

let work: string;
let root: string;
let server: Server;
let base: string; // http://127.0.0.1:PORT

/** cutaway in the store `storeRoot`; `build` gets --network none. */
const cutaway = (args: string[], env: NodeJS.ProcessEnv = {}, storeRoot = root): Promise<CommandResult> =>
  runCommand('cutaway', args[0] === 'build' ? ['build', '--network', 'none', ...args.slice(1)] : args, { env: { CUTAWAY_ROOT: storeRoot, ...env } });

/** The step containers left in a store (none, after any build here). */
const stepContainers = (storeRoot = root) => readdirSync(join(storeRoot, 'containers'), { withFileTypes: true }).filter((d) => /^[0-9a-f]{64}$/.test(d.name)).length;

/** What the server serves: path → body (every response has Last-Modified SERVED_MTIME). */
const SERVED: Record<string, Buffer> = {};
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** A context directory `name` with its Dockerfile and files (mode 0644 unless given), every mtime CONTEXT_MTIME. */
function writeContext(name: string, dockerfile: string[], files: Record<string, string | [string, number]>): string {
  const dir = join(work, name);
  rmSync(dir, { recursive: true, force: true });
  const entries: Record<string, [string, number]> = { Dockerfile: [dockerfile.join('\n') + '\n', 0o644] };
  for (const [path, spec] of Object.entries(files)) entries[path] = typeof spec === 'string' ? [spec, 0o644] : spec;
  for (const [path, [content, mode]] of Object.entries(entries)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
    chmodSync(join(dir, path), mode);
  }
  // Deepest first, so that setting a file's time does not change its directory's afterwards.
  const paths = ['.', ...readdirSync(dir, { recursive: true, encoding: 'utf8' })].sort((a, b) => b.split('/').length - a.split('/').length);
  for (const p of paths) utimesSync(join(dir, p), CONTEXT_MTIME, CONTEXT_MTIME);
  return dir;
}

/** A .tar.gz in the context: a directory `pkg` with a file, made by tar. */
async function writeArchive(dir: string, name: string): Promise<void> {
  const src = mkdtempSync(join(work, 'cw-archive-'));
  mkdirSync(join(src, 'pkg'));
  writeFileSync(join(src, 'pkg', 'inside.txt'), 'inside the archive\n');
  for (const p of ['pkg/inside.txt', 'pkg']) utimesSync(join(src, p), CONTEXT_MTIME, CONTEXT_MTIME);
  await run('tar', ['--create', '--gzip', '--numeric-owner', '--owner=0', '--group=0', '--file', join(dir, name), '--directory', src, 'pkg']);
  utimesSync(join(dir, name), CONTEXT_MTIME, CONTEXT_MTIME);
  await removeTree(src);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-build-copy-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  mkdirSync(join(root, 'containers'), { recursive: true });
  // The files ADD downloads; a tar among them (ADD never extracts a URL's file).
  SERVED['/files/data.bin'] = Buffer.from('downloaded data\n');
  SERVED['/files/archive.tar.gz'] = Buffer.from(await run('sh', ['-c', `cd ${JSON.stringify(work)} && mkdir -p cw-served && echo x > cw-served/x && tar -czf - cw-served | base64 -w0`]), 'base64');
  SERVED['/files/tool.sh'] = Buffer.from('#!/bin/sh\necho tool\n');
  server = createServer((req, res) => {
    const body = SERVED[req.url ?? ''];
    if (!body) return res.writeHead(404).end('not found\n');
    res.writeHead(200, { 'Content-Length': body.length, 'Last-Modified': new Date(SERVED_MTIME * 1000).toUTCString() }).end(body);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  await removeContainers(root);
  expect(mountsUnder(work)).toEqual([]);
});

afterAll(async () => {
  await new Promise((done) => server?.close(done));
  if (work) await removeTree(work);
});

/** The files of the busybox image the builds below change, with the RUN that adds users to it. */
const USERS_RUN = "RUN echo 'svc:x:4242:4343:svc:/:/bin/sh' >> /etc/passwd && echo 'svcgrp:x:4444:' >> /etc/group";

interface Case {
  name: string;
  dockerfile: (base: string) => string[];
  files?: Record<string, string | [string, number]>;
  archive?: string;
  /**
   * Where the two trees differ: buildah 1.28 lagging BuildKit, each line `path: cutaway …, buildah …` (cutaway's
   * is BuildKit's, from Docker's documentation: see the comment of each).
   */
  differences?: string[];
  /** Paths whose mtime must be `mtime` in both images. */
  mtimes?: [string, number][];
}

const CASES: Case[] = [
  {
    // COPY --chmod (Dockerfile reference, "COPY --chmod"): the mode of every copied file and directory.
    name: 'cwcopy-chmod',
    dockerfile: () => [
      `FROM ${BUSYBOX_REF}`,
      'COPY --chmod=0750 run.sh /app/',
      'COPY --chmod=640 tree/ /data/',
      'COPY --chmod=0755 plain.txt /opt/plain.txt',
      'ADD --chmod=0600 plain.txt /added/',
      'COPY --chmod=0444 --chown=1234 plain.txt /tmp/ro.txt',
    ],
    files: { 'run.sh': ['#!/bin/sh\necho run\n', 0o644], 'tree/top.txt': 'top\n', 'tree/sub/inner.txt': ['inner\n', 0o600], 'plain.txt': 'plain\n' },
    // The directories COPY makes get --chmod's mode too under BuildKit (moby/buildkit#4945, fixed by
    // tonistiigi/fsutil#228; Docker 28.1 shows it, moby/moby#49851); buildah 1.28 makes them 0755. A directory
    // the image has (/opt, /tmp) keeps its mode in both.
    differences: ['added: cutaway dir 0600 0:0, buildah dir 0755 0:0', 'app: cutaway dir 0750 0:0, buildah dir 0755 0:0', 'data: cutaway dir 0640 0:0, buildah dir 0755 0:0'],
    mtimes: [['app/run.sh', CONTEXT_MTIME], ['data/sub/inner.txt', CONTEXT_MTIME]],
  },
  {
    // --chown by name, looked up in the stage's image (its /etc/passwd and /etc/group, as an earlier RUN left
    // them); a user alone: the user's primary group; an id alone: the group of the same number (the reference).
    name: 'cwcopy-chown',
    dockerfile: () => [
      `FROM ${BUSYBOX_REF}`,
      USERS_RUN,
      'COPY --chown=app f.txt /o/app/',
      'COPY --chown=app:nogroup f.txt /o/app-nogroup/',
      'COPY --chown=nobody dir/ /o/nobody/',
      'COPY --chown=svc f.txt /o/svc/',
      'COPY --chown=svc:svcgrp f.txt /o/svc-svcgrp/',
      'COPY --chown=1000:svcgrp f.txt /o/id-name/',
      'COPY --chown=svc:77 f.txt /o/name-id/',
      'COPY --chown=4321 f.txt /o/id/',
      'ADD --chown=svc f.txt /o/added/',
    ],
    files: { 'f.txt': 'f\n', 'dir/a.txt': 'a\n', 'dir/sub/b.txt': 'b\n' },
    differences: [...BUILDAH_RUN_LEFTOVERS],
  },
  {
    // /etc/passwd and /etc/group that are symlinks in the image: followed inside it (an absolute target
    // starting at the image's root), never to the host's files (the host has no /cw-alt).
    name: 'cwcopy-linked-passwd',
    dockerfile: () => [
      `FROM ${BUSYBOX_REF}`,
      "RUN mkdir -p /cw-alt/etc && echo 'linked:x:777:778::/:/bin/sh' > /cw-alt/etc/passwd && echo 'lgrp:x:779:' > /cw-alt/etc/group && ln -s ../cw-alt/etc/group /cw-alt/group && rm /etc/passwd /etc/group && ln -s /cw-alt/etc/passwd /etc/passwd && ln -s /cw-alt/group /etc/group",
      'COPY --chown=linked:lgrp f.txt /l/',
      'COPY --chown=linked f.txt /l2/',
    ],
    files: { 'f.txt': 'f\n' },
    differences: [...BUILDAH_RUN_LEFTOVERS],
  },
  {
    // ADD: a local archive is extracted into <dest> as a directory, whatever <dest> is named; a URL's file is
    // downloaded as it is (a tar too), mode 0600 and mtime Last-Modified, named after the URL in a directory.
    name: 'cwcopy-add',
    archive: 'p.tar.gz',
    dockerfile: (url) => [
      `FROM ${BUSYBOX_REF}`,
      'ADD p.tar.gz /opt2/copy.tar.gz',
      'ADD p.tar.gz /opt3/',
      `ADD ${url}/files/data.bin /dl/`,
      `ADD ${url}/files/archive.tar.gz /dl/a.tgz`,
      `ADD --chmod=0755 --chown=app ${url}/files/tool.sh /usr/local/bin/tool`,
      `ADD ${url}/files/data.bin plain.txt /both/`,
    ],
    files: { 'plain.txt': 'plain\n' },
    mtimes: [['dl/data.bin', SERVED_MTIME], ['dl/a.tgz', SERVED_MTIME], ['opt2/copy.tar.gz/pkg/inside.txt', CONTEXT_MTIME]],
  },
];

describe.skipIf(!haveBuildah)('COPY and ADD, compared with buildah bud', () => {
  const { buildBoth, treeDiff } = buildahComparison(() => ({ work, root }));

  it.each(CASES.map((c) => [c.name, c] as const))('%s: the same files, modes and owners', async (_, c) => {
    const dir = writeContext(c.name, c.dockerfile(base), c.files ?? {});
    if (c.archive) await writeArchive(dir, c.archive);
    const { ours, theirs } = await buildBoth(c.name, dir);
    expect(await treeDiff(ours.rootfs, theirs.rootfs)).toEqual(c.differences ?? []);
    for (const [path, mtime] of c.mtimes ?? []) {
      expect([path, lstatSync(join(ours.rootfs, path)).mtimeMs / 1000]).toEqual([path, mtime]);
      expect([path, lstatSync(join(theirs.rootfs, path)).mtimeMs / 1000]).toEqual([path, mtime]);
    }
    expect(stepContainers()).toBe(0);
  });
});

/** `sh -c SCRIPT` in a container of the image. */
async function inImage(image: string, script: string, storeRoot = root): Promise<string> {
  const out = await cutaway(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', image, '-c', script], {}, storeRoot);
  expect(out.stderr).toBe('');
  return out.stdout;
}

describe('what buildah 1.28 does not have: --link, ADD --checksum', () => {
  it('--link is accepted and copies as without it; ADD --checksum of the right digest downloads the file', async () => {
    const data = SERVED['/files/data.bin']!;
    const dir = writeContext('cwcopy-link', [
      `FROM ${BUSYBOX_REF}`,
      'COPY --link f.txt /linked/',
      'COPY --link=true --chown=5:6 --chmod=0700 f.txt /linked/owned.txt',
      'ADD --link=false f.txt /not-linked/',
      `ADD --checksum=sha256:${sha256(data)} ${base}/files/data.bin /checked/`,
    ], { 'f.txt': 'f\n' });
    const out = await cutaway(['build', '-t', 'cwcopy-link', dir]);
    expect(out.code, out.stderr).toBe(0);
    expect(await inImage('cwcopy-link', 'cd / && stat -c "%n %a %u:%g %Y" linked/f.txt linked/owned.txt not-linked/f.txt checked/data.bin; cat checked/data.bin')).toBe(
      [`linked/f.txt 644 0:0 ${CONTEXT_MTIME}`, `linked/owned.txt 700 5:6 ${CONTEXT_MTIME}`, `not-linked/f.txt 644 0:0 ${CONTEXT_MTIME}`, `checked/data.bin 600 0:0 ${SERVED_MTIME}`, data.toString()].join('\n'),
    );
  });
});

describe('bad COPY and ADD options: Docker\'s error, nothing left behind', () => {
  // Each: a Dockerfile's COPY or ADD (after FROM busybox, or the FROM given), and the error line; {url} is the test's server.
  const ERRORS: [string, string[], string][] = [
    ['a user the image does not have', ['COPY --chown=nosuch f.txt /x/'], 'unable to convert uid/gid chown string to host mapping: can\'t find uid for user nosuch: no such user: nosuch'],
    ['a group the image does not have', ['COPY --chown=app:nosuchgrp f.txt /x/'], 'unable to convert uid/gid chown string to host mapping: can\'t find gid for group nosuchgrp: no such group: nosuchgrp'],
    ['a name on scratch (no /etc/passwd)', ['FROM scratch', 'COPY --chown=app f.txt /x/'], 'unable to convert uid/gid chown string to host mapping: can\'t find uid for user app: no such user: app'],
    ['a malformed --chown', ['COPY --chown=a:b:c f.txt /x/'], 'invalid chown string format: a:b:c'],
    ['a mode that is not octal', ['COPY --chmod=0789 f.txt /x/'], "invalid chmod parameter: '0789'. it should be octal string and between 0 and 07777"],
    ['a mode above 07777', ['COPY --chmod=10000 f.txt /x/'], "invalid chmod parameter: '10000'. it should be octal string and between 0 and 07777"],
    ['a symbolic mode', ['COPY --chmod=u+x f.txt /x/'], '--chmod=u+x: symbolic modes are not supported by cutaway build yet; give the mode in octal'],
    ['--checksum of a context file', [`ADD --checksum=sha256:${'0'.repeat(64)} f.txt /x/`], "checksum can't be specified for non-HTTP(S) sources"],
    ['--checksum of two sources', [`ADD --checksum=sha256:${'0'.repeat(64)} f.txt {url}/files/data.bin /x/`], "checksum can't be specified for multiple sources"],
    ['a URL to COPY', ['COPY {url}/files/data.bin /x/'], "source can't be a URL for COPY"],
    ['a URL that is not found', ['ADD {url}/files/missing /x/'], 'failed to GET {url}/files/missing with status 404 Not Found'],
  ];

  it.each(ERRORS)('%s', async (_, lines, error) => {
    const expand = (text: string) => text.replaceAll('{url}', base);
    const dockerfile = (lines[0]!.startsWith('FROM') ? lines : [`FROM ${BUSYBOX_REF}`, ...lines]).map(expand);
    const dir = writeContext('cwcopy-error', dockerfile, { 'f.txt': 'f\n' });
    const out = await cutaway(['build', dir]);
    expect(out.stderr.trim().split('\n').at(-1)).toBe(`cutaway build: error: ${expand(error)}`);
    expect(out.code).toBe(1);
    expect(stepContainers()).toBe(0);
    expect(mountsUnder(work)).toEqual([]);
  });

  it("a checksum that does not match: BuildKit's digest mismatch, the download removed", async () => {
    const data = SERVED['/files/data.bin']!;
    const dir = writeContext('cwcopy-mismatch', [`FROM ${BUSYBOX_REF}`, `ADD --checksum=sha256:${'1'.repeat(64)} ${base}/files/data.bin /x`], {});
    const before = readdirSync(tmpdir()).filter((d) => d.startsWith('cw-add-'));
    const out = await cutaway(['build', dir]);
    expect(out.stderr.trim().split('\n').at(-1)).toBe(`cutaway build: error: digest mismatch sha256:${sha256(data)}: sha256:${'1'.repeat(64)}`);
    expect(out.code).toBe(1);
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith('cw-add-'))).toEqual(before);
  });
});

describe('--dry-run: the script does the same (chmod, chown by name looked up when it runs, curl for ADD URL)', () => {
  let rootB: string;
  beforeAll(async () => {
    rootB = join(work, 'root-b');
    await buildBusyboxImage(await OciLayout.create(join(rootB, 'images')));
    mkdirSync(join(rootB, 'containers'), { recursive: true });
  });
  afterEach(async () => {
    await removeContainers(rootB);
  });

  const imageId = async (storeRoot: string, name: string) => (await findImage(await OciLayout.open(join(storeRoot, 'images')), `docker.io/library/${name}:latest`)).manifest.config.digest;
  const scriptEnv = (extra: NodeJS.ProcessEnv = {}) => ({ CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}`, ...extra });

  it('the same image ID (SOURCE_DATE_EPOCH) as the build', async () => {
    const data = SERVED['/files/data.bin']!;
    const dir = writeContext('cwcopy-dry', [
      `FROM ${BUSYBOX_REF}`,
      USERS_RUN,
      "RUN mkdir /cw-alt && mv /etc/group /cw-alt/group && ln -s ../cw-alt/group /etc/group",
      'COPY --chown=svc:svcgrp --chmod=0750 tree/ /data/',
      'COPY --chown=app f.txt /o/app/',
      'COPY --chown=1000:svcgrp --chmod=0600 f.txt /deep/new/f.txt',
      'ADD p.tar.gz /opt2/copy.tar.gz',
      `ADD --checksum=sha256:${sha256(data)} ${base}/files/data.bin /dl/`,
      `ADD --chmod=0755 --chown=svc ${base}/files/tool.sh /usr/local/bin/tool`,
      `ADD ${base}/files/archive.tar.gz /dl/a.tgz`,
    ], { 'f.txt': 'f\n', 'tree/top.txt': 'top\n', 'tree/sub/inner.txt': 'inner\n' });
    await writeArchive(dir, 'p.tar.gz');
    const env = { SOURCE_DATE_EPOCH: '1400000000' };
    const printed = await cutaway(['build', '--dry-run', '-t', 'cwcopy-dry', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    expect(printed.stdout).toContain(`curl -fsSL -R -o `);
    const scripted = await runScript(printed.stdout, scriptEnv(env));
    expect(scripted.code, scripted.stderr).toBe(0);
    const real = await cutaway(['build', '-q', '--no-cache', '-t', 'cwcopy-dry', dir], env);
    expect(real.code, real.stderr).toBe(0);
    expect(await imageId(rootB, 'cwcopy-dry')).toBe(await imageId(root, 'cwcopy-dry'));
    expect(await inImage('cwcopy-dry', 'cd / && stat -c "%n %a %u:%g" data data/sub data/sub/inner.txt o/app/f.txt deep deep/new/f.txt opt2/copy.tar.gz/pkg/inside.txt dl/data.bin dl/a.tgz usr/local/bin/tool', rootB)).toBe(
      ['data 750 4242:4444', 'data/sub 750 4242:4444', 'data/sub/inner.txt 750 4242:4444', 'o/app/f.txt 644 1000:1000', 'deep 600 1000:4444', 'deep/new/f.txt 600 1000:4444', 'opt2/copy.tar.gz/pkg/inside.txt 644 0:0', 'dl/data.bin 600 0:0', 'dl/a.tgz 600 0:0', 'usr/local/bin/tool 755 4242:4343', ''].join('\n'),
    );
    expect(stepContainers(rootB)).toBe(0);
    expect(mountsUnder(work)).toEqual([]);
  });

  it('a name missing when the script runs: the same error line, its step container and mounts taken down', async () => {
    const dir = writeContext('cwcopy-dry-missing', [`FROM ${BUSYBOX_REF}`, 'RUN sed -i /^app:/d /etc/passwd', 'COPY --chown=app f.txt /x/'], { 'f.txt': 'f\n' });
    const printed = await cutaway(['build', '--dry-run', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, scriptEnv());
    const real = await cutaway(['build', dir]);
    const error = 'cutaway build: error: unable to convert uid/gid chown string to host mapping: can\'t find uid for user app: no such user: app';
    expect(real.stderr.trim().split('\n').at(-1)).toBe(error);
    expect(scripted.stderr.trim().split('\n').at(-1)).toBe(error);
    expect([scripted.code, real.code]).toEqual([1, 1]);
    expect(stepContainers(rootB)).toBe(0);
    expect(mountsUnder(work)).toEqual([]);
  });
});
