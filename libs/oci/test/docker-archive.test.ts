import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree, run, Stage, writeImage, type BuiltImage } from '../../../test/fixtures/images.ts';
import { DockerArchiveError, hostPlatform, loadDockerArchive, OciLayout, parseArchiveManifest, resolveNamedImage, saveDockerArchive, type ArchiveImage } from '../src/index.ts';

// saveDockerArchive and loadDockerArchive against each other; the tools' tests cross-check both with skopeo,
// podman's and Docker's forms (tools/oci-pull/test/docker-archive.test.ts, tools/cutaway/test/images.test.ts).

const NAME = 'docker.io/library/hello:1';

let work: string;
let source: OciLayout;
let built: BuiltImage;
let saved: ArchiveImage;

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One member of a tar, as GNU tar reads it. */
async function member(tar: Buffer, name: string): Promise<Buffer> {
  const file = join(work, 'member.tar');
  await writeFile(file, tar);
  return Buffer.from(await run('tar', ['-xOf', file, name]));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cutaway-oci-archive-'));
  source = await OciLayout.create(join(work, 'source'));
  const stage = new Stage(join(work, 'layer'));
  await mkdir(stage.root);
  await stage.file('hello.txt', 'hello from the archive\n');
  built = await writeImage(source, NAME, { layers: [{ dir: stage.root, createdBy: 'docker-archive.test.ts' }], cmd: ['/bin/true'] });
  saved = { image: await resolveNamedImage(source, NAME), tags: [NAME] };
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('docker-archive', () => {
  it('saves the same bytes every time, with familiar RepoTags and blob paths in manifest.json', async () => {
    const tar = await bytesOf(saveDockerArchive(source, [saved]));
    expect((await bytesOf(saveDockerArchive(source, [saved]))).equals(tar)).toBe(true);
    const items = parseArchiveManifest(await member(tar, 'manifest.json'), 'saved.tar');
    expect(items).toEqual([{ Config: `blobs/sha256/${built.configDescriptor.digest.slice(7)}`, RepoTags: ['hello:1'], Layers: built.manifest.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) }]);
    expect(JSON.parse((await member(tar, 'oci-layout')).toString())).toEqual({ imageLayoutVersion: '1.0.0' });
  });

  it('loads what it saved: the same config and layers, tagged with the full name', async () => {
    const tar = await bytesOf(saveDockerArchive(source, [saved]));
    const store = await OciLayout.create(join(work, 'loaded'));
    const loaded = await loadDockerArchive(Readable.from([tar]), store, { file: 'saved.tar', platform: hostPlatform() });
    expect(loaded.tag).toBe(NAME);
    expect(loaded.manifest.config.digest).toBe(built.configDescriptor.digest);
    expect(loaded.manifest.layers.map((l) => [l.digest, l.mediaType])).toEqual(built.manifest.layers.map((l) => [l.digest, l.mediaType]));
    expect((await store.resolve(NAME))?.digest).toBe(loaded.descriptor.digest);
  });

  it('refuses an archive without manifest.json with a DockerArchiveError that names it', async () => {
    const store = await OciLayout.create(join(work, 'refused'));
    const error = await loadDockerArchive(Readable.from([Buffer.alloc(1024)]), store, { file: '-', platform: hostPlatform() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DockerArchiveError);
    expect((error as Error).message).toMatch(/^stdin: /);
  });
});
