import { randomBytes } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { imageStoreDir, mountRecordPath, readMountRecord, ROOT_OPTION, runTool, stateRoot, ToolError, UsageError, toolSpec, type Invocation, type MountRecord } from '@cutaway/cli';
import { layerPath, LayerError, unpackLayer, type UnpackResult } from '@cutaway/layer';
import { umount2 } from '@cutaway/libc';
import { findImage, hostPlatform, OciLayout, parsePlatform, writeFileAtomic, type ResolvedImage } from '@cutaway/oci';
import pkg from '../package.json' with { type: 'json' };
import { inUserNamespace, mountOverlay, mountPoints, type OverlaySpec } from './overlay.ts';

const spec = toolSpec({
  name: 'overlay-mount',
  version: pkg.version,
  synopsis: ['[options] IMAGE [--name NAME | --target DIR]', '[options] --lower DIR [--lower DIR…] [--target DIR]', '--unmount NAME|PATH [--rm]'],
  description: [
    "Mounts an image's layers as a container's root filesystem, as Docker's overlay2 driver does:",
    'each layer is unpacked once into ROOT/layers/<alg>/<hex> (its diff_id checked while it streams,',
    'OCI whiteouts turned into overlay whiteouts, nothing written outside it) and shared by every',
    'container; then lowers (top first), upper and work are mounted with OverlayFS at',
    'ROOT/containers/NAME/merged (or --target). Prints the merged path.',
  ].join('\n'),
  options: [
    { name: 'name', type: 'string', arg: 'NAME', help: 'the container: its upper, work and merged go in ROOT/containers/NAME (default: a new id)' },
    { name: 'target', type: 'string', arg: 'DIR', help: 'mount here instead of ROOT/containers/NAME/merged' },
    { name: 'lower', type: 'list', arg: 'DIR', help: 'a plain directory as a lower layer, top first (repeat); instead of IMAGE' },
    { name: 'layout', type: 'string', arg: 'DIR', help: 'take IMAGE from this OCI layout instead of the store' },
    { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the image's platform when IMAGE is an index (default: this host's)" },
    { name: 'read-only', type: 'boolean', help: 'mount the lowers only, without upper and work' },
    { name: 'unmount', type: 'string', arg: 'NAME|PATH', help: 'unmount a container (by name) or a mount point; idempotent' },
    { name: 'rm', type: 'boolean', help: 'with --unmount: also remove the upper and work directories (the container)' },
    ROOT_OPTION,
  ],
  examples: [
    'overlay-mount debian:bookworm --name c1                    # → /var/lib/cutaway/containers/c1/merged',
    'rootfs=$(overlay-mount -q busybox)',
    'overlay-mount --lower ./app --lower ./base --target /mnt/merged',
    'overlay-mount --json busybox --name c2 | jq .lowers',
    'overlay-mount --dry-run busybox --name c3                  # mkdir, tar -x and mount -t overlay as a script',
    'overlay-mount --unmount c1 --rm',
  ],
  classic: [
    'mkdir -p layers/L1 && gzip -dc blobs/sha256/… | tar -x --xattrs --numeric-owner -C layers/L1',
    'mknod layers/L2/etc/gone c 0 0                       # a whiteout',
    'setfattr -n trusted.overlay.opaque -v y layers/L2/opt # an opaque directory',
    'mount -t overlay overlay -o lowerdir=layers/L2:layers/L1,upperdir=c1/upper,workdir=c1/work c1/merged',
    'umount c1/merged',
  ],
});

/**
 * A path with its symlinks resolved as far as it exists: /proc/self/mountinfo
 * holds resolved mount points, so a root or target reached through a symlink
 * must be compared in that form.
 */
function resolvedPath(path: string): string {
  const absolute = resolve(path);
  let existing = absolute;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  return join(realpathSync(existing), relative(existing, absolute));
}

/** What overlay-mount records about a container's mount, so that --unmount NAME knows where it is. */
function containerDir(root: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new UsageError(`invalid container name ${JSON.stringify(name)}: letters, digits, "_", "." and "-", as in Docker`);
  return join(root, 'containers', name);
}

