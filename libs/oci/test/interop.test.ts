import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree, run, Stage, writeImage, type BuiltImage, type ImageRecipe } from '../../../test/fixtures/images.ts';
import { hostPlatform, OciLayout, resolveImage, resolveNamedImage, type Digest } from '../src/index.ts';

// libs/oci against the reference tools that read and write OCI layouts: skopeo 1.9.3 and umoci 0.4.7.

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const OCI_ENTRY = fileURLToPath(new URL('../src/index.ts', import.meta.url));
const REF = 'cutaway.test/hello:1';

type TreeEntry = { content: string; mode: number } | { symlink: string };

const BASE_FILES: Record<string, TreeEntry> = {
  'hello.txt': { content: 'hello from cutaway\n', mode: 0o644 },
  'bin/hello': { content: '#!/bin/sh\necho hello\n', mode: 0o755 },
  'etc/secret': { content: 'not for others\n', mode: 0o600 },
  link: { symlink: 'hello.txt' },
};
const EXTRA_FILES: Record<string, TreeEntry> = { 'extra.txt': { content: 'only in the second image\n', mode: 0o644 } };

/** Stages `files` in `work/name`, root-owned with their modes, for a layer. */
async function stageTree(work: string, name: string, files: Record<string, TreeEntry>): Promise<string> {
  const stage = new Stage(join(work, name));
  await mkdir(stage.root);
  for (const [path, entry] of Object.entries(files)) {
    if ('symlink' in entry) await stage.symlink(path, entry.symlink);
    else await stage.file(path, entry.content, { mode: entry.mode });
  }
  return stage.root;
}

/** An image of one layer per staging directory, as the fixtures write them (GNU tar, gzip), with Cmd /bin/hello. */
function hello(...layers: string[]): ImageRecipe {
  return { layers: layers.map((dir, i) => ({ dir, createdBy: `interop.test.ts layer ${i}` })), cmd: ['/bin/hello'] };
}

function layerDigests(image: Pick<BuiltImage, 'manifest'>): Digest[] {
  return image.manifest.layers.map((l) => l.digest);
}

/** Checks a rootfs unpacked by umoci against the tree the layer was made from. */
async function expectTree(rootfs: string, files: Record<string, TreeEntry>): Promise<void> {
  for (const [path, entry] of Object.entries(files)) {
    const full = join(rootfs, path);
    const stat = await lstat(full);
    expect([stat.uid, stat.gid], path).toEqual([0, 0]);
    if ('symlink' in entry) {
      expect(stat.isSymbolicLink(), path).toBe(true);
      expect(await readlink(full), path).toBe(entry.symlink);
    } else {
      expect(stat.isFile(), path).toBe(true);
      expect(stat.mode & 0o7777, path).toBe(entry.mode);
      expect(await readFile(full, 'utf8'), path).toBe(entry.content);
    }
  }
}

async function skopeoInspect(layout: string, ref: string, ...flags: string[]): Promise<string> {
  return run('skopeo', ['inspect', ...flags, `oci:${layout}:${ref}`]);
}

