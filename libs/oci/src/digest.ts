import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { OciError } from './errors.ts';

/** A content digest, `algorithm:encoded` (image-spec descriptor.md "Digests"). */
export type Digest = `${string}:${string}`;

export type DigestAlgorithm = 'sha256' | 'sha512';

/** The registered algorithms and the exact shape of their encoded part (descriptor.md "Registered algorithms"). */
const ENCODED: Record<DigestAlgorithm, RegExp> = {
  sha256: /^[a-f0-9]{64}$/,
  sha512: /^[a-f0-9]{128}$/,
};

/** The general grammar: algorithm-component ([+._-] algorithm-component)* ":" encoded. */
const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  encoded: string;
}

/** Parses and validates a digest; throws OciError naming what is wrong. */
export function parseDigest(value: unknown, field?: string): ParsedDigest {
  if (typeof value !== 'string') throw new OciError(`digest must be a string, got ${typeof value}`, field);
  if (!GRAMMAR.test(value)) throw new OciError(`not a digest (want ALGORITHM:HEX, e.g. sha256:…): ${JSON.stringify(value)}`, field);
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    throw new OciError(`unsupported digest algorithm ${JSON.stringify(algorithm)} (sha256 and sha512 are supported)`, field);
  }
  if (!ENCODED[algorithm].test(encoded)) {
    const want = algorithm === 'sha256' ? 64 : 128;
    throw new OciError(`${algorithm} digest must be ${want} lowercase hex characters: ${JSON.stringify(value)}`, field);
  }
  return { algorithm, encoded };
}

/** Validates a digest and returns it typed. */
export function asDigest(value: unknown, field?: string): Digest {
  parseDigest(value, field);
  return value as Digest;
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export class DigestMismatchError extends OciError {
  constructor(readonly expected: { digest: Digest; size?: number }, readonly actual: { digest: Digest; size: number }) {
    super(
      expected.size !== undefined && expected.size !== actual.size
        ? `size mismatch: expected ${expected.size} bytes for ${expected.digest}, got ${actual.size}`
        : `digest mismatch: expected ${expected.digest}, got ${actual.digest}`,
    );
  }
}

/** Throws DigestMismatchError unless the data has the expected digest (and size). */
export function verifyBytes(data: Uint8Array, expected: { digest: Digest; size?: number }): void {
  const { algorithm } = parseDigest(expected.digest);
  const actual = { digest: digestOf(data, algorithm), size: data.byteLength };
  if (actual.size !== (expected.size ?? actual.size) || actual.digest !== expected.digest) {
    throw new DigestMismatchError(expected, actual);
  }
}

/**
 * A blob's digest, computed as its bytes arrive: each byte is hashed once, on its way to wherever it goes. With
 * an expected digest, more bytes than its size fail at once (a wrong blob is refused before anything commits
 * it), and `finish` fails unless the digest (and size) match.
 */
export class BlobHash {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  private count = 0;

  constructor(private readonly expected?: { digest: Digest; size?: number }, algorithm?: DigestAlgorithm) {
    this.algorithm = expected ? parseDigest(expected.digest).algorithm : (algorithm ?? 'sha256');
    this.hash = createHash(this.algorithm);
  }

  /** Hashes the next bytes; throws OciError when they take the blob past its expected size. */
  update(chunk: Uint8Array): void {
    this.count += chunk.length;
    const size = this.expected?.size;
    if (size !== undefined && this.count > size) throw new OciError(`size mismatch: expected ${size} bytes for ${this.expected!.digest}, got more`);
    this.hash.update(chunk);
  }

  /** The digest and size of everything hashed; throws DigestMismatchError unless they are the expected ones. Once only. */
  finish(): { digest: Digest; size: number } {
    const actual = { digest: `${this.algorithm}:${this.hash.digest('hex')}` as Digest, size: this.count };
    const expected = this.expected;
    if (expected && (actual.digest !== expected.digest || (expected.size !== undefined && expected.size !== actual.size))) {
      throw new DigestMismatchError(expected, actual);
    }
    return actual;
  }

  get size(): number {
    return this.count;
  }
}

/**
 * A pass-through stream that hashes and counts what flows through it (a BlobHash). With an expected digest it
 * fails the stream at the end when the content differs, and as soon as the byte count exceeds an expected
 * size, so that a wrong blob is refused before the consumer commits it anywhere.
 */
export class DigestingStream extends Transform {
  private readonly hash: BlobHash;
  private result?: Digest;

  constructor(expected?: { digest: Digest; size?: number }, algorithm?: DigestAlgorithm) {
    super();
    this.hash = new BlobHash(expected, algorithm);
  }

  get algorithm(): DigestAlgorithm {
    return this.hash.algorithm;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    try {
      this.hash.update(chunk);
    } catch (e) {
      done(e as Error);
      return;
    }
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    try {
      this.result = this.hash.finish().digest;
    } catch (e) {
      done(e as Error);
      return;
    }
    done();
  }

  /** The digest of everything that passed; available once the stream has ended. */
  get digest(): Digest {
    if (!this.result) throw new Error('DigestingStream: digest read before the stream ended');
    return this.result;
  }

  get size(): number {
    return this.hash.size;
  }
}
