import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { sniffCompression, type Compression } from '@cutaway/oci';

const ZLIB_CHUNK = 256 << 10;

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
  // zlib's default 16 KiB output chunks cost a thread-pool round trip each: 256 KiB cut unpacking by ~30% (bench/unpack.ts).
  if (compression === 'gzip') return pipeline(blob, createGunzip({ chunkSize: ZLIB_CHUNK }), () => {});
  return throughZstd(blob, ['-dc', '-q']);
}

/** `input` through Debian's zstd with these arguments, its failures reported on the output stream. */
function throughZstd(input: Readable, args: string[]): Readable {
  const child = spawn('zstd', args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = new PassThrough();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  child.on('error', (e) => out.destroy(new Error(`zstd: ${e.message} (is Debian's zstd installed?)`)));
  child.on('close', (code) => {
    if (code !== 0) out.destroy(new Error(`zstd ${args.join(' ')} failed: ${stderr.trim() || `exit ${code}`}`));
  });
  // A reader that gives up early (a refused entry) destroys `out`: stop zstd, or it blocks on its full pipe forever.
  out.on('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill();
  });
  input.on('error', (e) => {
    child.kill();
    out.destroy(e);
  });
  input.pipe(child.stdin);
  child.stdin.on('error', () => {}); // zstd exiting early is reported by its exit status
  child.stdout.pipe(out);
  return out;
}

/**
 * A compressed stream of `tar`. gzip through zlib, with no name and no time in
 * its header (gzip -n), so the same tar gives the same blob; zstd through
 * Debian's `zstd`, level 3 (its default), on every core.
 */
export function compress(tar: Readable, compression: Compression, gzipLevel = 6): Readable {
  if (compression === 'none') return tar;
  if (compression === 'gzip') return pipeline(tar, createGzip({ level: gzipLevel, chunkSize: ZLIB_CHUNK }), () => {});
  return throughZstd(tar, ['-q', '-c', '-3', '-T0']);
}