let work: string;
let base: string;
let extra: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cutaway-interop-'));
  base = await stageTree(work, 'base', BASE_FILES);
  extra = await stageTree(work, 'extra', EXTRA_FILES);
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('a layout written by libs/oci', () => {
  let dir: string;
  let layout: OciLayout;
  let image: BuiltImage;

  beforeAll(async () => {
    dir = join(work, 'ours');
    layout = await OciLayout.create(dir);
    image = await writeImage(layout, REF, hello(base));
  }, 30_000);

  it('is read by skopeo inspect', async () => {
    const inspected = JSON.parse(await skopeoInspect(dir, REF));
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Layers).toEqual(layerDigests(image));
    expect([inspected.Os, inspected.Architecture]).toEqual([hostPlatform().os, hostPlatform().architecture]);
  });

  it('gives skopeo inspect --raw the manifest and config byte for byte', async () => {
    expect(Buffer.from(await skopeoInspect(dir, REF, '--raw'))).toEqual(await layout.readBlob(image.descriptor.digest));
    expect(Buffer.from(await skopeoInspect(dir, REF, '--config', '--raw'))).toEqual(await layout.readBlob(image.configDescriptor.digest));
  });

  it('is listed by umoci ls', async () => {
    expect((await run('umoci', ['ls', '--layout', dir])).trim().split('\n')).toEqual([REF]);
  });

  it('is unpacked by umoci unpack with the files, contents and modes of the layer', async () => {
    const bundle = join(work, 'ours-bundle');
    await run('umoci', ['unpack', '--image', `${dir}:${REF}`, bundle]);
    await expectTree(join(bundle, 'rootfs'), BASE_FILES);
  });
});

describe('layouts written by the reference tools are read by libs/oci', () => {
  let source: string;
  let image: BuiltImage;

  beforeAll(async () => {
    source = join(work, 'source');
    image = await writeImage(await OciLayout.create(source), REF, hello(base));
  }, 30_000);

  it('reads a layout written by skopeo copy', async () => {
    const copy = join(work, 'by-skopeo');
    await run('skopeo', ['copy', `oci:${source}:${REF}`, `oci:${copy}:other`]);
    const layout = await OciLayout.open(copy);
    expect((await layout.list()).map((e) => e.name)).toEqual(['other']);
    const resolved = await resolveNamedImage(layout, 'other');
    expect(resolved.descriptor.digest).toBe(image.descriptor.digest);
    expect(resolved.manifest.config.digest).toBe(image.configDescriptor.digest);
    expect(layerDigests(resolved)).toEqual(layerDigests(image));
  });

  it('reads a layout written by umoci init and umoci new, whose manifest has no mediaType', async () => {
    const dir = join(work, 'by-umoci');
    await run('umoci', ['init', '--layout', dir]);
    await run('umoci', ['new', '--image', `${dir}:t`]);
    const layout = await OciLayout.open(dir);
    expect((await layout.list()).map((e) => e.name)).toEqual(['t']);
    const resolved = await resolveNamedImage(layout, 't');
    expect(JSON.parse((await layout.readBlob(resolved.descriptor.digest)).toString()).mediaType).toBeUndefined();
    expect(resolved.manifest.layers).toEqual([]);
    expect(resolved.config.os).toBe('linux');
    expect(resolved.config.rootfs.diff_ids).toEqual([]);
  });
});

describe('gc after removeRef, with two images sharing a layer', () => {
  let dir: string;
  let layout: OciLayout;
  let kept: BuiltImage;
  let dropped: BuiltImage;
  let stray: Digest;

  beforeAll(async () => {
    dir = join(work, 'gc');
    layout = await OciLayout.create(dir);
    kept = await writeImage(layout, 'kept', hello(base));
    dropped = await writeImage(layout, 'dropped', hello(base, extra));
    stray = (await layout.putBlob(Buffer.from('a blob nothing refers to'))).digest;
  }, 30_000);

  it('removes only the blobs no remaining reference reaches', async () => {
    expect(layerDigests(dropped)[0]).toBe(layerDigests(kept)[0]);
    expect(await layout.removeRef('dropped')).toBe(true);
    const { removed } = await layout.gc();
    const expected = [dropped.descriptor.digest, dropped.configDescriptor.digest, layerDigests(dropped)[1]!, stray];
    expect(removed.map((r) => r.digest).sort()).toEqual(expected.sort());
    for (const digest of [kept.descriptor.digest, kept.configDescriptor.digest, ...layerDigests(kept)]) expect(await layout.hasBlob(digest), digest).toBe(true);
    expect((await layout.list()).map((e) => e.name)).toEqual(['kept']);
  });

  it('leaves an image that skopeo and umoci still read', async () => {
    expect(JSON.parse(await skopeoInspect(dir, 'kept')).Layers).toEqual(layerDigests(kept));
    await run('skopeo', ['copy', `oci:${dir}:kept`, `oci:${join(work, 'gc-copy')}:kept`]);
    expect((await run('umoci', ['ls', '--layout', dir])).trim()).toBe('kept');
    const bundle = join(work, 'gc-bundle');
    await run('umoci', ['unpack', '--image', `${dir}:kept`, bundle]);
    await expectTree(join(bundle, 'rootfs'), BASE_FILES);
  });
});

