import { spawn } from 'node:child_process';
import { closeSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { PassThrough, pipeline, Transform, type Readable } from 'node:stream';
import { createGunzip, gzip } from 'node:zlib';
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

const GZIP_MEMBER = 4 << 20;

/**
 * gzip on every core, as pigz and umoci's pgzip do: the input is cut into
 * 4 MiB pieces, each compressed on libuv's thread pool as a gzip member of
 * its own, and the members written in order. RFC 1952 §2.2: a gzip file is a
 * series of members, and every gunzip (GNU gzip, Go's, zlib's, Node's) reads
 * them as one stream. The same input gives the same bytes: the cut points and
 * each member's header (no name, time 0) depend on nothing else. Losing the
 * dictionary every 4 MiB costs almost nothing (deflate's window is 32 KiB).
 */
export function parallelGzip(level: number, workers = Math.max(2, availableParallelism())): Transform {
  let pending: Buffer[] = [];
  let pendingSize = 0;
  const inFlight: Promise<Buffer>[] = [];
  const compressOne = (piece: Buffer) => new Promise<Buffer>((resolve, reject) => gzip(piece, { level, chunkSize: ZLIB_CHUNK }, (e, out) => (e ? reject(e) : resolve(out))));
  return new Transform({
    async transform(chunk: Buffer, _encoding, done) {
      try {
        pending.push(chunk);
        pendingSize += chunk.length;
        while (pendingSize >= GZIP_MEMBER) {
          const all = Buffer.concat(pending);
          inFlight.push(compressOne(all.subarray(0, GZIP_MEMBER)));
          pending = [all.subarray(GZIP_MEMBER)];
          pendingSize = pending[0]!.length;
          // Keep every core busy, and no more pieces in memory than that.
          if (inFlight.length >= workers) this.push(await inFlight.shift()!);
        }
        done();
      } catch (e) {
        done(e as Error);
      }
    },
    async flush(done) {
      try {
        if (pendingSize > 0 || inFlight.length === 0) inFlight.push(compressOne(Buffer.concat(pending)));
        for (const piece of inFlight) this.push(await piece);
        done();
      } catch (e) {
        done(e as Error);
      }
    },
  });
}

/**
 * A compressed stream of `tar`. gzip on every core (parallelGzip), with no
 * name and no time in its headers (gzip -n), so the same tar gives the same
 * blob; zstd through Debian's `zstd`, level 3 (its default), on every core.
 */
export function compress(tar: Readable, compression: Compression, gzipLevel = 6): Readable {
  if (compression === 'none') return tar;
  if (compression === 'gzip') return pipeline(tar, parallelGzip(gzipLevel), () => {});
  return throughZstd(tar, ['-q', '-c', '-3', '-T0']);
}