async function unpackImage(image: ResolvedImage, layout: OciLayout, root: string, inv: Invocation<typeof spec.options>, userxattr: boolean): Promise<UnpackResult[]> {
  const layersDir = join(root, 'layers');
  const results: UnpackResult[] = [];
  for (const [i, layer] of image.manifest.layers.entries()) {
    const diffId = image.config.rootfs.diff_ids[i]!;
    const path = layerPath(layersDir, diffId);
    const blob = layout.blobPath(layer.digest);
    inv.steps.run(`mkdir -p ${path} && ${layer.mediaType.endsWith('zstd') ? 'zstd -dc' : layer.mediaType.endsWith('gzip') ? 'gzip -dc' : 'cat'} ${blob} | tar -x --xattrs --xattrs-include='*' --numeric-owner -C ${path}`);
    inv.steps.run(`find ${path} -name '.wh..wh..opq' -exec sh -c 'setfattr -n ${userxattr ? 'user' : 'trusted'}.overlay.opaque -v y "$(dirname "$1")" && rm "$1"' _ {} \\;`);
    inv.steps.run(`find ${path} -name '.wh.*' -exec sh -c 'n=$(basename "$1"); rm "$1" && mknod "$(dirname "$1")/\${n#.wh.}" c 0 0' _ {} \\;`);
    if (inv.steps.mode.dryRun) {
      results.push({ diffId, path, unpacked: !existsSync(path) });
      continue;
    }
    const item = inv.progress.item(`layer ${i + 1}/${image.manifest.layers.length} ${diffId.slice(7, 19)}`);
    try {
      const result = await unpackLayer(layout, layer, diffId, layersDir, { overlayXattrPrefix: userxattr ? 'user.overlay.' : 'trusted.overlay.', owners: !userxattr, devices: !userxattr });
      const skipped = result.stats?.skippedDevices ? `; ${result.stats.skippedDevices} device nodes left out, as a user namespace cannot create them` : '';
      item.finish(result.unpacked ? `unpacked (${result.stats?.entries} entries${skipped})` : 'already unpacked');
      results.push(result);
    } catch (e) {
      if (e instanceof LayerError) throw new ToolError(e.message, 'the layer was refused and nothing of it kept');
      throw e;
    }
  }
  return results;
}

