import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { imageStoreDir, mountRecordPath, readMountRecord, ROOT_OPTION, runHere, shellCommand, shellQuote, stateRoot, ToolError, UsageError, toolSpec, type Invocation, type MountRecord, type Steps } from '@cutaway/cli';
import { layerPath, LayerError, unpackLayer, type UnpackResult } from '@cutaway/layer';
import { userNamespaceOf, type UserNamespace } from '@cutaway/libc/userns';
import { findImage, hostPlatform, isContentHandle, NoSuchImageError, OciLayout, parsePlatform, writeFileAtomic, type FoundImage, type ResolvedImage } from '@cutaway/oci';
import pkg from '../package.json' with { type: 'json' };
import { checkChosenDirs, isWithin, overlaps, resolvedPath, toMake } from './dirs.ts';
import { containerDir, unmountTarget } from './unmount.ts';
import { mountCommand, mountOverlay, mountPoints, type OverlaySpec } from './overlay.ts';
import { decompressor, overlayScript, unpackFunction } from './script.ts';

export const spec = toolSpec({
  name: 'overlay-mount',
  version: pkg.version,
  synopsis: [
    '[options] IMAGE [--name NAME | --target DIR] [--upper DIR --work DIR]',
    '[options] --lower DIR [--lower DIR…] [--target DIR] [--upper DIR --work DIR]',
    '--unmount NAME|PATH [--rm]',
  ],
  description: [
    "Mounts an image's layers as a container's root filesystem, as Docker's overlay2 driver does:",
    'each layer is unpacked once into ROOT/layers/<alg>/<hex> (its diff_id checked while it streams,',
    'OCI whiteouts turned into overlay whiteouts, nothing written outside it) and shared by every',
    'container; then lowers (top first), upper and work are mounted with OverlayFS at',
    'ROOT/containers/NAME/merged (or --target), the upper and work in ROOT/containers/NAME (or --upper and',
    '--work, which stay yours: --unmount --rm keeps them). Prints the merged path. IMAGE is any handle Docker',
    'takes: a name, an image ID (the config digest) or a unique prefix of one, a manifest digest, NAME@DIGEST.',
  ].join('\n'),
  options: [
    { name: 'name', type: 'string', arg: 'NAME', help: 'the container: its upper, work and merged go in ROOT/containers/NAME (default: a new id)' },
    { name: 'target', type: 'string', arg: 'DIR', help: 'mount here instead of ROOT/containers/NAME/merged' },
    { name: 'lower', type: 'list', arg: 'DIR', help: 'a plain directory as a lower layer, top first (repeat); instead of IMAGE' },
    { name: 'upper', type: 'string', arg: 'DIR', help: "the overlay's upper directory instead of ROOT/containers/NAME/upper: made if missing, never removed (with --work)" },
    { name: 'work', type: 'string', arg: 'DIR', help: "the overlay's work directory, under the upper's mount: empty, or one overlay used before (with --upper)" },
    { name: 'layout', type: 'string', arg: 'DIR', help: 'take IMAGE from this OCI layout instead of the store' },
    { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the image's platform when IMAGE is an index (default: this host's)" },
    { name: 'read-only', type: 'boolean', help: 'mount the lowers only, without upper and work' },
    { name: 'unmount', type: 'string', arg: 'NAME|PATH', help: 'unmount a container (by name) or a mount point; idempotent' },
    { name: 'rm', type: 'boolean', help: "with --unmount: also remove the container's directory, its own upper and work with it (never --upper's or --work's)" },
    ROOT_OPTION,
  ],
  examples: [
    'overlay-mount debian:bookworm --name c1                    # → /var/lib/cutaway/containers/c1/merged',
    'rootfs=$(overlay-mount -q busybox)',
    'overlay-mount 4e5021d210f6 --name c4                       # by image ID prefix (or sha256:…, a manifest digest)',
    'overlay-mount --lower ./app --lower ./base --target /mnt/merged',
    'overlay-mount --lower ./rootfs --upper ./upper --work ./work --target ./merged   # mount -t overlay, by hand',
    'overlay-mount --json busybox --name c2 | jq .lowers',
    'overlay-mount --dry-run busybox --name c3                  # mkdir, tar -x and mount -t overlay as a script',
    'overlay-mount --unmount c1 --rm',
  ],
  classic: [
    'gzip -dc blobs/sha256/… | sha256sum                  # the diff_id the config names',
    'mkdir L1.tmp && gzip -dc blobs/sha256/… | tar -x --numeric-owner --xattrs --xattrs-include=\'*\' -C L1.tmp && mv L1.tmp layers/L1',
    'mknod -m 000 layers/L2/etc/gone c 0 0                # a whiteout (for etc/.wh.gone)',
    'setfattr -n trusted.overlay.opaque -v y layers/L2/opt # an opaque directory (for opt/.wh..wh..opq)',
    'mount -t overlay overlay -o lowerdir=layers/L2:layers/L1,upperdir=c1/upper,workdir=c1/work c1/merged',
    'mount -t overlay overlay -o lowerdir=./rootfs,upperdir=./upper,workdir=./work ./merged   # --upper, --work',
    'umount c1/merged',
  ],
});

