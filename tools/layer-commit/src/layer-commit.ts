import { createWriteStream, existsSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { imageStoreDir, readMountRecord, ROOT_OPTION, runTool, stateRoot, ToolError, UsageError, toolSpec, type Invocation } from '@cutaway/cli';
import { compress, createLayerTar, LayerError, type LayerSource } from '@cutaway/layer';
import { findImage, formatReference, hostPlatform, isContentHandle, NoSuchImageError, OciLayout, parsePlatform, parseReference, type Compression } from '@cutaway/oci';
import pkg from '../package.json' with { type: 'json' };
import { applyChanges, commitImage, scratchImage, storeLayer, type LayerResult } from './commit.ts';
import { diffScript, imageScript, outputScript } from './script.ts';

const spec = toolSpec({
  name: 'layer-commit',
  version: pkg.version,
  synopsis: ['[options] UPPER|CONTAINER --tag NEW [--image BASE]', '[options] --diff PARENT DIR --tag NEW --image BASE', '[options] --empty --change INSTRUCTION… --image BASE --tag NEW', '[options] UPPER -o FILE|-'],
  description: [
    "Turns a directory's changes into an OCI layer and a new image, as docker commit does (and as every",
    'RUN of docker build is snapshotted): an overlay upper directory (or a container made by overlay-mount,',
    'by name) becomes a layer tar — 0:0 character devices as .wh. whiteouts, opaque directories with',
    '.wh..wh..opq — with entries in sorted order and, with SOURCE_DATE_EPOCH, times clamped to it; the base',
    "image's config gains its diff_id and a history entry; a new manifest is tagged NEW. Prints its digest.",
  ].join('\n'),
  operands: { min: 0, max: 1, names: 'UPPER|CONTAINER|DIR' },
  options: [
    { name: 'tag', short: 't', type: 'string', arg: 'NEW', help: 'name of the new image in the store (none: an untagged image, as docker commit without REPOSITORY)' },
    { name: 'image', type: 'string', arg: 'BASE', help: "the image the layer goes on: a name, an image ID or unique prefix, a manifest digest, NAME@DIGEST (default: the container's image; 'scratch' for none)" },
    { name: 'change', short: 'c', type: 'list', arg: 'INSTRUCTION', help: 'apply a Dockerfile instruction to the config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD (repeat)' },
    { name: 'created-by', type: 'string', arg: 'TEXT', help: "the history entry's created_by (default: layer-commit DIR)" },
    { name: 'message', short: 'm', type: 'string', arg: 'TEXT', help: "the history entry's comment" },
    { name: 'author', short: 'a', type: 'string', arg: 'NAME', help: 'the history entry and image author' },
    { name: 'empty', type: 'boolean', help: 'no layer: only a history entry (empty_layer) and the config changes' },
    { name: 'diff', type: 'string', arg: 'PARENT', help: 'DIR is a plain directory: the layer is what differs from PARENT (no overlay upper needed)' },
    { name: 'compression', type: 'string', arg: 'gzip|zstd|none', help: 'layer compression (default gzip; with -o, none unless given)' },
    { name: 'output', short: 'o', type: 'string', arg: 'FILE|-', help: 'write the layer tar here (- for stdout) instead of making an image' },
    { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: 'which image of BASE, when it is an index' },
    { name: 'layout', type: 'string', arg: 'DIR', help: 'use this OCI layout instead of the store' },
    ROOT_OPTION,
  ],
  examples: [
    'layer-commit c1 --tag myapp:1                              # a container overlay-mount made',
    "layer-commit c1 -t myapp:2 -c 'CMD [\"./app\"]' -c 'ENV MODE=prod' -c 'EXPOSE 8080'",
    'SOURCE_DATE_EPOCH=0 layer-commit ./upper --image debian:bookworm -t repro:1',
    'layer-commit --diff ./before ./after --image scratch -t files:1',
    'layer-commit --empty --image busybox -t busybox:labelled -c "LABEL team=infra"',
    'layer-commit ./upper -o - | tar tvf -',
  ],
  classic: [
    'cp -al upper stage   # then, in stage: 0:0 devices → .wh.NAME files, opaque dirs → DIR/.wh..wh..opq (--dry-run shows how)',
    'tar --create --no-recursion --null --files-from entries -C stage --numeric-owner --format=posix --xattrs --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime > layer.tar',
    'sha256sum layer.tar && gzip -n < layer.tar > layer.tar.gz && sha256sum layer.tar.gz   # diff_id, digest',
    "jq -cj '.rootfs.diff_ids += [\"sha256:…\"] | .history += [{\"created_by\": \"…\"}]' base-config.json > config.json",
    'docker commit -c \'CMD ["./app"]\' c1 myapp:1',
  ],
});

const COMPRESSIONS: Compression[] = ['gzip', 'zstd', 'none'];

/** A container name (overlay-mount's) or a directory: the directory to commit, and the container's image if any. */
async function source(root: string, what: string): Promise<{ dir: string; image?: string }> {
  const container = !what.includes('/') ? join(root, 'containers', what) : undefined;
  const mount = container ? readMountRecord(container) : undefined;
  if (mount) {
    if (!mount.upper) throw new ToolError(`container ${what} was mounted read-only: it has no changes to commit`);
    return { dir: mount.upper, ...(mount.image && { image: mount.image }) };
  }
  const dir = resolve(what);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    throw new ToolError(`${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, container ? `no container named ${what} either` : undefined);
  }
  if (!isDir) throw new ToolError(`${dir}: not a directory`);
  return { dir };
}

function sourceDateEpoch(): number | undefined {
  const text = process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got ${JSON.stringify(text)}`);
  return Number(text);
}

function compressionOption(value: string | undefined): Compression | undefined {
  if (value === undefined) return undefined;
  if (!COMPRESSIONS.includes(value as Compression)) throw new UsageError(`--compression must be gzip, zstd or none, got ${JSON.stringify(value)}`);
  return value as Compression;
}

async function main({ options, positionals, steps, progress, json }: Invocation<typeof spec.options>): Promise<number> {
  const root = stateRoot(options.root);
  const empty = options.empty;
  const diffParent = options.diff !== undefined ? resolve(options.diff) : undefined;
  if (empty && positionals.length) throw new UsageError('--empty takes no directory');
  if (!empty && !positionals.length) throw new UsageError('commit what? (UPPER, a container name, or --empty)');
  const epoch = sourceDateEpoch();
  const compressionGiven = compressionOption(options.compression);
  const changes = options.change;
  // A bad --change is refused before anything is read or stored (no instruction's validity depends on the base).
  applyChanges(scratchImage(), changes);
  const from = empty ? undefined : await source(root, positionals[0]!);
  if (diffParent && !statSync(diffParent, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`--diff ${diffParent}: not a directory`);
  const layerSource: LayerSource = diffParent ? { kind: 'diff', parent: diffParent } : { kind: 'upper' };

  // -o: the layer tar alone, to a file or a pipe; no image.
  const output = options.output;
  if (output !== undefined) {
    if (!from) throw new UsageError('-o writes a layer: give a directory, not --empty');
    if (steps.mode.dryRun) {
      process.stdout.write(diffParent ? diffScript(diffParent) : outputScript(from.dir, epoch, compressionGiven ?? 'none', output));
      return 0;
    }
    steps.note(`the layer of ${from.dir}${diffParent ? ` against ${diffParent}` : ''} (${compressionGiven ?? 'none'}) to ${output === '-' ? 'stdout' : output} — as classic commands: --dry-run`);
    const { stream, done } = createLayerTar(from.dir, { source: layerSource, ...(epoch !== undefined && { sourceDateEpoch: epoch }) });
    const file = output === '-' ? undefined : createWriteStream(output);
    try {
      await Promise.all([pipeline(compress(stream, compressionGiven ?? 'none'), file ?? process.stdout), done]);
    } catch (e) {
      if (file) {
        // Only once the file is open and closed again: an rm before the stream's open would leave it behind.
        if (!file.closed) await new Promise<void>((resolve) => file.once('close', () => resolve()).destroy());
        await rm(output, { force: true });
      }
      throw e instanceof LayerError ? new ToolError(e.message) : e;
    }
    return 0;
  }

  // No --tag: the image is stored without a name, as docker commit without REPOSITORY stores it (<none>).
  if (options.tag === undefined && steps.mode.dryRun) throw new UsageError('--dry-run: name the new image with --tag NEW');
  const tag = options.tag !== undefined ? formatReference(parseReference(options.tag)) : undefined;
  const baseName = options.image ?? from?.image;
  if (!baseName) throw new UsageError("on which image? --image BASE ('scratch' for none)");
  const compression = compressionGiven ?? 'gzip';
  const layoutDir = options.layout ?? imageStoreDir(root);
  const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();

  // scratch needs no store yet: it is created on commit (and only named in a --dry-run script).
  const newStore = baseName === 'scratch' && !existsSync(join(layoutDir, 'oci-layout'));
  const layout = newStore && steps.mode.dryRun ? undefined : newStore ? await OciLayout.create(layoutDir) : await OciLayout.open(layoutDir).catch((e: Error) => {
    throw new ToolError(e.message, 'pull or build the base image first');
  });
  const base = baseName === 'scratch' ? scratchImage() : await findImage(layout!, baseName, platform).catch((e: Error) => {
    throw new ToolError(e.message, e instanceof NoSuchImageError && !isContentHandle(baseName) ? `oci-pull ${baseName}` : undefined);
  });

  const createdBy = options['created-by'] ?? (empty ? `layer-commit --empty ${changes.join(' ')}`.trim() : `layer-commit ${positionals[0]}`);
  const created = new Date((epoch ?? Math.floor(Date.now() / 1000)) * 1000).toISOString();
  const history = {
    created,
    created_by: createdBy,
    ...(options.author !== undefined && { author: options.author }),
    ...(options.message !== undefined && { comment: options.message }),
  };

  // (A --dry-run without --tag was refused above.)
  if (steps.mode.dryRun) {
    if (from && diffParent) process.stdout.write(diffScript(diffParent));
    else process.stdout.write(imageScript({ upper: from?.dir, epoch, compression, layoutDir, newStore, base, tag: tag!, createdBy, author: options.author, comment: options.message, changes }));
    return 0;
  }

  const store = layout!; // undefined only for a --dry-run on scratch, which has returned
  const { descriptor, layer } = await store.withLease(async () => {
    let layerResult: LayerResult | undefined;
    if (from) {
      const item = progress.item('layer');
      steps.note(`the layer of ${from.dir}${diffParent ? ` against ${diffParent}` : ''} (${compression}) into ${store.dir}/blobs/sha256 — as classic commands: --dry-run`);
      layerResult = await storeLayer(store, from.dir, layerSource, compression, epoch);
      item.finish(`${layerResult.stats.entries} entries, ${layerResult.descriptor.size} bytes (${layerResult.descriptor.digest.slice(7, 19)})`);
    }
    steps.note('the config and manifest from the base\'s, into the store');
    const manifest = await commitImage(store, base, { ...(layerResult && { layer: layerResult }), history, changes });
    steps.note(`index.json: ${tag ?? 'no name'} → ${manifest.digest}`);
    await (tag !== undefined ? store.addRef(tag, manifest) : store.addUnnamed(manifest));
    return { descriptor: manifest, layer: layerResult };
  });

  if (json) {
    process.stdout.write(
      `${JSON.stringify({
        tag,
        digest: descriptor.digest,
        base: baseName,
        ...(layer && { layer: { digest: layer.descriptor.digest, diffId: layer.diffId, size: layer.descriptor.size, mediaType: layer.descriptor.mediaType, ...layer.stats } }),
      })}\n`,
    );
  } else process.stdout.write(`${descriptor.digest}\n`);
  progress.step(`${tag ?? 'untagged'}: committed (${descriptor.digest})`);
  return 0;
}

void runTool(spec, main);
