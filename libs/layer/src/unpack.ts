import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { withFileLock } from '@cutaway/libc';
import { DigestingStream, DigestMismatchError, parseDigest, type Descriptor, type Digest, type OciLayout } from '@cutaway/oci';
import { blobCompression, decompress } from './compression.ts';
import { extractLayer, LayerError, type ExtractOptions, type ExtractStats } from './extract.ts';

/**
 * Where a layer lives unpacked: <layers>/<alg>/<hex>. The diff_id names it
 * (not the blob digest: the same tar compressed two ways is one layer). No ":"
 * in the path — overlayfs separates lowerdir entries with ":".
 */
export function layerPath(layersDir: string, diffId: Digest): string {
  const { algorithm, encoded } = parseDigest(diffId);
  return join(layersDir, algorithm, encoded);
}

export interface UnpackResult {
  diffId: Digest;
  path: string;
  /** False when it was unpacked already (by an earlier run or a concurrent one). */
  unpacked: boolean;
  stats?: ExtractStats;
}

/**
 * Unpacks a layer once: extracted into a temp directory beside its final
 * place while its uncompressed digest is checked against the diff_id, then
 * renamed into place. A lock per layer makes a concurrent unpacker wait and
 * then find it done; a failure removes the half-made directory.
 */
export async function unpackLayer(layout: OciLayout, layer: Descriptor, diffId: Digest, layersDir: string, options: ExtractOptions): Promise<UnpackResult> {
  const path = layerPath(layersDir, diffId);
  if (existsSync(path)) return { diffId, path, unpacked: false };
  await mkdir(join(path, '..'), { recursive: true });
  return withFileLock(`${path}.lock`, async () => {
    if (existsSync(path)) return { diffId, path, unpacked: false };
    const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await mkdir(temp, { mode: 0o755 });
    try {
      const diff = new DigestingStream({ digest: diffId });
      const tar = pipeline(decompress(layout.openBlob(layer.digest), blobCompression(layout.blobPath(layer.digest))), diff, () => {});
      const stats = await extractLayer(tar, temp, options).catch((e: Error) => {
        if (e instanceof LayerError) throw new LayerError(`layer ${layer.digest}: ${e.message}`);
        // Only the diff_id check's own mismatch is about the diff_id; the blob's (openBlob's) is about the store.
        if (e instanceof DigestMismatchError && e.expected.digest === diffId) throw new LayerError(`layer ${layer.digest}: uncompressed content does not match its diff_id: expected ${diffId}, got ${e.actual.digest}`);
        throw new LayerError(`layer ${layer.digest}: ${e.message}`);
      });
      await rename(temp, path);
      return { diffId, path, unpacked: true, stats };
    } catch (e) {
      await rm(temp, { recursive: true, force: true });
      throw e;
    }
  });
}

/**
 * Removes an unpacked layer (`docker rmi`, once no image has it and no
 * container stacks it), under unpackLayer's lock: it is renamed aside first
 * (atomic), so that whoever looks finds it whole or not at all, and then
 * deleted. The lock file stays: unlinking a lock that another process may be
 * waiting on would let two unpackers in at once. Returns whether it was there.
 */
export async function removeLayer(layersDir: string, diffId: Digest): Promise<boolean> {
  const path = layerPath(layersDir, diffId);
  if (!existsSync(path)) return false;
  return withFileLock(`${path}.lock`, async () => {
    if (!existsSync(path)) return false;
    const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    await rename(path, aside);
    await rm(aside, { recursive: true, force: true });
    return true;
  });
}
