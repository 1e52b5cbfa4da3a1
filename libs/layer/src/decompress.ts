import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { sniffCompression, type Compression } from '@cutaway/oci';

/** A blob's compression, from its first bytes (media types are sometimes wrong). */
export function blobCompression(path: string): Compression {
  const fd = openSync(path, 'r');
  try {
    const head = Buffer.alloc(4);
    return sniffCompression(head.subarray(0, readSync(fd, head, 0, 4, 0)));
  } finally {
    closeSync(fd);
  }
}

/**
 * The uncompressed tar of a layer blob. gzip through zlib; zstd through
 * Debian's `zstd -dc`, as Node 20's zlib has no zstd (moby/moby#40820 made
 * the same choice).
 */
export function decompress(blob: Readable, compression: Compression): Readable {
  if (compression === 'none') return blob;
  if (compression === 'gzip') return pipeline(blob, createGunzip(), () => {});
  const child = spawn('zstd', ['-dc', '-q'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.on('error', (e) => out.destroy(new Error(`zstd: ${e.message} (is Debian's zstd installed?)`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new Error(`zstd -dc failed: ${stderr.trim() || `exit ${code}`}`));
  });
  // A reader that gives up early (a refused entry) destroys `out`: stop zstd, or it blocks on its full pipe forever.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  blob.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  blob.pipe(child.stdin);
  child.stdin.on('error', () => {}); // zstd exiting early is reported by its exit status
  child.stdout.pipe(out);
  return out;
}
