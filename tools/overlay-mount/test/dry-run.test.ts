/**
 * overlay-mount --dry-run is the tool as a bash script of classic commands (issue 18): run by bash on a clean
 * root, the script must leave what the tool leaves. Each image is pulled into two fresh roots; the tool mounts
 * it in one, the script (printed by --dry-run in the other, changing nothing there) in the other; then both
 * roots are compared:
 *  - the unpacked layers, entry by entry (snapshotTree: type, mode, owner, size, content, link target, device,
 *    mtime, every xattr — trusted.overlay.opaque included — and hardlink groups), and the lock files beside;
 *  - the container directory: overlay.json byte for byte (the roots' paths aside), upper, work, and the merged
 *    tree as the mount shows it;
 *  - the mount, as /proc/self/mountinfo shows it: type, source, per-mount and superblock options;
 *  - the image store, untouched;
 *  - what each printed (the merged path).
 * One thing differs by nature: a whiteout device's mtime is when it was made (mknod), by either.
 * Then --unmount (with and without --rm), the same way. Images: busybox, the layers image (whiteouts, an
 * opaque directory, hardlinks, xattrs, capabilities, devices, fifo, long names), Debian (debootstrap) and
 * Debian with a layer of whiteouts and an opaque directory on top.
 */
import { mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { buildDebianChangesImage, leftovers, mountState, pathExists, runScript, storeState } from '../../../test/fixtures/dry-run.ts';
import { BUSYBOX_REF, buildBusyboxImage, buildDebianImage, buildLayersImage, DEBIAN_REF, diffSnapshots, isOverlayXattr, LAYERS_REF, removeTree, snapshotTree, type BuiltImage, type TreeEntry } from '../../../test/fixtures/images.ts';
import { detachLeftovers, isMounted, mountsUnder, trackMounts } from '../../../test/fixtures/mounts.ts';

const DEBIAN_CHANGES_REF = 'cutaway.test/debian-changes:latest';

let work: string;
let layout: OciLayout;
const images: Record<string, BuiltImage> = {};

const made = trackMounts(() => work);

interface Root {
  root: string;
  env: NodeJS.ProcessEnv;
}

async function freshRoot(label: string): Promise<Root> {
  const root = await mkdtemp(join(work, `${label}-`));
  return { root, env: { CUTAWAY_ROOT: root, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '' } };
}

async function pull(r: Root, ref: string): Promise<void> {
  const result = await runCommand('oci-pull', ['-q', `oci:${layout.dir}:${ref}`], { env: r.env });
  expect(result, result.stderr).toMatchObject({ code: 0 });
}

function overlayMount(args: string[], r: Root): Promise<CommandResult> {
  return runCommand('overlay-mount', args, { env: r.env });
}

/** `--dry-run ARGS` in `r`: the script, after checking that printing it changed nothing there. */
async function dryRun(args: string[], r: Root): Promise<string> {
  const before = await rootListing(r);
  const mountsBefore = mountsUnder(r.root);
  const result = await overlayMount(['--dry-run', ...args], r);
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  const script = result.stdout;
  expect(script).toMatch(/^#!\/bin\/bash\n/);
  expect(script).toMatch(/^set -euo pipefail$/m);
  expect(script).toMatch(/^for command in .*; do\n {2}command -v "\$command" >\/dev\/null \|\| \{ echo "this script needs \$command/m);
  // Nothing that swallows a failure: no find -exec, no `|| true`, no 2>/dev/null.
  expect(script).not.toMatch(/-exec|\|\| true|2>\s*\/dev\/null/);
  expect(await rootListing(r)).toEqual(before);
  expect(mountsUnder(r.root)).toEqual(mountsBefore);
  return script;
}

/** Every path under a root, with its type: what a dry run must not change. */
async function rootListing(r: Root): Promise<string[]> {
  return (await readdir(r.root, { recursive: true, withFileTypes: true })).map((d) => `${join(d.parentPath, d.name).slice(r.root.length)} ${d.isDirectory() ? 'd' : 'f'}`).sort();
}

const isWhiteout = (e: TreeEntry) => e.type === 'char' && e.device === '0:0';

interface Compare {
  /** Whether to compare mtimes (but the root's and a whiteout's: when mknod ran); default yes. */
  mtimes?: boolean;
  /** Whether to compare overlay's own xattrs (the opaque mark in a layer: yes; the uuid the kernel gives an upper: no). */
  overlayXattrs?: boolean;
}

/** A tree as the comparison sees it. */
function snapshot(dir: string, options: Compare = {}): Promise<TreeEntry[]> {
  return snapshotTree(dir, {
    ignoreXattr: (name) => options.overlayXattrs === false && isOverlayXattr(name),
    mtime: (e) => options.mtimes !== false && e.path !== '.' && !isWhiteout(e),
  });
}

async function expectSameTree(tool: string, script: string, options: Compare = {}): Promise<TreeEntry[]> {
  const [a, b] = await Promise.all([snapshot(tool, options), snapshot(script, options)]);
  expect(diffSnapshots(b, a), `${script} vs ${tool}`).toEqual([]);
  expect(b).toEqual(a);
  return a;
}

/** The text of a file with a root's path written as ROOT. */
async function rootText(path: string, r: Root): Promise<string> {
  return (await readFile(path, 'utf8')).split(r.root).join('ROOT');
}

/** Both roots' layers/ directories, lock files and unpacked layers, entry by entry; returns each layer's entries. */
async function expectSameLayers(tool: Root, script: Root, diffIds: string[]): Promise<TreeEntry[][]> {
  const dir = (r: Root) => join(r.root, 'layers', 'sha256');
  const names = await readdir(dir(tool));
  expect((await readdir(dir(script))).sort()).toEqual(names.sort());
  expect(names.sort()).toEqual(diffIds.flatMap((d) => [d.slice(7), `${d.slice(7)}.lock`]).sort());
  const layers: TreeEntry[][] = [];
  for (const d of diffIds) layers.push(await expectSameTree(join(dir(tool), d.slice(7)), join(dir(script), d.slice(7))));
  return layers;
}

/** The container directory, the mount and overlay.json of NAME in both roots. */
async function expectSameContainer(tool: Root, script: Root, name: string): Promise<void> {
  const dir = (r: Root) => join(r.root, 'containers', name);
  expect(await readdir(join(script.root, 'containers'))).toEqual(await readdir(join(tool.root, 'containers')));
  expect((await readdir(dir(script))).sort()).toEqual((await readdir(dir(tool))).sort());
  expect(await rootText(join(dir(script), 'overlay.json'), script)).toBe(await rootText(join(dir(tool), 'overlay.json'), tool));
  const record = JSON.parse(await readFile(join(dir(tool), 'overlay.json'), 'utf8')) as { merged: string; upper?: string; work?: string };
  const target = (r: Root) => record.merged.replace(tool.root, r.root);
  const mount = mountState(target(tool), tool.root);
  expect(mount).toBeDefined();
  expect(mountState(target(script), script.root)).toEqual(mount);
  // The container's upper and work (its own, or --upper's and --work's; made now: their times are when) and the merged tree.
  for (const path of [record.upper, record.work]) {
    if (path) await expectSameTree(path, path.replace(tool.root, script.root), { mtimes: false, overlayXattrs: false });
  }
  await expectSameTree(target(tool), target(script), { overlayXattrs: false });
}

async function mountBoth(ref: string, name: string, diffIds: string[]): Promise<{ tool: Root; script: Root; merged: (r: Root) => string }> {
  const tool = await freshRoot('tool');
  const script = await freshRoot('script');
  await Promise.all([pull(tool, ref), pull(script, ref)]);
  const text = await dryRun([ref, '--name', name], script);
  expect(text.match(/^unpack_layer /gm)).toHaveLength(diffIds.length);
  const merged = (r: Root) => join(r.root, 'containers', name, 'merged');
  made.add(merged(tool));
  made.add(merged(script));

  const byTool = await overlayMount([ref, '--name', name], tool);
  expect(byTool, byTool.stderr).toMatchObject({ code: 0 });
  const byScript = await runScript(text);
  expect(byScript, byScript.stderr).toMatchObject({ code: 0, stderr: '' });
  expect(byScript.stdout.split(script.root).join('ROOT')).toBe(byTool.stdout.split(tool.root).join('ROOT'));
  expect(isMounted(merged(script))).toBe(true);

  expect(await storeState(join(script.root, 'images'))).toEqual(await storeState(join(tool.root, 'images')));
  expect(await leftovers(script.root)).toEqual(await leftovers(tool.root));
  return { tool, script, merged };
}

/** --unmount NAME [--rm] by the tool in one root, by its script in the other; both end the same. */
async function unmountBoth(tool: Root, script: Root, name: string, rm: boolean): Promise<void> {
  const args = ['--unmount', name, ...(rm ? ['--rm'] : [])];
  const text = await dryRun(args, script);
  const byTool = await overlayMount(args, tool);
  expect(byTool, byTool.stderr).toMatchObject({ code: 0 });
  const byScript = await runScript(text);
  expect(byScript, byScript.stderr).toMatchObject({ code: 0, stderr: '' });
  expect(byScript.stdout.split(script.root).join('ROOT')).toBe(byTool.stdout.split(tool.root).join('ROOT'));
  const merged = (r: Root) => join(r.root, 'containers', name, 'merged');
  expect(isMounted(merged(tool))).toBe(false);
  expect(isMounted(merged(script))).toBe(false);
  expect(await pathExists(join(script.root, 'containers', name))).toBe(!rm);
  expect(await pathExists(join(tool.root, 'containers', name))).toBe(!rm);
  if (!rm) {
    // Unmounting what is not mounted is done, for the script as for the tool.
    const again = await runScript(text);
    expect(again, again.stderr).toMatchObject({ code: 0 });
  }
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-om-dry-'));
  layout = await OciLayout.create(join(work, 'layout'));
  images.busybox = await buildBusyboxImage(layout);
  images.layers = await buildLayersImage(layout);
});

afterAll(async () => {
  await detachLeftovers(made, work);
  if (work) await removeTree(work);
  expect(work ? mountsUnder(work) : []).toEqual([]);
});

describe('overlay-mount IMAGE --name NAME: the --dry-run script leaves what the tool leaves', () => {
  it('busybox', async () => {
    const { diffIds } = images.busybox!;
    const { tool, script } = await mountBoth(BUSYBOX_REF, 'c1', diffIds);
    const [entries] = await expectSameLayers(tool, script, diffIds);
    expect(entries!.length).toBeGreaterThan(100);
    await expectSameContainer(tool, script, 'c1');

    // Mounted already: the tool refuses, and so does the script, with the same line.
    const again = await overlayMount([BUSYBOX_REF, '--name', 'c1'], tool);
    const againText = await overlayMount(['--dry-run', BUSYBOX_REF, '--name', 'c1'], script);
    expect(again.code).toBe(1);
    expect(againText.code).toBe(1); // the tool's dry run sees it too, and prints no script
    expect(againText.stderr.split(script.root).join('ROOT')).toBe(again.stderr.split(tool.root).join('ROOT'));

    await unmountBoth(tool, script, 'c1', false);
    await unmountBoth(tool, script, 'c1', true);
    await expectSameLayers(tool, script, diffIds);
  });

  it('layers: whiteouts, an opaque directory, hardlinks, xattrs and a capability, odd modes, a fifo, a device, long names', async () => {
    const { diffIds } = images.layers!;
    const { tool, script } = await mountBoth(LAYERS_REF, 'c2', diffIds);
    const layers = await expectSameLayers(tool, script, diffIds);
    const entries = layers.flat();
    // The comparison saw what it is meant to: 0:0 devices, the opaque mark, a capability, a hardlink.
    expect(entries.filter(isWhiteout).map((e) => e.path).sort()).toEqual(['data/delete-me.txt', 'data/gone-dir', 'data/revived-dir', 'usr/bin/wget']);
    expect(layers[2]!.find((e) => e.path === 'data/opaque')?.xattrs).toEqual({ 'trusted.overlay.opaque': 'y' });
    expect(entries.find((e) => e.path === 'special/busybox-netraw')?.xattrs).toHaveProperty('security.capability');
    expect(entries.find((e) => e.path === 'special/hardlink-b')).toMatchObject({ hardlinkOf: 'special/hardlink-a' });
    expect(entries.find((e) => e.path === 'special/null')).toMatchObject({ type: 'char', device: '1:3' });
    expect(entries.some((e) => e.path.endsWith('.wh..wh..opq') || e.path.includes('/.wh.'))).toBe(false);
    await expectSameContainer(tool, script, 'c2');
    await unmountBoth(tool, script, 'c2', true);
  });

  describe('debian (debootstrap minbase), and Debian with whiteouts and an opaque directory on top', () => {
    beforeAll(async () => {
      images.debian = await buildDebianImage(layout);
      images.debianChanges = await buildDebianChangesImage(layout, images.debian, DEBIAN_CHANGES_REF);
    }, 900_000);

    it('debian', async () => {
      const { diffIds } = images.debian!;
      const { tool, script } = await mountBoth(DEBIAN_REF, 'd1', diffIds);
      const [entries] = await expectSameLayers(tool, script, diffIds);
      expect(entries!.length).toBeGreaterThan(5000);
      expect(entries!.find((e) => e.path === 'dev/null')).toMatchObject({ type: 'char', device: '1:3' });
      await expectSameContainer(tool, script, 'd1');
      await unmountBoth(tool, script, 'd1', true);
    }, 300_000);

    it('debian with a layer of changes', async () => {
      const { diffIds } = images.debianChanges!;
      const { tool, script } = await mountBoth(DEBIAN_CHANGES_REF, 'd2', diffIds);
      const [, entries] = await expectSameLayers(tool, script, diffIds);
      expect(entries!.filter(isWhiteout).map((e) => e.path).sort()).toEqual(['etc/motd', 'usr/share/doc']);
      expect(entries!.find((e) => e.path === 'etc/apt/apt.conf.d')?.xattrs).toEqual({ 'trusted.overlay.opaque': 'y' });
      await expectSameContainer(tool, script, 'd2');
      for (const r of [tool, script]) {
        const merged = join(r.root, 'containers/d2/merged');
        expect(await pathExists(join(merged, 'etc/motd'))).toBe(false);
        expect(await pathExists(join(merged, 'usr/share/doc'))).toBe(false);
        expect(await readdir(join(merged, 'etc/apt/apt.conf.d'))).toEqual(['99cutaway']);
      }
      await unmountBoth(tool, script, 'd2', true);
    }, 300_000);
  });
});

describe('the other mounts', () => {
  it('--lower DIR… --target DIR and --read-only: the same mount and record', async () => {
    const tool = await freshRoot('tool');
    const script = await freshRoot('script');
    for (const r of [tool, script]) {
      await mkdir(join(r.root, 'app'), { recursive: true });
      await mkdir(join(r.root, 'base'), { recursive: true });
      await writeFile(join(r.root, 'app/app.txt'), 'app\n');
      await writeFile(join(r.root, 'base/base.txt'), 'base\n');
      // The same times on both sides: written a moment apart, they could straddle a second and differ.
      for (const path of ['app/app.txt', 'base/base.txt', 'app', 'base']) await utimes(join(r.root, path), 1_700_000_000, 1_700_000_000);
    }
    const args = (r: Root) => ['--lower', join(r.root, 'app'), '--lower', join(r.root, 'base'), '--target', join(r.root, 'mnt'), '--name', 'l1'];
    const text = await dryRun(args(script), script);
    made.add(join(tool.root, 'mnt'));
    made.add(join(script.root, 'mnt'));
    expect(await overlayMount(args(tool), tool)).toMatchObject({ code: 0 });
    expect(await runScript(text)).toMatchObject({ code: 0, stderr: '' });
    await expectSameContainer(tool, script, 'l1');
    expect(mountState(join(script.root, 'mnt'), script.root)?.superOptions).toMatch(/lowerdir=ROOT\/app:ROOT\/base,upperdir=ROOT\/containers\/l1\/upper/);
    await unmountBoth(tool, script, 'l1', true);

    // --read-only, one layer: a read-only bind mount.
    await Promise.all([pull(tool, BUSYBOX_REF), pull(script, BUSYBOX_REF)]);
    const ro = await dryRun([BUSYBOX_REF, '--read-only', '--name', 'r1'], script);
    expect(ro).toMatch(/^mount --bind -o ro /m);
    made.add(join(tool.root, 'containers/r1/merged'));
    made.add(join(script.root, 'containers/r1/merged'));
    expect(await overlayMount([BUSYBOX_REF, '--read-only', '--name', 'r1'], tool)).toMatchObject({ code: 0 });
    expect(await runScript(ro)).toMatchObject({ code: 0, stderr: '' });
    await expectSameContainer(tool, script, 'r1');
    expect(mountState(join(script.root, 'containers/r1/merged'), script.root)?.options).toMatch(/^ro,/);
    await unmountBoth(tool, script, 'r1', true);
  });
});

describe('--upper DIR --work DIR: the same mount, record and directories; --rm keeps them', () => {
  /** Mounts by the tool in one root and by its script in the other, with the upper and work under each root's `mine/`. */
  async function mountChosen(tool: Root, script: Root, args: (r: Root) => string[], name: string): Promise<void> {
    const text = await dryRun(args(script), script);
    expect(text).toContain(`upperdir=${join(script.root, 'mine/upper')},workdir=${join(script.root, 'mine/work')},`);
    made.add(join(tool.root, 'containers', name, 'merged'));
    made.add(join(script.root, 'containers', name, 'merged'));
    const byTool = await overlayMount(args(tool), tool);
    expect(byTool, byTool.stderr).toMatchObject({ code: 0 });
    const byScript = await runScript(text);
    expect(byScript, byScript.stderr).toMatchObject({ code: 0, stderr: '' });
    expect(byScript.stdout.split(script.root).join('ROOT')).toBe(byTool.stdout.split(tool.root).join('ROOT'));
    await expectSameContainer(tool, script, name);
    for (const r of [tool, script]) {
      const file = join(r.root, 'containers', name, 'merged/written');
      await writeFile(file, `${name}\n`);
      // The same time on both sides: written a moment apart, they differ by the moment.
      await utimes(file, 1_600_000_000, 1_600_000_000);
    }
  }

  /** The upper and work each root keeps after --unmount --rm: the same, with what the container wrote. */
  async function expectKept(tool: Root, script: Root, name: string): Promise<void> {
    for (const dir of ['mine/upper', 'mine/work']) await expectSameTree(join(tool.root, dir), join(script.root, dir), { mtimes: false, overlayXattrs: false });
    for (const r of [tool, script]) expect(await readFile(join(r.root, 'mine/upper/written'), 'utf8')).toBe(`${name}\n`);
  }

  it('with --lower: mounted, unmounted, mounted again on the same upper and work, removed', async () => {
    const tool = await freshRoot('tool');
    const script = await freshRoot('script');
    for (const r of [tool, script]) {
      await mkdir(join(r.root, 'rootfs'));
      await writeFile(join(r.root, 'rootfs/base.txt'), 'base\n');
      for (const path of ['rootfs/base.txt', 'rootfs']) await utimes(join(r.root, path), 1_700_000_000, 1_700_000_000);
    }
    const args = (r: Root) => ['--lower', join(r.root, 'rootfs'), '--upper', join(r.root, 'mine/upper'), '--work', join(r.root, 'mine/work'), '--name', 'u1'];
    await mountChosen(tool, script, args, 'u1');
    await unmountBoth(tool, script, 'u1', false);
    // Again: the work directory holds overlay's work/ now, and the upper what was written.
    const again = await dryRun(args(script), script);
    expect(again).not.toMatch(/^made=/m); // everything exists: a failed mount would have nothing to take away
    expect(await overlayMount(args(tool), tool)).toMatchObject({ code: 0 });
    expect(await runScript(again)).toMatchObject({ code: 0, stderr: '' });
    await expectSameContainer(tool, script, 'u1');
    for (const r of [tool, script]) expect(await readFile(join(r.root, 'containers/u1/merged/written'), 'utf8')).toBe('u1\n');
    const rm = await dryRun(['--unmount', 'u1', '--rm'], script);
    expect(rm).toContain(`# ${join(script.root, 'mine/upper')} and ${join(script.root, 'mine/work')} stay`);
    await unmountBoth(tool, script, 'u1', true);
    await expectKept(tool, script, 'u1');
  });

  it('with an IMAGE', async () => {
    const tool = await freshRoot('tool');
    const script = await freshRoot('script');
    await Promise.all([pull(tool, LAYERS_REF), pull(script, LAYERS_REF)]);
    const args = (r: Root) => [LAYERS_REF, '--upper', join(r.root, 'mine/upper'), '--work', join(r.root, 'mine/work'), '--name', 'u2'];
    await mountChosen(tool, script, args, 'u2');
    await expectSameLayers(tool, script, images.layers!.diffIds);
    await unmountBoth(tool, script, 'u2', true);
    await expectKept(tool, script, 'u2');
  });
});

describe('the script checks what it needs and hides no failure', () => {
  it('without setfattr on PATH it stops at the top, naming it and its package, and changes nothing', async () => {
    const script = await freshRoot('script');
    await pull(script, BUSYBOX_REF);
    const text = await dryRun([BUSYBOX_REF, '--name', 'n1'], script);
    // A PATH with every command the script names but setfattr.
    const bin = join(work, 'bin-without-setfattr');
    await mkdir(bin, { recursive: true });
    const needed = /^for command in (.*); do$/m.exec(text)![1]!.split(' ');
    expect(needed).toEqual(expect.arrayContaining(['setfattr', 'mknod', 'flock', 'tar', 'gzip', 'sha256sum', 'mount']));
    for (const c of needed.filter((c) => c !== 'setfattr')) {
      const path = (await runCommand('/bin/sh', ['-c', `command -v ${c}`])).stdout.trim();
      await symlink(path, join(bin, c));
    }
    const before = await rootListing(script);
    const result = await runCommand('/bin/bash', ['-e', '-c', text], { env: { PATH: bin } });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/this script needs setfattr \(on Debian: apt-get install .*\battr\b/);
    expect(await rootListing(script)).toEqual(before);
  });

  it('a mount the kernel refuses after the checks (an upper on an overlay): both take away what they made, and only that', async () => {
    const tool = await freshRoot('tool');
    const script = await freshRoot('script');
    for (const r of [tool, script]) {
      await mkdir(join(r.root, 'rootfs'));
      await writeFile(join(r.root, 'rootfs/base.txt'), 'base\n');
      // An overlay is no upper filesystem (no O_TMPFILE, no trusted xattrs of its own): the kernel says EINVAL.
      made.add(join(r.root, 'ov'));
      expect(await overlayMount(['--lower', join(r.root, 'rootfs'), '--target', join(r.root, 'ov'), '--name', 'ov'], r)).toMatchObject({ code: 0 });
    }
    const args = (r: Root) => ['--lower', join(r.root, 'rootfs'), '--upper', join(r.root, 'ov/new/upper'), '--work', join(r.root, 'ov/new/work'), '--target', join(r.root, 'mnt/merged'), '--name', 'n1'];
    const text = await dryRun(args(script), script);
    const before = await rootListing(script);
    const byTool = await overlayMount(args(tool), tool);
    expect(byTool).toMatchObject({ code: 1, stderr: expect.stringMatching(/^overlay-mount: error: mounting .*: EINVAL/) });
    const byScript = await runScript(text);
    expect(byScript.code).toBe(1);
    expect(await rootListing(script)).toEqual(before);
    expect((await rootListing(tool)).join('\n').split(tool.root).join('ROOT')).toBe(before.join('\n').split(script.root).join('ROOT'));
    for (const r of [tool, script]) {
      expect(await readdir(join(r.root, 'containers'))).toEqual(['ov']);
      expect(await readdir(join(r.root, 'ov'))).toEqual(['base.txt']);
      expect(await pathExists(join(r.root, 'mnt'))).toBe(false);
      expect(await overlayMount(['--unmount', 'ov', '--rm'], r)).toMatchObject({ code: 0 });
    }
  });

  it('a damaged layer blob: the script fails where the tool fails, and leaves no half-made layer', async () => {
    const tool = await freshRoot('tool');
    const script = await freshRoot('script');
    await Promise.all([pull(tool, BUSYBOX_REF), pull(script, BUSYBOX_REF)]);
    const text = await dryRun([BUSYBOX_REF, '--name', 'x1'], script);
    const layer = images.busybox!.manifest.layers[0]!.digest.slice(7);
    for (const r of [tool, script]) {
      // The same blob with one byte changed, in the middle of the deflate stream.
      const blob = join(r.root, 'images/blobs/sha256', layer);
      const bytes = await readFile(blob);
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff;
      await writeFile(blob, bytes);
    }
    const byTool = await overlayMount([BUSYBOX_REF, '--name', 'x1'], tool);
    const byScript = await runScript(text);
    expect(byTool.code).toBe(1);
    expect(byScript.code).not.toBe(0);
    expect(byScript.stderr).not.toBe('');
    for (const r of [tool, script]) {
      expect(await leftovers(join(r.root, 'layers/sha256'), [`${images.busybox!.diffIds[0]!.slice(7)}.lock`])).toEqual([]);
      expect(isMounted(join(r.root, 'containers/x1/merged'))).toBe(false);
    }
  });
});
