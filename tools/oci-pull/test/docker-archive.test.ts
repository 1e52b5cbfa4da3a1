import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Progress, Steps, ToolError } from '@cutaway/cli';
import { hostPlatform, MediaType, OciLayout, parseReference, type Digest, type Platform, type Reference } from '@cutaway/oci';
import { runCommand, toolPath } from '../../../test/fixtures/commands.ts';
import { BUSYBOX_EXPECTED, buildBusyboxImage, compareTree, removeTree, run, Stage, writeImage, type BuiltImage } from '../../../test/fixtures/images.ts';
import { importDockerArchive as importSource } from '../src/archive.ts';

// Real `docker save`-format archives, written by skopeo 1.9.3 (docker-archive transport)
// from images built with the shared fixtures, and by hand with GNU tar in the
// shapes other writers use (Docker before 25, Docker 25+'s OCI form, several images).

const quiet = new Progress(true);
const host: Platform = hostPlatform();

let work: string;
let source: OciLayout;
let busybox: BuiltImage;
let extra: BuiltImage;
/** skopeo's archives: busybox tagged busybox:1.0, and extra tagged extra:2.0. */
let busyboxTar: string;
let extraTar: string;
let stores = 0;

/** oci-pull's docker-archive:FILE[:REF] source, read into `to` for `platform`. */
function importDockerArchive(file: string, ref: Reference | undefined, to: OciLayout, platform: Platform, progress: Progress) {
  const steps = new Steps({ trace: false, dryRun: false });
  const registryClient = () => Promise.reject(new Error('an archive has no registry'));
  return importSource({ kind: 'docker-archive', file, ref }, { store: Promise.resolve(to), platform, jobs: 1, progress, steps, dryRun: false, registryClient });
}

/** The blobs a store holds. */
async function blobsOf(store: OciLayout): Promise<string[]> {
  return (await readdir(join(store.dir, 'blobs', 'sha256'))).map((hex) => `sha256:${hex}`).sort();
}

/** The built oci-pull reading `file` from a pipe (docker-archive:-), into the state root `root`. */
function pullFromPipe(file: string, root: string, ref?: string) {
  return runCommand('/bin/sh', ['-c', 'cat "$1" | "$0" -q "$2"', toolPath('oci-pull'), file, `docker-archive:-${ref ? `:${ref}` : ''}`], { env: { CUTAWAY_ROOT: root } });
}

/** A fresh, empty store for one test. */
async function freshStore(): Promise<OciLayout> {
  return OciLayout.create(join(work, 'stores', String(++stores)));
}

/** Extracts an archive into a new directory, to rebuild it in another shape. */
async function unpackArchive(file: string, name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await run('tar', ['--extract', '--file', file, '--directory', dir]);
  return dir;
}

/** GNU tar of `names` in `dir`, in the order given (manifest.json may come first or last). */
async function packArchive(dir: string, names: string[], name: string): Promise<string> {
  const file = join(work, name);
  await run('tar', ['--create', '--file', file, '--directory', dir, '--owner=0', '--group=0', '--numeric-owner', '--', ...names]);
  return file;
}

async function readManifestJson(dir: string): Promise<{ Config: string; RepoTags: string[] | null; Layers: string[] }[]> {
  return JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
}

/** Asserts that `work` fails with a ToolError whose one-line message matches. */
async function expectToolError(work: Promise<unknown>, message: RegExp): Promise<ToolError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ToolError);
  expect((error as ToolError).message).toMatch(message);
  expect((error as ToolError).message).not.toContain('\n');
  return error as ToolError;
}