/** A failed image lookup as one line: a missing name hints at pulling it; an ID or a digest is looked up only. */
function imageError(e: Error, handle: string, layoutDir: string): ToolError {
  if (!(e instanceof NoSuchImageError)) return new ToolError(e.message);
  return new ToolError(`${e.message} in ${layoutDir}`, isContentHandle(handle) ? 'an image ID or a digest is looked up, never pulled' : `oci-pull ${handle}`);
}

/** Why a layer's entries lost their owners or device nodes, in the progress line (a user namespace's limits). */
function unpackNotes(stats: UnpackResult['stats']): string {
  const notes: string[] = [];
  if (stats?.skippedDevices) notes.push(`${stats.skippedDevices} device nodes left out, as a user namespace cannot create them`);
  if (stats?.unmappedOwners)
    notes.push(`${stats.unmappedOwners} ${stats.unmappedOwners === 1 ? 'entry' : 'entries'} kept as root: their owners are not mapped in this user namespace (unshare --map-root-user --map-auto maps the /etc/subuid range)`);
  return notes.map((n) => `; ${n}`).join('');
}

/** Where the image's layers are (or will be) unpacked, bottom first: ROOT/layers/<alg>/<hex> of each diff_id. */
function layerDirs(image: ResolvedImage, root: string): string[] {
  return image.manifest.layers.map((_, i) => layerPath(join(root, 'layers'), image.config.rootfs.diff_ids[i]!));
}

/**
 * Unpacks the image's layers. In a user namespace (userns not the initial one) overlay marks go under user.overlay.
 * (the mount takes userxattr), device nodes are left out, and an entry gets its owner where the namespace maps it.
 */
async function unpackImage(image: ResolvedImage, layout: OciLayout, root: string, inv: Invocation<typeof spec.options>, userns: UserNamespace): Promise<UnpackResult[]> {
  const userxattr = !userns.initial;
  const layersDir = join(root, 'layers');
  const paths = layerDirs(image, root);
  const results: UnpackResult[] = [];
  for (const [i, layer] of image.manifest.layers.entries()) {
    const diffId = image.config.rootfs.diff_ids[i]!;
    const path = paths[i]!;
    if (inv.steps.mode.dryRun) {
      results.push({ diffId, path, unpacked: !existsSync(path) });
      continue;
    }
    inv.steps.run(`unpack_layer ${shellCommand([decompressor(layer.mediaType).command, layout.blobPath(layer.digest), diffId, path])}`);
    const item = inv.progress.item(`layer ${i + 1}/${image.manifest.layers.length} ${diffId.slice(7, 19)}`);
    try {
      const owners = userns.initial || { uids: userns.uids, gids: userns.gids };
      const result = await unpackLayer(layout, layer, diffId, layersDir, { overlayXattrPrefix: overlayPrefix(userxattr), owners, devices: !userxattr });
      item.finish(result.unpacked ? `unpacked (${result.stats?.entries} entries${unpackNotes(result.stats)})` : 'already unpacked');
      results.push(result);
    } catch (e) {
      if (e instanceof LayerError) throw new ToolError(e.message, 'the layer was refused and nothing of it kept');
      throw e;
    }
  }
  return results;
}

const overlayPrefix = (userxattr: boolean) => (userxattr ? 'user.overlay.' : 'trusted.overlay.');

/**
 * The --dry-run script of a mount: each layer unpacked by unpack_layer (script.ts), the container's
 * directories, the mount, overlay.json, and the merged path printed, as doMount does them.
 */
