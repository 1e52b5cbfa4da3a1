import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { ToolError } from '@cutaway/cli';
import { DockerArchiveError, formatPlatform, loadDockerArchive, type Descriptor } from '@cutaway/oci';
import { localTarget, type ArchiveSource, type PulledBlob, type PullContext, type PullResult } from './source.ts';

/** The archive's bytes: stdin for `-`, else the file, opened first so a missing file is reported as such and not as a broken stream. */
async function openArchive(file: string): Promise<Readable> {
  if (file === '-') return process.stdin;
  const handle = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ToolError(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  const info = await handle.stat();
  if (!info.isFile() && !info.isFIFO()) {
    await handle.close();
    throw new ToolError(`${file}: not a file`);
  }
  return handle.createReadStream();
}

/**
 * `docker load` for oci-pull (`docker-archive:FILE[:REF]` as a source): the
 * image the archive holds, or the one tagged REF, into the store with its
 * config byte for byte and every layer checked against its diff_id
 * (libs/oci docker-archive.ts reads the format). `platform` in the result
 * is the image's own.
 */
export async function importDockerArchive(source: ArchiveSource, ctx: PullContext): Promise<PullResult> {
  const to = localTarget(ctx);
  const input = await openArchive(source.file);
  const loaded = await loadDockerArchive(input, to, {
    file: source.file,
    ref: source.ref,
    platform: ctx.platform,
    onMember: (path, size) => ctx.progress.item(path.length > 40 ? `…${path.slice(-39)}` : path, size),
  }).catch((e: Error) => {
    throw e instanceof DockerArchiveError ? new ToolError(e.message, e.hint) : e;
  });
  // Every blob was read from the archive, whether or not the store had it: none is cached.
  const pulled = (d: Descriptor): PulledBlob => ({ mediaType: d.mediaType, digest: d.digest, size: d.size, cached: false });
  return {
    reference: `docker-archive:${source.file}:${loaded.tag}`,
    digest: loaded.descriptor.digest,
    platform: formatPlatform(loaded.platform),
    config: pulled(loaded.manifest.config),
    layers: loaded.manifest.layers.map(pulled),
  };
}
