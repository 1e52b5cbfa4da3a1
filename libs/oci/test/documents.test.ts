import { describe, expect, it } from 'vitest';
import { checkImageConsistency, MediaType, parseImageConfig, parseManifestDocument } from '../src/index.ts';

const d = (c: string) => `sha256:${c.repeat(64)}`;

const manifest = {
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: d('1'), size: 7023 },
  layers: [
    { mediaType: MediaType.ociLayerGzip, digest: d('2'), size: 32654 },
    { mediaType: MediaType.ociLayerZstd, digest: d('3'), size: 16724, annotations: { 'com.example.key': 'v' } },
  ],
  annotations: { 'com.example.key1': 'value1' },
};

const index = {
  schemaVersion: 2,
  mediaType: MediaType.ociIndex,
  manifests: [
    { mediaType: MediaType.ociManifest, digest: d('4'), size: 7143, platform: { architecture: 'ppc64le', os: 'linux' } },
    { mediaType: MediaType.ociManifest, digest: d('5'), size: 7682, platform: { architecture: 'amd64', os: 'linux' } },
  ],
};

const config = {
  created: '2015-10-31T22:22:56.015925234Z',
  architecture: 'amd64',
  os: 'linux',
  config: { User: 'alice', ExposedPorts: { '8080/tcp': {} }, Env: ['PATH=/usr/bin'], Entrypoint: ['/bin/my-app-binary'], Cmd: null, Labels: null, Healthcheck: { Test: ['CMD', 'true'] } },
  rootfs: { type: 'layers', diff_ids: [d('6'), d('7')] },
  history: [{ created_by: 'ADD file' }, { created_by: 'ENV x=y', empty_layer: true }, { created_by: 'RUN make' }],
  'moby.buildkit.buildinfo.v1': 'e30=',
};

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const without = <T extends object>(o: T, key: keyof T) => Object.fromEntries(Object.entries(o).filter(([k]) => k !== key));

