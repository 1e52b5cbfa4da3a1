import { createWriteStream, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { imageStoreDir, ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { IMAGE_CHANGE_OPTIONS, newImageName } from '../containers/commit.ts';
import { realRunner } from '../runner.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { tool } from '../tools.ts';
import { familiarName } from './store.ts';

const isUrl = (source: string): boolean => /^https?:\/\//.test(source);

/** The tarball as a file: FILE as it is; `-` (stdin) and a URL copied into `dir` first (tar cannot tell a pipe's compression). */
async function tarball(source: string, dir: string): Promise<string> {
  if (source !== '-' && !isUrl(source)) {
    const path = resolve(source);
    if (!existsSync(path)) throw new ToolError(`open ${source}: no such file or directory`);
    return path;
  }
  const path = join(dir, 'rootfs.tar');
  let from: NodeJS.ReadableStream = process.stdin;
  if (isUrl(source)) {
    const response = await fetch(source).catch((e: Error) => {
      throw new ToolError(`${source}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
    });
    if (!response.ok || !response.body) throw new ToolError(`${source}: ${response.status} ${response.statusText}`);
    from = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream);
  }
  await pipeline(from, createWriteStream(path));
  return path;
}

/**
 * docker import: a rootfs tarball (a file, `-` for stdin, or an http(s) URL) becomes a one-layer image on scratch:
 * unpacked by tar (any compression tar knows), then layer-commit of that directory, with the -c instructions and
 * the history comment Docker writes ("Imported from …" unless -m).
 */
export const importImage = command(
  {
    name: 'import',
    summary: 'Make a one-layer image from a rootfs tarball',
    synopsis: ['[options] FILE|URL|- [REPOSITORY[:TAG]]'],
    description: [
      'A rootfs tarball (FILE, - for stdin, or an http(s) URL; tar, gzip, xz, zstd as tar reads them) becomes an',
      'image of one layer on scratch: tar unpacks it, layer-commit turns the directory into the layer and the image,',
      'with the -c instructions (CMD, ENTRYPOINT, ENV, …) and -m as the history comment. Without REPOSITORY the',
      'image has no name. Prints the image ID (sha256:…).',
    ].join('\n'),
    options: IMAGE_CHANGE_OPTIONS,
    operands: { min: 1, max: 2, names: 'FILE|URL|- [REPOSITORY[:TAG]]' },
    examples: ['cutaway import ubuntu-base-24.04-base-amd64.tar.gz ubuntu:base', "cutaway export web | cutaway import -c 'CMD [\"sh\"]' - web:flat", 'cutaway import http://127.0.0.1:8000/rootfs.tar.gz mine'],
    classic: ['docker import', 'tar -xpf rootfs.tar.gz --numeric-owner -C dir && layer-commit dir --image scratch --tag REPO:TAG'],
  },
  async (inv, root) => {
    const [source, repository] = inv.positionals as [string, string | undefined];
    const tag = repository !== undefined ? newImageName(repository) : undefined;
    const env = { CUTAWAY_ROOT: root };
    const work = mkdtempSync(join(tmpdir(), 'cw-import-'));
    try {
      const file = await tarball(source, work);
      const rootfs = join(work, 'rootfs');
      await tool('mkdir', [rootfs]);
      await tool('tar', ['--extract', '--file', file, '--directory', rootfs, '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--no-overwrite-dir'], env);
      const manifest = await tool('layer-commit', [
        '-q', rootfs, '--image', 'scratch', '--created-by', '',
        ...(tag !== undefined ? ['--tag', tag] : []),
        ...inv.options.change.flatMap((c) => ['--change', c]),
        '--message', inv.options.message ?? `Imported from ${isUrl(source) ? source : '-'}`,
      ], env);
      const id = await realRunner.imageId(imageStoreDir(root), tag ?? manifest);
      // Docker's: the name's tag event, then import (moby daemon/images/image_import.go).
      if (tag !== undefined) recordImageEvent(root, 'tag', id, familiarName(tag));
      recordImageEvent(root, 'import', id, id);
      realRunner.print(id);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
);