async function umociUnpack(store: OciLayout, name: string, bundle: string): Promise<string> {
  await run('umoci', ['unpack', '--image', `${store.dir}:${name}`, join(work, bundle)]);
  return join(work, bundle, 'rootfs');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cutaway-docker-archive-'));
  source = await OciLayout.create(join(work, 'source'));
  busybox = await buildBusyboxImage(source, 'cutaway.test/busybox:latest');
  const stage = new Stage(join(work, 'extra-layer'));
  await mkdir(stage.root);
  await stage.file('extra/hello.txt', 'hello from the second image\n');
  await stage.file('extra/run.sh', '#!/bin/sh\necho extra\n', { mode: 0o755 });
  extra = await writeImage(source, 'cutaway.test/extra:latest', { layers: [{ dir: stage.root, createdBy: 'docker-archive.test.ts' }], cmd: ['/extra/run.sh'] });
  busyboxTar = join(work, 'busybox.tar');
  extraTar = join(work, 'extra.tar');
  await run('skopeo', ['copy', '--quiet', `oci:${source.dir}:cutaway.test/busybox:latest`, `docker-archive:${busyboxTar}:busybox:1.0`]);
  await run('skopeo', ['copy', '--quiet', `oci:${source.dir}:cutaway.test/extra:latest`, `docker-archive:${extraTar}:extra:2.0`]);
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('a docker-archive written by skopeo', () => {
  let store: OciLayout;
  let result: Awaited<ReturnType<typeof importDockerArchive>>;

  beforeAll(async () => {
    store = await freshStore();
    result = await importDockerArchive(busyboxTar, undefined, store, host, quiet);
  });

  it('is tagged with its RepoTag, normalised', async () => {
    expect(result.reference).toBe(`docker-archive:${busyboxTar}:docker.io/library/busybox:1.0`);
    expect((await store.list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:1.0']);
    expect((await store.resolve('docker.io/library/busybox:1.0'))?.digest).toBe(result.digest);
  });

  it('keeps the config byte for byte (same digest) and stores the layers uncompressed, as their diff_ids', async () => {
    expect(result.config.digest).toBe(busybox.configDescriptor.digest);
    const doc = await store.readManifestDocument({ digest: result.digest, mediaType: MediaType.ociManifest });
    expect(doc.kind).toBe('manifest');
    if (doc.kind !== 'manifest') return;
    expect(doc.manifest.mediaType).toBe(MediaType.ociManifest);
    expect(doc.manifest.config).toEqual({ mediaType: MediaType.ociConfig, digest: busybox.configDescriptor.digest, size: busybox.configDescriptor.size });
    expect(doc.manifest.layers.map((l) => l.mediaType)).toEqual([MediaType.ociLayer]);
    expect(doc.manifest.layers.map((l) => l.digest)).toEqual(busybox.diffIds);
    expect((await store.readConfig(result.config.digest)).rootfs.diff_ids).toEqual(busybox.diffIds);
    expect(result.platform).toBe(`${host.os}/${host.architecture}`);
  });

  it('is read by skopeo inspect', async () => {
    const inspected = JSON.parse(await run('skopeo', ['inspect', `oci:${store.dir}:docker.io/library/busybox:1.0`]));
    expect(inspected.Digest).toBe(result.digest);
    expect(inspected.Layers).toEqual(busybox.diffIds);
    const config = JSON.parse(await run('skopeo', ['inspect', '--config', `oci:${store.dir}:docker.io/library/busybox:1.0`]));
    expect(config.rootfs.diff_ids).toEqual(busybox.diffIds);
  });

  it('unpacks with umoci into the busybox tree, also after gc has removed what the image does not use', async () => {
    const { removed } = await store.gc();
    // The archive's config and layer are the image's; only skopeo's leftovers (none are stored) could go.
    expect(removed.map((r) => r.digest)).not.toContain(result.config.digest);
    expect(await compareTree(await umociUnpack(store, 'docker.io/library/busybox:1.0', 'skopeo-bundle'), BUSYBOX_EXPECTED)).toEqual([]);
  });

  it('is chosen by a REF that names its RepoTag in any spelling', async () => {
    const other = await freshStore();
    const again = await importDockerArchive(busyboxTar, parseReference('busybox:1.0'), other, host, quiet);
    expect(again.digest).toBe(result.digest);
    expect((await other.list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:1.0']);
  });

  it('refuses a REF it does not hold, listing the RepoTags, and tags nothing', async () => {
    const other = await freshStore();
    await expectToolError(importDockerArchive(busyboxTar, parseReference('busybox:2.0'), other, host, quiet), /no image tagged docker\.io\/library\/busybox:2\.0 .*docker\.io\/library\/busybox:1\.0/);
    expect(await other.list()).toEqual([]);
  });

  it('refuses an image for another platform', async () => {
    const other = await freshStore();
    const wanted: Platform = { os: 'linux', architecture: host.architecture === 's390x' ? 'amd64' : 's390x' };
    await expectToolError(importDockerArchive(busyboxTar, undefined, other, wanted, quiet), new RegExp(`is for ${host.os}/${host.architecture}, not linux/${wanted.architecture}`));
    expect(await other.list()).toEqual([]);
  });

  it('reads the archive gzip-compressed (docker save | gzip), as docker load does', async () => {
    const gz = join(work, 'busybox.tar.gz');
    await writeFile(gz, gzipSync(await readFile(busyboxTar)));
    const other = await freshStore();
    expect((await importDockerArchive(gz, undefined, other, host, quiet)).digest).toBe(result.digest);
  });
});

describe('archives in other writers’ shapes', () => {
  it('follows a layer named by a symlink, manifest.json first (Docker before 25: <id>/layer.tar)', async () => {
    const dir = await unpackArchive(busyboxTar, 'docker24');
    const [item] = await readManifestJson(dir);
    const legacy = (await readdir(dir)).find((n) => /^[a-f0-9]{64}$/.test(n))!;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ ...item, RepoTags: ['busybox:1.0'], Layers: [`${legacy}/layer.tar`] }]));
    const names = ['manifest.json', ...(await readdir(dir)).filter((n) => n !== 'manifest.json')];
    const file = await packArchive(dir, names, 'docker24.tar');
    const store = await freshStore();
    const result = await importDockerArchive(file, undefined, store, host, quiet);
    expect(result.config.digest).toBe(busybox.configDescriptor.digest);
    expect(result.layers.map((l) => l.digest)).toEqual(busybox.diffIds);
  });

  it('imports gzip layers from Docker 25’s OCI form (blobs/sha256, index.json, oci-layout) as tar+gzip, checked against the diff_ids', async () => {
    const dir = join(work, 'docker25');
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    const blobs = [busybox.configDescriptor, ...busybox.manifest.layers, busybox.descriptor];
    for (const d of blobs) await copyFile(source.blobPath(d.digest), join(dir, 'blobs', 'sha256', d.digest.slice('sha256:'.length)));
    await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...busybox.descriptor, annotations: { 'io.containerd.image.name': 'docker.io/library/busybox:gz' } }] }));
    const path = (d: Digest) => `blobs/sha256/${d.slice('sha256:'.length)}`;
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ Config: path(busybox.configDescriptor.digest), RepoTags: ['busybox:gz'], Layers: busybox.manifest.layers.map((l) => path(l.digest)) }]));
    const file = await packArchive(dir, ['blobs', 'index.json', 'manifest.json', 'oci-layout'], 'docker25.tar');

    const store = await freshStore();
    const result = await importDockerArchive(file, undefined, store, host, quiet);
    expect(result.config.digest).toBe(busybox.configDescriptor.digest);
    expect(result.layers).toEqual(busybox.manifest.layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.size, cached: false })));
    expect((await store.list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:gz']);
    // Same config, same layers, same field order: the manifest the fixture wrote, to the byte.
    expect(result.digest).toBe(busybox.descriptor.digest);
    expect(await compareTree(await umociUnpack(store, 'docker.io/library/busybox:gz', 'docker25-bundle'), BUSYBOX_EXPECTED)).toEqual([]);
  });

  it('takes one image of several by REF, and asks which when none is given', async () => {
    const dir = await unpackArchive(busyboxTar, 'two');
    const first = await readManifestJson(dir);
    const second = await readManifestJson(await unpackArchive(extraTar, 'two-extra'));
    await unpackArchive(extraTar, 'two'); // its members beside busybox's
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([...first, ...second]));
    const file = await packArchive(dir, await readdir(dir), 'two.tar');

    const store = await freshStore();
    const error = await expectToolError(importDockerArchive(file, undefined, store, host, quiet), /holds 2 images; say which/);
    expect(error.hint).toContain('docker.io/library/extra:2.0');
    expect(await store.list()).toEqual([]);

    const picked = await importDockerArchive(file, parseReference('extra:2.0'), store, host, quiet);
    expect(picked.config.digest).toBe(extra.configDescriptor.digest);
    expect(picked.layers.map((l) => l.digest)).toEqual(extra.diffIds);
    const also = await importDockerArchive(file, parseReference('docker.io/library/busybox:1.0'), store, host, quiet);
    expect(also.config.digest).toBe(busybox.configDescriptor.digest);
    expect((await store.list()).map((e) => e.name).sort()).toEqual(['docker.io/library/busybox:1.0', 'docker.io/library/extra:2.0']);
    expect(await compareTree(await umociUnpack(store, 'docker.io/library/busybox:1.0', 'two-bundle'), BUSYBOX_EXPECTED)).toEqual([]);
  });
});

