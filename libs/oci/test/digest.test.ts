import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DigestingStream, DigestMismatchError, digestOf, parseDigest, verifyBytes } from '../src/index.ts';

const HELLO_SHA256 = 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824';
const HELLO_SHA512 = 'sha512:9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043';

async function drain(chunks: Buffer[], stream: DigestingStream): Promise<void> {
  await pipeline(Readable.from(chunks), stream, async function* (source) {
    for await (const _ of source);
  });
}

describe('digests', () => {
  it('computes sha256 and sha512 like sha256sum and sha512sum', () => {
    expect(digestOf('hello')).toBe(HELLO_SHA256);
    expect(digestOf('hello', 'sha512')).toBe(HELLO_SHA512);
  });

  it('parses valid digests and rejects bad ones with the reason', () => {
    expect(parseDigest(HELLO_SHA256)).toEqual({ algorithm: 'sha256', encoded: HELLO_SHA256.slice(7) });
    expect(() => parseDigest('sha256:ABC')).toThrow(/64 lowercase hex/);
    expect(() => parseDigest(HELLO_SHA256.toUpperCase())).toThrow(/not a digest/);
    expect(() => parseDigest(`sha256:${'0'.repeat(63)}`)).toThrow(/64 lowercase hex/);
    expect(() => parseDigest(`sha512:${'0'.repeat(64)}`)).toThrow(/128 lowercase hex/);
    expect(() => parseDigest('md5:d41d8cd98f00b204e9800998ecf8427e')).toThrow(/unsupported digest algorithm "md5"/);
    expect(() => parseDigest('nocolon')).toThrow(/not a digest/);
    expect(() => parseDigest(42, 'layers[0].digest')).toThrow(/^layers\[0\]\.digest: digest must be a string/);
  });

  it('verifies bytes against digest and size', () => {
    const data = Buffer.from('hello');
    expect(() => verifyBytes(data, { digest: HELLO_SHA256, size: 5 })).not.toThrow();
    expect(() => verifyBytes(data, { digest: HELLO_SHA512 })).not.toThrow();
    expect(() => verifyBytes(Buffer.from('hellO'), { digest: HELLO_SHA256 })).toThrow(DigestMismatchError);
    expect(() => verifyBytes(data, { digest: HELLO_SHA256, size: 6 })).toThrow(/size mismatch: expected 6 bytes/);
  });

  it('hashes a stream as it flows, in any chunking', async () => {
    const stream = new DigestingStream();
    await drain([Buffer.from('he'), Buffer.from('l'), Buffer.from('lo')], stream);
    expect(stream.digest).toBe(HELLO_SHA256);
    expect(stream.size).toBe(5);
  });

  it('fails a stream whose content does not match', async () => {
    await expect(drain([Buffer.from('hellO')], new DigestingStream({ digest: HELLO_SHA256 }))).rejects.toThrow(/digest mismatch: expected sha256:2cf2/);
    await expect(drain([Buffer.from('hell')], new DigestingStream({ digest: HELLO_SHA256, size: 5 }))).rejects.toThrow(/size mismatch/);
  });

  it('fails as soon as a stream grows beyond the expected size', async () => {
    let produced = 0;
    const endless = new Readable({
      read() {
        produced += 1024;
        this.push(Buffer.alloc(1024));
      },
    });
    const guard = new DigestingStream({ digest: HELLO_SHA256, size: 4096 });
    const consume = async function* (source: AsyncIterable<Buffer>) {
      for await (const _ of source);
    };
    await expect(pipeline(endless, guard, consume)).rejects.toThrow(/expected 4096 bytes for sha256:2cf2.*, got more/);
    expect(produced).toBeLessThan(64 * 1024);
  });
});