/**
 * One writer process: waits until every writer is ready (so that their
 * writes overlap), then stores a layer both writers share, one layer, config
 * and manifest of its own per ref, and tags each.
 */
const WRITER = `
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MediaType, OciLayout } from ${JSON.stringify(pathToFileURL(OCI_ENTRY).href)};

const [dir, id, barrier, writers, refs] = process.argv.slice(2);
const layout = await OciLayout.create(dir);
await writeFile(join(barrier, id), '');
while (!Array.from({ length: Number(writers) }, (_, w) => existsSync(join(barrier, String(w)))).every(Boolean)) await sleep(5);

for (let i = 0; i < Number(refs); i++) {
  const shared = await layout.putBlob(Buffer.from('a layer every writer stores'));
  const own = await layout.putBlob(Buffer.from('layer ' + i + ' of writer ' + id));
  const config = await layout.putJson(MediaType.ociConfig, {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [shared.digest, own.digest] },
  });
  const manifest = await layout.putJson(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config,
    layers: [shared, own].map((b) => ({ mediaType: MediaType.ociLayer, ...b })),
  });
  await layout.addRef('writer-' + id + '/ref-' + i, manifest);
}
`;

/** Runs the writer script in its own Node process (with tsx, to load libs/oci's TypeScript); killed after a minute. */
function runWriter(script: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      // 13 is Node's status when the event loop empties while top-level await still waits: a promise that never settles.
      const why = code === 13 ? 'status 13, a hang: a libs/oci promise never settled' : (signal ?? `status ${code}`);
      reject(new Error(`writer ${args[1]} ended with ${why}${stderr && `: ${stderr}`}`));
    });
  });
}

describe('two processes writing to one layout at once', () => {
  const WRITERS = 2;
  const REFS = 25;

  it('ends with a valid index.json holding every ref, and every blob verifies', async () => {
    const dir = join(work, 'concurrent');
    const barrier = join(work, 'barrier');
    await mkdir(barrier);
    const script = join(work, 'writer.mjs');
    await writeFile(script, WRITER);

    const results = await Promise.allSettled(Array.from({ length: WRITERS }, (_, id) => runWriter(script, [dir, String(id), barrier, String(WRITERS), String(REFS)])));
    for (const r of results) if (r.status === 'rejected') throw r.reason;

    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.schemaVersion).toBe(2);
    const layout = await OciLayout.open(dir);
    const refs = await layout.list();
    const wanted = Array.from({ length: WRITERS * REFS }, (_, n) => `writer-${Math.floor(n / REFS)}/ref-${n % REFS}`);
    expect(refs.map((e) => e.name).sort()).toEqual(wanted.sort());
    for (const { descriptor } of refs) await resolveImage(layout, descriptor, { os: 'linux', architecture: 'amd64' });

    // One shared layer, and a layer, config and manifest per ref: nothing lost, nothing torn.
    const blobs = await readdir(join(dir, 'blobs', 'sha256'));
    expect(blobs).toHaveLength(1 + 3 * WRITERS * REFS);
    for (const encoded of blobs) await layout.readBlob(`sha256:${encoded}`);
    const leftovers = [...(await readdir(dir)), ...(await readdir(join(dir, '.cutaway')))].filter((name) => name.endsWith('.tmp'));
    expect(leftovers).toEqual([]);
  });
});
