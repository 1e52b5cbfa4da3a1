/**
 * overlay-mount on real images, real OverlayFS mounts, no mocks: the merged
 * tree is compared with what umoci (the reference unpacker) makes of the same
 * image, entry by entry; writes are followed into upper; a 120-layer image
 * goes through fsconfig lowerdir+; concurrent unpacks share one copy; and the
 * command-line contract (--read-only, --lower, --upper and --work, --json,
 * --dry-run, --unmount, errors) is checked from the outside, as a user runs the tool.
 *
 * Every mount the tests make is under `work`; afterEach detaches whatever is
 * still mounted there (umount -l, even when a test failed half-way) and then
 * asserts that nothing is.
 */
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getXattr, listXattrs } from '@cutaway/libc';
import { OciLayout, type Digest } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { readTar } from '../../../test/fixtures/tar.ts';
import { detachLeftovers, isMounted, mountsUnder, mountTable, trackMounts } from '../../../test/fixtures/mounts.ts';
import {
  BUSYBOX_EXPECTED,
  BUSYBOX_REF,
  buildBusyboxImage,
  buildDebianImage,
  buildLayersImage,
  compareTree,
  DEBIAN_REF,
  diffSnapshots,
  HOST_BUSYBOX,
  LAYERS_EXPECTED,
  LAYERS_REF,
  removeTree,
  run,
  snapshotTree,
  Stage,
  writeImage,
  type BuiltImage,
  type BuiltLayersImage,
  type TreeEntry,
} from '../../../test/fixtures/images.ts';

let work: string;
let layout: OciLayout;
let busybox: BuiltImage;
let layers: BuiltLayersImage;
/** A state root with busybox and layers pulled into its store, shared by the tests that only add containers to it. */
let shared: Root;

interface Root {
  root: string;
  env: NodeJS.ProcessEnv;
}

// ─── Mount bookkeeping ───────────────────────────────────────────────────────

/** Mount points the tests asked for; afterEach detaches any still mounted (with whatever else is mounted under work), then asserts nothing is left under work. */
const made = trackMounts(() => work);

// ─── Running the tool ────────────────────────────────────────────────────────

async function overlayMount(args: string[], r: Root): Promise<CommandResult> {
  return runCommand('overlay-mount', args, { env: r.env });
}

/** Mounts and expects success; returns the merged path (stdout), remembered for cleanup. */
async function mountOk(args: string[], r: Root): Promise<string> {
  const result = await overlayMount(args, r);
  expect(result, result.stderr).toMatchObject({ code: 0 });
  const merged = args.includes('--json') ? (JSON.parse(result.stdout) as { merged: string }).merged : result.stdout.trim();
  made.add(merged);
  expect(isMounted(merged)).toBe(true);
  return merged;
}

async function unmountOk(what: string, r: Root, ...extra: string[]): Promise<void> {
  const result = await overlayMount(['--unmount', what, ...extra], r);
  expect(result, result.stderr).toMatchObject({ code: 0 });
}

/** A new, empty state root under work. */
async function freshRoot(): Promise<Root> {
  const root = await mkdtemp(join(work, 'root-'));
  return { root, env: { CUTAWAY_ROOT: root, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '' } };
}

async function pull(r: Root, name: string): Promise<void> {
  const result = await runCommand('oci-pull', ['-q', `oci:${layout.dir}:${name}`], { env: r.env });
  expect(result, result.stderr).toMatchObject({ code: 0 });
}

function layerDir(r: Root, diffId: Digest): string {
  return join(r.root, 'layers', 'sha256', diffId.slice('sha256:'.length));
}

/** The store's layers/sha256 directory: each name with its inode, so a re-made directory shows. */
async function layerListing(r: Root): Promise<string[]> {
  const dir = join(r.root, 'layers', 'sha256');
  const names = await readdir(dir);
  return Promise.all(names.sort().map(async (n) => `${n} ${(await lstat(join(dir, n))).ino}`));
}

function deviceOf(rdev: number): string {
  return `${(rdev >> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >> 12) & 0xfff00)}`;
}

async function errnoOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e.code,
  );
}

/** umoci unpack (as root) of an image in the fixture layout; returns its rootfs. */
async function umociRootfs(name: string): Promise<string> {
  const bundle = join(work, `umoci-${name.replace(/[^A-Za-z0-9]+/g, '-')}`);
  await run('umoci', ['unpack', '--image', `${layout.dir}:${name}`, bundle]);
  return join(bundle, 'rootfs');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-mount-test-'));
  layout = await OciLayout.create(join(work, 'layout'));
  busybox = await buildBusyboxImage(layout);
  layers = await buildLayersImage(layout);
  shared = await freshRoot();
  await pull(shared, BUSYBOX_REF);
  await pull(shared, LAYERS_REF);
});

afterAll(async () => {
  await detachLeftovers(made, work);
  if (work) await removeTree(work);
  expect(work ? mountsUnder(work) : []).toEqual([]);
});

// ─── 1. The merged tree is the image ────────────────────────────────────────

/**
 * Merged tree vs umoci's rootfs. Everything snapshotTree records is compared —
 * names, types, modes, owners, sizes, sha256, symlink targets, hardlink groups,
 * xattrs (overlay's own trusted.overlay.* left out; security.capability in),
 * devices, fifos and mtimes — with one exclusion: the root directory's mtime.
 * Layer tars carry no "./" entry, so nothing says what it is: umoci leaves its
 * rootfs at the epoch (0), and overlay reports the top layer directory's, the
 * time it was unpacked. Every other directory's mtime agrees, because overlay
 * reports the upper-most layer's directory and both unpackers set directory
 * times after filling them.
 */
