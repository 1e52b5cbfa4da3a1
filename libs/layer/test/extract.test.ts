import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { lstat, lutimes, mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { getXattr, listXattrs } from '@cutaway/libc';
import { digestOf, MediaType, OciLayout, type Descriptor, type Digest } from '@cutaway/oci';
import { CAP_NET_RAW_EP, run, snapshotTree, Stage, withTempDir, type SnapshotOptions, type TreeEntry } from '../../../test/fixtures/images.ts';
import { extractLayer, LayerError, layerPath, removeLayer, unpackLayer, type ExtractOptions } from '../src/index.ts';

// libs/layer against hostile layers (every refusal leaves a canary directory
// and /etc/passwd exactly as they were, and unpackLayer leaves nothing behind),
// against GNU tar (every attribute survives), and on whiteouts, entries that
// replace each other, compressions, digests and concurrent unpackers.

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const ROOT_OPTIONS: ExtractOptions = { overlayXattrPrefix: 'trusted.overlay.', owners: true, devices: true };
const MTIME = new Date(1_000_000_000_000); // 2001-09-09T01:46:40Z

// ─── Crafted tars ────────────────────────────────────────────────────────────

/** A tar-stream header (PAX records written as given: long names, xattrs), and the entry's content. */
type TarEntry = Partial<Omit<Header, 'pax'>> & { name: string; pax?: Record<string, string>; body?: string | Buffer };

async function tarOf(entries: TarEntry[]): Promise<Buffer> {
  const p = pack();
  for (const { body, ...header } of entries) p.entry({ mtime: MTIME, ...header }, body ?? '');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of p) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const file = (name: string, body: string | Buffer = `${name}\n`, more: Partial<TarEntry> = {}): TarEntry => ({ name, type: 'file', mode: 0o644, body, ...more });
const dir = (name: string, more: Partial<TarEntry> = {}): TarEntry => ({ name, type: 'directory', mode: 0o755, ...more });
const symlink = (name: string, linkname: string): TarEntry => ({ name, type: 'symlink', linkname });
const hardlink = (name: string, linkname: string): TarEntry => ({ name, type: 'link', linkname });

async function extractTar(entries: TarEntry[], out: string, options: ExtractOptions = ROOT_OPTIONS) {
  return extractLayer(Readable.from(await tarOf(entries)), out, options);
}

// ─── What must not change ────────────────────────────────────────────────────

/** The canary tree, ctimes and every xattr included: nothing written, chmodded, utimed, linked or xattr'd there can go unseen. */
function canaryState(canary: string): Promise<TreeEntry[]> {
  return snapshotTree(canary, { ctime: true, mtime: () => true, ignoreXattr: () => false });
}

async function passwdState() {
  const st = await lstat('/etc/passwd', { bigint: true });
  return { sha256: createHash('sha256').update(await readFile('/etc/passwd')).digest('hex'), ino: st.ino, nlink: st.nlink, size: st.size, mtimeNs: st.mtimeNs };
}

/** A work dir with `canary/` (a file, a secret, a subdirectory) beside whatever the test adds. */
async function makeCanary(work: string): Promise<string> {
  const canary = join(work, 'canary');
  const s = new Stage(canary);
  await mkdir(canary);
  await s.file('file', 'canary file\n', { mtime: 946_684_800 });
  await s.file('secret', 'canary secret\n', { mtime: 946_684_800 });
  await s.dir('sub', { mode: 0o755, mtime: 946_684_800 });
  await lutimes(canary, 946_684_800, 946_684_800);
  return canary;
}

// ─── Hostile layers ──────────────────────────────────────────────────────────

interface HostileCase {
  title: string;
  /** The layer's entries; `canary` is the absolute path of the directory an escape would reach. */
  entries: (canary: string) => TarEntry[];
  /** What the error message must contain: the offending entry's name. */
  names: (canary: string) => string;
}

const quoted = (name: string) => () => JSON.stringify(name);

const HOSTILE: HostileCase[] = [
  { title: '"../escape"', entries: () => [file('../escape')], names: quoted('../escape') },
  { title: '"a/../../escape"', entries: () => [dir('a/'), file('a/../../escape')], names: quoted('a/../../escape') },
  { title: '"../canary/pwned" (would land in the canary)', entries: () => [file('../canary/pwned')], names: quoted('../canary/pwned') },
  { title: 'an absolute name (into the canary)', entries: (c) => [file(`${c}/abs/file`)], names: (c) => JSON.stringify(`${c}/abs/file`) },
  { title: 'an absolute directory name', entries: (c) => [dir(`${c}/sub/`, { mode: 0o777 })], names: (c) => JSON.stringify(`${c}/sub/`) },
  { title: 'symlink evil -> canary, then the file evil/pwned', entries: (c) => [symlink('evil', c), file('evil/pwned')], names: quoted('evil/pwned') },
  { title: 'symlink evil -> canary, then the directory evil/sub/', entries: (c) => [symlink('evil', c), dir('evil/sub/', { mode: 0o777, uid: 1000 })], names: quoted('evil/sub/') },
  { title: 'symlink evil -> canary, then a new directory under it', entries: (c) => [symlink('evil', c), dir('evil/new/')], names: quoted('evil/new/') },
  { title: 'symlink evil -> canary, then a hardlink evil/h', entries: (c) => [file('f'), symlink('evil', c), hardlink('evil/h', 'f')], names: quoted('evil/h') },
  { title: 'symlink evil -> canary, then a fifo evil/fifo', entries: (c) => [symlink('evil', c), { name: 'evil/fifo', type: 'fifo', mode: 0o644 }], names: quoted('evil/fifo') },
  { title: 'symlink evil -> canary, then a symlink evil/link', entries: (c) => [symlink('evil', c), symlink('evil/link', '/')], names: quoted('evil/link') },
  { title: 'symlink a -> b -> canary, then a/pwned', entries: (c) => [symlink('b', c), symlink('a', 'b'), file('a/pwned')], names: quoted('a/pwned') },
  { title: 'symlink up -> .., then up/escape', entries: () => [symlink('up', '..'), file('up/escape')], names: quoted('up/escape') },
  { title: 'symlink up -> .., then up/canary/pwned', entries: () => [symlink('up', '..'), file('up/canary/pwned')], names: quoted('up/canary/pwned') },
  { title: 'a real directory replaced by a symlink to the canary, then a write into it', entries: (c) => [dir('d/'), file('d/ok'), symlink('d', c), file('d/pwned')], names: quoted('d/pwned') },
  { title: 'a hardlink to "../../etc/passwd"', entries: () => [hardlink('h', '../../etc/passwd')], names: quoted('h') },
  { title: 'a hardlink to "/etc/passwd"', entries: () => [hardlink('h', '/etc/passwd')], names: quoted('h') },
  { title: 'a hardlink to a canary file through a planted symlink', entries: (c) => [symlink('evil', c), hardlink('h', 'evil/secret')], names: quoted('h') },
  { title: 'a hardlink to a file that is not in the layer', entries: () => [hardlink('h', 'etc/passwd')], names: quoted('h') },
  { title: 'a whiteout evil/.wh.x through a planted symlink', entries: (c) => [symlink('evil', c), file('evil/.wh.x', '')], names: quoted('evil/.wh.x') },
  { title: 'an opaque marker under a symlinked directory', entries: (c) => [symlink('evil', c), file('evil/.wh..wh..opq', '')], names: quoted('evil/.wh..wh..opq') },
  { title: 'a whiteout with an empty name', entries: () => [file('.wh.', '')], names: quoted('.wh.') },
  { title: 'a whiteout of ".."', entries: () => [dir('d/'), file('d/.wh...', '')], names: quoted('d/.wh...') },
  { title: 'a NUL byte in a (PAX) name', entries: () => [{ ...file('evil\0name'), pax: {} }], names: quoted('evil\0name') },
  // "." or "./" as anything but a directory would replace the extraction root itself.
  { title: 'a symlink "." -> canary, then a file', entries: (c) => [symlink('.', c), file('pwned')], names: quoted('.') },
  { title: 'a symlink "./" -> canary, then a file', entries: (c) => [dir('./'), symlink('./', c), file('pwned')], names: quoted('./') },
  { title: 'a hardlink "." to a file', entries: () => [file('f'), hardlink('.', 'f')], names: quoted('.') },
  { title: 'a fifo "./"', entries: () => [{ name: './', type: 'fifo', mode: 0o644 }], names: quoted('./') },
  { title: 'a character device "."', entries: () => [{ name: '.', type: 'character-device', mode: 0o644, devmajor: 1, devminor: 3 }], names: quoted('.') },
];

describe('extractLayer refuses hostile layers, leaving everything outside untouched', () => {
  it.each(HOSTILE)('$title', ({ entries, names }) =>
    withTempDir('cw-layer-hostile-', async (work) => {
      const canary = await makeCanary(work);
      const out = join(work, 'out');
      await mkdir(out);
      const [canaryBefore, passwdBefore] = [await canaryState(canary), await passwdState()];

      const error = await extractTar(entries(canary), out, ROOT_OPTIONS).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(LayerError);
      expect((error as LayerError).message).toContain(names(canary));

      expect(await canaryState(canary)).toEqual(canaryBefore);
      expect(await passwdState()).toEqual(passwdBefore);
      expect((await readdir(work)).sort()).toEqual(['canary', 'out']);
      expect((await lstat(out)).isDirectory()).toBe(true);
    }),
  );
});

/** Stores `tar` (or its compressed form) as a layer blob in a new layout. */
async function putLayerBlob(work: string, blob: Buffer, mediaType: string): Promise<{ layout: OciLayout; descriptor: Descriptor }> {
  const layout = await OciLayout.create(join(work, 'layout'));
  const stored = await layout.putBlob(blob);
  return { layout, descriptor: { mediaType, ...stored } };
}

/** Everything left in layers/<alg>/ but lock files: a failed unpack must leave nothing. */
async function leftovers(layersDir: string): Promise<string[]> {
  const names = await readdir(join(layersDir, 'sha256')).catch(() => [] as string[]);
  return names.filter((n) => !n.endsWith('.lock'));
}

describe('unpackLayer refuses hostile layers and removes its half-made directory', () => {
  it.each(HOSTILE)('$title', ({ entries, names }) =>
    withTempDir('cw-layer-hostile-unpack-', async (work) => {
      const canary = await makeCanary(work);
      const tar = await tarOf(entries(canary));
      const diffId = digestOf(tar);
      const { layout, descriptor } = await putLayerBlob(work, tar, MediaType.ociLayer);
      const layersDir = join(work, 'layers');
      const [canaryBefore, passwdBefore] = [await canaryState(canary), await passwdState()];

      const error = await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(LayerError);
      expect((error as LayerError).message).toContain(descriptor.digest);
      expect((error as LayerError).message).toContain(names(canary));

      expect(await leftovers(layersDir)).toEqual([]);
      expect(existsSync(layerPath(layersDir, diffId))).toBe(false);
      expect(await canaryState(canary)).toEqual(canaryBefore);
      expect(await passwdState()).toEqual(passwdBefore);
      expect((await readdir(work)).sort()).toEqual(['canary', 'layers', 'layout']);
    }),
  );
});

describe('extractLayer: legitimate entries near the canary never act on it', () => {
  const cases: { title: string; entries: (canary: string) => TarEntry[]; check?: (out: string, canary: string) => Promise<void> }[] = [
    {
      title: 'a directory replaced by a symlink to the canary directory: its mtime is not set through the symlink',
      entries: (c) => [dir('d/', { mtime: new Date(86_400_000) }), file('d/x'), symlink('d', c)],
      check: async (out, c) => expect(await readlink(join(out, 'd'))).toBe(c),
    },
    {
      title: 'a directory replaced by a symlink to a canary file: its mtime is not set through the symlink',
      entries: (c) => [dir('d/', { mtime: new Date(86_400_000) }), symlink('d', `${c}/secret`)],
    },
    {
      title: 'a hardlink to a planted symlink links the symlink, not what it points to',
      entries: (c) => [symlink('s', `${c}/secret`), hardlink('h', 's')],
      check: async (out, c) => {
        const [h, s] = [await lstat(join(out, 'h')), await lstat(join(out, 's'))];
        expect(h.isSymbolicLink()).toBe(true);
        expect(h.ino).toBe(s.ino);
        expect(await readlink(join(out, 'h'))).toBe(`${c}/secret`);
      },
    },
    {
      title: 'a whiteout of a name that is a planted symlink leaves the symlink (and its target) alone',
      entries: (c) => [symlink('x', `${c}/secret`), file('.wh.x', '')],
      check: async (out) => expect((await lstat(join(out, 'x'))).isSymbolicLink()).toBe(true),
    },
    {
      title: 'a file replacing a planted symlink replaces the symlink, not its target',
      entries: (c) => [symlink('x', `${c}/secret`), file('x', 'inside\n', { mode: 0o4755 })],
      check: async (out) => expect(await readFile(join(out, 'x'), 'utf8')).toBe('inside\n'),
    },
    {
      title: 'a directory replacing a planted symlink replaces the symlink, not its target',
      entries: (c) => [symlink('x', c), dir('x/', { mode: 0o700 }), file('x/inside')],
      check: async (out) => expect(await readdir(join(out, 'x'))).toEqual(['inside']),
    },
  ];
  it.each(cases)('$title', ({ entries, check }) =>
    withTempDir('cw-layer-near-', async (work) => {
      const canary = await makeCanary(work);
      const out = join(work, 'out');
      await mkdir(out);
      const [canaryBefore, passwdBefore] = [await canaryState(canary), await passwdState()];
      await extractTar(entries(canary), out);
      await check?.(out, canary);
      expect(await canaryState(canary)).toEqual(canaryBefore);
      expect(await passwdState()).toEqual(passwdBefore);
    }),
  );
});

// ─── Faithful to GNU tar ─────────────────────────────────────────────────────

const LONG_DIR = `long/${'d'.repeat(120)}`;
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(120)}.txt`;
const LONG_TARGET = `../${'t'.repeat(110)}/target`;
const UTF8_VALUE = 'café ✓ 日本';

/**
 * A staging tree with everything a layer carries: setuid/setgid/sticky,
 * owners, symlinks (one with a >100-byte target), hardlinks (one to a >100-byte
 * path), a char device, a fifo, user.* xattrs (ASCII, UTF-8, with a NUL) on
 * files and a directory, security.capability, and distinct whole-second mtimes
 * on every entry, directories included, set after their children exist.
 */
async function stageEverything(s: Stage): Promise<void> {
  await mkdir(s.root, { recursive: true });
  await s.file('bin/setuid', '#!/bin/sh\n', { mode: 0o4755 });
  await s.file('bin/setgid', '#!/bin/sh\n', { mode: 0o2711, gid: 1000 });
  await s.file('bin/both', '#!/bin/sh\n', { mode: 0o6755, uid: 1000, gid: 1000 });
  await s.copy('bin/netraw', '/bin/true', { mode: 0o755 });
  await run('setcap', ['cap_net_raw+ep', s.path('bin/netraw')]);
  await s.dir('tmp', { mode: 0o1777 });
  await s.dir('srv/shared', { mode: 0o2775, uid: 1000, gid: 1000 });
  await s.dir('home/app', { mode: 0o750, uid: 1000, gid: 1000 });
  await s.file('home/app/notes.txt', 'notes\n', { mode: 0o640, uid: 1000, gid: 1000 });
  await s.file('etc/hosts', '127.0.0.1 localhost\n');
  await s.hardlink('etc/hosts.hard', 'etc/hosts');
  await s.file('etc/private', 'secret\n', { mode: 0o600 });
  await s.file('etc/empty', '');
  await s.dir('empty-dir', { mode: 0o711 });
  await s.symlink('links/relative', '../etc/hosts');
  await s.symlink('links/absolute', '/etc/hosts');
  await s.symlink('links/dangling', 'nowhere');
  await s.symlink('links/to-dir', '../srv');
  await s.symlink('links/long-target', LONG_TARGET);
  await s.file(LONG_FILE, 'a path over 100 bytes\n');
  await s.hardlink('long/z-hardlink-to-long-path', LONG_FILE);
  await s.charDevice('dev/null', 1, 3, { mode: 0o666 });
  await s.fifo('run/fifo', { mode: 0o620 });
  await s.file('xattrs/file', 'xattrs\n', { xattrs: { 'user.ascii': 'plain value', 'user.utf8': UTF8_VALUE, 'user.nul': Buffer.from('a\0b') } });
  await s.dir('xattrs/dir', { xattrs: { 'user.on-dir': 'a directory xattr' } });
  await s.file('xattrs/none', 'no xattrs\n', { mode: 0o755 });
  // Last: every entry its own mtime, children before their directories (whose mtimes their creation changed).
  const all = (await readdir(s.root, { recursive: true })).sort((a, b) => b.split('/').length - a.split('/').length || (a < b ? -1 : 1));
  let t = 900_000_000;
  for (const rel of [...all, '']) {
    t += 3_600;
    await lutimes(s.path(rel), t, t);
  }
  await lutimes(s.path(''), 950_000_000, 950_000_000);
}

/** A GNU tar of the staging tree, as the brief's reference writer makes it ("./" first, then everything under it). */
async function gnuTar(stageRoot: string, tarPath: string): Promise<Buffer> {
  await run('tar', ['--create', '--xattrs', '--xattrs-include=*', '--format=posix', '--numeric-owner', '--directory', stageRoot, '--file', tarPath, '.']);
  return readFile(tarPath);
}

const EVERYTHING: SnapshotOptions = { mtime: () => true, ignoreXattr: () => false };

describe('extractLayer keeps everything GNU tar records', () => {
  it('the extracted tree equals the staging tree: lstat fields, content, xattrs, hardlinks, mtimes', () =>
    withTempDir('cw-layer-faithful-', async (work) => {
      const stage = new Stage(join(work, 'stage'));
      await stageEverything(stage);
      await gnuTar(stage.root, join(work, 'layer.tar'));
      const out = join(work, 'out');
      await mkdir(out);
      const stats = await extractLayer(createReadStream(join(work, 'layer.tar')), out, ROOT_OPTIONS);

      const [want, got] = [await snapshotTree(stage.root, EVERYTHING), await snapshotTree(out, EVERYTHING)];
      expect(got).toEqual(want);
      expect(stats).toMatchObject({ whiteouts: 0, opaqueDirs: 0, skippedDevices: 0 });

      // Spot checks that the staging tree really has what the comparison is meant to cover.
      const byPath = new Map(got.map((e) => [e.path, e]));
      expect(byPath.get('bin/setuid')).toMatchObject({ mode: '4755', uid: 0 });
      expect(byPath.get('bin/both')).toMatchObject({ mode: '6755', uid: 1000, gid: 1000 });
      expect(byPath.get('tmp')).toMatchObject({ type: 'dir', mode: '1777' });
      expect(byPath.get('srv/shared')).toMatchObject({ mode: '2775', uid: 1000, gid: 1000 });
      expect(byPath.get('dev/null')).toMatchObject({ type: 'char', device: '1:3', mode: '0666' });
      expect(byPath.get('run/fifo')).toMatchObject({ type: 'fifo', mode: '0620' });
      expect(byPath.get('etc/hosts.hard')?.hardlinkOf).toBe('etc/hosts');
      expect(byPath.get(LONG_FILE)?.hardlinkOf).toBe(LONG_FILE);
      expect(byPath.get('long/z-hardlink-to-long-path')?.hardlinkOf).toBe(LONG_FILE);
      expect(byPath.get('links/long-target')?.target).toBe(LONG_TARGET);
      expect(byPath.get('home')?.mtime).toMatch(/^\d+\.000000000$/);
      expect(byPath.get('.')?.mtime).toBe('950000000.000000000');
      expect(getXattr(join(out, 'bin/netraw'), 'security.capability')).toEqual(CAP_NET_RAW_EP);
      expect(getXattr(join(out, 'xattrs/file'), 'user.utf8').toString('utf8')).toBe(UTF8_VALUE);
      expect(getXattr(join(out, 'xattrs/file'), 'user.nul')).toEqual(Buffer.from('a\0b'));
      expect((await lstat(join(out, LONG_FILE))).ino).toBe((await lstat(join(out, 'long/z-hardlink-to-long-path'))).ino);
    }));

  it('a capability whose bytes are not UTF-8 (cap_setuid) is kept byte for byte', () =>
    withTempDir('cw-layer-cap-', async (work) => {
      const stage = new Stage(join(work, 'stage'));
      await mkdir(stage.root);
      await stage.copy('newuidmap', '/bin/true', { mode: 0o755 });
      await run('setcap', ['cap_setuid,cap_net_raw+ep', stage.path('newuidmap')]);
      const want = getXattr(stage.path('newuidmap'), 'security.capability');
      expect(want.some((b) => b >= 0x80)).toBe(true); // bit 7 (CAP_SETUID): not valid UTF-8
      await gnuTar(stage.root, join(work, 'layer.tar'));
      const out = join(work, 'out');
      await mkdir(out);
      await extractLayer(createReadStream(join(work, 'layer.tar')), out, ROOT_OPTIONS);
      expect(getXattr(join(out, 'newuidmap'), 'security.capability')).toEqual(want);
    }));

  it('keeps xattrs from crafted PAX records, and owners only when asked', () =>
    withTempDir('cw-layer-pax-', async (work) => {
      const entries = [file('f', 'x', { uid: 1000, gid: 1001, mode: 0o4750, pax: { 'SCHILY.xattr.user.x': 'v', 'SCHILY.xattr.user.utf8': Buffer.from(UTF8_VALUE).toString('latin1') /* tar-stream (as patched) takes xattr values as raw bytes in a latin1 string */ } })];
      await mkdir(join(work, 'owned'));
      await extractTar(entries, join(work, 'owned'));
      const owned = join(work, 'owned', 'f');
      expect(listXattrs(owned)).toEqual(['user.utf8', 'user.x']);
      expect(getXattr(owned, 'user.x').toString()).toBe('v');
      expect(getXattr(owned, 'user.utf8')).toEqual(Buffer.from(UTF8_VALUE));
      expect(await lstat(owned)).toMatchObject({ uid: 1000, gid: 1001, mode: 0o104750 });

      await mkdir(join(work, 'unowned'));
      await extractTar(entries, join(work, 'unowned'), { ...ROOT_OPTIONS, owners: false });
      expect(await lstat(join(work, 'unowned', 'f'))).toMatchObject({ uid: 0, gid: 0, mode: 0o104750 });
    }));

  it('owners in a user namespace: the ids it maps are given, the others left as the unpacker and counted', () =>
    withTempDir('cw-layer-ids-', async (work) => {
      // As `unshare --map-root-user --map-auto` maps them: 0, and 1-65535; run as root here, so every chown would work.
      const ids = [{ inside: 0, outside: 1000, count: 1 }, { inside: 1, outside: 100000, count: 65535 }];
      const stats = await extractTar(
        [file('mapped', 'x', { uid: 1000, gid: 42, mode: 0o2755 }), file('uid-unmapped', 'x', { uid: 70000, gid: 42 }), dir('both-unmapped/', { uid: 70000, gid: 70000 }), symlink('link', 'mapped')],
        work,
        { ...ROOT_OPTIONS, owners: { uids: ids, gids: ids } },
      );
      expect(await lstat(join(work, 'mapped'))).toMatchObject({ uid: 1000, gid: 42, mode: 0o102755 });
      expect(await lstat(join(work, 'uid-unmapped'))).toMatchObject({ uid: 0, gid: 42 });
      expect(await lstat(join(work, 'both-unmapped'))).toMatchObject({ uid: 0, gid: 0 });
      expect(stats.unmappedOwners).toBe(2);
    }));
});

// ─── Whiteouts ───────────────────────────────────────────────────────────────

async function isWhiteout(path: string): Promise<boolean> {
  const st = await lstat(path).catch(() => undefined);
  return !!st && st.isCharacterDevice() && st.rdev === 0;
}

describe('whiteouts become overlayfs whiteouts', () => {
  it('.wh.NAME becomes a 0:0 character device NAME, and the marker is not kept', () =>
    withTempDir('cw-layer-wh-', async (work) => {
      const stats = await extractTar([file('.wh.gone', ''), dir('d/'), file('d/.wh.also-gone', ''), file('d/kept')], work);
      expect(await isWhiteout(join(work, 'gone'))).toBe(true);
      expect(await isWhiteout(join(work, 'd/also-gone'))).toBe(true);
      expect((await readdir(work)).sort()).toEqual(['d', 'gone']);
      expect((await readdir(join(work, 'd'))).sort()).toEqual(['also-gone', 'kept']);
      expect(stats).toMatchObject({ whiteouts: 2, opaqueDirs: 0 });
    }));

  it('.wh..wh..opq marks its directory opaque (trusted.overlay.opaque=y) and keeps the directory own entries before and after it', () =>
    withTempDir('cw-layer-opq-', async (work) => {
      const stats = await extractTar([dir('d/'), file('d/before'), file('d/.wh..wh..opq', ''), file('d/after'), file('e/.wh..wh..opq', '')], work);
      expect(getXattr(join(work, 'd'), 'trusted.overlay.opaque').toString()).toBe('y');
      expect(getXattr(join(work, 'e'), 'trusted.overlay.opaque').toString()).toBe('y');
      expect((await readdir(join(work, 'd'))).sort()).toEqual(['after', 'before']);
      expect(await readdir(join(work, 'e'))).toEqual([]);
      expect(stats).toMatchObject({ opaqueDirs: 2, whiteouts: 0 });
    }));

  it.each([
    ['whiteout first', [file('.wh.x', ''), file('x', 'the file\n')]],
    ['file first', [file('x', 'the file\n'), file('.wh.x', '')]],
  ] as const)('a whiteout and a file of the same name in one layer: the file wins (%s)', (_, entries) =>
    withTempDir('cw-layer-wh-file-', async (work) => {
      await extractTar([...entries], work);
      expect(await readFile(join(work, 'x'), 'utf8')).toBe('the file\n');
      expect(await readdir(work)).toEqual(['x']);
    }),
  );

  it.each([
    ['whiteout first', [file('.wh.d', ''), dir('d/'), file('d/f')]],
    ['directory first', [dir('d/'), file('d/f'), file('.wh.d', '')]],
  ] as const)('a whiteout and a directory of the same name in one layer: the directory wins (%s)', (_, entries) =>
    withTempDir('cw-layer-wh-dir-', async (work) => {
      await extractTar([...entries], work);
      expect((await lstat(join(work, 'd'))).isDirectory()).toBe(true);
      expect(await readdir(join(work, 'd'))).toEqual(['f']);
    }),
  );

  it('AUFS metadata (.wh..wh..plnk, .wh..wh.plnk, .wh..wh.aufs) is ignored', () =>
    withTempDir('cw-layer-aufs-', async (work) => {
      const stats = await extractTar([file('.wh..wh..plnk', ''), file('.wh..wh.plnk', ''), dir('d/'), file('d/.wh..wh.aufs', '')], work);
      expect(await readdir(work)).toEqual(['d']);
      expect(await readdir(join(work, 'd'))).toEqual([]);
      expect(stats).toMatchObject({ whiteouts: 0, opaqueDirs: 0 });
    }));

  it('with the prefix user.overlay. the opaque xattr is user.overlay.opaque', () =>
    withTempDir('cw-layer-userxattr-', async (work) => {
      await extractTar([dir('d/'), file('d/.wh..wh..opq', ''), file('.wh.gone', '')], work, { ...ROOT_OPTIONS, overlayXattrPrefix: 'user.overlay.' });
      expect(listXattrs(join(work, 'd'))).toEqual(['user.overlay.opaque']);
      expect(getXattr(join(work, 'd'), 'user.overlay.opaque').toString()).toBe('y');
      expect(await isWhiteout(join(work, 'gone'))).toBe(true);
    }));
});

// ─── Entries that replace each other ─────────────────────────────────────────

describe('entries replacing each other in one layer', () => {
  it('a file, then a directory at the same path', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([file('p', 'old\n'), dir('p/', { mode: 0o750 }), file('p/child')], work);
      expect(await lstat(join(work, 'p'))).toMatchObject({ mode: 0o40750 });
      expect(await readdir(join(work, 'p'))).toEqual(['child']);
    }));

  it('a directory with children, then a file at the same path', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([dir('p/'), dir('p/sub/'), file('p/sub/child'), file('p', 'new\n')], work);
      expect((await lstat(join(work, 'p'))).isFile()).toBe(true);
      expect(await readFile(join(work, 'p'), 'utf8')).toBe('new\n');
    }));

  it('a directory, then a file: the file keeps its own mtime, not the directory one', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([dir('p/', { mtime: new Date(86_400_000) }), file('p', 'new\n', { mtime: MTIME })], work);
      expect((await lstat(join(work, 'p'))).mtimeMs).toBe(MTIME.getTime());
    }));

  it('a file, then a symlink at the same path', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([file('p'), symlink('p', 'target')], work);
      expect(await readlink(join(work, 'p'))).toBe('target');
    }));

  it('a symlink, then a file at the same path', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([file('target', 'target\n'), symlink('p', 'target'), file('p', 'p\n')], work);
      expect(await readFile(join(work, 'p'), 'utf8')).toBe('p\n');
      expect(await readFile(join(work, 'target'), 'utf8')).toBe('target\n');
    }));

  it('a second name of a hardlink, then a file with that name: the first name keeps its content', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([file('a', 'A\n'), hardlink('b', 'a'), file('b', 'B\n')], work);
      expect(await readFile(join(work, 'a'), 'utf8')).toBe('A\n');
      expect(await readFile(join(work, 'b'), 'utf8')).toBe('B\n');
      expect((await lstat(join(work, 'a'))).nlink).toBe(1);
    }));

  it('a directory entry for an existing directory updates its mode, owner and mtime (the later entry wins)', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([dir('d/', { mode: 0o755, mtime: new Date(86_400_000) }), file('d/child'), dir('d/', { mode: 0o1770, uid: 1000, gid: 1000, mtime: MTIME })], work);
      const st = await lstat(join(work, 'd'));
      expect(st).toMatchObject({ mode: 0o41770, uid: 1000, gid: 1000 });
      expect(st.mtimeMs).toBe(MTIME.getTime());
      expect(await readdir(join(work, 'd'))).toEqual(['child']);
    }));

  it('a directory mtime survives its children being created after it', () =>
    withTempDir('cw-layer-replace-', async (work) => {
      await extractTar([dir('d/', { mtime: new Date(86_400_000) }), dir('d/e/', { mtime: new Date(2 * 86_400_000) }), file('d/e/f'), file('d/.wh.x', '')], work);
      expect((await lstat(join(work, 'd'))).mtimeMs).toBe(86_400_000);
      expect((await lstat(join(work, 'd/e'))).mtimeMs).toBe(2 * 86_400_000);
    }));
});

// ─── unpackLayer ─────────────────────────────────────────────────────────────

interface StagedLayer {
  work: string;
  tar: Buffer;
  tarPath: string;
  diffId: Digest;
  want: TreeEntry[];
}

async function withStagedLayer<T>(work: (layer: StagedLayer) => Promise<T>): Promise<T> {
  return withTempDir('cw-layer-unpack-', async (dir) => {
    const stage = new Stage(join(dir, 'stage'));
    await stageEverything(stage);
    const tarPath = join(dir, 'layer.tar');
    const tar = await gnuTar(stage.root, tarPath);
    return work({ work: dir, tar, tarPath, diffId: digestOf(tar), want: await snapshotTree(stage.root, EVERYTHING) });
  });
}

async function zstdOf(tarPath: string): Promise<Buffer> {
  await run('zstd', ['-q', '-f', tarPath, '-o', `${tarPath}.zst`]);
  return readFile(`${tarPath}.zst`);
}

/** Processes whose parent is this one, by command name (from /proc). */
async function childCommands(): Promise<string[]> {
  const names: string[] = [];
  for (const pid of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const m = /^\d+ \((.*)\) \S+ (\d+) /.exec(stat);
    if (m && Number(m[2]) === process.pid) names.push(m[1]!);
  }
  return names;
}

async function waitFor(what: string, condition: () => Promise<boolean>, ms = 60_000): Promise<void> {
  for (const start = Date.now(); !(await condition()); ) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('unpackLayer', () => {
  it.each([
    ['plain', MediaType.ociLayer],
    ['gzip', MediaType.ociLayerGzip],
    ['zstd', MediaType.ociLayerZstd],
  ] as const)('unpacks a %s blob into layers/sha256/<diff_id hex>, once', (compression, mediaType) =>
    withStagedLayer(async ({ work, tar, tarPath, diffId, want }) => {
      const blob = compression === 'plain' ? tar : compression === 'gzip' ? gzipSync(tar) : await zstdOf(tarPath);
      const { layout, descriptor } = await putLayerBlob(work, blob, mediaType);
      const layersDir = join(work, 'layers');

      const first = await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS);
      expect(first).toMatchObject({ diffId, path: join(layersDir, 'sha256', diffId.slice('sha256:'.length)), unpacked: true });
      expect(await snapshotTree(first.path, EVERYTHING)).toEqual(want);
      expect(await leftovers(layersDir)).toEqual([diffId.slice('sha256:'.length)]);

      const second = await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS);
      expect(second).toEqual({ diffId, path: first.path, unpacked: false });
    }),
  );

  it('removeLayer takes an unpacked layer away whole, and is harmless when it is gone', () =>
    withStagedLayer(async ({ work, tar, diffId }) => {
      const { layout, descriptor } = await putLayerBlob(work, tar, MediaType.ociLayer);
      const layersDir = join(work, 'layers');
      await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS);
      expect(await removeLayer(layersDir, diffId)).toBe(true);
      expect(await leftovers(layersDir)).toEqual([]);
      expect(await removeLayer(layersDir, diffId)).toBe(false);
      // Unpacked again afterwards, as a later mount does.
      expect((await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS)).unpacked).toBe(true);
    }));

  it('a wrong diff_id: an error naming the diff_id, and nothing left', () =>
    withStagedLayer(async ({ work, tar }) => {
      const { layout, descriptor } = await putLayerBlob(work, gzipSync(tar), MediaType.ociLayerGzip);
      const layersDir = join(work, 'layers');
      const wrong = digestOf(Buffer.from('not this layer'));
      const error = await unpackLayer(layout, descriptor, wrong, layersDir, ROOT_OPTIONS).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(LayerError);
      expect((error as Error).message).toContain('diff_id');
      expect((error as Error).message).toContain(wrong);
      expect(await leftovers(layersDir)).toEqual([]);
    }));

  it.each([
    ['near its start', 20],
    ['in the middle', 0.5],
    ['in its CRC trailer', -6],
  ])('a corrupted gzip (%s), stored under its own digest: an error, and nothing left', (_, where) =>
    withStagedLayer(async ({ work, tar, diffId }) => {
      const gz = gzipSync(tar);
      const at = where < 0 ? gz.length + where : where < 1 ? Math.floor(gz.length * where) : where;
      gz[at]! ^= 0xff;
      const { layout, descriptor } = await putLayerBlob(work, gz, MediaType.ociLayerGzip);
      const layersDir = join(work, 'layers');
      await expect(unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS)).rejects.toThrow(LayerError);
      expect(await leftovers(layersDir)).toEqual([]);
      expect(existsSync(layerPath(layersDir, diffId))).toBe(false);
    }),
  );

  it('a blob changed in the store after it was written: an error about the blob (not the diff_id), and nothing left', () =>
    withStagedLayer(async ({ work, tar, diffId }) => {
      const { layout, descriptor } = await putLayerBlob(work, gzipSync(tar), MediaType.ociLayerGzip);
      const path = layout.blobPath(descriptor.digest);
      const bytes = await readFile(path);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      await writeFile(path, bytes);
      const layersDir = join(work, 'layers');
      const error = await unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS).then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(LayerError);
      expect((error as Error).message).toContain(descriptor.digest);
      expect((error as Error).message).not.toContain('diff_id');
      expect(await leftovers(layersDir)).toEqual([]);
    }));

  it('a refused zstd layer leaves no zstd process behind (it would keep the process from exiting)', () =>
    withTempDir('cw-layer-zstd-leak-', async (work) => {
      // The refused entry first, then 4 MiB that do not compress: zstd has far more to write than its pipe holds.
      const tar = await tarOf([file('../escape'), file('big', randomBytes(4 << 20))]);
      const tarPath = join(work, 'layer.tar');
      await writeFile(tarPath, tar);
      const { layout, descriptor } = await putLayerBlob(work, await zstdOf(tarPath), MediaType.ociLayerZstd);
      const layersDir = join(work, 'layers');
      await expect(unpackLayer(layout, descriptor, digestOf(tar), layersDir, ROOT_OPTIONS)).rejects.toThrow(/"\.\.\/escape"/);
      await waitFor('zstd to exit', async () => !(await childCommands()).includes('zstd'), 5_000);
      expect(await leftovers(layersDir)).toEqual([]);
    }));

  it('two concurrent calls in one process: one unpacks, the other finds it done; one correct directory', () =>
    withStagedLayer(async ({ work, tar, diffId, want }) => {
      const { layout, descriptor } = await putLayerBlob(work, gzipSync(tar), MediaType.ociLayerGzip);
      const layersDir = join(work, 'layers');
      const results = await Promise.all([0, 1].map(() => unpackLayer(layout, descriptor, diffId, layersDir, ROOT_OPTIONS)));
      expect(results.map((r) => r.unpacked).sort()).toEqual([false, true]);
      expect(results[0]!.path).toBe(results[1]!.path);
      expect(await snapshotTree(results[0]!.path, EVERYTHING)).toEqual(want);
      expect(await leftovers(layersDir)).toEqual([diffId.slice('sha256:'.length)]);
    }));

  it('two concurrent processes: one unpacks, the other finds it done; one correct directory', () =>
    withStagedLayer(async ({ work, tar, diffId, want }) => {
      const { layout, descriptor } = await putLayerBlob(work, gzipSync(tar), MediaType.ociLayerGzip);
      const layersDir = join(work, 'layers');
      const script = join(work, 'unpack.mts');
      const lib = (rel: string) => JSON.stringify(pathToFileURL(join(REPO, rel)).href);
      await writeFile(
        script,
        [
          `import { existsSync, writeFileSync } from 'node:fs';`,
          `import { unpackLayer } from ${lib('libs/layer/src/index.ts')};`,
          `import { OciLayout } from ${lib('libs/oci/src/index.ts')};`,
          `const [layoutDir, descriptor, diffId, layersDir, ready, go] = process.argv.slice(2);`,
          `const layout = await OciLayout.open(layoutDir);`,
          `writeFileSync(ready, '');`,
          `while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));`,
          `const result = await unpackLayer(layout, JSON.parse(descriptor), diffId, layersDir, ${JSON.stringify(ROOT_OPTIONS)});`,
          `process.stdout.write(JSON.stringify(result));`,
        ].join('\n'),
      );
      const go = join(work, 'go');
      const children = [0, 1].map((i) =>
        run('pnpm', ['exec', 'tsx', script, layout.dir, JSON.stringify(descriptor), diffId, layersDir, join(work, `ready${i}`), go], { cwd: REPO }),
      );
      // Both are loaded and waiting before either starts, so that they really race for the layer.
      const failed = Promise.race(children).then(() => true, () => true);
      let early = false;
      void failed.then((v) => (early = v));
      await waitFor('both unpackers to be ready', async () => early || (existsSync(join(work, 'ready0')) && existsSync(join(work, 'ready1'))));
      await writeFile(go, '');
      const results = (await Promise.all(children)).map((stdout) => JSON.parse(stdout) as { unpacked: boolean; path: string });
      expect(results.map((r) => r.unpacked).sort()).toEqual([false, true]);
      expect(results[0]!.path).toBe(layerPath(layersDir, diffId));
      expect(await snapshotTree(layerPath(layersDir, diffId), EVERYTHING)).toEqual(want);
      expect(await leftovers(layersDir)).toEqual([diffId.slice('sha256:'.length)]);
    }));
});
