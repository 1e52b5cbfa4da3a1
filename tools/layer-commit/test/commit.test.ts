/**
 * layer-commit on real overlay mounts, real images and the reference tools,
 * no mocks: a container made by overlay-mount is changed through its merged
 * directory (files added, modified and deleted, a directory deleted, one
 * replaced — which overlay marks opaque —, hardlinks, a symlink, chmod,
 * chown, xattrs, setuid), committed, and the new image unpacked by umoci (the
 * reference unpacker) and by overlay-mount must be the merged tree, entry by
 * entry. The layer tar is read back with a small tar reader of our own (not
 * the writer's library) and by GNU tar; the image goes to a registry with
 * skopeo and comes back with oci-pull; reproducibility (SOURCE_DATE_EPOCH),
 * --diff, --empty with Docker's --change instructions, errors and --dry-run
 * are checked from the outside, as a user runs the tool.
 *
 * Every mount the tests make is under `work`; afterEach detaches whatever is
 * still mounted there (umount -l, even when a test failed half-way) and then
 * asserts that nothing is; afterAll checks /proc/mounts for any overlay of ours.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { appendFile, chmod, chown, link, lstat, lutimes, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setXattr } from '@cutaway/libc';
import type { Descriptor, ImageConfig, ImageManifest } from '@cutaway/oci';
import { OciLayout } from '@cutaway/oci';
import { runCommand, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { readTar } from '../../../test/fixtures/tar.ts';
import {
  BUSYBOX_REF,
  buildBusyboxImage,
  buildLayersImage,
  DEFAULT_PATH,
  diffSnapshots,
  FIXED_MTIME,
  LAYERS_REF,
  removeTree,
  run,
  snapshotTree,
  Stage,
  writeImage,
  type BuiltLayersImage,
  type TreeEntry,
} from '../../../test/fixtures/images.ts';
import { detachLeftovers, isMounted, trackMounts } from '../../../test/fixtures/mounts.ts';
import { startRegistry } from '../../../test/fixtures/registry.ts';

let work: string;
/** The fixture images (GNU tar layers), as an OCI layout the roots pull from. */
let layout: OciLayout;
let layers: BuiltLayersImage;

interface Root {
  root: string;
  store: string;
  env: NodeJS.ProcessEnv;
}

const EPOCH = 1_700_000_000; // 2023-11-14T22:13:20Z

// ─── Mount bookkeeping ───────────────────────────────────────────────────────

/** Mount points the tests made; afterEach detaches any still mounted (with whatever else is mounted under work), then asserts nothing is left under work. */
const made = trackMounts(() => work);

/** Lines of /proc/mounts for overlays that are ours: mounted under work, or with upper/lower dirs under it. */
function ourOverlays(): string[] {
  if (!work) return [];
  return readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('overlay ') || line.split(' ')[2] === 'overlay')
    .filter((line) => line.includes(work));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-commit-test-'));
  layout = await OciLayout.create(join(work, 'layout'));
  await buildBusyboxImage(layout);
  layers = await buildLayersImage(layout);
});

afterAll(async () => {
  await detachLeftovers(made, work);
  const overlays = ourOverlays();
  if (work) await removeTree(work);
  expect(overlays).toEqual([]);
  expect(ourOverlays()).toEqual([]);
});

// ─── Running the tools ───────────────────────────────────────────────────────

/** A new, empty state root under work. */
async function freshRoot(): Promise<Root> {
  const root = await mkdtemp(join(work, 'root-'));
  return { root, store: join(root, 'images'), env: { CUTAWAY_ROOT: root, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '', SOURCE_DATE_EPOCH: '' } };
}

async function pull(r: Root, name: string): Promise<string> {
  const result = await runCommand('oci-pull', ['-q', `oci:${layout.dir}:${name}`], { env: r.env });
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return result.stdout.trim();
}

async function rootWith(...names: string[]): Promise<Root> {
  const r = await freshRoot();
  for (const name of names) await pull(r, name);
  return r;
}

function layerCommit(args: string[], r: Root, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runCommand('layer-commit', args, { env: { ...r.env, ...env } });
}

interface CommitJson {
  tag: string;
  digest: string;
  base: string;
  layer?: { digest: string; diffId: string; size: number; mediaType: string; entries: number; whiteouts: number; opaqueDirs: number; hardlinks: number };
}

/** layer-commit --json, expected to succeed. */
async function commitOk(args: string[], r: Root, env: NodeJS.ProcessEnv = {}): Promise<CommitJson> {
  const result = await layerCommit([...args, '--json'], r, env);
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as CommitJson;
}

/** A tool's stdout as bytes (runCommand decodes it as text, which would spoil a tar). */
function runBinary(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('layer-commit'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out), stderr }));
  });
}

