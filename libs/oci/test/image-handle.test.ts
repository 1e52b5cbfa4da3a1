/**
 * The one image resolver (image-handle.ts) and the catalog it reads
 * (catalog.ts), on layouts written here: every handle form Docker takes, in
 * Docker's order; an ambiguous prefix; what is no image; an index entry and
 * its platforms; one config under an OCI and a Docker schema 2 manifest as
 * one image.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AmbiguousImageError,
  digestOf,
  findImage,
  isContentHandle,
  matchImage,
  MediaType,
  NoSuchImageError,
  OciLayout,
  parseImageHandle,
  parsePlatform,
  readCatalog,
  type Descriptor,
  type Digest,
} from '../src/index.ts';

let dir: string;
let layout: OciLayout;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cw-handle-'));
  layout = await OciLayout.create(dir);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const HOST = parsePlatform('linux/amd64');

interface Made {
  id: Digest;
  manifest: Descriptor;
  config: Descriptor;
  layer: Descriptor;
}

/** A config's JSON for a one-layer image; `created` makes it differ from another's. */
function configJson(layer: Digest, created: string, architecture = 'amd64'): string {
  return JSON.stringify({ created, architecture, os: 'linux', rootfs: { type: 'layers', diff_ids: [layer] } });
}

/** A one-layer image, its config made from `json` (so a test may choose it by its digest); an OCI manifest, or Docker's schema 2. */
async function putImage(json: string, layerText: string, docker = false): Promise<Made> {
  const blob = await layout.putBlob(Buffer.from(layerText));
  const config = { mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, ...(await layout.putBlob(Buffer.from(json))) };
  const layer = { mediaType: docker ? MediaType.dockerLayerGzip : MediaType.ociLayer, ...blob };
  const type = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest = await layout.putJson(type, { schemaVersion: 2, mediaType: type, config, layers: [layer] });
  return { id: config.digest, manifest, config, layer };
}

async function image(name: string, created = '2020-01-01T00:00:00Z', architecture = 'amd64'): Promise<Made> {
  const layerText = `layer of ${name}`;
  const made = await putImage(configJson(digestOf(layerText), created, architecture), layerText);
  await layout.addRef(name, made.manifest);
  return made;
}

/** The ID an image is found by, or the error's class and message. */
async function idOf(handle: string, platform = HOST): Promise<string> {
  return findImage(layout, handle, platform).then(
    (found) => found.id,
    (e: Error) => `${e.name}: ${e.message}`,
  );
}