describe('manifests and indexes', () => {
  it('parses an OCI manifest and an OCI index', () => {
    const m = parseManifestDocument(json(manifest), MediaType.ociManifest);
    expect(m.kind).toBe('manifest');
    if (m.kind === 'manifest') expect(m.manifest.layers.map((l) => l.digest)).toEqual([d('2'), d('3')]);
    const i = parseManifestDocument(json(index), `${MediaType.ociIndex}; charset=utf-8`);
    expect(i.kind === 'index' && i.index.manifests[1]?.platform).toEqual({ architecture: 'amd64', os: 'linux' });
  });

  it('parses Docker schema 2 manifests and manifest lists', () => {
    const docker = { ...manifest, mediaType: MediaType.dockerManifest, config: { ...manifest.config, mediaType: MediaType.dockerConfig } };
    expect(parseManifestDocument(json(docker)).kind).toBe('manifest');
    const list = { ...index, mediaType: MediaType.dockerManifestList, manifests: index.manifests.map((m) => ({ ...m, mediaType: MediaType.dockerManifest })) };
    expect(parseManifestDocument(json(list), MediaType.dockerManifestList).kind).toBe('index');
  });

  it('takes a document without mediaType (umoci 0.4.7 writes them) by its Content-Type or its shape', () => {
    expect(parseManifestDocument(json(without(manifest, 'mediaType'))).mediaType).toBe(MediaType.ociManifest);
    expect(parseManifestDocument(json(without(index, 'mediaType'))).mediaType).toBe(MediaType.ociIndex);
    expect(parseManifestDocument(json(without(index, 'mediaType')), MediaType.dockerManifestList).mediaType).toBe(MediaType.dockerManifestList);
    expect(parseManifestDocument(json(manifest), 'application/json').kind).toBe('manifest');
  });

  it.each([
    ['Content-Type that contradicts mediaType', json(manifest), MediaType.ociIndex, /Content-Type application\/vnd.oci.image.index.v1\+json does not match/],
    ['schema 1', json({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), undefined, /schema 1 is not supported/],
    ['schema 1 by type', json({ schemaVersion: 1 }), MediaType.dockerManifestSchema1Signed, /schema 1 is not supported/],
    ['schemaVersion 3', json({ ...manifest, schemaVersion: 3 }), undefined, /^schemaVersion: must be 2, got 3/],
    ['not JSON', Buffer.from('{"schemaVersion":'), undefined, /manifest is not valid JSON/],
    ['an array', json([]), undefined, /^manifest: must be an object, got an array/],
    ['unknown media type', json({ ...manifest, mediaType: 'application/vnd.example+json' }), undefined, /unsupported manifest media type "application\/vnd.example\+json"/],
    ['missing config', json(without(manifest, 'config')), undefined, /^config: must be an object, got undefined/],
    ['layers not an array', json({ ...manifest, layers: {} }), undefined, /^layers: must be an array, got an object/],
    ['bad layer digest', json({ ...manifest, layers: [{ ...manifest.layers[0], digest: 'sha256:xyz' }] }), undefined, /^layers\[0\]\.digest: sha256 digest must be 64/],
    ['negative size', json({ ...manifest, layers: [manifest.layers[0], { ...manifest.layers[1], size: -1 }] }), undefined, /^layers\[1\]\.size: must be a non-negative integer, got number -1/],
    ['fractional size', json({ ...manifest, config: { ...manifest.config, size: 1.5 } }), undefined, /^config\.size: must be a non-negative integer/],
    ['bad media type', json({ ...manifest, config: { ...manifest.config, mediaType: 'not a type' } }), undefined, /^config\.mediaType: not a media type/],
    ['annotation not a string', json({ ...manifest, annotations: { a: 1 } }), undefined, /^annotations\.a: must be a string, got number 1/],
    ['platform without os', json({ ...index, manifests: [{ ...index.manifests[0], platform: { architecture: 'amd64' } }] }), undefined, /^manifests\[0\]\.platform\.os: must be a string, got undefined/],
    ['urls not strings', json({ ...manifest, layers: [{ ...manifest.layers[0], urls: [1] }] }), undefined, /^layers\[0\]\.urls\[0\]: must be a string/],
    ['data not base64', json({ ...manifest, config: { ...manifest.config, data: '%%' } }), undefined, /^config\.data: must be base64/],
  ])('rejects %s, naming the field', (_what, bytes, contentType, why) => {
    expect(() => parseManifestDocument(bytes, contentType)).toThrow(why);
  });
});

describe('image configs', () => {
  it('parses a config and keeps fields the model does not name', () => {
    const c = parseImageConfig(json(config));
    expect(c.rootfs.diff_ids).toHaveLength(2);
    expect(c.config?.Entrypoint).toEqual(['/bin/my-app-binary']);
    expect(c.config?.Healthcheck).toEqual({ Test: ['CMD', 'true'] });
    expect(c['moby.buildkit.buildinfo.v1']).toBe('e30=');
  });

  it.each([
    ['missing architecture', without(config, 'architecture'), /^architecture: must be a string, got undefined/],
    ['rootfs type', { ...config, rootfs: { type: 'tar', diff_ids: [] } }, /^rootfs\.type: must be "layers", got "tar"/],
    ['bad diff_id', { ...config, rootfs: { type: 'layers', diff_ids: ['x'] } }, /^rootfs\.diff_ids\[0\]: not a digest/],
    ['Env not strings', { ...config, config: { Env: ['A=1', 2] } }, /^config\.Env\[1\]: must be a string/],
    ['Cmd a string', { ...config, config: { Cmd: 'sh' } }, /^config\.Cmd: must be an array, got string "sh"/],
    ['ExposedPorts values', { ...config, config: { ExposedPorts: { '80/tcp': true } } }, /^config\.ExposedPorts\.80\/tcp: must be an object/],
    ['history entry', { ...config, history: [{ empty_layer: 'yes' }] }, /^history\[0\]\.empty_layer: must be true or false/],
  ])('rejects %s', (_what, doc, why) => {
    expect(() => parseImageConfig(json(doc))).toThrow(why);
  });

  it('checks that manifest, diff_ids and history agree', () => {
    const c = parseImageConfig(json(config));
    const doc = parseManifestDocument(json(manifest));
    if (doc.kind !== 'manifest') throw new Error('expected a manifest');
    expect(() => checkImageConsistency(doc.manifest, c)).not.toThrow();
    expect(() => checkImageConsistency({ ...doc.manifest, layers: doc.manifest.layers.slice(0, 1) }, c)).toThrow(/2 diff_ids but the manifest has 1 layers/);
    const badHistory = parseImageConfig(json({ ...config, history: [{ created_by: 'x' }] }));
    expect(() => checkImageConsistency(doc.manifest, badHistory)).toThrow(/1 history entries make a layer but there are 2 layers/);
  });
});