/** The layer tar of a directory or container, as `layer-commit … -o -` writes it. */
async function layerTar(what: string, r: Root, env: NodeJS.ProcessEnv = {}): Promise<Buffer> {
  const result = await runBinary([what, '-o', '-'], { ...r.env, ...env });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

async function overlayMount(args: string[], r: Root): Promise<string> {
  const result = await runCommand('overlay-mount', ['-q', ...args], { env: r.env });
  expect(result, result.stderr).toMatchObject({ code: 0 });
  const merged = result.stdout.trim();
  made.add(merged);
  expect(isMounted(merged)).toBe(true);
  return merged;
}

async function overlayUnmount(what: string, r: Root, ...extra: string[]): Promise<void> {
  const result = await runCommand('overlay-mount', ['-q', '--unmount', what, ...extra], { env: r.env });
  expect(result, result.stderr).toMatchObject({ code: 0 });
}

/** umoci unpack (as root) of an image in a root's store; returns the rootfs. */
async function umociRootfs(r: Root, name: string): Promise<string> {
  const bundle = await mkdtemp(join(work, 'umoci-'));
  await rm(bundle, { recursive: true });
  await run('umoci', ['unpack', '--image', `${r.store}:${name}`, bundle]);
  return join(bundle, 'rootfs');
}

// ─── Reading the store ───────────────────────────────────────────────────────

const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

function blobPath(r: Root, digest: string): string {
  return join(r.store, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

async function blobJson<T>(r: Root, digest: string): Promise<T> {
  return JSON.parse(await readFile(blobPath(r, digest), 'utf8')) as T;
}

interface Image {
  descriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfig;
}

async function imageIn(r: Root, name: string): Promise<Image> {
  const index = JSON.parse(await readFile(join(r.store, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const descriptor = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === name);
  if (!descriptor) throw new Error(`${name} is not in ${r.store}/index.json`);
  const manifest = await blobJson<ImageManifest>(r, descriptor.digest);
  return { descriptor, manifest, config: await blobJson<ImageConfig>(r, manifest.config.digest) };
}

/** What "the store is unchanged" means: index.json byte for byte and every blob's name and size. */
async function storeState(r: Root): Promise<{ index: string | undefined; blobs: string[] }> {
  const index = await readFile(join(r.store, 'index.json'), 'utf8').catch(() => undefined);
  const dir = join(r.store, 'blobs', 'sha256');
  const names = await readdir(dir).catch(() => [] as string[]);
  const blobs = await Promise.all(names.sort().map(async (n) => `${n} ${(await lstat(join(dir, n))).size}`));
  return { index, blobs };
}

/** The entry names GNU tar lists: it must read our tar too, and see the same entries. */
async function gnuTarNames(dir: string, tar: Buffer): Promise<string[]> {
  const file = join(dir, `gnu-${Date.now()}-${Math.random().toString(36).slice(2)}.tar`);
  await writeFile(file, tar);
  try {
    return (await run('tar', ['--list', '--file', file])).split('\n').filter((l) => l !== '');
  } finally {
    await rm(file, { force: true });
  }
}

// ─── Trees ───────────────────────────────────────────────────────────────────

/**
 * A layer tar holds whole seconds (create.ts: "times in whole seconds"), so an
 * entry committed from upper comes back with its mtime's nanoseconds zeroed,
 * while merged shows the file's own. That, and only that, is left out of the
 * comparisons: each snapshot's mtimes are cut to whole seconds.
 */
function wholeSeconds(snapshot: TreeEntry[]): TreeEntry[] {
  return snapshot.map((e) => (e.mtime === undefined ? e : { ...e, mtime: e.mtime.replace(/\.\d+$/, '') }));
}

function expectSameTree(actual: TreeEntry[], expected: TreeEntry[]): void {
  expect(diffSnapshots(wholeSeconds(actual), wholeSeconds(expected))).toEqual([]);
}

/** Sets every entry's atime and mtime (symlinks' own, not their targets'). */
async function setTimesTree(root: string, seconds: number): Promise<void> {
  for (const entry of await readdir(root, { withFileTypes: true })) {
    const path = join(root, entry.name);
    if (entry.isDirectory()) await setTimesTree(path, seconds);
    await lutimes(path, seconds, seconds);
  }
  await lutimes(root, seconds, seconds);
}

// ─── 1. A container's changes become a layer and an image ───────────────────

/**
 * What a user does in a container, through merged (the layers image below it):
 * - added: data/added.txt (user.* xattrs, one UTF-8 and one binary value), data/.config, newdir/sub/file.txt
 * - modified: data/keep.txt (appended, and chmod 0640), special/xattr-file (an xattr's value)
 * - deleted: data/overwritten.txt, usr/bin/id (a symlink of the base layer), the directory data/revived-dir
 * - replaced: data/opaque (rm -rf, mkdir, a new file: overlay marks it opaque)
 * - a new hardlink pair special/pair-a + pair-b, a symlink special/new-link
 * - chmod special/private 0640, chown 1000:1000 of data/owned (new) and special/empty-dir (copied up)
 * - a setuid file data/suid (4755)
 */
const CHANGES = { whiteouts: ['data/.wh.overwritten.txt', 'data/.wh.revived-dir', 'usr/bin/.wh.id'], opaqueDirs: ['data/opaque'], hardlinks: 1 };
const UTF8_VALUE = 'héllo wörld ✓';
const BINARY_VALUE = Buffer.from([0xff, 0x00, 0x80, 0x7f, 0xc3]);

async function changeThroughMerged(m: string): Promise<void> {
  await writeFile(join(m, 'data/added.txt'), 'added through merged\n');
  setXattr(join(m, 'data/added.txt'), 'user.note', UTF8_VALUE);
  setXattr(join(m, 'data/added.txt'), 'user.binary', BINARY_VALUE);
  // A dotfile beside the whiteouts below: `.config` sorts before `.wh.…` by bytes, yet the whiteouts must come first.
  await writeFile(join(m, 'data/.config'), 'a dotfile\n');
  await mkdir(join(m, 'newdir/sub'), { recursive: true });
  await writeFile(join(m, 'newdir/sub/file.txt'), 'in a new directory\n');

  await appendFile(join(m, 'data/keep.txt'), 'modified in the container\n');
  await chmod(join(m, 'data/keep.txt'), 0o640);
  setXattr(join(m, 'special/xattr-file'), 'user.cutaway.test', 'changed in the container');

  await rm(join(m, 'data/overwritten.txt'));
  await rm(join(m, 'usr/bin/id'));
  await rm(join(m, 'data/revived-dir'), { recursive: true });

  await rm(join(m, 'data/opaque'), { recursive: true });
  await mkdir(join(m, 'data/opaque'));
  await writeFile(join(m, 'data/opaque/fresh.txt'), 'the replaced directory holds only this\n');

  await writeFile(join(m, 'special/pair-a'), 'one inode, two new names\n');
  await link(join(m, 'special/pair-a'), join(m, 'special/pair-b'));
  await symlink('../data/added.txt', join(m, 'special/new-link'));

  await chmod(join(m, 'special/private'), 0o640);
  await writeFile(join(m, 'data/owned'), 'owned by app\n');
  await chown(join(m, 'data/owned'), 1000, 1000);
  await chown(join(m, 'special/empty-dir'), 1000, 1000);

  await writeFile(join(m, 'data/suid'), '#!/bin/sh\necho suid\n');
  await chmod(join(m, 'data/suid'), 0o4755); // after any chown: chown clears setuid
}

describe('a container changed through merged, committed (the issue)', () => {
  let r: Root;
  let merged: TreeEntry[];
  let committed: CommitJson;
  const NEW = 'docker.io/library/new:1';

  beforeAll(async () => {
    r = await rootWith(LAYERS_REF);
    const m = await overlayMount([LAYERS_REF, '--name', 'c1'], r);
    await changeThroughMerged(m);
    merged = await snapshotTree(m);
    await overlayUnmount('c1', r);
    expect(isMounted(m)).toBe(false);
    committed = await commitOk(['c1', '--tag', 'new:1'], r);
  });

  it('the snapshot saw the changes (so the comparisons below compare something)', () => {
    const at = (p: string) => merged.find((e) => e.path === p);
    // snapshotTree shows a value that is not printable ASCII in hex.
    expect(at('data/added.txt')?.xattrs).toEqual({ 'user.binary': `0x${BINARY_VALUE.toString('hex')}`, 'user.note': `0x${Buffer.from(UTF8_VALUE).toString('hex')}` });
    expect(at('data/keep.txt')).toMatchObject({ mode: '0640' });
    expect(at('data/opaque')?.xattrs).toBeUndefined();
    expect(merged.filter((e) => e.path.startsWith('data/opaque/')).map((e) => e.path)).toEqual(['data/opaque/fresh.txt']);
    expect(at('data/overwritten.txt')).toBeUndefined();
    expect(at('data/revived-dir')).toBeUndefined();
    expect(at('usr/bin/id')).toBeUndefined();
    expect(at('special/pair-b')).toMatchObject({ hardlinkOf: 'special/pair-a' });
    expect(at('special/new-link')).toMatchObject({ type: 'symlink', target: '../data/added.txt' });
    expect(at('special/private')).toMatchObject({ mode: '0640' });
    expect(at('data/owned')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(at('special/empty-dir')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000 });
    expect(at('data/suid')).toMatchObject({ mode: '4755' });
    expect(at('special/xattr-file')?.xattrs).toEqual({ 'user.cutaway.second': 'second value', 'user.cutaway.test': 'changed in the container' });
    if (layers.withCapability) expect(at('special/busybox-netraw')?.xattrs).toEqual({ 'security.capability': '0x0100000200200000000000000000000000000000' });
    expect(committed.tag).toBe(NEW);
  });

  it('umoci unpack of the new image is the merged tree', async () => {
    const rootfs = await umociRootfs(r, NEW);
    const unpacked = await snapshotTree(rootfs);
    expectSameTree(unpacked, merged);
    // Uncut, they differ only in what a tar cannot hold: the nanoseconds of the committed entries' mtimes.
    const uncut = diffSnapshots(unpacked, merged);
    expect(uncut.length).toBeGreaterThan(0);
    for (const d of uncut) expect({ ...d.actual, mtime: d.actual?.mtime?.replace(/\.\d+$/, '') }).toEqual({ ...d.expected, mtime: d.expected?.mtime?.replace(/\.\d+$/, '') });
    expect(uncut.every((d) => d.actual?.mtime?.endsWith('.000000000'))).toBe(true);
  });

  it('overlay-mount of the new image (our own round trip) is the merged tree too', async () => {
    const m = await overlayMount([NEW, '--name', 'roundtrip'], r);
    try {
      expectSameTree(await snapshotTree(m), merged);
    } finally {
      await overlayUnmount('roundtrip', r, '--rm');
    }
  });

  it('--json counts the whiteouts, opaque directories and hardlinks that were made', () => {
    expect(committed.layer).toMatchObject({
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      whiteouts: CHANGES.whiteouts.length,
      opaqueDirs: CHANGES.opaqueDirs.length,
      hardlinks: CHANGES.hardlinks,
    });
    expect(committed.base).toBe(LAYERS_REF);
  });

  it("the config has the base's diff_ids and history plus one each; the manifest the base's layers plus the new one", async () => {
    const image = await imageIn(r, NEW);
    expect(image.descriptor.digest).toBe(committed.digest);
    const base = layers.config;
    expect(image.config.rootfs.diff_ids).toEqual([...base.rootfs.diff_ids, committed.layer!.diffId]);
    expect(image.config.history).toHaveLength(base.history!.length + 1);
    expect(image.config.history!.slice(0, -1)).toEqual(base.history);
    expect(image.config.history!.at(-1)).toMatchObject({ created_by: 'layer-commit c1' });
    expect(image.config.history!.at(-1)).not.toHaveProperty('empty_layer');
    expect(image.config.config).toEqual(base.config); // no --change
    expect(image.manifest.layers.slice(0, -1).map((l) => l.digest)).toEqual(layers.manifest.layers.map((l) => l.digest));
    const layer = image.manifest.layers.at(-1)!;
    expect(layer).toEqual({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: committed.layer!.digest, size: committed.layer!.size });
    // The blob is what the descriptor says, and it unzips to the diff_id.
    const blob = await readFile(blobPath(r, layer.digest));
    expect(sha256(blob)).toBe(layer.digest);
    expect(blob.length).toBe(layer.size);
    expect(sha256(gunzipSync(blob))).toBe(committed.layer!.diffId);
  });

  it('the layer tar (-o -): .wh. entries before their siblings, .wh..wh..opq in the replaced directory, no ./, no overlay xattrs', async () => {
    const tar = await layerTar('c1', r);
    // The same bytes as the committed layer (no SOURCE_DATE_EPOCH: the files' own times, both times).
    expect(sha256(tar)).toBe(committed.layer!.diffId);
    const entries = readTar(tar);
    const names = entries.map((e) => e.name);
    expect(await gnuTarNames(work, tar)).toEqual(names);
    expect(entries).toHaveLength(committed.layer!.entries);

    const badName = (n: string) => n === '.' || n === './' || n.startsWith('./') || n.startsWith('/') || n.split('/').includes('..');
    expect(names.filter(badName)).toEqual([]);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => /(^|\/)\.wh\.[^/]*$/.test(n) && !n.endsWith('/.wh..wh..opq')).sort()).toEqual(CHANGES.whiteouts);
    expect(names.filter((n) => n.endsWith('/.wh..wh..opq'))).toEqual(CHANGES.opaqueDirs.map((d) => `${d}/.wh..wh..opq`));
    // Parents before children, and in each directory every .wh. entry before its siblings.
    const parentOf = (n: string) => n.replace(/\/$/, '').replace(/\/?[^/]*$/, '');
    for (const [i, n] of names.entries()) {
      const parent = parentOf(n);
      if (parent) expect(names.slice(0, i), `${n} after its directory`).toContain(`${parent}/`);
      const base = n.replace(/\/$/, '').slice(parent ? parent.length + 1 : 0);
      if (base.startsWith('.wh.')) {
        const earlierSiblings = names.slice(0, i).filter((o) => parentOf(o) === parent && !o.replace(/\/$/, '').slice(parent ? parent.length + 1 : 0).startsWith('.wh.'));
        expect(earlierSiblings, `siblings before ${n}`).toEqual([]);
      }
    }
    // The replaced directory: its entry, the opaque marker, then what it holds now.
    expect(names.filter((n) => n.startsWith('data/opaque'))).toEqual(['data/opaque/', 'data/opaque/.wh..wh..opq', 'data/opaque/fresh.txt']);
    // Whiteouts: empty regular files (mode 0600, as moby writes them).
    for (const e of entries.filter((x) => x.name.includes('/.wh.'))) expect({ name: e.name, type: e.type, size: e.size }).toEqual({ name: e.name, type: 'file', size: 0 });
    for (const e of entries.filter((x) => CHANGES.whiteouts.includes(x.name))) expect(e.mode).toBe(0o600);

    const at = (n: string) => entries.find((e) => e.name === n)!;
    // No overlay bookkeeping, no user or group names; the user's xattrs byte for byte.
    for (const e of entries) {
      expect(Object.keys(e.pax).filter((k) => /^SCHILY\.xattr\.(trusted|user)\.overlay\./.test(k)), e.name).toEqual([]);
      expect({ name: e.name, uname: e.uname, gname: e.gname }).toEqual({ name: e.name, uname: '', gname: '' });
    }
    expect(at('data/added.txt').pax['SCHILY.xattr.user.note']).toEqual(Buffer.from(UTF8_VALUE));
    expect(at('data/added.txt').pax['SCHILY.xattr.user.binary']).toEqual(BINARY_VALUE);
    expect(at('special/xattr-file').pax['SCHILY.xattr.user.cutaway.test']?.toString()).toBe('changed in the container');
    // The rest of what was done, as the tar says it.
    expect(at('special/pair-b')).toMatchObject({ type: 'link', linkname: 'special/pair-a', size: 0 });
    expect(at('special/pair-a')).toMatchObject({ type: 'file', size: 'one inode, two new names\n'.length });
    expect(at('special/new-link')).toMatchObject({ type: 'symlink', linkname: '../data/added.txt' });
    expect(at('data/suid')).toMatchObject({ type: 'file', mode: 0o4755 });
    expect(at('data/owned')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(at('special/empty-dir/')).toMatchObject({ type: 'dir', uid: 1000, gid: 1000 });
    expect(at('special/private')).toMatchObject({ mode: 0o640 });
    expect(at('data/keep.txt').body.toString()).toBe('added in layer 1, kept\nmodified in the container\n');
    // Only what changed: nothing of the untouched lower files.
    expect(names).not.toContain('bin/busybox');
    expect(names).not.toContain('special/hardlink-a');
  });

  it('skopeo copies the new image to a registry; oci-pull into a fresh root gets it back with the same manifest digest', async () => {
    const registry = await startRegistry();
    try {
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${r.store}:${NEW}`, `docker://${registry.host}/new:1`]);
      const fresh = await freshRoot();
      const pulled = await runCommand('oci-pull', ['-q', `${registry.host}/new:1`], { env: fresh.env });
      expect(pulled, pulled.stderr).toMatchObject({ code: 0 });
      expect(pulled.stdout.trim()).toBe(committed.digest);
      const back = await imageIn(fresh, `${registry.host}/new:1`);
      expect(back.descriptor.digest).toBe(committed.digest);
      expect(back.manifest.layers.at(-1)!.digest).toBe(committed.layer!.digest);
      expect(sha256(await readFile(blobPath(fresh, committed.layer!.digest)))).toBe(committed.layer!.digest);
    } finally {
      await registry.stop();
    }
  });
});

// ─── 2. Reproducible ─────────────────────────────────────────────────────────

describe('SOURCE_DATE_EPOCH', () => {
  let r: Root;
  let upper: string;

  beforeAll(async () => {
    r = await rootWith(LAYERS_REF);
    const m = await overlayMount([LAYERS_REF, '--name', 'repro'], r);
    await writeFile(join(m, 'data/new.txt'), 'written now: newer than the epoch\n');
    await chmod(join(m, 'special/fixed-mtime'), 0o600); // copied up with its mtime of 2001: older than the epoch
    await chmod(join(m, 'special/private'), 0o640); // 2020-01-01: older too
    await rm(join(m, 'data/overwritten.txt'));
    await rm(join(m, 'data/opaque'), { recursive: true });
    await mkdir(join(m, 'data/opaque'));
    await overlayUnmount('repro', r);
    upper = join(r.root, 'containers/repro/upper');
  });

  const ENV = { SOURCE_DATE_EPOCH: String(EPOCH) };

  for (const [compression, mediaType, magic] of [
    ['gzip', 'application/vnd.oci.image.layer.v1.tar+gzip', '1f8b'],
    ['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd', '28b52ffd'],
    ['none', 'application/vnd.oci.image.layer.v1.tar', undefined],
  ] as const) {
    it(`the same upper committed twice gives the same manifest and layer digests (--compression ${compression})`, async () => {
      const first = await commitOk(['repro', '--tag', `repro-${compression}:1`, '--compression', compression], r, ENV);
      const second = await commitOk(['repro', '--tag', `repro-${compression}:2`, '--compression', compression], r, ENV);
      expect(second.digest).toBe(first.digest);
      expect(second.layer).toEqual(first.layer);
      expect(first.layer!.mediaType).toBe(mediaType);
      const blob = await readFile(blobPath(r, first.layer!.digest));
      if (magic) expect(blob.subarray(0, magic.length / 2).toString('hex')).toBe(magic);
      else expect(blob.subarray(257, 262).toString('latin1')).toBe('ustar');
      // The diff_id is the tar's, whatever the compression: the same as -o - writes.
      expect(first.layer!.diffId).toBe(sha256(await layerTar('repro', r, ENV)));
      const image = await imageIn(r, `docker.io/library/repro-${compression}:1`);
      expect(Date.parse(image.config.created!)).toBe(EPOCH * 1000);
      expect(Date.parse(image.config.history!.at(-1)!.created!)).toBe(EPOCH * 1000);
    });
  }

  it('clamps times newer than the epoch and keeps older ones', async () => {
    const entries = readTar(await layerTar('repro', r, ENV));
    const at = (n: string) => entries.find((e) => e.name === n)!;
    expect(entries.every((e) => e.mtime <= EPOCH)).toBe(true);
    expect(at('data/new.txt').mtime).toBe(EPOCH);
    expect(at('data/').mtime).toBe(EPOCH);
    expect(at('data/.wh.overwritten.txt').mtime).toBe(EPOCH);
    expect(at('data/opaque/.wh..wh..opq').mtime).toBe(EPOCH);
    expect(at('special/fixed-mtime').mtime).toBe(FIXED_MTIME);
    expect(at('special/private').mtime).toBe(1_577_836_800);
  });

  it("without it, the layer tar's times are the files' own (whole seconds)", async () => {
    const entries = readTar(await layerTar('repro', r));
    expect(entries.length).toBeGreaterThan(5);
    for (const e of entries) {
      // A whiteout's time is its 0:0 device's; the opaque marker's its directory's.
      const rel = e.name.replace(/\/$/, '').replace(/\/\.wh\.\.wh\.\.opq$/, '').replace(/(^|\/)\.wh\./, '$1');
      const st = await lstat(join(upper, rel));
      expect({ name: e.name, mtime: e.mtime }).toEqual({ name: e.name, mtime: Math.floor(st.mtimeMs / 1000) });
    }
    expect(entries.find((e) => e.name === 'special/fixed-mtime')!.mtime).toBe(FIXED_MTIME);
    expect(entries.find((e) => e.name === 'data/new.txt')!.mtime).toBeGreaterThan(EPOCH);
  });

  it('a plain directory (not an overlay upper): the same clamping', async () => {
    const dir = await mkdtemp(join(work, 'plain-'));
    const s = new Stage(dir);
    await s.file('old.txt', 'old\n', { mtime: FIXED_MTIME });
    await s.file('new.txt', 'new\n');
    const clamped = readTar(await layerTar(dir, r, ENV));
    expect(clamped.map((e) => [e.name, e.mtime])).toEqual([
      ['new.txt', EPOCH],
      ['old.txt', FIXED_MTIME],
    ]);
    const own = readTar(await layerTar(dir, r));
    expect(own.find((e) => e.name === 'new.txt')!.mtime).toBe(Math.floor((await lstat(join(dir, 'new.txt'))).mtimeMs / 1000));
  });
});

// ─── 3. --diff PARENT DIR ────────────────────────────────────────────────────

describe('--diff PARENT DIR (two plain directories)', () => {
  it('the layer holds what differs; applied over the parent image (umoci, overlay-mount) it gives DIR', async () => {
    const parent = join(work, 'diff-parent');
    const dir = join(work, 'diff-dir');
    await mkdir(parent, { mode: 0o755 });
    const p = new Stage(parent);
    await p.file('keep.txt', 'unchanged\n');
    await p.file('modify.txt', 'before\n');
    await p.file('delete.txt', 'deleted in DIR\n');
    await p.file('chmod.txt', 'mode changes\n');
    await p.file('xattr.txt', 'an xattr is added\n');
    await p.file('file-to-dir', 'a file in PARENT, a directory in DIR\n');
    await p.file('dir-to-file/inner.txt', 'a directory in PARENT, a file in DIR\n');
    await p.file('gone-dir/a.txt', 'deleted with its directory\n');
    await p.file('gone-dir/sub/b.txt', 'deleted with its directory\n');
    await p.file('same-dir/untouched.txt', 'a directory nothing changes in\n');
    await p.file('sub/deep.txt', 'modified deep down\n');
    await p.file('sub/stays.txt', 'stays\n');
    await p.symlink('link', 'keep.txt');
    // Times well in the past, so that what DIR does not change is exactly the parent image's.
    await setTimesTree(parent, FIXED_MTIME);
    await run('cp', ['-a', '--preserve=all', parent, dir]); // modes, owners, times and xattrs
    await setTimesTree(dir, FIXED_MTIME);

    const d = new Stage(dir);
    await d.file('added.txt', 'new in DIR\n');
    await d.file('.profile', 'a dotfile: its name sorts before .wh., its entry after the whiteouts\n');
    await d.file('added-dir/x.txt', 'in a new directory\n');
    await writeFile(d.path('modify.txt'), 'after, and longer\n');
    await rm(d.path('delete.txt'));
    await chmod(d.path('chmod.txt'), 0o600);
    setXattr(d.path('xattr.txt'), 'user.added', 'in DIR');
    await rm(d.path('file-to-dir'));
    await d.file('file-to-dir/inside.txt', 'the directory that replaced a file\n');
    await rm(d.path('dir-to-file'), { recursive: true });
    await d.file('dir-to-file', 'the file that replaced a directory\n');
    await rm(d.path('gone-dir'), { recursive: true });
    await writeFile(d.path('sub/deep.txt'), 'modified deep down: yes\n');
    await rm(d.path('link'));
    await d.symlink('link', 'modify.txt');
    const expected = await snapshotTree(dir);

    const r = await freshRoot();
    await writeImage(layout, 'cutaway.test/diff-parent:1', { layers: [{ dir: parent, createdBy: 'the parent directory' }], cmd: ['sh'] });
    await pull(r, 'cutaway.test/diff-parent:1');

    const diffTar = await runBinary(['--diff', parent, dir, '-o', '-'], r.env);
    expect(diffTar.code, diffTar.stderr).toBe(0);
    const names = readTar(diffTar.stdout).map((e) => e.name);
    expect(names).toEqual([
      '.wh.delete.txt',
      '.wh.gone-dir',
      '.profile',
      'added-dir/',
      'added-dir/x.txt',
      'added.txt',
      'chmod.txt',
      'dir-to-file',
      'file-to-dir/',
      'file-to-dir/inside.txt',
      'link',
      'modify.txt',
      'sub/',
      'sub/deep.txt',
      'xattr.txt',
    ]);

    const result = await commitOk(['--diff', parent, dir, '--image', 'cutaway.test/diff-parent:1', '--tag', 'diffed:1'], r);
    expect(result.layer).toMatchObject({ whiteouts: 2, opaqueDirs: 0, hardlinks: 0, entries: names.length });
    expect(expected.find((e) => e.path === 'xattr.txt')?.xattrs).toEqual({ 'user.added': 'in DIR' });

    const rootfs = await umociRootfs(r, 'docker.io/library/diffed:1');
    expectSameTree(await snapshotTree(rootfs), expected);
    const m = await overlayMount(['diffed:1', '--name', 'diffed'], r);
    try {
      expectSameTree(await snapshotTree(m), expected);
    } finally {
      await overlayUnmount('diffed', r, '--rm');
    }
  });
});

// ─── 4. --empty and --change ─────────────────────────────────────────────────

describe('--empty with --change', () => {
  let r: Root;
  beforeAll(async () => {
    r = await rootWith(LAYERS_REF);
  });

  it('adds an empty_layer history entry, no layer, and sets the config as Docker does', async () => {
    const changes = ['ENV A=1', 'EXPOSE 8080', 'CMD ["sh"]', 'WORKDIR /app', 'LABEL a=b', 'USER 1000'];
    const result = await commitOk(['--empty', ...changes.flatMap((c) => ['-c', c]), '--image', LAYERS_REF, '--tag', 'empty:1'], r);
    expect(result.layer).toBeUndefined();
    const image = await imageIn(r, 'docker.io/library/empty:1');
    expect(image.descriptor.digest).toBe(result.digest);
    expect(image.manifest.layers).toEqual(layers.manifest.layers);
    expect(image.config.rootfs.diff_ids).toEqual(layers.config.rootfs.diff_ids);
    expect(image.config.history).toHaveLength(layers.config.history!.length + 1);
    expect(image.config.history!.at(-1)).toMatchObject({ created_by: `layer-commit --empty ${changes.join(' ')}`, empty_layer: true });
    expect(image.config.config).toEqual({
      Env: [DEFAULT_PATH, 'A=1'],
      Cmd: ['sh'],
      ExposedPorts: { '8080/tcp': {} },
      WorkingDir: '/app',
      Labels: { a: 'b' },
      User: '1000',
    });
    expect(image.config.os).toBe(layers.config.os);
    expect(image.config.architecture).toBe(layers.config.architecture);
  });

  it('on top of that: ENV replaces in place, shell-form CMD and ENTRYPOINT go through /bin/sh -c, WORKDIR is relative; --author, -m, --created-by', async () => {
    await commitOk(['--empty', '-c', 'ENV A=1', '-c', 'WORKDIR /app', '--image', LAYERS_REF, '--tag', 'empty:base'], r);
    const result = await commitOk(
      ['--empty', '-c', 'ENV PATH=/custom/bin:/bin B="two words"', '-c', 'CMD echo "hi there"', '-c', 'ENTRYPOINT exec run', '-c', 'WORKDIR sub', '-c', 'EXPOSE 53/udp 8000-8001',
        '--author', 'Jane Doe <jane@example.com>', '-m', 'a message', '--created-by', 'RUN nothing', '--image', 'empty:base', '--tag', 'empty:2'],
      r,
    );
    const image = await imageIn(r, 'docker.io/library/empty:2');
    expect(image.descriptor.digest).toBe(result.digest);
    expect(image.config.config).toMatchObject({
      Env: ['PATH=/custom/bin:/bin', 'A=1', 'B=two words'],
      Cmd: ['/bin/sh', '-c', 'echo "hi there"'],
      Entrypoint: ['/bin/sh', '-c', 'exec run'],
      WorkingDir: '/app/sub',
      ExposedPorts: { '53/udp': {}, '8000/tcp': {}, '8001/tcp': {} },
    });
    expect(image.config.history!.at(-1)).toMatchObject({ created_by: 'RUN nothing', author: 'Jane Doe <jane@example.com>', comment: 'a message', empty_layer: true });
    expect(image.config.author).toBe('Jane Doe <jane@example.com>');
    expect(image.config.history).toHaveLength(layers.config.history!.length + 2);
  });

  it('--image scratch: on a fresh root, an image with no layers (empty) or with just the new one', async () => {
    const fresh = await freshRoot();
    const empty = await commitOk(['--empty', '-c', 'CMD ["/app"]', '--image', 'scratch', '--tag', 'nothing:1'], fresh);
    const nothing = await imageIn(fresh, 'docker.io/library/nothing:1');
    expect(nothing.descriptor.digest).toBe(empty.digest);
    expect(nothing.manifest.layers).toEqual([]);
    expect(nothing.config.rootfs).toEqual({ type: 'layers', diff_ids: [] });
    expect(nothing.config.history).toEqual([expect.objectContaining({ empty_layer: true, created_by: 'layer-commit --empty CMD ["/app"]' })]);
    expect(nothing.config.config).toEqual({ Cmd: ['/app'] });
    expect(nothing.config.os).toBe('linux');

    const dir = await mkdtemp(join(work, 'scratch-'));
    await chmod(dir, 0o755);
    const s = new Stage(dir);
    await s.file('app/hello.txt', 'hello\n', { mtime: FIXED_MTIME });
    await s.file('app/run', '#!/bin/sh\n', { mode: 0o755, mtime: FIXED_MTIME });
    await setTimesTree(join(dir, 'app'), FIXED_MTIME);
    const one = await commitOk([dir, '--image', 'scratch', '--tag', 'one:1'], fresh);
    const image = await imageIn(fresh, 'docker.io/library/one:1');
    expect(image.manifest.layers.map((l) => l.digest)).toEqual([one.layer!.digest]);
    expect(image.config.rootfs.diff_ids).toEqual([one.layer!.diffId]);
    expect(image.config.history).toHaveLength(1);
    const rootfs = await umociRootfs(fresh, 'docker.io/library/one:1');
    expectSameTree(await snapshotTree(rootfs), await snapshotTree(dir));
  });
});

// ─── 4b. The base image by any handle ───────────────────────────────────────

describe('--image BASE by any handle', () => {
  it('the image ID in full or a unique prefix, a manifest digest, NAME@DIGEST: the same base; an ambiguous prefix and a missing ID are refused', async () => {
    const r = await rootWith(LAYERS_REF);
    const id = layers.configDescriptor.digest;
    const digest = layers.descriptor.digest;
    const handles = [LAYERS_REF, id, id.slice(7), id.slice(7, 19), `sha256:${id.slice(7, 15)}`, digest, digest.slice(7), `${LAYERS_REF.split(':')[0]}@${digest}`];
    const ids: string[] = [id];
    for (const [i, h] of handles.entries()) {
      const result = await commitOk(['--empty', '-c', `LABEL handle=${i}`, '--image', h, '--tag', `handle:${i}`], r);
      const image = await imageIn(r, `docker.io/library/handle:${i}`);
      expect(image.descriptor.digest, h).toBe(result.digest);
      expect(image.manifest.layers, h).toEqual(layers.manifest.layers);
      expect(image.config.history, h).toEqual([...layers.config.history!, expect.objectContaining({ empty_layer: true })]);
      ids.push(image.manifest.config.digest);
    }
    // A prefix of two IDs: more images until two share their first hex digit (17 at most), then refused, naming it.
    const first = () => ids.map((d) => d.slice(7, 8));
    while (new Set(first()).size === ids.length) {
      await commitOk(['--empty', '-c', `LABEL more=${ids.length}`, '--image', LAYERS_REF, '--tag', `more:${ids.length}`], r);
      ids.push((await imageIn(r, `docker.io/library/more:${ids.length}`)).manifest.config.digest);
    }
    const shared = first().find((c, i) => first().indexOf(c) !== i)!;
    const before = await storeState(r);
    const ambiguous = await layerCommit(['--empty', '--image', `sha256:${shared}`, '--tag', 'never:1'], r);
    expect(ambiguous).toMatchObject({ code: 1, stdout: '', stderr: `layer-commit: error: multiple IDs found with provided prefix: sha256:${shared}\n` });
    // An ID the store lacks: No such image, with no hint to pull it.
    const zeros = `sha256:${'0'.repeat(64)}`;
    const missing = await layerCommit(['--empty', '--image', zeros, '--tag', 'never:1'], r);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: `layer-commit: error: No such image: ${zeros}\n` });
    expect(await storeState(r)).toEqual(before);
  });
});

// ─── 5. Errors ───────────────────────────────────────────────────────────────

describe('errors: one line, the right exit status, and the store unchanged', () => {
  let r: Root;
  let upper: string;
  beforeAll(async () => {
    r = await rootWith(BUSYBOX_REF);
    upper = await mkdtemp(join(work, 'upper-'));
    // New content, so that a layer blob stored by mistake would show in blobs/.
    await new Stage(upper).file('etc/motd', `new content ${Date.now()}\n`);
  });

  async function expectError(args: string[], code: number, message: RegExp, env: NodeJS.ProcessEnv = {}, command?: string[]): Promise<void> {
    const before = await storeState(r);
    const result = command
      ? await runCommand(command[0]!, [...command.slice(1), toolPath('layer-commit'), ...args], { env: { ...r.env, ...env } })
      : await layerCommit(args, r, env);
    expect(await storeState(r)).toEqual(before);
    const lines = result.stderr.split('\n').filter((l) => l !== '');
    // One line; a usage error (exit 2) adds the pointer to --help that every tool gives (libs/cli UsageError), as GNU tools do.
    const help = code === 2 ? ["Try 'layer-commit --help' for more information."] : [];
    expect({ code: result.code, lines }).toEqual({ code, lines: [expect.stringMatching(/^layer-commit: error: /), ...help] });
    expect(result.stderr).not.toMatch(/^\s+at /m); // no stack trace
    expect(lines[0]).toMatch(message);
    expect(result.stdout).toBe('');
  }

  it('a directory that does not exist', async () => {
    await expectError([join(work, 'no-such-dir'), '--image', BUSYBOX_REF, '--tag', 'x:1'], 1, /no-such-dir: ENOENT/);
  });

  it("a container whose upper has vanished", async () => {
    await overlayMount([BUSYBOX_REF, '--name', 'vanished'], r);
    await overlayUnmount('vanished', r);
    await rm(join(r.root, 'containers/vanished/upper'), { recursive: true });
    await expectError(['vanished', '--tag', 'x:1'], 1, /containers\/vanished\/upper: ENOENT/);
  });

  it('a name that is neither a container nor a directory', async () => {
    await expectError(['nosuch', '--image', BUSYBOX_REF, '--tag', 'x:1'], 1, /nosuch: ENOENT.*no container named nosuch/);
  });

  it('an unreadable directory inside the upper (root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH)', async () => {
    const dir = await mkdtemp(join(work, 'locked-'));
    await new Stage(dir).file('locked/secret.txt', 'unreadable\n');
    await chmod(join(dir, 'locked'), 0o000);
    try {
      await expectError([dir, '--image', BUSYBOX_REF, '--tag', 'x:1'], 1, /locked: EACCES/, {}, ['/usr/bin/setpriv', '--bounding-set=-dac_override,-dac_read_search', '--']);
    } finally {
      await chmod(join(dir, 'locked'), 0o755);
    }
  });

  it('an upper with a directory renamed through redirect_dir (trusted.overlay.redirect) is refused, naming it', async () => {
    const dir = await mkdtemp(join(work, 'redirect-'));
    const s = new Stage(dir);
    await s.file('a-first.txt', 'before the bad directory\n');
    await s.file('moved/inside.txt', 'renamed from elsewhere\n');
    setXattr(s.path('moved'), 'trusted.overlay.redirect', '/original');
    await expectError([dir, '--image', BUSYBOX_REF, '--tag', 'x:1'], 1, /error: moved: .*redirect_dir/);
    // With -o FILE: no file left behind.
    const out = join(work, 'redirect.tar');
    await expectError([dir, '-o', out], 1, /moved: .*redirect_dir/);
    expect(await lstat(out).catch(() => undefined)).toBeUndefined();
  });

  it('an upper with a metacopy file is refused, naming it', async () => {
    const dir = await mkdtemp(join(work, 'metacopy-'));
    const s = new Stage(dir);
    await s.file('data/meta-only', '');
    setXattr(s.path('data/meta-only'), 'trusted.overlay.metacopy', '');
    await expectError([dir, '--image', BUSYBOX_REF, '--tag', 'x:1'], 1, /data\/meta-only: .*metacopy/);
  });

  it('an unknown base image', async () => {
    await expectError([upper, '--image', 'cutaway.test/nosuch:1', '--tag', 'x:1'], 1, /nosuch/);
  });

  it("a bad --change (FROM is not a config change): refused before the layer is stored", async () => {
    await expectError([upper, '--image', BUSYBOX_REF, '--tag', 'x:1', '--change', 'FROM x'], 1, /--change "FROM x": FROM cannot be applied/);
    await expectError([upper, '--image', BUSYBOX_REF, '--tag', 'x:1', '-c', 'EXPOSE 70000'], 1, /EXPOSE 70000/);
    await expectError(['--empty', '--image', BUSYBOX_REF, '--tag', 'x:1', '-c', 'CMD'], 1, /CMD needs an argument/);
  });

  it('a bad --change with --image scratch on a fresh root creates no store', async () => {
    const fresh = await freshRoot();
    const result = await layerCommit([upper, '--image', 'scratch', '--tag', 'x:1', '-c', 'FROM scratch'], fresh);
    expect(result.code).toBe(1);
    expect(await lstat(fresh.store).catch(() => undefined)).toBeUndefined();
  });

  it('usage errors (exit 2): bad --compression, --dry-run without --tag, bad SOURCE_DATE_EPOCH, --diff not a directory, no directory', async () => {
    await expectError([upper, '--image', BUSYBOX_REF, '--tag', 'x:1', '--compression', 'bzip2'], 2, /--compression must be gzip, zstd or none/);
    // Without --tag the image is stored unnamed (docker commit without REPOSITORY); its script finds it by name, so it needs one.
    await expectError([upper, '--image', BUSYBOX_REF, '--dry-run'], 2, /--tag/);
    for (const bad of ['yesterday', '-1', '1.5', '1e9']) {
      await expectError([upper, '--image', BUSYBOX_REF, '--tag', 'x:1'], 2, /SOURCE_DATE_EPOCH/, { SOURCE_DATE_EPOCH: bad });
    }
    await expectError(['--diff', join(work, 'nope'), upper, '--image', BUSYBOX_REF, '--tag', 'x:1'], 2, /--diff .*nope: not a directory/);
    await expectError(['--image', BUSYBOX_REF, '--tag', 'x:1'], 2, /commit what\?/);
    await expectError([upper, '--tag', 'x:1'], 2, /--image BASE/);
  });
});

// ─── 6. --dry-run ────────────────────────────────────────────────────────────

describe('--dry-run', () => {
  it('prints the classic commands (tar, sha256sum, gzip, jq) as a script and changes nothing (dry-run.test.ts runs them)', async () => {
    const r = await rootWith(BUSYBOX_REF);
    const m = await overlayMount([BUSYBOX_REF, '--name', 'dry'], r);
    await writeFile(join(m, 'etc/motd'), 'hello\n');
    await overlayUnmount('dry', r);
    const before = await storeState(r);

    const result = await layerCommit(['dry', '--tag', 'dry:1', '--dry-run', '-c', 'ENV A=1'], r);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const script = result.stdout;
    expect(script).toMatch(/^#!\/bin\/bash\n/);
    expect(script).toMatch(/^UPPER=\S*containers\/dry\/upper$/m);
    expect(script).toMatch(/^tar --create .*--no-recursion .*--files-from "\$WORK\/entries"/m);
    expect(script).toMatch(/--numeric-owner/);
    expect(script).toMatch(/sha256sum/);
    expect(script).toMatch(/^gzip -n < "\$WORK\/layer\.tar"/m);
    expect(script).toMatch(/\.rootfs = \{type: "layers", diff_ids: \(\.rootfs\.diff_ids \+ \[\$diff_id\]\)\}/);
    expect(script).toMatch(/^\| \.config\.Env = \[.*"A=1"\] {3}# -c "ENV A=1"$/m);
    expect(script).toMatch(/mediaType: "application\/vnd\.oci\.image\.layer\.v1\.tar\+gzip"/);
    expect(script).toMatch(/docker\.io\/library\/dry:1/);
    await run('bash', ['-n', '-c', script]);
    expect(await storeState(r)).toEqual(before);

    const zstd = await layerCommit(['dry', '--tag', 'dry:1', '--dry-run', '--compression', 'zstd'], r);
    expect(zstd.stdout).toMatch(/^zstd /m);
    expect(zstd.stdout).toMatch(/layer\.v1\.tar\+zstd/);

    // --empty: no layer, so no diff_id and no layer descriptor in the script.
    const empty = await layerCommit(['--empty', '-c', 'ENV A=1', '--image', BUSYBOX_REF, '--tag', 'dry:2', '--dry-run'], r);
    expect(empty, empty.stderr).toMatchObject({ code: 0 });
    expect(empty.stdout).toMatch(/empty_layer/);
    expect(empty.stdout).not.toMatch(/DIFF_ID|LAYER_DIGEST|tar --create/);
    await run('bash', ['-n', '-c', empty.stdout]);

    // -o FILE: no file.
    const out = join(work, 'dry.tar');
    const o = await layerCommit(['dry', '-o', out, '--dry-run'], r);
    expect(o, o.stderr).toMatchObject({ code: 0 });
    expect(o.stdout).toMatch(/^tar --create/m);
    expect(await lstat(out).catch(() => undefined)).toBeUndefined();
    expect(await storeState(r)).toEqual(before);

    // scratch on a fresh root: a script, and still no store.
    const fresh = await freshRoot();
    const scratch = await layerCommit([join(r.root, 'containers/dry/upper'), '--image', 'scratch', '--tag', 'dry:3', '--dry-run'], fresh);
    expect(scratch, scratch.stderr).toMatchObject({ code: 0 });
    expect(scratch.stdout).toContain(`LAYOUT=${fresh.store}\n`);
    expect(scratch.stdout).toContain('mkdir -p "$LAYOUT/blobs/sha256"');
    expect(await lstat(fresh.store).catch(() => undefined)).toBeUndefined();
  });
});