describe('what is stored, and when', () => {
  it('a file in another shape (a layer named layer.tar.gz, a stray file, manifest.json last) is read for its names first, then only the image’s members are stored', async () => {
    const dir = await unpackArchive(busyboxTar, 'other-shape');
    const [item] = await readManifestJson(dir);
    const layerName = `${busybox.diffIds[0]!.slice('sha256:'.length)}.tar`;
    await copyFile(source.blobPath(busybox.manifest.layers[0]!.digest), join(dir, 'layer.tar.gz'));
    await writeFile(join(dir, 'notes.txt'), 'not part of any image\n');
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ ...item, Layers: ['layer.tar.gz'] }]));
    const names = ['layer.tar.gz', 'notes.txt', ...(await readdir(dir)).filter((n) => !['layer.tar.gz', 'notes.txt', 'manifest.json', layerName].includes(n)), 'manifest.json'];
    const file = await packArchive(dir, names, 'other-shape.tar');
    const store = await freshStore();
    const result = await importDockerArchive(file, undefined, store, host, quiet);
    expect(result.layers.map((l) => l.digest)).toEqual([busybox.manifest.layers[0]!.digest]);
    expect(await blobsOf(store)).toEqual([result.digest, busybox.configDescriptor.digest, busybox.manifest.layers[0]!.digest].sort());
  });

  it('from a pipe (docker-archive:-), skopeo’s archive (manifest.json last) and Docker 24’s (first, a layer by symlink) import in one reading', async () => {
    const docker24 = await unpackArchive(busyboxTar, 'pipe-docker24');
    const [item] = await readManifestJson(docker24);
    const legacy = (await readdir(docker24)).find((n) => /^[a-f0-9]{64}$/.test(n))!;
    await writeFile(join(docker24, 'manifest.json'), JSON.stringify([{ ...item, RepoTags: ['busybox:1.0'], Layers: [`${legacy}/layer.tar`] }]));
    const manifestFirst = await packArchive(docker24, ['manifest.json', ...(await readdir(docker24)).filter((n) => n !== 'manifest.json')], 'pipe-docker24.tar');
    for (const file of [busyboxTar, manifestFirst]) {
      const root = await mkdtemp(join(work, 'pipe-root-'));
      const out = await pullFromPipe(file, root);
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      const store = await OciLayout.open(join(root, 'images'));
      expect((await store.list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:1.0']);
      expect(await blobsOf(store)).toContain(busybox.configDescriptor.digest);
    }
  });

  it('a rootfs tarball (no manifest.json) is refused before anything is stored: a file after reading its names, a pipe at its first file', async () => {
    const stage = new Stage(join(work, 'rootfs'));
    await mkdir(stage.root);
    for (let i = 0; i < 400; i++) await stage.file(`usr/share/doc/p${i % 20}/f${i}`, `file ${i}\n`);
    await stage.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\n');
    const file = join(work, 'rootfs.tar.gz');
    await run('tar', ['--create', '--gzip', '--file', file, '--directory', stage.root, '.']);

    const store = await freshStore();
    await expectToolError(importDockerArchive(file, parseReference('x:1'), store, host, quiet), /rootfs\.tar\.gz: no manifest\.json: not a docker save archive$/);
    expect(await blobsOf(store)).toEqual([]);
    expect((await readdir(join(store.dir, '.cutaway'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);

    const root = await mkdtemp(join(work, 'pipe-root-'));
    const out = await pullFromPipe(file, root, 'x:1');
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^oci-pull: error: stdin: not a docker save archive: (usr|etc)\/\S+ comes before any manifest\.json and is no image blob \(hint: .*docker-archive:FILE\)\n$/);
    expect(await blobsOf(await OciLayout.open(join(root, 'images')))).toEqual([]);
  });
});

describe('broken archives', () => {
  it('refuses a layer whose bytes were changed (diff_id mismatch) and tags nothing', async () => {
    const dir = await unpackArchive(busyboxTar, 'corrupt');
    const layerName = `${busybox.diffIds[0]!.slice('sha256:'.length)}.tar`;
    const layer = await readFile(join(dir, layerName));
    // Deep inside bin/busybox's data: the tar stays a valid tar, its content is wrong.
    layer.writeUInt8(layer.readUInt8(100_000) ^ 0xff, 100_000);
    await writeFile(join(dir, layerName), layer);
    const file = await packArchive(dir, await readdir(dir), 'corrupt.tar');
    const store = await freshStore();
    await expectToolError(importDockerArchive(file, undefined, store, host, quiet), new RegExp(`corrupt\\.tar: layer 1/1 ${layerName}: its content is sha256:[a-f0-9]{64} but the config's diff_id is ${busybox.diffIds[0]}`));
    expect(await store.list()).toEqual([]);
  });

  it('refuses a gzip layer whose decompressed content is not the diff_id', async () => {
    const dir = await unpackArchive(busyboxTar, 'wrong-gzip');
    const [item] = await readManifestJson(dir);
    // The other image's layer, compressed: a valid gzip of the wrong tar.
    await copyFile(source.blobPath(extra.manifest.layers[0]!.digest), join(dir, 'layer.tar.gz'));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ ...item, Layers: ['layer.tar.gz'] }]));
    const file = await packArchive(dir, await readdir(dir), 'wrong-gzip.tar');
    const store = await freshStore();
    await expectToolError(importDockerArchive(file, undefined, store, host, quiet), new RegExp(`layer 1/1 layer\\.tar\\.gz: its content is ${extra.diffIds[0]} but the config's diff_id is ${busybox.diffIds[0]}`));
    expect(await store.list()).toEqual([]);
  });

  it('refuses a gzip layer that does not decompress', async () => {
    const dir = await unpackArchive(busyboxTar, 'cut-gzip');
    const [item] = await readManifestJson(dir);
    const gzipped = await readFile(source.blobPath(busybox.manifest.layers[0]!.digest));
    await writeFile(join(dir, 'layer.tar.gz'), gzipped.subarray(0, gzipped.length >> 1));
    await writeFile(join(dir, 'manifest.json'), JSON.stringify([{ ...item, Layers: ['layer.tar.gz'] }]));
    const file = await packArchive(dir, await readdir(dir), 'cut-gzip.tar');
    const store = await freshStore();
    await expectToolError(importDockerArchive(file, undefined, store, host, quiet), /cut-gzip\.tar: layer 1\/1 layer\.tar\.gz: gzip-compressed but corrupt: unexpected end of file/);
    expect(await store.list()).toEqual([]);
  });

  it('refuses a file that is not a tar', async () => {
    const file = join(work, 'not-a-tar.tar');
    await writeFile(file, 'this is not a tar archive\n'.repeat(100));
    await expectToolError(importDockerArchive(file, undefined, await freshStore(), host, quiet), /not-a-tar\.tar: not a tar archive/);
  });

  it('refuses an empty file and a missing one', async () => {
    const empty = join(work, 'empty.tar');
    await writeFile(empty, '');
    await expectToolError(importDockerArchive(empty, undefined, await freshStore(), host, quiet), /empty\.tar: not a tar archive: it is empty/);
    await expectToolError(importDockerArchive(join(work, 'absent.tar'), undefined, await freshStore(), host, quiet), /absent\.tar: no such file/);
  });

  it('refuses a tar without manifest.json', async () => {
    const dir = await unpackArchive(busyboxTar, 'no-manifest');
    const names = (await readdir(dir)).filter((n) => n !== 'manifest.json' && n !== 'repositories');
    const file = await packArchive(dir, names, 'no-manifest.tar');
    await expectToolError(importDockerArchive(file, undefined, await freshStore(), host, quiet), /no-manifest\.tar: no manifest\.json: not a docker save archive/);
    const legacy = await packArchive(dir, [...names, 'repositories'], 'legacy.tar');
    await expectToolError(importDockerArchive(legacy, undefined, await freshStore(), host, quiet), /legacy\.tar: no manifest\.json: a Docker archive from before 1\.10/);
  });

  it('refuses an archive whose manifest.json names a layer it does not hold', async () => {
    const dir = await unpackArchive(busyboxTar, 'missing-layer');
    const layerName = `${busybox.diffIds[0]!.slice('sha256:'.length)}.tar`;
    const names = (await readdir(dir)).filter((n) => n !== layerName);
    const file = await packArchive(dir, names, 'missing-layer.tar');
    const store = await freshStore();
    await expectToolError(importDockerArchive(file, undefined, store, host, quiet), new RegExp(`missing-layer\\.tar: manifest\\.json names layer 1/1 ${layerName}, which is not in the archive`));
    expect(await store.list()).toEqual([]);
  });

  it('refuses a truncated archive', async () => {
    const whole = await readFile(busyboxTar);
    const file = join(work, 'truncated.tar');
    await writeFile(file, whole.subarray(0, 1_000_000));
    await expectToolError(importDockerArchive(file, undefined, await freshStore(), host, quiet), /truncated\.tar: the archive is damaged at .*Unexpected end of data/);
  });
});
