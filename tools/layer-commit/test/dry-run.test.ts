/**
 * layer-commit --dry-run is the tool as a bash script of classic commands (issue 18). A container is made with
 * overlay-mount on an image and changed the ways a container changes a filesystem (deletions, an opaque
 * directory, new files of every kind, copy-ups, odd names); its root is then copied, and the tool commits it
 * in one copy while the script (printed by --dry-run in the other, changing nothing there) commits it in the
 * other. Compared:
 *  - the layer tar, entry by entry (read by hand: name, order, type, mode, owner, mtime, size, link target,
 *    device, xattrs, content). Its bytes cannot be the same: GNU tar cannot write tar-stream's headers (the
 *    script says so at its top). One difference in entries is GNU tar's too, and asserted as the only one: a
 *    hard link's entry carries no xattrs (the tool's repeats its file's; extracted, both give the file's);
 *  - the config byte for byte once the script's diff_id is written as the tool's; the manifest once its config
 *    and layer descriptors are; index.json once the manifest's digest is — so config, history, the --change
 *    instructions, the manifest's shape and the tag are the same;
 *  - every other blob of the store, the upper directory (untouched), no work files left;
 *  - what each printed (each its own manifest digest).
 * With --empty there is no layer, and the two stores are equal byte for byte.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile, chown, chmod, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setXattr } from '@cutaway/libc';
import { OciLayout, type Descriptor, type ImageManifest } from '@cutaway/oci';
import { runCommand, shellWord, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { leftovers, runScript, storeState, type StoreState } from '../../../test/fixtures/dry-run.ts';
import { readTarListing, type TarListEntry, type TarListing } from '../../../test/fixtures/tar.ts';
import { BUSYBOX_REF, buildBusyboxImage, buildDebianImage, DEBIAN_REF, removeTree, run, snapshotTree } from '../../../test/fixtures/images.ts';
import { detachLeftovers, isMounted, mountsUnder, trackMounts } from '../../../test/fixtures/mounts.ts';

const EPOCH = '1700000000'; // 2023-11-14T22:13:20Z
const REF_NAME = 'org.opencontainers.image.ref.name';

let work: string;
let layout: OciLayout;
const made = trackMounts(() => work);

interface Root {
  root: string;
  store: string;
  env: NodeJS.ProcessEnv;
}

function rootAt(root: string, env: NodeJS.ProcessEnv = {}): Root {
  return { root, store: join(root, 'images'), env: { CUTAWAY_ROOT: root, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '', SOURCE_DATE_EPOCH: '', ...env } };
}

function layerCommit(args: string[], r: Root): Promise<CommandResult> {
  return runCommand('layer-commit', args, { env: r.env });
}

/**
 * The changes a container makes, through its merged directory: a file and a directory deleted (whiteouts), a
 * directory replaced (opaque, with the sticky bit), files copied up and changed, and new entries of every
 * kind — setuid, owned by another user, an old mtime, xattrs, hardlinks (one with an xattr), symlinks, a fifo,
 * a device, a socket (which no layer carries), a long path, odd and non-ASCII names.
 */