async function expectSameAsUmoci(merged: string, reference: string): Promise<TreeEntry[]> {
  const [ours, theirs] = await Promise.all([snapshotTree(merged), snapshotTree(reference)]);
  expect(diffSnapshots(ours, theirs)).toEqual([]);
  expect(ours).toEqual(theirs);
  return ours;
}

describe('the merged tree equals umoci unpack of the same image', () => {
  it('busybox', async () => {
    const [merged, reference] = await Promise.all([mountOk([BUSYBOX_REF, '--name', 'cmp-busybox'], shared), umociRootfs(BUSYBOX_REF)]);
    const snapshot = await expectSameAsUmoci(merged, reference);
    expect(snapshot.length).toBeGreaterThan(100);
    expect(await compareTree(merged, BUSYBOX_EXPECTED)).toEqual([]);
    await unmountOk('cmp-busybox', shared, '--rm');
  });

  it('layers: whiteouts, opaque dir, hardlinks, symlinks, long names, xattrs and capabilities, odd modes, fifo, device', async () => {
    expect(layers.withCapability).toBe(true); // setcap is installed here, so the tree is LAYERS_EXPECTED
    const [merged, reference] = await Promise.all([mountOk([LAYERS_REF, '--name', 'cmp-layers'], shared), umociRootfs(LAYERS_REF)]);
    const snapshot = await expectSameAsUmoci(merged, reference);
    // The snapshot did see what it is meant to compare.
    const at = (p: string) => snapshot.find((e) => e.path === p);
    expect(at('special/busybox-netraw')?.xattrs).toEqual({ 'security.capability': '0x0100000200200000000000000000000000000000' });
    expect(at('special/xattr-file')?.xattrs).toEqual({ 'user.cutaway.second': 'second value', 'user.cutaway.test': 'fixture value' });
    expect(at('special/setuid')).toMatchObject({ mode: '4755' });
    expect(at('special/setgid-dir')).toMatchObject({ mode: '2755' });
    expect(at('special/sticky-dir')).toMatchObject({ mode: '1777' });
    expect(at('special/no-access')).toMatchObject({ mode: '0000' });
    expect(at('special/null')).toMatchObject({ type: 'char', device: '1:3' });
    expect(at('special/fifo')).toMatchObject({ type: 'fifo' });
    expect(at('special/owned-by-app')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(at('special/fixed-mtime')).toMatchObject({ mtime: '1000000000.000000000' });
    expect(at('special/hardlink-b')).toMatchObject({ hardlinkOf: 'special/hardlink-a' });
    expect(at('data/opaque')?.xattrs).toBeUndefined(); // trusted.overlay.opaque is overlay's, not the image's
    expect(await compareTree(merged, LAYERS_EXPECTED)).toEqual([]);
    await unmountOk('cmp-layers', shared, '--rm');
  });

  describe('debian (debootstrap minbase)', () => {
    let debian: BuiltImage;
    beforeAll(async () => {
      debian = await buildDebianImage(layout);
    }, 900_000);

    it('the whole rootfs, from --layout', async () => {
      const r = await freshRoot();
      const [merged, reference] = await Promise.all([mountOk(['--layout', layout.dir, DEBIAN_REF, '--name', 'cmp-debian', '-q'], r), umociRootfs(DEBIAN_REF)]);
      const snapshot = await expectSameAsUmoci(merged, reference);
      expect(snapshot.length).toBeGreaterThan(5000);
      expect(snapshot.find((e) => e.path === 'dev/null')).toMatchObject({ type: 'char', device: '1:3' });
      expect(snapshot.filter((e) => e.hardlinkOf).length).toBeGreaterThan(0);
      expect(await readFile(join(merged, 'etc/debian_version'), 'utf8')).toMatch(/^12\./);
      expect(debian.diffIds).toHaveLength(1);
      await unmountOk('cmp-debian', r, '--rm');
    }, 300_000);
  });
});

// ─── 2. Whiteouts and opaque directories ────────────────────────────────────

describe('whiteouts and opaque directories (layers image)', () => {
  it('deleted files and directories are hidden; an opaque directory hides what lower layers had in it', async () => {
    const merged = await mountOk([LAYERS_REF, '--name', 'hidden'], shared);
    const [base, data, whiteouts] = layers.diffIds.map((d) => layerDir(shared, d));

    // What the lower layers have, so the hiding below is real.
    expect(await readFile(join(data!, 'data/delete-me.txt'), 'utf8')).toMatch(/deleted in layer 2/);
    expect((await readdir(join(data!, 'data/opaque'))).sort()).toEqual(['old-a.txt', 'old-sub']);
    expect((await lstat(join(base!, 'usr/bin/wget'))).isSymbolicLink()).toBe(true);
    // How layer 2 says so on disk: 0:0 character devices and the opaque xattr, no .wh. files.
    for (const p of ['data/delete-me.txt', 'data/gone-dir', 'data/revived-dir', 'usr/bin/wget']) {
      const st = await lstat(join(whiteouts!, p));
      expect({ p, char: st.isCharacterDevice(), dev: deviceOf(st.rdev) }).toEqual({ p, char: true, dev: '0:0' });
    }
    expect(getXattr(join(whiteouts!, 'data/opaque'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect(await readdir(join(whiteouts!, 'data/opaque'))).toEqual(['new.txt']);

    // The merged view.
    expect((await readdir(join(merged, 'data'))).sort()).toEqual(['dir-then-file', 'file-then-dir', 'keep.txt', 'opaque', 'overwritten.txt', 'revived-dir']);
    for (const p of ['data/delete-me.txt', 'data/gone-dir', 'data/gone-dir/sub/deeper.txt', 'usr/bin/wget', 'data/opaque/old-a.txt', 'data/opaque/old-sub', 'data/revived-dir/old.txt']) {
      expect({ p, errno: await errnoOf(lstat(join(merged, p))) }).toEqual({ p, errno: 'ENOENT' });
    }
    expect(await readdir(join(merged, 'data/opaque'))).toEqual(['new.txt']);
    expect(await readdir(join(merged, 'data/revived-dir'))).toEqual(['new.txt']);
    expect((await readdir(join(merged, 'usr/bin'))).filter((n) => n === 'wget' || n.startsWith('.wh.'))).toEqual([]);
    expect(listXattrs(join(merged, 'data/opaque'))).toEqual([]);
    expect(await readFile(join(merged, 'data/overwritten.txt'), 'utf8')).toBe('version 2 (layer 2)\n');
    expect((await stat(join(merged, 'data/file-then-dir'))).isDirectory()).toBe(true);
    expect((await stat(join(merged, 'data/dir-then-file'))).isFile()).toBe(true);
    await unmountOk('hidden', shared, '--rm');
  });
});

// ─── 3. Writes go to upper ───────────────────────────────────────────────────

describe('writes in merged', () => {
  it('land in upper (new file, copy-up, whiteout, chmod); the shared layer directories do not change', async () => {
    const merged = await mountOk([LAYERS_REF, '--name', 'writer'], shared);
    const upper = join(shared.root, 'containers/writer/upper');
    const layersDir = join(shared.root, 'layers');
    // Everything, ctimes and overlay's own xattrs included: any touch of a layer shows.
    const strict = { ctime: true, ignoreXattr: () => false };
    const before = await snapshotTree(layersDir, strict);

    await writeFile(join(merged, 'new-file.txt'), 'new\n');
    await writeFile(join(merged, 'data/keep.txt'), 'changed in the container\n');
    await unlink(join(merged, 'data/overwritten.txt'));
    await rm(join(merged, 'data/revived-dir'), { recursive: true });
    await chmod(join(merged, 'special/private'), 0o640);
    // redirect_dir=off (so upper is a plain diff): a directory from a lower layer cannot be renamed.
    expect(await errnoOf(rename(join(merged, 'special/empty-dir'), join(merged, 'special/moved-dir')))).toBe('EXDEV');

    // merged shows the writes…
    expect(await readFile(join(merged, 'new-file.txt'), 'utf8')).toBe('new\n');
    expect(await readFile(join(merged, 'data/keep.txt'), 'utf8')).toBe('changed in the container\n');
    expect(await errnoOf(lstat(join(merged, 'data/overwritten.txt')))).toBe('ENOENT');
    expect(await errnoOf(lstat(join(merged, 'data/revived-dir')))).toBe('ENOENT');
    expect((await lstat(join(merged, 'special/private'))).mode & 0o7777).toBe(0o640);

    // …upper holds exactly them…
    const up = await snapshotTree(upper);
    const at = (p: string) => up.find((e) => e.path === p);
    expect(up.map((e) => e.path)).toEqual(['.', 'data', 'data/keep.txt', 'data/overwritten.txt', 'data/revived-dir', 'new-file.txt', 'special', 'special/private']);
    expect(await readFile(join(upper, 'new-file.txt'), 'utf8')).toBe('new\n');
    expect(await readFile(join(upper, 'data/keep.txt'), 'utf8')).toBe('changed in the container\n');
    expect(at('data/overwritten.txt')).toMatchObject({ type: 'char', device: '0:0' });
    expect(at('data/revived-dir')).toMatchObject({ type: 'char', device: '0:0' });
    expect(at('special/private')).toMatchObject({ type: 'file', mode: '0640' });
    expect(await readFile(join(upper, 'special/private'), 'utf8')).toBe('mode 0600\n'); // copied up whole

    // …and the layers are as they were, also after unmounting.
    expect(diffSnapshots(await snapshotTree(layersDir, strict), before)).toEqual([]);
    expect(await readFile(join(layerDir(shared, layers.diffIds[1]!), 'data/keep.txt'), 'utf8')).toBe('added in layer 1, kept\n');
    await unmountOk('writer', shared);
    expect(isMounted(merged)).toBe(false);
    expect(diffSnapshots(await snapshotTree(layersDir, strict), before)).toEqual([]);
    await unmountOk('writer', shared, '--rm');
  });
});

// ─── 4. More layers than one page of mount options ─────────────────────────

describe('a 120-layer image', () => {
  it('mounts through fsconfig lowerdir+ and the top-most version of each file wins', async () => {
    const count = 120;
    const stages = join(work, 'stages-120');
    const sources = [];
    for (let i = 0; i < count; i++) {
      const dir = join(stages, `layer-${i}`);
      await mkdir(join(dir, 'files'), { recursive: true });
      await mkdir(join(dir, 'shared'));
      await writeFile(join(dir, 'files', `file-${String(i).padStart(3, '0')}`), `added by layer ${i}\n`);
      await writeFile(join(dir, 'top'), `layer ${i}\n`); // every layer overrides it
      await writeFile(join(dir, 'shared', `s${i % 7}`), `layer ${i}\n`); // every 7th layer overrides each
      sources.push({ dir, createdBy: `layer ${i}` });
    }
    const image = await writeImage(layout, 'cutaway.test/many:120', { layers: sources, cmd: ['sh'] });
    expect(image.diffIds).toHaveLength(count);

    const r = await freshRoot();
    const result = await overlayMount(['--layout', layout.dir, 'cutaway.test/many:120', '--name', 'many', '--trace', '-q'], r);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const merged = result.stdout.trim();
    made.add(merged);
    expect(isMounted(merged)).toBe(true);

    // The trace says why and how: the one-page limit, then lowerdir+ once per layer.
    const bytes = Number(/^\+ # 120 lower layers make a (\d+)-byte option string, more than mount\(2\) takes/m.exec(result.stderr)?.[1]);
    expect(bytes).toBeGreaterThan(4096);
    const mountLine = result.stderr.split('\n').find((l) => l.startsWith('+ mount -t overlay'));
    expect(mountLine).toBeDefined();
    expect(mountLine!.match(/lowerdir\+=/g)).toHaveLength(count);
    expect(mountLine).not.toMatch(/lowerdir=/);

    expect(await readFile(join(merged, 'top'), 'utf8')).toBe(`layer ${count - 1}\n`);
    expect((await readdir(join(merged, 'files'))).length).toBe(count);
    for (let k = 0; k < 7; k++) {
      const last = Math.max(...Array.from({ length: count }, (_, i) => i).filter((i) => i % 7 === k));
      expect(await readFile(join(merged, 'shared', `s${k}`), 'utf8')).toBe(`layer ${last}\n`);
    }
    expect(await readFile(join(merged, 'files/file-000'), 'utf8')).toBe('added by layer 0\n');
    await unmountOk('many', r, '--rm');
    expect(isMounted(merged)).toBe(false);
  });
});

// ─── 5. Each layer unpacked once ─────────────────────────────────────────────

const unpackedLines = (stderr: string) => stderr.split('\n').filter((l) => /^layer \d+\/\d+ [0-9a-f]{12}: unpacked \(/.test(l));
const alreadyLines = (stderr: string) => stderr.split('\n').filter((l) => /^layer \d+\/\d+ [0-9a-f]{12}: already unpacked$/.test(l));

describe('layers are unpacked once', () => {
  it('a second container of the same image says "already unpacked" and makes no new layer directory', async () => {
    const r = await freshRoot();
    await pull(r, LAYERS_REF);
    const first = await overlayMount([LAYERS_REF, '--name', 'once-a'], r);
    expect(first, first.stderr).toMatchObject({ code: 0 });
    made.add(first.stdout.trim());
    expect(unpackedLines(first.stderr)).toHaveLength(4);
    const listing = await layerListing(r);

    const second = await overlayMount([LAYERS_REF, '--name', 'once-b'], r);
    expect(second, second.stderr).toMatchObject({ code: 0 });
    made.add(second.stdout.trim());
    expect(alreadyLines(second.stderr)).toHaveLength(4);
    expect(unpackedLines(second.stderr)).toEqual([]);
    expect(await layerListing(r)).toEqual(listing);
    expect(await readFile(join(second.stdout.trim(), 'data/overwritten.txt'), 'utf8')).toBe('version 2 (layer 2)\n');
    await unmountOk('once-a', r, '--rm');
    await unmountOk('once-b', r, '--rm');
  });

  it('two processes at once on a fresh root both succeed, and each layer is unpacked by exactly one of them', async () => {
    const r = await freshRoot();
    await pull(r, LAYERS_REF);
    const results = await Promise.all(['race-a', 'race-b'].map((name) => overlayMount([LAYERS_REF, '--name', name], r)));
    for (const result of results) {
      if (result.code === 0) made.add(result.stdout.trim());
      expect(result, result.stderr).toMatchObject({ code: 0 });
    }
    const hexes = layers.diffIds.map((d) => d.slice('sha256:'.length));
    expect((await readdir(join(r.root, 'layers', 'sha256'))).sort()).toEqual([...hexes, ...hexes.map((h) => `${h}.lock`)].sort());
    expect((await readdir(join(r.root, 'layers'), { recursive: true })).filter((p) => p.includes('.tmp'))).toEqual([]);
    for (const hex of hexes) expect((await lstat(join(r.root, 'layers/sha256', hex))).isDirectory()).toBe(true);
    expect(results.flatMap((x) => unpackedLines(x.stderr))).toHaveLength(4);
    expect(results.flatMap((x) => alreadyLines(x.stderr))).toHaveLength(4);
    for (const result of results) expect(await compareTree(result.stdout.trim(), LAYERS_EXPECTED)).toEqual([]);
    await unmountOk('race-a', r, '--rm');
    await unmountOk('race-b', r, '--rm');
  });
});

// ─── 6. The command line ─────────────────────────────────────────────────────

describe('command line', () => {
  it('--read-only: a multi-layer image mounts without upper and work, and writes fail with EROFS', async () => {
    const merged = await mountOk([LAYERS_REF, '--name', 'ro-layers', '--read-only', '--json'], shared);
    expect(await errnoOf(writeFile(join(merged, 'new-file'), 'x'))).toBe('EROFS');
    expect(await errnoOf(writeFile(join(merged, 'data/keep.txt'), 'x'))).toBe('EROFS');
    expect(await errnoOf(unlink(join(merged, 'data/keep.txt')))).toBe('EROFS');
    expect(await readFile(join(merged, 'data/keep.txt'), 'utf8')).toBe('added in layer 1, kept\n');
    expect((await readdir(join(shared.root, 'containers/ro-layers'))).sort()).toEqual(['merged', 'overlay.json']);
    await unmountOk('ro-layers', shared, '--rm');
  });

  it('--read-only: a one-layer image (a read-only bind mount) refuses writes with EROFS too', async () => {
    const result = await overlayMount([BUSYBOX_REF, '--name', 'ro-busybox', '--read-only', '--json'], shared);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const out = JSON.parse(result.stdout);
    made.add(out.merged);
    expect(out).toMatchObject({ upper: null, work: null, lowers: [layerDir(shared, busybox.diffIds[0]!)] });
    expect(await errnoOf(writeFile(join(out.merged, 'new-file'), 'x'))).toBe('EROFS');
    expect(await errnoOf(chmod(join(out.merged, 'bin/busybox'), 0o700))).toBe('EROFS');
    expect(await compareTree(out.merged, BUSYBOX_EXPECTED)).toEqual([]);
    await unmountOk('ro-busybox', shared, '--rm');
  });

  it('--lower a --lower b --target DIR: plain directories, the first one on top; --unmount DIR --rm', async () => {
    const r = await freshRoot();
    const [a, b, target] = ['lower-a', 'lower-b', 'target'].map((n) => join(r.root, '..', `${n}-${r.root.slice(-6)}`));
    await mkdir(a!);
    await mkdir(b!);
    await writeFile(join(a!, 'both'), 'from a\n');
    await writeFile(join(a!, 'only-a'), 'a\n');
    await writeFile(join(b!, 'both'), 'from b\n');
    await writeFile(join(b!, 'only-b'), 'b\n');
    const result = await overlayMount(['--lower', a!, '--lower', b!, '--target', target!, '--json'], r);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const out = JSON.parse(result.stdout);
    made.add(target!);
    expect(out).toMatchObject({ merged: target, lowers: [a, b], image: null, layers: [] });
    expect(isMounted(target!)).toBe(true);
    expect(await readFile(join(target!, 'both'), 'utf8')).toBe('from a\n');
    expect((await readdir(target!)).sort()).toEqual(['both', 'only-a', 'only-b']);
    await writeFile(join(target!, 'both'), 'written\n');
    expect(await readFile(join(out.upper, 'both'), 'utf8')).toBe('written\n');
    expect(await readFile(join(a!, 'both'), 'utf8')).toBe('from a\n');
    // The container's upper and work went to ROOT/containers/NAME; unmounting the path finds it.
    expect(out.upper).toBe(join(r.root, 'containers', out.name, 'upper'));
    await unmountOk(target!, r, '--rm');
    expect(isMounted(target!)).toBe(false);
    expect(await readdir(join(r.root, 'containers'))).toEqual([]);
    expect((await readdir(a!)).sort()).toEqual(['both', 'only-a']);
  });

  it("--unmount a relative path (a directory here that is no container's name) unmounts it; --rm removes its container", async () => {
    const r = await freshRoot();
    const here = join(r.root, '..', `rel-${r.root.slice(-6)}`);
    await mkdir(join(here, 'lower'), { recursive: true });
    const mountIn = (target: string) => runCommand('overlay-mount', ['--lower', 'lower', '--target', target, '--json'], { env: r.env, cwd: here });
    const first = await mountIn('merged');
    expect(first, first.stderr).toMatchObject({ code: 0 });
    const { merged, name } = JSON.parse(first.stdout) as { merged: string; name: string };
    made.add(merged);
    expect(merged).toBe(join(here, 'merged'));
    const off = await runCommand('overlay-mount', ['--unmount', 'merged', '--rm'], { env: r.env, cwd: here });
    expect(off).toMatchObject({ code: 0, stdout: `${merged}\n`, stderr: '' });
    expect(isMounted(merged)).toBe(false);
    expect(await readdir(join(r.root, 'containers'))).not.toContain(name);
    // Neither a container nor a directory here: the name's error, as before.
    const none = await runCommand('overlay-mount', ['--unmount', 'cw-nothing'], { env: r.env, cwd: here });
    expect(none).toMatchObject({ code: 1, stderr: `overlay-mount: error: no container named cw-nothing in ${join(r.root, 'containers')}\n` });
    // A container's name still wins over a directory of the same name here.
    await mountOk(['--lower', join(here, 'lower'), '--name', 'lower'], r);
    const byName = await runCommand('overlay-mount', ['--unmount', 'lower', '--rm'], { env: r.env, cwd: here });
    expect(byName).toMatchObject({ code: 0, stdout: `${join(r.root, 'containers', 'lower', 'merged')}\n` });
    expect(isMounted(join(r.root, 'containers', 'lower', 'merged'))).toBe(false);
  });

  it('--json: name, merged, upper, work, the lowers top first, and the layers', async () => {
    const result = await overlayMount([LAYERS_REF, '--name', 'json', '--json'], shared);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout.split('\n')).toEqual([expect.stringMatching(/^\{.*\}$/), '']);
    const out = JSON.parse(result.stdout);
    made.add(out.merged);
    const dir = join(shared.root, 'containers/json');
    const paths = layers.diffIds.map((d) => layerDir(shared, d));
    expect(out).toEqual({
      name: 'json',
      merged: join(dir, 'merged'),
      upper: join(dir, 'upper'),
      work: join(dir, 'work'),
      lowers: [...paths].reverse(),
      userxattr: false,
      image: LAYERS_REF,
      imageId: layers.configDescriptor.digest,
      layers: layers.diffIds.map((diffId, i) => ({ diffId, path: paths[i], unpacked: expect.any(Boolean) })),
    });
    expect(isMounted(out.merged)).toBe(true);
    await unmountOk('json', shared, '--rm');
  });

  it('IMAGE by any handle: the image ID in full or a unique prefix, a manifest digest, NAME@DIGEST — the same layers', async () => {
    const id = busybox.configDescriptor.digest;
    const digest = busybox.descriptor.digest;
    const handles = [id, id.slice(7), id.slice(7, 19), `sha256:${id.slice(7, 15)}`, digest, digest.slice(7), `${BUSYBOX_REF.split(':')[0]}@${digest}`];
    for (const [i, h] of handles.entries()) {
      const result = await overlayMount([h, '--name', `handle-${i}`, '--read-only', '--json'], shared);
      expect(result, `${h}: ${result.stderr}`).toMatchObject({ code: 0 });
      const out = JSON.parse(result.stdout);
      made.add(out.merged);
      // Found by ID or digest, the record names the image by its ID: a handle that finds it again (layer-commit reads it).
      expect(out, h).toMatchObject({ image: id, imageId: id, lowers: [layerDir(shared, busybox.diffIds[0]!)] });
      expect(JSON.parse(await readFile(join(shared.root, 'containers', `handle-${i}`, 'overlay.json'), 'utf8')), h).toMatchObject({ image: id, imageDigest: digest });
      await unmountOk(`handle-${i}`, shared, '--rm');
    }
  });

  it('--dry-run prints the mount as a script and changes nothing', async () => {
    const r = await freshRoot();
    await pull(r, LAYERS_REF);
    const mountsBefore = mountsUnder(work);
    const result = await overlayMount([LAYERS_REF, '--name', 'dry', '--dry-run'], r);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    expect(result.stdout).toMatch(/^#!\/bin\/bash\n/);
    expect(result.stdout).toContain(`mount -t overlay overlay -o lowerdir=${layerDir(r, layers.diffIds[3]!)}:`);
    expect(result.stdout).toContain(`upperdir=${join(r.root, 'containers/dry/upper')}`);
    expect(await readdir(r.root)).toEqual(['images']);
    expect(mountsUnder(work)).toEqual(mountsBefore);
  });

  it('--unmount NAME twice: both exit 0 and the container stays; --unmount NAME --rm removes it', async () => {
    const merged = await mountOk([LAYERS_REF, '--name', 'twice'], shared);
    await writeFile(join(merged, 'kept'), 'kept in upper\n');
    for (let i = 0; i < 2; i++) {
      const result = await overlayMount(['--unmount', 'twice'], shared);
      expect(result, result.stderr).toMatchObject({ code: 0, stdout: `${merged}\n` });
      expect(isMounted(merged)).toBe(false);
    }
    expect(await readFile(join(shared.root, 'containers/twice/upper/kept'), 'utf8')).toBe('kept in upper\n');
    // Mounting it again reuses its upper, like docker start.
    await mountOk([LAYERS_REF, '--name', 'twice'], shared);
    expect(await readFile(join(merged, 'kept'), 'utf8')).toBe('kept in upper\n');
    await unmountOk('twice', shared, '--rm');
    expect(isMounted(merged)).toBe(false);
    expect(await errnoOf(lstat(join(shared.root, 'containers/twice')))).toBe('ENOENT');
  });

  it('mounting a name that is mounted already fails with one line and a hint, and stacks nothing', async () => {
    const merged = await mountOk([LAYERS_REF, '--name', 'dup'], shared);
    const again = await overlayMount([LAYERS_REF, '--name', 'dup'], shared);
    expect(again.code).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toBe(`overlay-mount: error: ${merged} is mounted already (hint: overlay-mount --unmount dup)\n`);
    expect(mountTable().filter((p) => p === merged)).toHaveLength(1);
    await unmountOk('dup', shared, '--rm');
  });

  describe('bad input changes nothing', () => {
    it('an unknown flag: exit 2', async () => {
      const r = await freshRoot();
      const result = await overlayMount([LAYERS_REF, '--name', 'x', '--bogus'], r);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^overlay-mount: error: unknown option --bogus\n/);
      expect(result.stdout).toBe('');
      expect(await readdir(r.root)).toEqual([]);
    });

    it('an image that is not in the store: exit 1, one line', async () => {
      const r = await freshRoot();
      await pull(r, BUSYBOX_REF);
      const result = await overlayMount(['cutaway.test/nosuch:1', '--name', 'x'], r);
      expect(result.code).toBe(1);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(`overlay-mount: error: No such image: cutaway.test/nosuch:1 in ${join(r.root, 'images')} (hint: oci-pull cutaway.test/nosuch:1)\n`);
      // An ID or a digest: no hint to pull it.
      const zeros = `sha256:${'0'.repeat(64)}`;
      const id = await overlayMount([zeros, '--name', 'x'], r);
      expect(id).toMatchObject({ code: 1, stdout: '', stderr: `overlay-mount: error: No such image: ${zeros} in ${join(r.root, 'images')} (hint: an image ID or a digest is looked up, never pulled)\n` });
      expect(await readdir(r.root)).toEqual(['images']);
      // And with no store at all.
      const empty = await freshRoot();
      const none = await overlayMount([BUSYBOX_REF, '--name', 'x'], empty);
      expect(none.code).toBe(1);
      expect(none.stderr.trim().split('\n')).toHaveLength(1);
      expect(await readdir(empty.root)).toEqual([]);
    });

    it('--lower that is not a directory (a file, or nothing): exit 2', async () => {
      const r = await freshRoot();
      const file = join(r.root, '..', `a-file-${r.root.slice(-6)}`);
      await writeFile(file, 'not a directory\n');
      for (const lower of [file, join(r.root, 'missing')]) {
        const result = await overlayMount(['--lower', lower, '--target', join(r.root, 'mnt')], r);
        expect(result.code).toBe(2);
        expect(result.stderr).toMatch(new RegExp(`^overlay-mount: error: --lower ${lower}: not a directory\n`));
      }
      expect(await readdir(r.root)).toEqual([]);
    });
  });
});

// ─── 7. Upper and work directories the user chooses ─────────────────────────

describe('--upper DIR --work DIR', () => {
  /** A directory beside the root for the user's own directories, with a lower holding two files. */
  async function userDirs(r: Root, label: string): Promise<{ base: string; lower: string; upper: string; work: string }> {
    const base = join(r.root, '..', `${label}-${r.root.slice(-6)}`);
    const lower = join(base, 'lower');
    await mkdir(lower, { recursive: true });
    await writeFile(join(lower, 'kept.txt'), 'from the lower\n');
    await writeFile(join(lower, 'gone.txt'), 'deleted in the container\n');
    // The upper's parent is missing too: mkdir -p makes it.
    return { base, lower, upper: join(base, 'mine/upper'), work: join(base, 'mine/work') };
  }

  /** layer-commit NAME -o FILE: the layer tar of the container's upper, as layer-commit finds it from overlay.json. */
  async function committedNames(r: Root, name: string): Promise<string[]> {
    const file = join(work, `layer-${name}.tar`);
    const result = await runCommand('layer-commit', [name, '-o', file], { env: r.env });
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return readTar(await readFile(file)).map((e) => e.name);
  }

  it('writes land in the chosen upper; unmounted and mounted again (any name) they are there; layer-commit reads it; --rm keeps it', async () => {
    const r = await freshRoot();
    const { base, lower, upper, work: workDir } = await userDirs(r, 'chosen');
    const result = await overlayMount(['--lower', lower, '--upper', upper, '--work', workDir, '--name', 'chosen', '--json'], r);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const out = JSON.parse(result.stdout);
    made.add(out.merged);
    const dir = join(r.root, 'containers/chosen');
    expect(out).toMatchObject({ name: 'chosen', merged: join(dir, 'merged'), upper, work: workDir, lowers: [lower] });
    expect(JSON.parse(await readFile(join(dir, 'overlay.json'), 'utf8'))).toEqual({ merged: out.merged, lowers: [lower], upper, work: workDir });
    expect((await readdir(dir)).sort()).toEqual(['merged', 'overlay.json']); // no upper or work of its own
    expect(mountTable().filter((p) => p === out.merged)).toHaveLength(1);

    await writeFile(join(out.merged, 'new.txt'), 'written in the container\n');
    await writeFile(join(out.merged, 'kept.txt'), 'changed in the container\n');
    await unlink(join(out.merged, 'gone.txt'));
    const up = await snapshotTree(upper);
    expect(up.map((e) => e.path)).toEqual(['.', 'gone.txt', 'kept.txt', 'new.txt']);
    expect(up.find((e) => e.path === 'gone.txt')).toMatchObject({ type: 'char', device: '0:0' });
    expect(await readFile(join(upper, 'new.txt'), 'utf8')).toBe('written in the container\n');
    expect(await readFile(join(lower, 'kept.txt'), 'utf8')).toBe('from the lower\n');

    // Unmounted, the upper stays as it is; work holds only overlay's own work/.
    await unmountOk('chosen', r);
    expect(isMounted(out.merged)).toBe(false);
    expect(await readFile(join(upper, 'new.txt'), 'utf8')).toBe('written in the container\n');
    expect(await readdir(workDir)).toEqual(['work']);

    // Mounted again with the same upper and work (a work directory overlay used before is taken), by its name and by another.
    for (const name of ['chosen', 'chosen-again']) {
      const merged = await mountOk(['--lower', lower, '--upper', upper, '--work', workDir, '--name', name], r);
      expect(await readFile(join(merged, 'new.txt'), 'utf8')).toBe('written in the container\n');
      expect(await readFile(join(merged, 'kept.txt'), 'utf8')).toBe('changed in the container\n');
      expect(await errnoOf(lstat(join(merged, 'gone.txt')))).toBe('ENOENT');
      if (name === 'chosen') await unmountOk(name, r);
    }

    // layer-commit finds the upper in the record: the changes, the deletion as a .wh. file.
    expect((await committedNames(r, 'chosen-again')).sort()).toEqual(['.wh.gone.txt', 'kept.txt', 'new.txt']);

    // --rm removes the containers (their records and mount points), never the upper and work the user chose.
    await unmountOk('chosen-again', r, '--rm');
    await unmountOk('chosen', r, '--rm');
    expect(await readdir(join(r.root, 'containers'))).toEqual([]);
    expect((await readdir(upper)).sort()).toEqual(['gone.txt', 'kept.txt', 'new.txt']);
    expect(await readdir(workDir)).toEqual(['work']);
    expect(mountsUnder(base)).toEqual([]);
  });

  it('with an IMAGE: its layers below the chosen upper; layer-commit NAME builds on the image, and the new image has the change', async () => {
    const r = await freshRoot();
    await pull(r, BUSYBOX_REF);
    const { upper, work: workDir } = await userDirs(r, 'chosen-image');
    const merged = await mountOk([BUSYBOX_REF, '--upper', upper, '--work', workDir, '--name', 'img'], r);
    expect(await readdir(join(merged, 'bin'))).toContain('busybox');
    await writeFile(join(merged, 'hello'), 'hello from the chosen upper\n');
    expect(await readdir(upper)).toEqual(['hello']);
    const commit = await runCommand('layer-commit', ['img', '--tag', 'cutaway.test/chosen:1'], { env: r.env });
    expect(commit, commit.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(/^sha256:[0-9a-f]{64}\n$/) });
    await unmountOk('img', r, '--rm');
    const again = await mountOk(['cutaway.test/chosen:1', '--read-only', '--name', 'img-check'], r);
    expect(await readFile(join(again, 'hello'), 'utf8')).toBe('hello from the chosen upper\n');
    expect(await readdir(join(again, 'bin'))).toContain('busybox');
    await unmountOk('img-check', r, '--rm');
    expect(await readdir(upper)).toEqual(['hello']);
  });

  it('an upper that a mounted container uses already: exit 1, one line naming it, and a hint', async () => {
    const r = await freshRoot();
    const { lower, upper, work: workDir } = await userDirs(r, 'in-use');
    const merged = await mountOk(['--lower', lower, '--upper', upper, '--work', workDir, '--name', 'first'], r);
    const other = join(upper, '..', 'other-work');
    const again = await overlayMount(['--lower', lower, '--upper', upper, '--work', other, '--name', 'second'], r);
    expect(again).toMatchObject({ code: 1, stdout: '', stderr: `overlay-mount: error: upper ${upper}: in use by the overlay of container first at ${merged} (hint: overlay-mount --unmount first)\n` });
    expect(await readdir(join(r.root, 'containers'))).toEqual(['first']);
    expect(await errnoOf(lstat(other))).toBe('ENOENT');
    await unmountOk('first', r, '--rm');
  });

  it('bad --upper or --work: one line, exit 2, nothing made and nothing mounted', async () => {
    const r = await freshRoot();
    const { base, lower } = await userDirs(r, 'bad');
    const at = (p: string) => join(base, p);
    await writeFile(at('a-file'), 'not a directory\n');
    await mkdir(at('full'));
    await writeFile(at('full/data'), 'something of the user\n');
    // Another mount: a tmpfs (the kernel says only EINVAL, and "must reside under the same mount" in dmesg).
    await mkdir(at('tmpfs'));
    await run('mount', ['-t', 'tmpfs', 'cw-test-tmpfs', at('tmpfs')]);
    made.add(at('tmpfs'));
    const container = join(r.root, 'containers/bad');
    const cases: [string[], string][] = [
      [['--upper', at('up'), '--work', at('tmpfs/work')], `--work ${at('tmpfs/work')}: not on the same mount as the upper (${at('tmpfs')} is one, `],
      [['--upper', at('a-file'), '--work', at('w')], `--upper ${at('a-file')}: not a directory`],
      [['--upper', at('up'), '--work', at('a-file/w')], `--work ${at('a-file/w')}: ${at('a-file')} is not a directory`],
      [['--upper', at('lower/up'), '--work', at('w')], `--upper ${at('lower/up')}: overlaps the lower ${lower}; a lower must not change while it is mounted`],
      [['--upper', base, '--work', join(r.root, 'w')], `--upper ${base}: overlaps the lower ${lower}`],
      [['--upper', at('up'), '--work', at('up')], `--upper ${at('up')} and --work ${at('up')}: the same directory, or one inside the other`],
      [['--upper', at('up'), '--work', at('up/w')], `--upper ${at('up')} and --work ${at('up/w')}: the same directory, or one inside the other`],
      [['--upper', at('up'), '--work', at('full')], `--work ${at('full')}: not empty (data); overlay needs an empty workdir, or one it used before`],
      [['--upper', at('mnt/up'), '--work', at('w'), '--target', at('mnt')], `--upper ${at('mnt/up')}: overlaps the mount point ${at('mnt')}, which would hide it`],
      [['--upper', join(container, 'up'), '--work', at('w')], `--upper ${join(container, 'up')}: inside the container's directory ${container}, which --unmount --rm removes`],
    ];
    const listing = async () => [...(await readdir(base, { recursive: true })).sort(), '|', ...(await readdir(r.root, { recursive: true })).sort()];
    const before = await listing();
    for (const [args, message] of cases) {
      const result = await overlayMount(['--lower', lower, '--name', 'bad', ...args], r);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr.split('\n'), args.join(' ')).toEqual([expect.stringContaining(`overlay-mount: error: ${message}`), '']);
      expect(await listing(), args.join(' ')).toEqual(before);
      expect(mountsUnder(base)).toEqual([at('tmpfs')]);
    }
    // What goes with what: usage errors.
    for (const args of [['--upper', at('up')], ['--work', at('w')], ['--upper', at('up'), '--work', at('w'), '--read-only']]) {
      const result = await overlayMount(['--lower', lower, '--name', 'bad', ...args], r);
      expect(result).toMatchObject({ code: 2, stdout: '', stderr: expect.stringMatching(/^overlay-mount: error: (--upper and --work go together|--read-only mounts no upper)/) });
    }
    expect(await listing()).toEqual(before);
    await run('umount', [at('tmpfs')]);
  });
});

// ─── Edge cases that once failed ─

describe('edge cases', () => {
  /** CUTAWAY_ROOT reached through a symlink: mountinfo holds resolved paths, so overlay-mount compares resolved ones. */
  it('with CUTAWAY_ROOT through a symlink, --unmount NAME unmounts', async () => {
    const r = await freshRoot();
    const real = join(r.root, 'real');
    await mkdir(real);
    const link = join(r.root, 'link');
    await symlink(real, link);
    const viaLink: Root = { root: link, env: { ...r.env, CUTAWAY_ROOT: link } };
    const [a, b] = [join(r.root, 'a'), join(r.root, 'b')];
    await mkdir(a);
    await mkdir(b);
    const result = await overlayMount(['--lower', a, '--lower', b, '--name', 'sym'], viaLink);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const resolved = join(real, 'containers/sym/merged');
    made.add(resolved);
    expect(isMounted(resolved)).toBe(true);
    await unmountOk('sym', viaLink);
    expect(isMounted(resolved)).toBe(false);
  });
  /**
   * A security.capability whose bytes are not valid UTF-8 — cap_setuid is bit 7
   * (byte 0x80), as Fedora's newuidmap carries — kept byte for byte, as umoci
   * keeps it (tar-stream is patched to hand xattr values over as raw bytes).
   */
  it('a capability with a byte >= 0x80 (cap_setuid,cap_setgid+ep) comes through as umoci gives it', async () => {
    const stage = new Stage(join(work, 'stage-caps'));
    await mkdir(stage.root);
    await stage.copy('usr/bin/newuidmap', HOST_BUSYBOX, { mode: 0o755 });
    await run('setcap', ['cap_setuid,cap_setgid+ep', stage.path('usr/bin/newuidmap')]);
    await writeImage(layout, 'cutaway.test/caps:1', { layers: [{ dir: stage.root, createdBy: 'setcap cap_setuid,cap_setgid+ep usr/bin/newuidmap' }], cmd: ['sh'] });
    const r = await freshRoot();
    const [merged, reference] = await Promise.all([mountOk(['--layout', layout.dir, 'cutaway.test/caps:1', '--name', 'caps', '-q'], r), umociRootfs('cutaway.test/caps:1')]);
    await expectSameAsUmoci(merged, reference);
    await unmountOk('caps', r, '--rm');
  });
});