function mountScript(a: { image?: FoundImage; layout?: OciLayout; layers: UnpackResult[]; spec: OverlaySpec; dir: string; made: string[]; chosen: boolean; record: MountRecord; containerName: string; named: boolean }): string {
  const script = overlayScript(process.argv.slice(2)).need('mkdir', 'mount', 'mountpoint', 'mv');
  const { spec, dir, record } = a;
  if (a.image && a.layout) {
    const layers = a.image.manifest.layers;
    script.need('tar', 'sha256sum', 'mktemp', 'chmod', 'find', 'touch', 'mknod', 'setfattr', 'flock', 'rm');
    for (const l of layers) script.need(decompressor(l.mediaType).needs);
    script.add(...unpackFunction(overlayPrefix(spec.userxattr), spec.userxattr), '');
    script.add(`# The layers of ${a.image.name} (${a.image.descriptor.digest}), bottom first`);
    for (const [i, layer] of layers.entries()) {
      const { diffId, path } = a.layers[i]!;
      script.add(`unpack_layer ${shellCommand([decompressor(layer.mediaType).command, a.layout.blobPath(layer.digest), diffId, path])}`);
    }
  }
  const target = spec.target;
  const { command, note } = mountCommand(spec);
  script.add(
    '',
    `# The container${spec.upper ? ': its upper and work directories, and the overlay (lowers top first)' : ', read-only: the lowers alone'}`,
    `if mountpoint -q ${shellQuote(target)}; then`,
    `  echo ${shellQuote(`overlay-mount: error: ${target} is mounted already (overlay-mount --unmount ${a.named ? a.containerName : target})`)} >&2`,
    '  exit 1',
    'fi',
    ...(a.chosen ? ['# --upper and --work were checked when this script was printed: apart from each other, the lowers and the', '# mount point, under one mount, work empty or one overlay used before (overlayfs.rst)'] : []),
    ...(a.made.length
      ? [
          // What is new here and fails to mount leaves nothing behind; an existing container keeps its upper.
          '# What this makes, removed again should the mount fail',
          'made=()',
          `for d in ${a.made.map(shellQuote).join(' ')}; do [ -e "$d" ] || made+=("$d"); done`,
        ]
      : []),
    shellCommand(['mkdir', '-p', ...mkdirs(spec, dir)]),
    ...(note ? [`# ${note}`] : []),
    a.made.length ? `${shellCommand(command)} || { rm -rf "\${made[@]}"; exit 1; }` : shellCommand(command),
    '',
    '# What overlay-mount records of the mount: --unmount NAME and layer-commit read it',
    `printf '%s' ${shellQuote(JSON.stringify(record))} > ${shellQuote(`${mountRecordPath(dir)}.tmp`)}`,
    shellCommand(['mv', `${mountRecordPath(dir)}.tmp`, mountRecordPath(dir)]),
    shellCommand(['echo', target]),
  );
  return script.toString();
}

/** The directories a mount makes with `mkdir -p`: the container's, the upper and work, the mount point. */
function mkdirs(spec: OverlaySpec, dir: string): string[] {
  return [...new Set([dir, ...(spec.upper ? [spec.upper, spec.work!] : []), spec.target])];
}

/**
 * The containers of a root that have a mount record, with it. One that cannot be read (damaged by hand) is
 * passed over: it must not stop every other container's mount.
 */
async function mountRecords(root: string): Promise<{ name: string; dir: string; record: MountRecord }[]> {
  const containers = join(root, 'containers');
  const found = [];
  for (const name of await readdir(containers).catch(() => [])) {
    let record: MountRecord | undefined;
    try {
      record = readMountRecord(join(containers, name));
    } catch {
      continue;
    }
    if (record) found.push({ name, dir: join(containers, name), record });
  }
  return found;
}

/**
 * Refuses an upper or work directory that a mounted overlay of this root uses already: overlayfs.rst
 * ("Sharing and copying layers") does not allow it, yet with index=off the kernel only warns in dmesg,
 * and files written through both mounts are undefined.
 */
async function checkNotInUse(root: string, spec: OverlaySpec): Promise<void> {
  if (!spec.upper) return;
  const mounted = mountPoints();
  for (const { name, record } of await mountRecords(root)) {
    if (!mounted.has(record.merged)) continue;
    const theirs = [record.upper, record.work].filter((p): p is string => p !== undefined);
    for (const [what, ours] of [['upper', spec.upper], ['work', spec.work]] as const) {
      if (ours && theirs.some((t) => overlaps(ours, t))) throw new ToolError(`${what} ${ours}: in use by the overlay of container ${name} at ${record.merged}`, `overlay-mount --unmount ${name}`);
    }
  }
}

