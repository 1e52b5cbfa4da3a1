import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { compress, parallelGzip } from '../src/index.ts';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** 10 MiB that compress somewhat: random bytes and repeated text, in 64 KiB chunks as a tar stream comes. */
function input(): Buffer[] {
  const text = Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(1500));
  return Array.from({ length: 160 }, (_, i) => (i % 3 === 0 ? randomBytes(64 * 1024) : text.subarray(0, 64 * 1024)));
}

describe('parallelGzip', () => {
  it('writes gzip members that GNU gzip, zlib and Node read back as the exact input', async () => {
    const chunks = input();
    const original = Buffer.concat(chunks);
    const out = await collect(Readable.from(chunks).pipe(parallelGzip(6)));
    expect(out.subarray(0, 4)).toEqual(Buffer.from([0x1f, 0x8b, 0x08, 0x00])); // gzip, deflate, no name
    // (Buffer.equals: vitest's deep equality over 10 MiB would take minutes.)
    expect(execFileSync('gzip', ['-dc'], { input: out, maxBuffer: 64 << 20 }).equals(original)).toBe(true);
    expect(gunzipSync(out).equals(original)).toBe(true);
    // more than one member (10 MiB in 4 MiB pieces), each starting with Node's header: no name, time 0, OS 3
    const header = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 3]);
    let members = 0;
    for (let at = out.indexOf(header); at >= 0; at = out.indexOf(header, at + 1)) members++;
    expect(members).toBeGreaterThanOrEqual(3);
  });

  it('gives the same bytes for the same input, however it arrives and however many workers', async () => {
    const chunks = input();
    const digest = async (stream: Readable) => createHash('sha256').update(await collect(stream)).digest('hex');
    const a = await digest(Readable.from(chunks).pipe(parallelGzip(6, 2)));
    const b = await digest(Readable.from([Buffer.concat(chunks)]).pipe(parallelGzip(6, 4)));
    expect(b).toBe(a);
  });

  it('compresses an empty input to a valid, empty gzip', async () => {
    const out = await collect(compress(Readable.from([]), 'gzip'));
    expect(gunzipSync(out).length).toBe(0);
  });
});