describe('findImage: every handle Docker takes names the same image', () => {
  it('a name (as stored, as Docker normalises it), the ID (full, bare hex, prefixes), a manifest digest, NAME@DIGEST', async () => {
    const busybox = await image('docker.io/library/busybox:latest');
    await image('docker.io/library/other:1', '2021-01-01T00:00:00Z');
    const hex = busybox.id.slice(7);
    const handles = [
      'busybox',
      'busybox:latest',
      'docker.io/library/busybox:latest',
      busybox.id,
      hex,
      hex.slice(0, 12),
      `sha256:${hex.slice(0, 12)}`,
      busybox.manifest.digest,
      busybox.manifest.digest.slice(7),
      `busybox@${busybox.manifest.digest}`,
      `busybox:latest@${busybox.manifest.digest}`,
      `docker.io/library/busybox@${busybox.manifest.digest}`,
    ];
    for (const h of handles) expect(await idOf(h), h).toBe(busybox.id);
    const found = await findImage(layout, hex.slice(0, 12), HOST);
    // Found by ID: its name is the ID, a handle that finds it again; by a name, that name.
    expect(found).toMatchObject({ id: busybox.id, name: busybox.id, by: 'id', descriptor: { digest: busybox.manifest.digest } });
    expect(found.config.rootfs.diff_ids).toEqual([busybox.layer.digest]);
    expect(await findImage(layout, 'busybox', HOST)).toMatchObject({ name: 'docker.io/library/busybox:latest', by: 'name' });
    expect(await findImage(layout, busybox.manifest.digest, HOST)).toMatchObject({ by: 'manifest', name: busybox.id });
    expect(await findImage(layout, `busybox@${busybox.manifest.digest}`, HOST)).toMatchObject({ by: 'repo-digest' });
  });

  it('a name pulled by digest is a stored name; a name is tried before an ID prefix, as Docker does', async () => {
    const a = await image('docker.io/library/a:1');
    const b = await image('docker.io/library/b:1', '2021-01-01T00:00:00Z');
    await layout.addRef(`docker.io/library/pinned@${b.manifest.digest}`, b.manifest);
    expect(await findImage(layout, `pinned@${b.manifest.digest}`, HOST)).toMatchObject({ id: b.id, by: 'name', name: `docker.io/library/pinned@${b.manifest.digest}` });
    // A repository named like a's ID prefix: the name wins.
    const prefix = a.id.slice(7, 15);
    await layout.addRef(`docker.io/library/${prefix}:latest`, b.manifest);
    expect(await idOf(prefix)).toBe(b.id);
    expect(await idOf(`sha256:${prefix}`)).toBe(a.id);
  });

  it('a prefix of two IDs is ambiguous, never a guess; one more digit decides', async () => {
    // Two configs whose digests share their first four hex digits (a birthday search over `created`).
    const layerText = 'shared layer';
    const seen = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const json = configJson(digestOf(layerText), new Date(Date.UTC(2020, 0, 1, 0, 0, i)).toISOString());
      const start = digestOf(json).slice(7, 11);
      const other = seen.get(start);
      if (other !== undefined) pair = [other, json];
      else seen.set(start, json);
    }
    const one = await putImage(pair[0], layerText);
    const two = await putImage(pair[1], layerText);
    await layout.addRef('one:1', one.manifest);
    await layout.addRef('two:1', two.manifest);
    const shared = one.id.slice(7, 11);
    for (const h of [shared, `sha256:${shared}`]) {
      await expect(findImage(layout, h, HOST)).rejects.toThrow(AmbiguousImageError);
      await expect(findImage(layout, h, HOST)).rejects.toThrow(`multiple IDs found with provided prefix: ${h}`);
    }
    let n = 5;
    while (one.id.slice(7, 7 + n) === two.id.slice(7, 7 + n)) n++;
    expect(await idOf(one.id.slice(7, 7 + n))).toBe(one.id);
    expect(await idOf(two.id.slice(7, 7 + n))).toBe(two.id);
  });

  it('what names no image: No such image, or the reference error of what is no reference', async () => {
    const busybox = await image('docker.io/library/busybox:latest');
    const zeros = '0'.repeat(64);
    for (const h of [`sha256:${zeros}`, zeros, 'sha256:ffff', 'nothing', 'busybox:2', `other@${busybox.manifest.digest}`, `busybox@sha256:${zeros}`]) {
      expect(await idOf(h), h).toBe(`NoSuchImageError: No such image: ${h}`);
    }
    // The config digest is an ID, not a manifest: NAME@ID names nothing.
    expect(await idOf(`busybox@${busybox.id}`)).toBe(`NoSuchImageError: No such image: busybox@${busybox.id}`);
    expect(await idOf('Bad/Name')).toBe('OciError: invalid reference "Bad/Name": repository name must be lowercase');
    // As written first: a layout from elsewhere may hold a name Docker would refuse.
    await layout.addRef('Short', busybox.manifest);
    expect(await idOf('Short')).toBe(busybox.id);
  });

  it('an index entry: its digest, its platform manifest digest and the platform image ID; --platform picks, a wrong one is refused', async () => {
    const amd = await putImage(configJson(digestOf('amd'), '2020-01-01T00:00:00Z', 'amd64'), 'amd');
    const arm = await putImage(configJson(digestOf('arm'), '2020-01-01T00:00:00Z', 'arm64'), 'arm');
    const index = await layout.putJson(MediaType.ociIndex, {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: [
        { ...amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
        { ...arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ],
    });
    await layout.addRef('multi:1', index);
    const ARM = parsePlatform('linux/arm64');
    for (const h of ['multi:1', index.digest, amd.manifest.digest, amd.id]) expect(await idOf(h), h).toBe(amd.id);
    for (const h of ['multi:1', index.digest, arm.manifest.digest, arm.id]) expect(await idOf(h, ARM), h).toBe(arm.id);
    // For arm64 the index is its arm64 image: the amd64 one's ID names nothing there.
    expect(await idOf(amd.id, ARM)).toBe(`NoSuchImageError: No such image: ${amd.id}`);
    // A manifest of another platform only, by its ID: found, and refused for the platform asked.
    await layout.addRef('amdonly:1', amd.manifest);
    expect(await idOf(amd.id, ARM)).toBe('OciError: the image is for linux/amd64, not linux/arm64');
    expect(await idOf(`multi@${arm.manifest.digest}`, ARM)).toBe(arm.id);
  });
});

describe('readCatalog: one image per ID', () => {
  it('an OCI and a Docker schema 2 manifest of one config, under two names, are one image with both; matchImage finds it by either', async () => {
    const oci = await image('docker.io/library/app:oci');
    const docker = await putImage(configJson(oci.layer.digest, '2020-01-01T00:00:00Z'), 'layer of docker.io/library/app:oci', true);
    expect(docker.id).toBe(oci.id);
    expect(docker.manifest.digest).not.toBe(oci.manifest.digest);
    await layout.addRef(`docker.io/library/app@${docker.manifest.digest}`, docker.manifest);
    await layout.addRef('docker.io/library/app:v2', docker.manifest);
    const other = await image('docker.io/library/other:1', '2022-01-01T00:00:00Z');

    const catalog = await readCatalog(layout, HOST);
    expect(catalog.map((i) => i.id)).toEqual([oci.id, other.id]);
    const [app] = catalog;
    expect(app!.entries.map((e) => e.descriptor.digest)).toEqual([oci.manifest.digest, docker.manifest.digest]);
    expect(app!.names).toEqual(['docker.io/library/app:oci', `docker.io/library/app@${docker.manifest.digest}`, 'docker.io/library/app:v2']);
    // The ref.name annotation is taken off the entry; each entry keeps its own names.
    expect(app!.entries[1]!.descriptor.annotations).toBeUndefined();
    expect(app!.entries[1]!.names).toEqual([`docker.io/library/app@${docker.manifest.digest}`, 'docker.io/library/app:v2']);

    for (const h of ['app:oci', 'app:v2', oci.manifest.digest, docker.manifest.digest, `app@${oci.manifest.digest}`, `app@${docker.manifest.digest}`, oci.id.slice(7, 19)]) {
      expect(matchImage(catalog, h).image, h).toBe(app);
    }
    expect(matchImage(catalog, 'app:v2')).toMatchObject({ by: 'name', name: 'docker.io/library/app:v2', entry: app!.entries[1] });
    expect(matchImage(catalog, docker.manifest.digest)).toMatchObject({ by: 'manifest', entry: app!.entries[1], descriptor: { digest: docker.manifest.digest } });
    expect(matchImage(catalog, oci.id)).toMatchObject({ by: 'id', entry: app!.entries[0] });
    expect(() => matchImage(catalog, 'app:nothing')).toThrow(NoSuchImageError);
  });

  it('an entry of another platform only is listed as its own; a damaged entry is an error naming it', async () => {
    const arm = await image('docker.io/library/armonly:1', '2020-01-01T00:00:00Z', 'arm64');
    const catalog = await readCatalog(layout, HOST);
    expect(catalog.map((i) => [i.id, i.image.config.architecture])).toEqual([[arm.id, 'arm64']]);
    await rm(layout.blobPath(arm.config.digest));
    await expect(readCatalog(layout, HOST)).rejects.toThrow(`docker.io/library/armonly:1: blob ${arm.config.digest} is not in ${dir}`);
  });
});

describe('parseImageHandle', () => {
  it('tells content (never pulled) from names', () => {
    const hex = 'a'.repeat(64);
    expect(parseImageHandle(`sha256:${hex}`)).toEqual({ text: `sha256:${hex}`, names: [], digest: `sha256:${hex}` });
    expect(parseImageHandle(hex)).toEqual({ text: hex, names: [], digest: `sha256:${hex}` });
    expect(parseImageHandle('sha256:abc')).toEqual({ text: 'sha256:abc', names: [], idPrefix: 'abc' });
    expect(parseImageHandle('abc')).toEqual({ text: 'abc', names: ['abc', 'docker.io/library/abc:latest'], idPrefix: 'abc' });
    expect(parseImageHandle(`x:1@sha256:${hex}`)).toEqual({
      text: `x:1@sha256:${hex}`,
      names: [`x:1@sha256:${hex}`, `docker.io/library/x:1@sha256:${hex}`, `docker.io/library/x@sha256:${hex}`],
      repoDigest: { repository: 'docker.io/library/x', digest: `sha256:${hex}` },
    });
    for (const h of [`sha256:${hex}`, hex, 'sha256:abc']) expect(isContentHandle(h), h).toBe(true);
    for (const h of ['abc', 'busybox', `busybox@sha256:${hex}`, 'Bad/Name']) expect(isContentHandle(h), h).toBe(false);
  });
});