async function changeContainer(merged: string, deleteFile: string, deleteDir: string): Promise<void> {
  await run('rm', ['-rf', join(merged, deleteFile), join(merged, deleteDir)]);
  await run('rm', ['-rf', join(merged, 'tmp')]);
  await mkdir(join(merged, 'tmp'));
  await chmod(join(merged, 'tmp'), 0o1777);
  await writeFile(join(merged, 'tmp/in-the-opaque-dir'), 'new\n');
  await writeFile(join(merged, 'etc/passwd'), `${await readFile(join(merged, 'etc/passwd'), 'utf8')}cw:x:1234:1234::/home/cw:/bin/sh\n`);
  const app = join(merged, 'opt/app');
  await mkdir(join(app, 'sub'), { recursive: true });
  await writeFile(join(app, 'run.sh'), '#!/bin/sh\necho app\n');
  await chmod(join(app, 'run.sh'), 0o4755);
  await writeFile(join(app, 'owned'), 'owned by 1000\n');
  await chown(join(app, 'owned'), 1000, 1000);
  await writeFile(join(app, 'old'), 'an old mtime\n');
  await utimes(join(app, 'old'), 1_000_000_000, 1_000_000_000);
  await writeFile(join(app, 'noted'), 'with xattrs\n');
  setXattr(join(app, 'noted'), 'user.cutaway.note', 'a note');
  setXattr(join(app, 'noted'), 'user.cutaway.binary', Buffer.from([0, 1, 0xfe, 0xff]));
  await writeFile(join(app, 'shared'), 'one inode, three names\n');
  setXattr(join(app, 'shared'), 'user.cutaway.shared', 'on the inode');
  await link(join(app, 'shared'), join(app, 'sub/shared-again'));
  await link(join(app, 'shared'), join(app, 'z-shared'));
  await symlink('../etc/passwd', join(app, 'passwd-link'));
  await symlink('/nowhere', join(app, 'dangling'));
  await run('mkfifo', [join(app, 'fifo')]);
  await run('mknod', [join(app, 'null'), 'c', '1', '3']);
  spawnSync('/usr/bin/python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(app, 'socket'))})`]);
  await writeFile(join(app, '-dash'), 'a name with a leading dash\n');
  await writeFile(join(app, '.hidden'), 'a dot file\n');
  await writeFile(join(app, 'with space'), 'a space\n');
  await writeFile(join(app, 'café'), 'not ASCII\n');
  const long = join(app, `${'long-directory-'.padEnd(90, 'd')}/${'long-file-'.padEnd(110, 'f')}`);
  await mkdir(join(long, '..'), { recursive: true });
  await writeFile(long, 'a path over 100 bytes\n');
  await utimes(app, 1_600_000_000, 1_600_000_000);
}

/**
 * A root with IMAGE pulled and a container c1 made and changed on it, unmounted; and a copy of its store and
 * container records (cp -a) as the second root. The copy's overlay.json names the first root's upper, so
 * both commit the same directory.
 */
async function prepare(ref: string, deleteFile: string, deleteDir: string): Promise<{ tool: Root; script: Root; upper: string }> {
  const tool = rootAt(await mkdtemp(join(work, 'tool-')));
  const pulled = await runCommand('oci-pull', ['-q', `oci:${layout.dir}:${ref}`], { env: tool.env });
  expect(pulled, pulled.stderr).toMatchObject({ code: 0 });
  const mounted = await runCommand('overlay-mount', ['-q', ref, '--name', 'c1'], { env: tool.env });
  expect(mounted, mounted.stderr).toMatchObject({ code: 0 });
  const merged = mounted.stdout.trim();
  made.add(merged);
  await changeContainer(merged, deleteFile, deleteDir);
  expect(await runCommand('overlay-mount', ['--unmount', 'c1'], { env: tool.env })).toMatchObject({ code: 0 });
  expect(isMounted(merged)).toBe(false);
  const script = rootAt(await mkdtemp(join(work, 'script-')));
  await run('cp', ['-a', tool.store, join(tool.root, 'containers'), script.root]);
  return { tool, script, upper: join(tool.root, 'containers/c1/upper') };
}

/** --dry-run ARGS in `r`: the script, after checking that printing it changed nothing. */
async function dryRun(args: string[], r: Root): Promise<string> {
  const before = await storeState(r.store).catch(() => undefined);
  const result = await layerCommit([...args, '--dry-run'], r);
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  const script = result.stdout;
  expect(script).toMatch(/^#!\/bin\/bash\n/);
  expect(script).toMatch(/^set -euo pipefail$/m);
  // Every script that runs a command checks for it first (--diff's runs none: it says it has no equivalent).
  if (!/no classic equivalent/.test(script)) expect(script).toMatch(/^ {2}command -v "\$command" >\/dev\/null \|\| \{ echo "this script needs \$command/m);
  expect(script).not.toMatch(/-exec|\|\| true|2>\s*\/dev\/null/);
  expect(await storeState(r.store).catch(() => undefined)).toEqual(before);
  return script;
}

/** A tree as the comparison sees it (every xattr), to show that committing left the upper as it was. */
const upperSnapshot = (upper: string) => snapshotTree(upper, { ignoreXattr: () => false });

function gunzipBlob(r: Root, d: Descriptor): Buffer {
  return gunzipSync(readFileSync(join(r.store, 'blobs/sha256', d.digest.slice(7))));
}

const sha256 = (data: Uint8Array) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/**
 * The tool's listing with its one difference from GNU tar's taken out — a hard link's entry repeats its
 * file's xattrs in the tool's tar, never in GNU tar's — after checking that those are indeed the file's.
 */
function withoutLinkXattrs(listing: TarListing): TarListEntry[] {
  return listing.entries.map((e) => {
    if (e.type !== 'link') return e;
    const target = listing.entries.find((t) => t.name === e.linkname);
    expect(e.xattrs, e.name).toEqual(target?.xattrs);
    const { xattrs: _, ...rest } = e;
    return rest;
  });
}

interface Committed {
  digest: string;
  manifest: ImageManifest;
  manifestText: string;
  configText: string;
  indexText: string;
  layer?: Buffer;
}

async function committed(r: Root, tag: string): Promise<Committed> {
  const indexText = await readFile(join(r.store, 'index.json'), 'utf8');
  const entry = (JSON.parse(indexText) as { manifests: Descriptor[] }).manifests.find((m) => m.annotations?.[REF_NAME] === tag)!;
  expect(entry).toBeDefined();
  const manifestText = await readFile(join(r.store, 'blobs/sha256', entry.digest.slice(7)), 'utf8');
  const manifest = JSON.parse(manifestText) as ImageManifest;
  const configText = await readFile(join(r.store, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8');
  return { digest: entry.digest, manifest, manifestText, configText, indexText };
}

/**
 * Commits with the tool in one root and with the script in the other, and compares everything (see the top).
 * `layer`: whether a layer is made (not with --empty).
 */
async function commitBoth(tool: Root, script: Root, args: (r: Root) => string[], tag: string, upper: string | undefined, env: NodeJS.ProcessEnv = {}): Promise<{ tool: Committed; script: Committed; listing?: TarListing }> {
  const before = await storeState(tool.store);
  expect(await storeState(script.store)).toEqual(before);
  const upperBefore = upper ? await upperSnapshot(upper) : undefined;
  const withEnv = (r: Root) => ({ ...r, env: { ...r.env, ...env } });

  const text = await dryRun(args(script), withEnv(script));
  const byScript = await runScript(text, withEnv(script).env);
  expect(byScript, byScript.stderr).toMatchObject({ code: 0, stderr: '' });
  const byTool = await layerCommit(args(tool), withEnv(tool));
  expect(byTool, byTool.stderr).toMatchObject({ code: 0 });

  const a = await committed(tool, tag);
  const b = await committed(script, tag);
  expect(byTool.stdout).toBe(`${a.digest}\n`);
  expect(byScript.stdout).toBe(`${b.digest}\n`);

  // The store: the base's blobs untouched in both, and three new ones in each (two with --empty).
  const after = { tool: await storeState(tool.store), script: await storeState(script.store) };
  const added = (s: StoreState) => Object.keys(s.blobs).filter((n) => !(n in before.blobs));
  for (const s of [after.tool, after.script]) {
    for (const [n, h] of Object.entries(before.blobs)) expect(s.blobs[n]).toBe(h);
    for (const [n, h] of Object.entries(s.blobs)) expect(`sha256:${h}`, `a blob named ${n}`).toBe(`sha256:${n}`);
    expect(s.ociLayout).toBe(before.ociLayout);
  }
  const fresh = upper ? 3 : 2;
  expect(added(after.tool)).toHaveLength(fresh);
  expect(added(after.script)).toHaveLength(fresh);

  let listing: TarListing | undefined;
  let configB = b.configText;
  let manifestB = b.manifestText;
  if (upper) {
    const layerA = a.manifest.layers.at(-1)!;
    const layerB = b.manifest.layers.at(-1)!;
    const tarA = gunzipBlob(tool, layerA);
    const tarB = gunzipBlob(script, layerB);
    const diffA = (JSON.parse(a.configText) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.at(-1)!;
    const diffB = (JSON.parse(b.configText) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.at(-1)!;
    expect(sha256(tarA)).toBe(diffA);
    expect(sha256(tarB)).toBe(diffB);
    // Not the same bytes (GNU tar's headers), but the same entries, in the same order.
    expect(diffB).not.toBe(diffA);
    listing = readTarListing(tarA);
    const listingB = readTarListing(tarB);
    expect(listingB.otherPax).toEqual({});
    expect(listing.otherPax).toEqual({});
    expect(listingB.entries).toEqual(withoutLinkXattrs(listing));
    configB = configB.split(diffB).join(diffA);
    manifestB = manifestB.split(layerB.digest).join(layerA.digest).replace(`"size":${layerB.size}}]`, `"size":${layerA.size}}]`);
  }
  expect(configB).toBe(a.configText);
  manifestB = manifestB.split(b.manifest.config.digest).join(a.manifest.config.digest);
  expect(manifestB).toBe(a.manifestText);
  expect(b.indexText.split(b.digest).join(a.digest)).toBe(a.indexText);

  // The upper as it was; no work files left beside it or in the store.
  if (upper) {
    expect(await upperSnapshot(upper)).toEqual(upperBefore);
    expect(await leftovers(join(upper, '..'))).toEqual(['merged', 'overlay.json', 'upper', 'work']);
  }
  expect((await leftovers(script.store)).filter((n) => n.startsWith('.cw'))).toEqual([]);
  return { tool: a, script: b, listing };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-lc-dry-'));
  layout = await OciLayout.create(join(work, 'layout'));
  await buildBusyboxImage(layout);
});

afterAll(async () => {
  await detachLeftovers(made, work);
  if (work) await removeTree(work);
  expect(work ? mountsUnder(work) : []).toEqual([]);
});

const CHANGES = ['-c', 'ENV MODE=prod', '-c', 'CMD ["/bin/sh", "-c", "echo hi"]', '-c', 'EXPOSE 8080', '-c', 'LABEL "it\'s"=fine team=infra', '-c', 'ENTRYPOINT ["/bin/sh"]', '-c', 'WORKDIR app', '-c', 'USER 1000'];

describe('layer-commit CONTAINER --tag NEW: the --dry-run script makes the same image, but for the layer tar\'s bytes', () => {
  it('busybox, with SOURCE_DATE_EPOCH, --change instructions, a message and an author', async () => {
    const { tool, script, upper } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const args = () => ['c1', '--tag', 'cw/committed:1', ...CHANGES, '-m', 'a message', '-a', 'Cutaway <cw@example.org>'];
    const { tool: a, listing } = await commitBoth(tool, script, args, 'docker.io/cw/committed:1', upper, { SOURCE_DATE_EPOCH: EPOCH });
    // The comparison saw what it is meant to see.
    const at = (name: string) => listing!.entries.find((e) => e.name === name);
    expect(at('etc/.wh.group')).toMatchObject({ type: 'file', mode: '0600', size: 0 });
    expect(at('.wh.home')).toMatchObject({ type: 'file', mode: '0600' });
    expect(at('tmp/.wh..wh..opq')).toMatchObject({ type: 'file', mode: '0777' });
    expect(at('opt/app/run.sh')).toMatchObject({ mode: '4755' });
    expect(at('opt/app/owned')).toMatchObject({ uid: 1000, gid: 1000 });
    expect(at('opt/app/old')).toMatchObject({ mtime: '1000000000' });
    expect(at('opt/app/null')).toMatchObject({ type: 'char', device: '1:3' });
    expect(at('opt/app/fifo')).toMatchObject({ type: 'fifo' });
    expect(at('opt/app/socket')).toBeUndefined();
    expect(at('opt/app/noted')?.xattrs).toEqual({ 'user.cutaway.note': 'a note', 'user.cutaway.binary': '0x0001feff' });
    expect(at('opt/app/z-shared')).toMatchObject({ type: 'link', linkname: 'opt/app/shared' });
    expect(at('opt/app/sub/shared-again')).toMatchObject({ type: 'link', linkname: 'opt/app/shared' });
    expect(at('opt/app/café')).toBeDefined();
    expect(listing!.entries.some((e) => e.name.length > 200)).toBe(true);
    // Clamped to SOURCE_DATE_EPOCH; never a trusted.overlay.* xattr.
    expect(listing!.entries.every((e) => Number(e.mtime) <= Number(EPOCH))).toBe(true);
    expect(listing!.entries.filter((e) => Object.keys(e.xattrs ?? {}).some((k) => k.includes('overlay')))).toEqual([]);
    const names = listing!.entries.map((e) => e.name);
    // In each directory: the opaque marker, the whiteouts, then the rest, in byte order.
    expect(names.slice(names.indexOf('etc/'), names.indexOf('etc/') + 2)).toEqual(['etc/', 'etc/.wh.group']);
    expect(names.indexOf('opt/app/-dash')).toBeLessThan(names.indexOf('opt/app/.hidden'));
    const config = JSON.parse(a.configText) as { config: Record<string, unknown>; history: { created: string; author?: string; comment?: string }[] };
    expect(config.config).toMatchObject({ Env: expect.arrayContaining(['MODE=prod']), Entrypoint: ['/bin/sh'], Cmd: ['/bin/sh', '-c', 'echo hi'], WorkingDir: '/app', User: '1000', Labels: { "it's": 'fine', team: 'infra' } });
    expect(config.history.at(-1)).toMatchObject({ created: '2023-11-14T22:13:20.000Z', author: 'Cutaway <cw@example.org>', comment: 'a message' });
  });

  it('--empty: no layer, so the same image byte for byte', async () => {
    const { tool, script } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const args = () => ['--empty', '--image', BUSYBOX_REF, '--tag', 'cw/labelled:1', '-c', 'LABEL team=infra', '-c', 'STOPSIGNAL SIGINT'];
    const { tool: a, script: b } = await commitBoth(tool, script, args, 'docker.io/cw/labelled:1', undefined, { SOURCE_DATE_EPOCH: EPOCH });
    expect(b.digest).toBe(a.digest);
    expect(await storeState(script.store)).toEqual(await storeState(tool.store));
  });

  it('-o FILE and -o - (zstd): the same entries as the tool writes', async () => {
    const { tool, script, upper } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const out = (r: Root) => join(r.root, 'layer.tar');
    const text = await dryRun(['c1', '-o', out(script)], script);
    expect(await runScript(text)).toMatchObject({ code: 0, stderr: '' });
    expect(await layerCommit(['c1', '-o', out(tool)], tool)).toMatchObject({ code: 0, stderr: '' });
    const listing = readTarListing(await readFile(out(tool)));
    expect(readTarListing(await readFile(out(script))).entries).toEqual(withoutLinkXattrs(listing));
    expect(listing.entries.length).toBeGreaterThan(20);

    const piped = (r: Root) => join(r.root, 'layer.tar.zst');
    const textZstd = await dryRun(['c1', '-o', '-', '--compression', 'zstd'], script);
    const scriptFile = join(script.root, 'o.sh');
    await writeFile(scriptFile, textZstd);
    expect(await runCommand('/bin/bash', ['-c', `bash -e ${scriptFile} > ${piped(script)}`])).toMatchObject({ code: 0, stderr: '' });
    expect(await runCommand('/bin/bash', ['-c', `${shellWord(toolPath('layer-commit'))} c1 -o - --compression zstd > ${piped(tool)}`], { env: tool.env })).toMatchObject({ code: 0, stderr: '' });
    const unzstd = (f: string) => spawnSync('zstd', ['-dc', f], { maxBuffer: 1 << 30 }).stdout;
    expect(readTarListing(unzstd(piped(script))).entries).toEqual(withoutLinkXattrs(readTarListing(unzstd(piped(tool)))));
    expect(await leftovers(join(upper, '..'))).toEqual(['merged', 'overlay.json', 'upper', 'work']);
  });

  it('an upper directory onto scratch, in a root with no store yet: the script makes the store too', async () => {
    const { tool: prep, upper } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const tool = rootAt(await mkdtemp(join(work, 'tool-')));
    const script = rootAt(await mkdtemp(join(work, 'script-')));
    const text = await dryRun([upper, '--image', 'scratch', '--tag', 'cw/scratch:1'], { ...script, env: { ...script.env, SOURCE_DATE_EPOCH: EPOCH } });
    expect(await readdir(script.root)).toEqual([]);
    expect(await runScript(text)).toMatchObject({ code: 0, stderr: '' });
    expect(await layerCommit([upper, '--image', 'scratch', '--tag', 'cw/scratch:1'], { ...tool, env: { ...tool.env, SOURCE_DATE_EPOCH: EPOCH } })).toMatchObject({ code: 0 });
    const a = await committed(tool, 'docker.io/cw/scratch:1');
    const b = await committed(script, 'docker.io/cw/scratch:1');
    const diff = (c: Committed) => (JSON.parse(c.configText) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids[0]!;
    expect(b.configText.split(diff(b)).join(diff(a))).toBe(a.configText);
    expect((await storeState(script.store)).ociLayout).toBe((await storeState(tool.store)).ociLayout);
    expect(readTarListing(gunzipBlob(script, b.manifest.layers[0]!)).entries).toEqual(withoutLinkXattrs(readTarListing(gunzipBlob(tool, a.manifest.layers[0]!))));
    expect(prep.root).not.toBe(tool.root);
  });

  describe('debian (debootstrap minbase)', () => {
    beforeAll(async () => {
      await buildDebianImage(layout);
    }, 900_000);

    it('debian, without SOURCE_DATE_EPOCH: the same image but for the layer bytes and the time it was made', async () => {
      const { tool, script, upper } = await prepare(DEBIAN_REF, 'etc/issue.net', 'usr/share/doc/apt');
      const args = () => ['c1', '--tag', 'cw/debian-committed:1', '-c', 'CMD ["bash"]'];
      // Made at different seconds: written as the tool's time, the rest is compared as above.
      const tag = 'docker.io/cw/debian-committed:1';
      const before = await storeState(tool.store);
      const text = await dryRun(args(), script);
      expect(text).toMatch(/^CREATED=\$\(date -u \+%Y-%m-%dT%H:%M:%S\.000Z\)/m);
      const byScript = await runScript(text);
      expect(byScript, byScript.stderr).toMatchObject({ code: 0, stderr: '' });
      const byTool = await layerCommit(args(), tool);
      expect(byTool, byTool.stderr).toMatchObject({ code: 0 });
      const a = await committed(tool, tag);
      const b = await committed(script, tag);
      const createdA = (JSON.parse(a.configText) as { created: string }).created;
      const createdB = (JSON.parse(b.configText) as { created: string }).created;
      expect(createdB).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(Math.abs(Date.parse(createdA) - Date.parse(createdB))).toBeLessThan(120_000);
      const layerA = a.manifest.layers.at(-1)!;
      const layerB = b.manifest.layers.at(-1)!;
      const listing = readTarListing(gunzipBlob(tool, layerA));
      expect(readTarListing(gunzipBlob(script, layerB)).entries).toEqual(withoutLinkXattrs(listing));
      expect(listing.entries.find((e) => e.name === 'etc/.wh.issue.net')).toBeDefined();
      expect(listing.entries.find((e) => e.name === 'usr/share/doc/.wh.apt')).toBeDefined();
      expect(listing.entries.find((e) => e.name === 'tmp/.wh..wh..opq')).toBeDefined();
      const diffId = (c: Committed) => (JSON.parse(c.configText) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids.at(-1)!;
      expect(b.configText.split(diffId(b)).join(diffId(a)).split(createdB).join(createdA)).toBe(a.configText);
      const manifestB = b.manifestText.split(b.manifest.config.digest).join(a.manifest.config.digest).split(layerB.digest).join(layerA.digest).replace(`"size":${layerB.size}}]`, `"size":${layerA.size}}]`);
      expect(manifestB).toBe(a.manifestText);
      expect(b.indexText.split(b.digest).join(a.digest)).toBe(a.indexText);
      for (const [n, h] of Object.entries(before.blobs)) expect((await storeState(script.store)).blobs[n]).toBe(h);
      expect(await leftovers(join(upper, '..'))).toEqual(['merged', 'overlay.json', 'upper', 'work']);
    }, 300_000);

    it('debian, with SOURCE_DATE_EPOCH: everything but the layer bytes', async () => {
      const { tool, script, upper } = await prepare(DEBIAN_REF, 'etc/issue.net', 'usr/share/doc/apt');
      const args = () => ['c1', '--tag', 'cw/debian-committed:2', ...CHANGES];
      await commitBoth(tool, script, args, 'docker.io/cw/debian-committed:2', upper, { SOURCE_DATE_EPOCH: EPOCH });
    }, 300_000);
  });
});

describe('the script checks what it needs, refuses what the tool refuses, and hides no failure', () => {
  it('without jq on PATH it stops at the top, naming it, and changes nothing', async () => {
    const { script } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const text = await dryRun(['c1', '--tag', 'cw/x:1'], script);
    const bin = join(work, 'bin-without-jq');
    await mkdir(bin, { recursive: true });
    for (const c of /^for command in (.*); do$/m.exec(text)![1]!.split(' ').filter((c) => c !== 'jq')) {
      await symlink((await runCommand('/bin/sh', ['-c', `command -v ${c}`])).stdout.trim(), join(bin, c)).catch(() => undefined);
    }
    const before = await storeState(script.store);
    const result = await runCommand('/bin/bash', ['-e', '-c', text], { env: { PATH: bin } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/this script needs jq \(on Debian: apt-get install .*\bjq\b/);
    expect(await storeState(script.store)).toEqual(before);
  });

  it('an upper with a redirect_dir rename: refused by both, nothing stored', async () => {
    const { tool, script, upper } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    setXattr(join(upper, 'opt/app/sub'), 'trusted.overlay.redirect', '/somewhere');
    const before = await storeState(script.store);
    const text = await dryRun(['c1', '--tag', 'cw/x:1'], script);
    const byScript = await runScript(text);
    const byTool = await layerCommit(['c1', '--tag', 'cw/x:1'], tool);
    expect(byTool.code).toBe(1);
    expect(byScript.code).toBe(1);
    expect(byScript.stderr).toMatch(/overlay redirects/);
    expect(await storeState(script.store)).toEqual(before);
    expect(await leftovers(join(upper, '..'))).toEqual(['merged', 'overlay.json', 'upper', 'work']);
  });

  it('--diff PARENT DIR: a script that says it has no classic equivalent, and fails', async () => {
    const { script, upper } = await prepare(BUSYBOX_REF, 'etc/group', 'home');
    const text = await dryRun(['--diff', join(upper, 'opt'), upper, '--image', BUSYBOX_REF, '--tag', 'cw/x:1'], script);
    const result = await runScript(text);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/no classic equivalent/);
  });
});