async function doMount(inv: Invocation<typeof spec.options>, print: (text: string) => void): Promise<number> {
  const { options, positionals, steps, json } = inv;
  const root = resolvedPath(stateRoot(options.root));
  const lowersGiven = options.lower.map((l) => resolve(l));
  if (lowersGiven.length && positionals.length) throw new UsageError('give IMAGE or --lower directories, not both');
  if (!lowersGiven.length && positionals.length !== 1) throw new UsageError(positionals.length ? `one image at a time, got ${positionals.length}` : 'which image? (IMAGE or --lower DIR)');
  for (const l of lowersGiven) {
    if (!(await stat(l).then((s) => s.isDirectory(), () => false))) throw new UsageError(`--lower ${l}: not a directory`);
  }
  const readOnly = options['read-only'];
  const chosen = options.upper !== undefined || options.work !== undefined;
  if (chosen && (options.upper === undefined || options.work === undefined)) throw new UsageError('--upper and --work go together: overlay needs both, on one filesystem');
  if (chosen && readOnly) throw new UsageError('--read-only mounts no upper: leave out --upper and --work');
  const name = options.name ?? randomBytes(6).toString('hex');
  const dir = containerDir(root, name);
  const target = options.target !== undefined ? resolvedPath(options.target) : join(dir, 'merged');
  if (mountPoints().has(target)) throw new ToolError(`${target} is mounted already`, `overlay-mount --unmount ${options.name !== undefined ? name : target}`);
  // In a user namespace (`unshare --user --map-root-user --mount`) overlay keeps its xattrs under user.overlay.
  // (trusted.* takes CAP_SYS_ADMIN in the initial one: xattr(7)), and layers get only the owners it maps.
  const userns = userNamespaceOf();
  const userxattr = !userns.initial;

  let image: FoundImage | undefined;
  let imageLayout: OciLayout | undefined;
  let lowers = lowersGiven;
  let layers: UnpackResult[] = [];
  if (!lowersGiven.length) {
    const layoutDir = options.layout ?? imageStoreDir(root);
    const layout = await OciLayout.open(layoutDir).catch((e: Error) => {
      throw new ToolError(e.message, 'pull an image first: oci-pull IMAGE');
    });
    const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
    image = await findImage(layout, positionals[0]!, platform).catch((e: Error) => {
      throw imageError(e, positionals[0]!, layoutDir);
    });
    imageLayout = layout;
    lowers = layerDirs(image, root).reverse();
  }
  if (!lowers.length) throw new ToolError(`${image?.name}: the image has no layers to mount`);

  // Upper and work: the user's (checked before anything is made or unpacked), else the container's own.
  const upperWork = readOnly ? undefined : chosen ? { upper: resolvedPath(options.upper!), work: resolvedPath(options.work!) } : { upper: join(dir, 'upper'), work: join(dir, 'work') };
  if (chosen) checkChosenDirs({ ...upperWork!, lowers, target, containerDir: dir });
  const spec: OverlaySpec = { lowers, target, userxattr, ...upperWork };
  await checkNotInUse(root, spec);
  if (image && imageLayout) layers = await unpackImage(image, imageLayout, root, inv, userns);

  const record: MountRecord = { merged: target, lowers, ...(spec.upper && { upper: spec.upper, work: spec.work }), ...(image && { image: image.name, imageDigest: image.descriptor.digest }) };
  // What is new here and fails to mount leaves nothing behind; an existing container keeps its upper.
  const made = toMake(dir, mkdirs(spec, dir));
  if (steps.mode.dryRun) {
    print(mountScript({ image, layout: imageLayout, layers, spec, dir, made, chosen, record, containerName: name, named: options.name !== undefined }));
    return 0;
  }
  steps.run(['mkdir', '-p', ...mkdirs(spec, dir)]);
  try {
    for (const d of mkdirs(spec, dir)) await mkdir(d, { recursive: true, mode: 0o755 });
    mountOverlay(spec, steps);
  } catch (e) {
    for (const d of made) await rm(d, { recursive: true, force: true });
    throw new ToolError(`mounting ${target}: ${(e as Error).message}`);
  }
  steps.run(`printf '%s' ${shellQuote(JSON.stringify(record))} > ${shellQuote(mountRecordPath(dir))}`);
  await writeFileAtomic(mountRecordPath(dir), JSON.stringify(record));

  if (json) print(`${JSON.stringify({ name, merged: target, upper: spec.upper ?? null, work: spec.work ?? null, lowers, userxattr, image: image?.name ?? null, imageId: image?.id ?? null, layers })}\n`);
  else print(`${target}\n`);
  return 0;
}