async function doMount(inv: Invocation<typeof spec.options>): Promise<number> {
  const { options, positionals, steps, json } = inv;
  const root = resolvedPath(stateRoot(options.root));
  const lowersGiven = options.lower.map((l) => resolve(l));
  if (lowersGiven.length && positionals.length) throw new UsageError('give IMAGE or --lower directories, not both');
  if (!lowersGiven.length && positionals.length !== 1) throw new UsageError(positionals.length ? `one image at a time, got ${positionals.length}` : 'which image? (IMAGE or --lower DIR)');
  for (const l of lowersGiven) {
    if (!(await stat(l).then((s) => s.isDirectory(), () => false))) throw new UsageError(`--lower ${l}: not a directory`);
  }
  const readOnly = options['read-only'];
  const name = options.name ?? randomBytes(6).toString('hex');
  const dir = containerDir(root, name);
  const target = options.target !== undefined ? resolvedPath(options.target) : join(dir, 'merged');
  if (mountPoints().has(target)) throw new ToolError(`${target} is mounted already`, `overlay-mount --unmount ${options.name !== undefined ? name : target}`);
  const userxattr = inUserNamespace();

  let image: (ResolvedImage & { name: string }) | undefined;
  let lowers = lowersGiven;
  let layers: UnpackResult[] = [];
  if (!lowersGiven.length) {
    const layoutDir = options.layout ?? imageStoreDir(root);
    const layout = await OciLayout.open(layoutDir).catch((e: Error) => {
      throw new ToolError(e.message, 'pull an image first: oci-pull IMAGE');
    });
    const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
    image = await findImage(layout, positionals[0]!, platform).catch((e: Error) => {
      throw new ToolError(e.message, `oci-pull ${positionals[0]}`);
    });
    layers = await unpackImage(image, layout, root, inv, userxattr);
    lowers = layers.map((l) => l.path).reverse();
  }
  if (!lowers.length) throw new ToolError(`${image?.name}: the image has no layers to mount`);

  const spec: OverlaySpec = { lowers, target, userxattr, ...(!readOnly && { upper: join(dir, 'upper'), work: join(dir, 'work') }) };
  steps.run(['mkdir', '-p', ...(spec.upper ? [spec.upper, spec.work!] : []), target]);
  if (!steps.mode.dryRun) {
    // A container that is new here and fails to mount leaves nothing behind; an existing one keeps its upper.
    const fresh = !existsSync(dir);
    try {
      for (const d of [dir, spec.upper, spec.work, target]) if (d) await mkdir(d, { recursive: true, mode: 0o755 });
      mountOverlay(spec, steps);
    } catch (e) {
      if (fresh) await rm(dir, { recursive: true, force: true });
      throw new ToolError(`mounting ${target}: ${(e as Error).message}`);
    }
    const record: MountRecord = { merged: target, lowers, ...(spec.upper && { upper: spec.upper, work: spec.work }), ...(image && { image: image.name, imageDigest: image.descriptor.digest }) };
    await writeFileAtomic(mountRecordPath(dir), JSON.stringify(record));
  } else mountOverlay(spec, steps);

  if (steps.mode.dryRun) process.stdout.write(steps.toScript());
  else if (json) process.stdout.write(`${JSON.stringify({ name, merged: target, upper: spec.upper ?? null, work: spec.work ?? null, lowers, userxattr, image: image?.name ?? null, layers })}\n`);
  else process.stdout.write(`${target}\n`);
  return 0;
}

/** Finds the container a mount point belongs to, from the records overlay-mount wrote. */
async function containerOf(root: string, path: string): Promise<string | undefined> {
  const containers = join(root, 'containers');
  for (const name of await readdir(containers).catch(() => [])) {
    const record = readMountRecord(join(containers, name));
    if (record?.merged === path) return join(containers, name);
  }
  return undefined;
}

async function doUnmount({ options, steps }: Invocation<typeof spec.options>, what: string): Promise<number> {
  const root = resolvedPath(stateRoot(options.root));
  let dir: string | undefined;
  let target: string;
  if (what.includes('/')) {
    target = resolvedPath(what);
    dir = await containerOf(root, target);
  } else {
    dir = containerDir(root, what);
    const record = readMountRecord(dir);
    if (!record && !existsSync(dir)) {
      // Removing what is gone already is done: teardown is idempotent.
      if (options.rm) return 0;
      throw new ToolError(`no container named ${what} in ${join(root, 'containers')}`);
    }
    target = record?.merged ?? join(dir, 'merged');
  }
  if (mountPoints().has(target)) {
    steps.run(['umount', target]);
    if (!steps.mode.dryRun) {
      try {
        umount2(target);
      } catch (e) {
        const code = (e as { code?: string }).code;
        throw new ToolError(`umount ${target}: ${code ?? (e as Error).message}`, code === 'EBUSY' ? 'a process still uses it (fuser -vm it)' : undefined);
      }
    }
  }
  if (options.rm && dir) {
    steps.run(['rm', '-rf', dir]);
    if (!steps.mode.dryRun) await rm(dir, { recursive: true, force: true });
  }
  if (steps.mode.dryRun) process.stdout.write(steps.toScript());
  else process.stdout.write(`${target}\n`);
  return 0;
}

void runTool(spec, (inv) => {
  const what = inv.options.unmount;
  if (what !== undefined) {
    if (inv.positionals.length || inv.options.lower.length) throw new UsageError('--unmount takes only the name or path to unmount');
    return doUnmount(inv, what);
  }
  if (inv.options.rm) throw new UsageError('--rm goes with --unmount');
  return doMount(inv);
});
