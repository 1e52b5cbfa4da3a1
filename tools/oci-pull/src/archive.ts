import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { ToolError } from '@cutaway/cli';
import { DockerArchiveError, formatPlatform, loadDockerArchive, type ArchiveInput, type Descriptor } from '@cutaway/oci';
import { localTarget, type ArchiveSource, type PulledBlob, type PullContext, type PullResult } from './source.ts';

/**
 * The archive's bytes, checked first so that a missing file is reported as such and not as a broken stream:
 * stdin for `-`, a pipe's stream (both read once), or a file's, opened anew for each reading (loadDockerArchive
 * reads a file's names before it stores anything).
 */
async function openArchive(file: string): Promise<ArchiveInput> {
  if (file === '-') return process.stdin;
  const handle = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new ToolError(`${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
  });
  const info = await handle.stat();
  if (info.isFIFO()) return handle.createReadStream();
  await handle.close();
  if (!info.isFile()) throw new ToolError(`${file}: not a file`);
  return () => createReadStream(file);
}

/**
 * `docker load` for oci-pull (`docker-archive:FILE[:REF]` as a source): the
 * image the archive holds, or the one tagged REF, into the store with its
 * config byte for byte and every layer checked against its diff_id
 * (libs/oci docker-archive.ts reads the format). `platform` in the result
 * is the image's own.
 */
export async function importDockerArchive(source: ArchiveSource, ctx: PullContext): Promise<PullResult> {
  const to = await localTarget(ctx);
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