/** Finds the container a mount point belongs to, from the records overlay-mount wrote. */
async function containerOf(root: string, path: string): Promise<string | undefined> {
  return (await mountRecords(root)).find((c) => c.record.merged === path)?.dir;
}

/**
 * Whether --unmount WHAT is a path rather than a container's name: one with a `/`, or one that names no
 * container but a directory here (`cd c1 && overlay-mount --unmount merged`), as umount takes it.
 */
async function isPath(root: string, what: string): Promise<boolean> {
  if (what.includes('/')) return true;
  let named: boolean;
  try {
    named = existsSync(containerDir(root, what));
  } catch {
    named = false; // not a name a container can have (`..`)
  }
  return !named && (await stat(what).then((s) => s.isDirectory(), () => false));
}

async function doUnmount({ options, steps }: Invocation<typeof spec.options>, what: string): Promise<number> {
  const root = resolvedPath(stateRoot(options.root));
  let dir: string | undefined;
  let target: string;
  if (await isPath(root, what)) {
    target = resolvedPath(what);
    dir = await containerOf(root, target);
  } else {
    dir = containerDir(root, what);
    const record = readMountRecord(dir);
    if (!record && !existsSync(dir)) {
      // Removing what is gone already is done: teardown is idempotent.
      if (options.rm) {
        if (steps.mode.dryRun) process.stdout.write(overlayScript(process.argv.slice(2)).add(`# no container named ${what} in ${join(root, 'containers')}: nothing to do`).toString());
        return 0;
      }
      throw new ToolError(`no container named ${what} in ${join(root, 'containers')}`);
    }
    target = record?.merged ?? join(dir, 'merged');
  }
  if (steps.mode.dryRun) {
    // Checked when the script runs, as the tool checks it when it runs: unmounting what is not mounted is done.
    const script = overlayScript(process.argv.slice(2)).need('mountpoint', 'umount');
    script.add(`if mountpoint -q ${shellQuote(target)}; then umount ${shellQuote(target)}; fi`);
    if (options.rm && dir) {
      script.need('rm').add(shellCommand(['rm', '-rf', dir]));
      // --upper and --work are the user's, outside the container's directory: kept, as umount keeps them.
      const record = readMountRecord(dir);
      if (record?.upper && !isWithin(record.upper, dir)) script.add(`# ${record.upper} and ${record.work} stay: they are the --upper and --work it was mounted with`);
    }
    process.stdout.write(script.add(shellCommand(['echo', target])).toString());
    return 0;
  }
  await unmountTarget(target, options.rm ? dir : undefined, steps);
  process.stdout.write(`${target}\n`);
  return 0;
}

/** overlay-mount's command line: a mount, or --unmount; what it prints goes to `print`. */
export function overlayMount(inv: Invocation<typeof spec.options>, print: (text: string) => void = (text) => process.stdout.write(text)): Promise<number> {
  const what = inv.options.unmount;
  if (what !== undefined) {
    if (inv.positionals.length || inv.options.lower.length || inv.options.upper !== undefined || inv.options.work !== undefined) throw new UsageError('--unmount takes only the name or path to unmount');
    return doUnmount(inv, what);
  }
  if (inv.options.rm) throw new UsageError('--rm goes with --unmount');
  return doMount(inv, print);
}

/**
 * `overlay-mount ARGS` (a mount) for a program with overlay-mount in it (cutaway, for each container it starts):
 * the same parse, checks, unpacking and mount (runHere), under the state root `root` unless ARGS give --root;
 * what the tool would print (the merged path), returned. A failure is thrown.
 */
export async function mountHere(args: string[], root: string, steps: Steps): Promise<string> {
  const ran = await runHere(spec, args, steps, (inv, print) => {
    if (inv.options.unmount !== undefined) throw new UsageError('only a mount is done here');
    return overlayMount({ ...inv, options: { ...inv.options, root: inv.options.root ?? root } }, print);
  });
  return ran.output;
}
