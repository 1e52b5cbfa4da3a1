import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { imageStoreDir, ToolError } from '@cutaway/cli';
import { findImage, formatReference, OciLayout, parseArchiveManifest, parseReference, type ArchiveManifestItem } from '@cutaway/oci';
import { isOciArchive, unpackOciArchive } from './oci-archive.ts';
import { familiarName } from './store.ts';
import { command, NO_OPERANDS } from '../command.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { tool, traceCommand } from '../tools.ts';
import { PLATFORM_OPTION } from './pull.ts';

/**
 * docker load, composed: GNU tar reads the archive's manifest.json (what
 * images it holds, under which tags), then `oci-pull
 * docker-archive:FILE:TAG` imports each image — the config byte for byte
 * (the image ID kept), every layer checked against its diff_id — and the
 * image's other tags are added to the store. Reads Docker's archives (before
 * and since 25), skopeo's and podman's, plain or gzip-compressed.
 */

const run = promisify(execFile);

/**
 * The images of an archive, as their tags (full references) by manifest.json. A file that is no tar, or no
 * docker save archive, or names no image the store could name, is refused here, before anything changes.
 */
async function archiveTags(file: string, label: string): Promise<string[][]> {
  const args = ['-xOf', file, 'manifest.json'];
  traceCommand('tar', args);
  let text: string;
  try {
    text = (await run('tar', args, { maxBuffer: 64 << 20, encoding: 'utf8' })).stdout;
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    if (/does not look like a tar archive|Unexpected EOF|not in gzip format/.test(stderr)) throw new ToolError(`${label}: not a tar archive (${stderr.split('\n')[0]!.replace(/^tar: /, '')})`);
    throw new ToolError(`${label}: no manifest.json: not a docker save archive`);
  }
  let items: ArchiveManifestItem[];
  try {
    items = parseArchiveManifest(Buffer.from(text), label);
  } catch (e) {
    throw new ToolError((e as Error).message);
  }
  if (!items.length) throw new ToolError(`${label}: manifest.json: want a list of images ([{Config, RepoTags, Layers}])`);
  return items.map((item, i) => {
    // An image saved by ID has no tag; the store names every image it holds.
    if (!item.RepoTags.length) throw new ToolError(`${label}: image ${i + 1} has no tags (it was saved by ID): the store needs a name`, `oci-pull docker-archive:${label}:NAME:TAG loads it under one`);
    return item.RepoTags.map((t) => formatReference(parseReference(t)));
  });
}

/** Copies a stream (stdin, a pipe, a file oci-pull cannot name) to a temporary file, as an archive is read more than once; the caller removes `dir`. */
async function spool(source: Readable): Promise<{ file: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cutaway-load-'));
  const file = join(dir, 'archive.tar');
  try {
    await pipeline(source, createWriteStream(file));
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return { file, dir };
}

/** docker load [-i FILE]: returns the names loaded, as Docker shows them (`Loaded image: NAME`). */
async function loadImages(root: string, input: string | undefined, platform: string | undefined): Promise<string[]> {
  const info = input === undefined ? undefined : await stat(input).catch(() => undefined);
  if (input !== undefined && (!info || info.isDirectory())) throw new ToolError(`${input}: ${info ? 'a directory, not an archive' : 'no such file'}`);
  if (input === undefined && process.stdin.isTTY) throw new ToolError('requested load from stdin, but stdin is empty', 'cutaway load -i FILE, or cutaway load < FILE');
  // oci-pull names the archive as docker-archive:FILE:TAG, FILE ending at the first ":".
  const named = info?.isFile() && !input!.includes(':');
  const spooled = named ? undefined : await spool(input === undefined ? process.stdin : createReadStream(input));
  const file = spooled?.file ?? input!;
  const label = input ?? 'stdin';
  // An oci-archive (an OCI layout's tar, without docker save's manifest.json) is unpacked, and read as oci:DIR.
  const unpacked = (await isOciArchive(file)) ? await mkdtemp(join(tmpdir(), 'cutaway-load-oci-')) : undefined;
  try {
    const loaded: string[] = [];
    // What oci-pull imports each image from, and the tags the store gives it (the first oci-pull's).
    const images = unpacked
      ? (await unpackOciArchive(file, unpacked, label)).map((name) => ({ source: `oci:${unpacked}:${name}`, tags: [formatReference(parseReference(name))] }))
      : (await archiveTags(file, label)).map((tags) => ({ source: `docker-archive:${file}:${tags[0]}`, tags }));
    for (const { source, tags: [first, ...others] } of images) {
      await tool('oci-pull', ['-q', ...(platform ? ['--platform', platform] : []), source], { CUTAWAY_ROOT: root });
      const layout = await OciLayout.open(imageStoreDir(root));
      const descriptor = (await layout.resolve(first!))!;
      for (const tag of others) await layout.addRef(tag, descriptor);
      const id = (await findImage(layout, first!)).manifest.config.digest;
      recordImageEvent(root, 'load', id, id);
      loaded.push(...[first!, ...others].map(familiarName));
    }
    return loaded;
  } finally {
    if (spooled) await rm(spooled.dir, { recursive: true, force: true });
    if (unpacked) await rm(unpacked, { recursive: true, force: true });
  }
}

export const load = command(
  {
    name: 'load',
    summary: 'Read images from a tar archive',
    synopsis: ['[-i FILE] [--platform P] [-q]'],
    description: "Load the images of a docker-archive tar (docker save's, skopeo's or podman's) or an oci-archive (podman save --format oci-archive, skopeo's oci-archive:), plain or gzip, from -i FILE or stdin, with every tag it gives them.",
    options: [{ name: 'input', short: 'i', type: 'string', arg: 'FILE', help: 'read FILE instead of stdin' }, PLATFORM_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway load -i busybox.tar', 'gunzip -c images.tar.gz | cutaway load'],
    classic: ['docker load', 'oci-pull docker-archive:FILE:NAME', 'tar -xf FILE -C DIR && oci-pull oci:DIR:NAME', 'skopeo copy docker-archive:FILE oci:$CUTAWAY_ROOT/images:NAME'],
  },
  async (inv, root) => {
    const loaded = await loadImages(root, inv.options.input, inv.options.platform);
    process.stdout.write(loaded.map((name) => `Loaded image: ${name}\n`).join(''));
  },
);
