import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, MediaType, OciLayout, parsePlatform, REF_NAME, resolveNamedImage, type Descriptor } from '../src/index.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cw-layout-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Everything in the layout but cutaway's private lock files: what a half-made write would leave. */
async function files(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile() && !e.name.endsWith('.lock')).map((e) => join(e.parentPath, e.name).slice(root.length + 1)).sort();
}

/** A minimal image: a config and one layer blob, and its manifest. */
async function putImage(layout: OciLayout, layer: string, architecture = 'amd64'): Promise<Descriptor> {
  const blob = await layout.putBlob(Buffer.from(layer));
  const config = await layout.putJson(MediaType.ociConfig, { architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [blob.digest] } });
  return layout.putJson(MediaType.ociManifest, {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config,
    layers: [{ mediaType: MediaType.ociLayer, ...blob }],
  });
}

describe('OciLayout', () => {
  it('creates the files image-layout.md requires, and create is idempotent', async () => {
    await OciLayout.create(dir);
    await OciLayout.create(dir);
    expect(JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'))).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    expect(await files(dir)).toEqual(['index.json', 'oci-layout']);
  });

  it('refuses to open what is not a layout, saying why', async () => {
    await expect(OciLayout.open(dir)).rejects.toThrow(`${dir} is not an OCI image layout (no oci-layout file)`);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
    await expect(OciLayout.open(dir)).rejects.toThrow(/unsupported imageLayoutVersion "2.0.0"/);
    await writeFile(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await expect(OciLayout.open(dir)).rejects.toThrow(/no index.json/);
    await writeFile(join(dir, 'index.json'), '{"schemaVersion":2,"manifests":{}}');
    await expect(OciLayout.open(dir)).rejects.toThrow(/index.json: manifests: must be an array/);
  });

  it('stores a streamed blob under its digest and reads it back verified', async () => {
    const layout = await OciLayout.create(dir);
    const data = Buffer.from('layer content\n');
    const stored = await layout.putBlob(Readable.from([data.subarray(0, 3), data.subarray(3)]), { digest: digestOf(data), size: data.length });
    expect(stored).toEqual({ digest: digestOf(data), size: data.length });
    expect(await readFile(join(dir, 'blobs', 'sha256', digestOf(data).slice(7)))).toEqual(data);
    expect(await layout.readBlob(stored.digest)).toEqual(data);
    expect(await layout.hasBlob(stored.digest)).toBe(true);
  });

  it('stores sha512 blobs under blobs/sha512', async () => {
    const layout = await OciLayout.create(dir);
    const digest = digestOf('x', 'sha512');
    await layout.putBlob(Buffer.from('x'), { digest });
    expect(await files(dir)).toContain(`blobs/sha512/${digest.slice(7)}`);
  });

  it('refuses a blob that does not match and leaves nothing behind', async () => {
    const layout = await OciLayout.create(dir);
    await expect(layout.putBlob(Buffer.from('evil'), { digest: digestOf('good') })).rejects.toThrow(/digest mismatch: expected sha256:/);
    await expect(layout.putBlob(Buffer.from('good!'), { digest: digestOf('good'), size: 4 })).rejects.toThrow(/size mismatch/);
    expect(await files(dir)).toEqual(['index.json', 'oci-layout']);
  });

  it('does not rewrite a blob it already has', async () => {
    const layout = await OciLayout.create(dir);
    await layout.putBlob(Buffer.from('same'));
    const never = new Readable({ read: () => { throw new Error('read a blob the store already had'); } });
    expect(await layout.putBlob(never, { digest: digestOf('same'), size: 4 })).toEqual({ digest: digestOf('same'), size: 4 });
  });

  it('detects a blob corrupted on disk', async () => {
    const layout = await OciLayout.create(dir);
    const { digest } = await layout.putBlob(Buffer.from('original'));
    await writeFile(layout.blobPath(digest), 'tampered');
    await expect(layout.readBlob(digest)).rejects.toThrow(/digest mismatch/);
    const chunks: Buffer[] = [];
    await expect(async () => {
      for await (const chunk of layout.openBlob(digest)) chunks.push(chunk);
    }).rejects.toThrow(/digest mismatch/);
    await expect(layout.readBlob(digestOf('absent'))).rejects.toThrow(/is not in/);
  });

  it('resumes an interrupted blob from where it stopped, and restarts when the source ignores the offset', async () => {
    const layout = await OciLayout.create(dir);
    const data = Buffer.from('0123456789'.repeat(1000));
    const expected = { digest: digestOf(data), size: data.length };
    const offsets: number[] = [];
    // First attempt: the connection drops after 4000 bytes.
    const dropping = async (offset: number) => {
      offsets.push(offset);
      const stream = Readable.from(
        (async function* () {
          yield data.subarray(offset, 4000);
          await new Promise((r) => setTimeout(r, 20));
          throw new Error('connection reset');
        })(),
      );
      return { stream, offset };
    };
    await expect(layout.putBlobResumable(expected, dropping)).rejects.toThrow('connection reset');
    expect(await layout.hasBlob(expected.digest)).toBe(false);
    const resumed = await layout.putBlobResumable(expected, async (offset) => {
      offsets.push(offset);
      return { stream: Readable.from([data.subarray(offset)]), offset };
    });
    expect(offsets).toEqual([0, 4000]);
    expect(resumed).toEqual({ ...expected, resumedAt: 4000 });
    expect(await layout.readBlob(expected.digest)).toEqual(data);

    // A server that ignores Range sends everything from 0: the partial is replaced, not appended to.
    const other = Buffer.from('abcdefghij'.repeat(500));
    const otherExpected = { digest: digestOf(other), size: other.length };
    await expect(
      layout.putBlobResumable(otherExpected, async () => ({
        stream: Readable.from(
          (async function* () {
            yield other.subarray(0, 100);
            throw new Error('connection reset');
          })(),
        ),
        offset: 0,
      })),
    ).rejects.toThrow('connection reset');
    const restarted = await layout.putBlobResumable(otherExpected, async () => ({ stream: Readable.from([other]), offset: 0 }));
    expect(restarted.resumedAt).toBe(0);
    expect(await layout.readBlob(otherExpected.digest)).toEqual(other);
    expect(await files(dir)).toEqual(['index.json', 'oci-layout', `blobs/sha256/${expected.digest.slice(7)}`, `blobs/sha256/${otherExpected.digest.slice(7)}`].sort());
  });

  it('drops a resumed blob that turns out wrong, so the next attempt starts clean', async () => {
    const layout = await OciLayout.create(dir);
    const good = Buffer.from('good content');
    const expected = { digest: digestOf(good), size: good.length };
    await expect(layout.putBlobResumable(expected, async () => ({ stream: Readable.from([Buffer.from('evil content')]), offset: 0 }))).rejects.toThrow(/digest mismatch/);
    expect(await files(dir)).toEqual(['index.json', 'oci-layout']);
  });

  it('writes over a partial file as long as the blob or longer that holds the wrong bytes, never after them', async () => {
    const layout = await OciLayout.create(dir);
    const data = Buffer.from('0123456789'.repeat(100));
    const expected = { digest: digestOf(data), size: data.length };
    const partial = join(dir, '.cutaway', `sha256-${expected.digest.slice(7)}.partial`);
    for (const junk of [Buffer.alloc(data.length, 1), Buffer.alloc(data.length + 10, 2)]) {
      await writeFile(partial, junk);
      const offsets: number[] = [];
      const stored = await layout.putBlobResumable(expected, async (offset) => {
        offsets.push(offset);
        return { stream: Readable.from([data]), offset };
      });
      expect(offsets).toEqual([0]);
      expect(stored.resumedAt).toBe(0);
      expect(await readFile(layout.blobPath(expected.digest))).toEqual(data);
      await rm(layout.blobPath(expected.digest));
    }
  });

  it('streams a blob of many write batches in order, and a source that fails keeps exactly what arrived to resume from', async () => {
    const layout = await OciLayout.create(dir);
    // 20 MiB in chunks of uneven sizes: many 1 MiB write batches, and more than one early datasync.
    const data = randomBytes(20 << 20);
    const expected = { digest: digestOf(data), size: data.length };
    const chunks = function* (from: number, to: number) {
      for (let at = from, step = 1; at < to; at += step, step = (step * 7919) % 150_001 || 1) yield data.subarray(at, Math.min(at + step, to));
    };
    const cut = 13_456_789;
    await expect(
      layout.putBlobResumable(expected, async (offset) => ({
        stream: Readable.from(
          (async function* () {
            yield* chunks(offset, cut);
            throw new Error('connection reset');
          })(),
        ),
        offset,
      })),
    ).rejects.toThrow('connection reset');
    const partial = join(dir, '.cutaway', `sha256-${expected.digest.slice(7)}.partial`);
    // Compared by digest: toEqual walks a buffer index by index.
    expect(digestOf(await readFile(partial))).toBe(digestOf(data.subarray(0, cut)));
    const resumed = await layout.putBlobResumable(expected, async (offset) => ({ stream: Readable.from(chunks(offset, data.length)), offset }));
    expect(resumed).toEqual({ ...expected, resumedAt: cut });
    expect(digestOf(await layout.readBlob(expected.digest))).toBe(expected.digest);
    // The same through putBlob, from a stream.
    await rm(layout.blobPath(expected.digest));
    expect(await layout.putBlob(Readable.from(chunks(0, data.length)), expected)).toEqual(expected);
    expect(digestOf(await layout.readBlob(expected.digest))).toBe(expected.digest);
  });

  it('names, renames and removes references in index.json', async () => {
    const layout = await OciLayout.create(dir);
    const one = await putImage(layout, 'one');
    const two = await putImage(layout, 'two');
    await layout.addRef('docker.io/library/busybox:latest', one);
    await layout.addRef('localhost:5000/a/b:t', one);
    expect((await layout.list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:latest', 'localhost:5000/a/b:t']);
    // tagging again moves the name, as docker tag does
    await layout.addRef('docker.io/library/busybox:latest', two);
    expect((await layout.resolve('docker.io/library/busybox:latest'))?.digest).toBe(two.digest);
    expect((await layout.list()).length).toBe(2);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    expect(index.manifests.find((m: Descriptor) => m.digest === two.digest).annotations[REF_NAME]).toBe('docker.io/library/busybox:latest');
    expect(await layout.removeRef('localhost:5000/a/b:t')).toBe(true);
    expect(await layout.removeRef('localhost:5000/a/b:t')).toBe(false);
    expect(await layout.resolve('localhost:5000/a/b:t')).toBeUndefined();
  });

  it('leaves index.json as it is when a change changes nothing (tagged so already)', async () => {
    const layout = await OciLayout.create(dir);
    const one = await putImage(layout, 'one');
    await layout.addRef('a/b:1', one);
    const before = await stat(join(dir, 'index.json'));
    await layout.addRef('a/b:1', one);
    expect((await stat(join(dir, 'index.json'))).ino).toBe(before.ino);
    await layout.addRef('a/b:2', one);
    expect((await stat(join(dir, 'index.json'))).ino).not.toBe(before.ino);
    expect((await layout.list()).map((e) => e.name)).toEqual(['a/b:1', 'a/b:2']);
  });

  it('keeps every name when many tags are added at once', async () => {
    const layout = await OciLayout.create(dir);
    const image = await putImage(layout, 'one');
    // More concurrent writers than libuv has pool threads: lock waits must not starve the holder's I/O.
    await Promise.all(Array.from({ length: 20 }, (_, i) => layout.addRef(`app:${i}`, image)));
    expect((await layout.list()).map((e) => e.name).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `app:${i}`).sort());
  });

  it('refuses bad reference names and dangling references', async () => {
    const layout = await OciLayout.create(dir);
    const one = await putImage(layout, 'one');
    await expect(layout.addRef('bad name', one)).rejects.toThrow(/invalid reference name "bad name"/);
    await expect(layout.addRef('a//b', one)).rejects.toThrow(/invalid reference name/);
    await expect(layout.addRef('x:1', { ...one, digest: digestOf('nothing') })).rejects.toThrow(/cannot tag x:1: sha256:.* is not in/);
    expect(await layout.list()).toEqual([]);
  });

  it('garbage-collects exactly the blobs no reference reaches', async () => {
    const layout = await OciLayout.create(dir);
    const kept = await putImage(layout, 'shared');
    const dropped = await putImage(layout, 'only-in-dropped', 'arm64');
    await layout.addRef('kept:1', kept);
    await layout.addRef('dropped:1', dropped);
    const stray = await layout.putBlob(Buffer.from('stray'));
    expect((await layout.gc()).removed.map((r) => r.digest)).toEqual([stray.digest]);
    await layout.removeRef('dropped:1');
    const result = await layout.gc();
    // the dropped image's manifest, config and layer; nothing of the kept one
    expect(result.removed).toHaveLength(3);
    expect(result.removed.map((r) => r.digest)).toEqual(expect.arrayContaining([dropped.digest, digestOf('only-in-dropped')]));
    expect(result.freedBytes).toBe(result.removed.reduce((s, r) => s + r.size, 0));
    expect((await resolveNamedImage(layout, 'kept:1', parsePlatform('linux/amd64'))).manifest.layers[0]?.digest).toBe(digestOf('shared'));
  });

  it('removes an image by digest (every name at once), then only those of its blobs nothing else reaches', async () => {
    const layout = await OciLayout.create(dir);
    const kept = await putImage(layout, 'shared');
    const dropped = await putImage(layout, 'shared', 'arm64');
    await layout.addRef('kept:1', kept);
    await layout.addRef('dropped:1', dropped);
    await layout.addRef('dropped:2', dropped);
    const stray = await layout.putBlob(Buffer.from('stray'));
    const own = await layout.reachable([dropped]);
    expect([...own.values()].map((d) => d.mediaType)).toEqual([MediaType.ociManifest, MediaType.ociConfig, MediaType.ociLayer]);

    expect((await layout.removeManifest(dropped.digest)).sort()).toEqual(['dropped:1', 'dropped:2']);
    expect((await layout.list()).map((e) => e.name)).toEqual(['kept:1']);
    const result = await layout.gc({ only: own.keys() });
    // Its manifest and config; the layer it shares stays, and so does a stray blob that was never its own.
    expect(result.removed.map((r) => r.digest).sort()).toEqual([dropped.digest, [...own.keys()][1]].sort());
    expect(await layout.hasBlob(digestOf('shared'))).toBe(true);
    expect(await layout.hasBlob(stray.digest)).toBe(true);
  });

  it('keeps gc waiting while a writer holds a lease', async () => {
    const writer = await OciLayout.create(dir);
    const collector = await OciLayout.open(dir);
    let gcDone = false;
    let gcPromise!: Promise<unknown>;
    const stored = await writer.withLease(async () => {
      const blob = await writer.putBlob(Buffer.from('unreferenced yet'));
      gcPromise = collector.gc().then(() => (gcDone = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(gcDone).toBe(false);
      const manifest = await putImage(writer, 'x');
      await writer.addRef('now:referenced', manifest);
      return blob;
    });
    await gcPromise;
    expect(gcDone).toBe(true);
    expect(await writer.hasBlob(stored.digest)).toBe(false);
    expect(await writer.resolve('now:referenced')).toBeDefined();
    await expect(writer.withLease(() => writer.gc())).rejects.toThrow(/inside a lease/);
  });

  it('resolves a name through an index to the manifest for the platform', async () => {
    const layout = await OciLayout.create(dir);
    const amd = await putImage(layout, 'amd', 'amd64');
    const arm = await putImage(layout, 'arm', 'arm64');
    const index = await layout.putJson(MediaType.ociIndex, {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...amd, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
    await layout.addRef('multi:1', index);
    expect((await resolveNamedImage(layout, 'multi:1', parsePlatform('linux/arm64'))).descriptor.digest).toBe(arm.digest);
    expect((await resolveNamedImage(layout, 'multi:1', parsePlatform('linux/amd64'))).config.architecture).toBe('amd64');
    await expect(resolveNamedImage(layout, 'multi:1', parsePlatform('linux/riscv64'))).rejects.toThrow('no image for linux/riscv64; the image has linux/amd64, linux/arm64');
    await layout.addRef('single:1', arm);
    await expect(resolveNamedImage(layout, 'single:1', parsePlatform('linux/amd64'))).rejects.toThrow('the image is for linux/arm64, not linux/amd64');
    await expect(resolveNamedImage(layout, 'missing:1')).rejects.toThrow(`no image named missing:1 in ${dir}`);
  });
});
