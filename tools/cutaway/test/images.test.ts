/**
 * Docker's image commands — images, tag, history, rmi, save, load, pull,
 * push, image inspect — and the image handles every command takes (a name,
 * the ID or a unique prefix of it, a manifest digest, NAME@DIGEST) — end to
 * end, as built commands on real parts: the busybox fixture
 * image, images made by cutaway build and layer-commit, containers made by
 * cutaway run (network none), skopeo for the docker-archive cross-checks and
 * Debian's docker-registry on 127.0.0.1. Every test has a state root of its
 * own under this file's temp dir; afterAll kills what a container left
 * running, unmounts and removes everything, and checks no mount is left.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, findImage, MediaType, OciLayout, parseImageConfig, parseManifestDocument, type Digest, type ImageConfig } from '@cutaway/oci';
import { runCommand, shellWord, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree, type BuiltImage } from '../../../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';

let work: string;
let roots = 0;
const made: string[] = [];

/** A fresh state root with the busybox fixture image in its store. */
async function freshRoot(withBusybox = true): Promise<{ root: string; busybox?: BuiltImage }> {
  const root = join(work, `root${++roots}`);
  mkdirSync(root, { recursive: true });
  made.push(root);
  return { root, ...(withBusybox && { busybox: await buildBusyboxImage(await OciLayout.create(join(root, 'images'))) }) };
}

/** The environment of the commands: the test's root, and a Docker config (for registry credentials) of its own, never the host's. */
function env(root: string): NodeJS.ProcessEnv {
  return { CUTAWAY_ROOT: root, DOCKER_CONFIG: join(work, 'docker-config'), HOME: work, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '' };
}

function cutaway(root: string, args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: env(root) });
}

/** cutaway with stdin from a file and stdout to a file (archives are bytes, not text). */
function cutawayFiles(root: string, args: string[], files: { stdin?: string; stdout?: string }): Promise<{ code: number | null; stderr: string }> {
  const stdin = files.stdin ? openSync(files.stdin, 'r') : 'ignore';
  const stdout = files.stdout ? openSync(files.stdout, 'w') : 'ignore';
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('cutaway'), args, { env: { ...process.env, ...env(root) }, stdio: [stdin, stdout, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      for (const fd of [stdin, stdout]) if (typeof fd === 'number') closeSync(fd);
      resolve({ code, stderr });
    });
  });
}

/** A command that must succeed quietly: its stdout. */
async function ok(root: string, args: string[]): Promise<string> {
  const r = await cutaway(root, args);
  expect(r.stderr, `cutaway ${args.join(' ')}`).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

/** A refusal: exit 1, exactly this one line on stderr, nothing on stdout. */
async function refused(root: string, args: string[], message: string): Promise<void> {
  const r = await cutaway(root, args);
  expect(r.stderr).toBe(`cutaway ${args[0]}: error: ${message}\n`);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(1);
}

const indexJson = (root: string) => readFileSync(join(root, 'images', 'index.json'), 'utf8');
const blobExists = (root: string, digest: Digest) => existsSync(join(root, 'images', 'blobs', 'sha256', digest.slice(7)));
const layerDir = (root: string, diffId: Digest) => join(root, 'layers', 'sha256', diffId.slice(7));
const short = (digest: Digest) => digest.slice(7, 19);

/** An image of a root's store, by name: its ID (config digest), manifest digest, layer blobs and diff_ids. */
async function image(root: string, name: string) {
  const found = await findImage(await OciLayout.open(join(root, 'images')), name);
  return { id: found.manifest.config.digest, digest: found.descriptor.digest, layers: found.manifest.layers.map((l) => l.digest), diffIds: found.config.rootfs.diff_ids };
}

/** An image made by layer-commit: a file of its own on top of busybox, with a comment. */
async function commitImage(root: string, tag: string, file: string): Promise<void> {
  const dir = mkdtempSync(join(work, 'layer-'));
  writeFileSync(join(dir, file), `${file}\n`);
  const r = await runCommand('layer-commit', ['-q', dir, '--image', BUSYBOX_REF, '--tag', tag, '--created-by', `COPY ${file} /`, '-m', 'made by the test'], { env: env(root) });
  expect(r.stderr).toBe('');
  await removeTree(dir);
}

/** busybox's config with a label of its own: another image (another ID) on the same layer. */
function labelled(busybox: BuiltImage, n: string): Buffer {
  return Buffer.from(JSON.stringify({ ...busybox.config, config: { ...busybox.config.config, Labels: { n } } }));
}

/** busybox's own config, byte for byte (its ID). */
function busyboxConfig(root: string, busybox: BuiltImage): Buffer {
  return readFileSync(join(root, 'images', 'blobs', 'sha256', busybox.configDescriptor.digest.slice(7)));
}

/**
 * An image written into a root's store as a pull would leave it: busybox's layer under `config`, with an
 * OCI manifest or Docker's schema 2 one, named by `names` (full references, given its digest). Its ID and manifest digest.
 */
async function putImage(root: string, busybox: BuiltImage, config: Buffer, names: (digest: Digest) => string[], docker = false): Promise<{ id: Digest; digest: Digest }> {
  const layout = await OciLayout.open(join(root, 'images'));
  const stored = await layout.putBlob(config);
  const type = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest = await layout.putJson(type, {
    schemaVersion: 2,
    mediaType: type,
    config: { mediaType: docker ? MediaType.dockerConfig : MediaType.ociConfig, ...stored },
    layers: busybox.manifest.layers.map((l) => ({ ...l, mediaType: docker ? MediaType.dockerLayerGzip : l.mediaType })),
  });
  for (const name of names(manifest.digest)) await layout.addRef(name, manifest);
  return { id: stored.digest, digest: manifest.digest };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cw-images-'));
  mkdirSync(join(work, 'docker-config'));
});

afterAll(async () => {
  for (const root of made) await removeContainers(root);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  await removeTree(work);
  expect(mounts).not.toContain(work);
});

describe('cutaway images, tag, history', () => {
  it('list the store as docker does: a row per tag, IDs from the config digest, the history with its sizes', async () => {
    const { root, busybox } = await freshRoot();
    const id = short(busybox!.configDescriptor.digest);
    const size = busybox!.manifest.layers[0]!.size + busybox!.configDescriptor.size;
    expect(await ok(root, ['images'])).toMatch(new RegExp(`^REPOSITORY\\s+TAG\\s+IMAGE ID\\s+CREATED\\s+SIZE\\ncutaway\\.test/busybox\\s+latest\\s+${id}\\s+\\d+ years ago\\s+${(size / 1e6).toPrecision(3)}MB\\n$`));

    // By name, and by an ID prefix.
    expect(await ok(root, ['tag', 'cutaway.test/busybox', 'mybox:1'])).toBe('');
    expect(await ok(root, ['tag', id.slice(0, 6), 'localhost:5000/other/box'])).toBe('');
    const rows = (await ok(root, ['images'])).trim().split('\n');
    expect(rows.slice(1).map((r) => r.split(/\s+/).slice(0, 3).join(' ')).sort()).toEqual([`cutaway.test/busybox latest ${id}`, `localhost:5000/other/box latest ${id}`, `mybox 1 ${id}`]);
    expect(await ok(root, ['images', '-q'])).toBe(`${id}\n`);
    expect(await ok(root, ['images', '-q', '--no-trunc'])).toBe(`${busybox!.configDescriptor.digest}\n`);
    expect((await ok(root, ['images', 'mybox'])).split('\n')[1]).toMatch(/^mybox\s+1\s/);
    expect(await ok(root, ['images', 'mybox:2'])).toMatch(/^REPOSITORY.*\n$/);

    // A committed layer: history newest first, its created_by and comment, the fixture's line cut at 45 characters.
    await commitImage(root, 'three:1', 'three');
    const three = await image(root, 'three:1');
    const history = (await ok(root, ['history', 'three:1'])).split('\n');
    expect(history[0]).toMatch(/^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT$/);
    expect(history[1]).toMatch(new RegExp(`^${short(three.id)}\\s+.* ago\\s+COPY three /\\s+\\d+B\\s+made by the test$`));
    expect(history[2]).toMatch(new RegExp(`^${id}\\s+\\d+ years ago\\s+cutaway fixture: /bin/busybox \\(busybox-stati…\\s+[\\d.]+MB\\s*$`));
    expect(await ok(root, ['history', '-q', 'three:1'])).toBe(`${short(three.id)}\n${id}\n`);
  });

  it('bad input: an unknown image, a bad reference, a digest as a tag — one line each, nothing changed', async () => {
    const { root } = await freshRoot();
    const before = indexJson(root);
    await refused(root, ['tag', 'nothing', 'x:1'], 'No such image: nothing');
    await refused(root, ['tag', BUSYBOX_REF, 'Bad/Name'], 'invalid reference "Bad/Name": repository name must be lowercase');
    await refused(root, ['tag', BUSYBOX_REF, `x@sha256:${'0'.repeat(64)}`], `refusing to create a tag with a digest reference: x@sha256:${'0'.repeat(64)}`);
    await refused(root, ['history', 'nothing:2'], 'No such image: nothing:2');
    await refused(root, ['rmi', BUSYBOX_REF, 'nothing'], 'No such image: nothing');
    expect(indexJson(root)).toBe(before);
    const usage = await cutaway(root, ['tag', BUSYBOX_REF]);
    expect(usage.code).toBe(125);
    expect(usage.stderr).toMatch(/requires exactly 2 arguments/);
  });
});

describe('cutaway rmi', () => {
  it('removes what only the removed image had and keeps what another image shares; the other still runs', async () => {
    const { root, busybox } = await freshRoot();
    const base = { blob: busybox!.manifest.layers[0]!.digest, diffId: busybox!.diffIds[0]! };
    for (const n of ['one', 'two']) {
      const context = join(work, `context-${n}-${roots}`);
      mkdirSync(context);
      writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo ${n} > /${n}\n`);
      const built = await cutaway(root, ['build', '-q', '--network', 'none', '-t', `${n}:1`, context]);
      expect(built.code, built.stderr).toBe(0);
      // Both run, so that each layer is unpacked in layers/.
      expect(await ok(root, ['run', '--rm', '--network', 'none', `${n}:1`, 'cat', `/${n}`])).toBe(`${n}\n`);
    }
    const one = await image(root, 'one:1');
    const two = await image(root, 'two:1');
    for (const d of [base.diffId, one.diffIds[1]!, two.diffIds[1]!]) expect(existsSync(layerDir(root, d))).toBe(true);
    // The build cache names the image too: Docker's intermediate image, which goes with it.
    expect(indexJson(root).split(one.digest).length - 1).toBe(2);

    expect(await ok(root, ['rmi', 'one:1'])).toBe(`Untagged: one:1\nDeleted: ${one.id}\nDeleted: ${one.layers[1]}\n`);
    expect(indexJson(root)).not.toContain(one.digest);
    for (const d of [one.digest, one.id, one.layers[1]!]) expect(blobExists(root, d)).toBe(false);
    expect(existsSync(layerDir(root, one.diffIds[1]!))).toBe(false);
    // Shared: busybox's layer, blob and unpacked; two's own.
    for (const d of [base.blob, two.digest, two.id, two.layers[1]!]) expect(blobExists(root, d)).toBe(true);
    for (const d of [base.diffId, two.diffIds[1]!]) expect(existsSync(layerDir(root, d))).toBe(true);
    expect(await ok(root, ['images', '-a', '-q'])).not.toContain(short(one.id));
    expect(await ok(root, ['run', '--rm', '--network', 'none', 'two:1', 'cat', '/two'])).toBe('two\n');
    expect(await ok(root, ['run', '--rm', '--network', 'none', 'two:1', 'true'])).toBe('');
  });

  it('refuses an image a container uses, unless -f; -f keeps the layers the container stacks', async () => {
    const { root, busybox } = await freshRoot();
    await commitImage(root, 'three:1', 'three');
    const three = await image(root, 'three:1');
    expect(await ok(root, ['run', '--name', 'keep', '--network', 'none', 'three:1', 'true'])).toBe('');
    const container = (await ok(root, ['ps', '-a', '-q'])).trim();
    const before = indexJson(root);

    await refused(root, ['rmi', 'three:1'], `conflict: unable to remove repository reference "three:1" (must force) - container ${container} is using its referenced image ${short(three.id)}`);
    await refused(root, ['rmi', short(three.id)], `conflict: unable to delete ${short(three.id)} (must be forced) - image is being used by stopped container ${container}`);
    // Busybox has two names in two repositories: by ID only with -f.
    await ok(root, ['tag', BUSYBOX_REF, 'mybox:1']);
    await refused(root, ['rmi', short(busybox!.configDescriptor.digest)], `conflict: unable to delete ${short(busybox!.configDescriptor.digest)} (must be forced) - image is referenced in multiple repositories`);
    await ok(root, ['rmi', 'mybox:1']);
    expect(indexJson(root)).toBe(before);

    expect(await ok(root, ['rmi', '-f', 'three:1'])).toBe(`Untagged: three:1\nDeleted: ${three.id}\nDeleted: ${three.layers[1]}\n`);
    expect(blobExists(root, three.layers[1]!)).toBe(false);
    // The container's overlay still stacks both layers.
    for (const d of three.diffIds) expect(existsSync(layerDir(root, d))).toBe(true);
    // And it starts again on them, its image gone: the container is its layers, not the image's name.
    expect(await ok(root, ['start', 'keep'])).toBe('keep\n');
    expect(await ok(root, ['wait', 'keep'])).toBe('0\n');
    expect(await ok(root, ['rm', 'keep'])).toBe('keep\n');
  });
});

describe('cutaway save and load', () => {
  /** The config (bytes and digest) and diff_ids of the image named `name` in an OCI layout skopeo wrote. */
  function skopeoImage(dir: string): { configDigest: Digest; config: ImageConfig } {
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: { digest: Digest; mediaType: string }[] };
    const blob = (d: Digest) => readFileSync(join(dir, 'blobs', 'sha256', d.slice(7)));
    const doc = parseManifestDocument(blob(index.manifests[0]!.digest), index.manifests[0]!.mediaType);
    if (doc.kind !== 'manifest') throw new Error('skopeo wrote an index');
    return { configDigest: doc.manifest.config.digest, config: parseImageConfig(blob(doc.manifest.config.digest)) };
  }

  it('save writes a docker-archive that skopeo reads as the same image; load reads it, and skopeo\'s', async () => {
    const { root, busybox } = await freshRoot();
    const id = busybox!.configDescriptor.digest;
    await ok(root, ['tag', BUSYBOX_REF, 'mybox:1']);
    const archive = join(work, 'busybox.tar');
    expect(await ok(root, ['save', '-o', archive, BUSYBOX_REF, 'mybox:1'])).toBe('');
    const manifest = JSON.parse((await runCommand('/usr/bin/tar', ['-xOf', archive, 'manifest.json'])).stdout) as unknown;
    expect(manifest).toEqual([{ Config: `blobs/sha256/${id.slice(7)}`, RepoTags: ['cutaway.test/busybox:latest', 'mybox:1'], Layers: [`blobs/sha256/${busybox!.manifest.layers[0]!.digest.slice(7)}`] }]);

    // skopeo, keeping digests (its schema2 → OCI conversion would otherwise re-marshal the config): the same image.
    const copied = join(work, 'skopeo-layout');
    const copy = await runCommand('/usr/bin/skopeo', ['copy', '-q', '--preserve-digests', `docker-archive:${archive}:mybox:1`, `oci:${copied}:mybox`]);
    expect(copy.stderr).toBe('');
    const seen = skopeoImage(copied);
    expect(seen.configDigest).toBe(id);
    expect(seen.config.rootfs.diff_ids).toEqual(busybox!.diffIds);

    // To stdout, the same bytes (nothing in the archive depends on when it was written); never to a terminal.
    const piped = join(work, 'piped.tar');
    expect(await cutawayFiles(root, ['save', BUSYBOX_REF, 'mybox:1'], { stdout: piped })).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(piped).equals(readFileSync(archive))).toBe(true);
    const tty = await runCommand('/usr/bin/script', ['-qec', `${shellWord(toolPath('cutaway'))} save mybox:1`, '/dev/null'], { env: env(root) });
    expect(tty.stdout).toContain('cutaway save: error: cowardly refusing to save to a terminal. Use the -o flag or redirect');
    expect(tty.code).toBe(1);

    // Loaded into an empty store: every tag, the same image ID, and it runs.
    const { root: other } = await freshRoot(false);
    expect(await ok(other, ['load', '-i', archive])).toBe('Loaded image: cutaway.test/busybox:latest\nLoaded image: mybox:1\n');
    expect(await ok(other, ['images', '-q'])).toBe(`${short(id)}\n`);
    expect(await ok(other, ['run', '--rm', '--network', 'none', 'mybox:1', 'echo', 'loaded'])).toBe('loaded\n');

    // skopeo's own archive (<diffid>.tar layers, v1 directories, fully qualified RepoTags), from stdin.
    const skopeoArchive = join(work, 'skopeo.tar');
    const written = await runCommand('/usr/bin/skopeo', ['copy', '-q', `oci:${join(root, 'images')}:${BUSYBOX_REF}`, `docker-archive:${skopeoArchive}:foo/bar:baz`]);
    expect(written.stderr).toBe('');
    const { root: third } = await freshRoot(false);
    const loaded = await cutawayFiles(third, ['load'], { stdin: skopeoArchive, stdout: join(work, 'load.out') });
    expect(loaded).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(join(work, 'load.out'), 'utf8')).toBe('Loaded image: foo/bar:baz\n');
    expect(await ok(third, ['images', '-q', 'foo/bar:baz'])).toBe(`${short(id)}\n`);
  });

  it('bad input: an unknown image, a file that is no archive, a tar that is no docker save archive — nothing changed', async () => {
    const { root } = await freshRoot();
    const before = indexJson(root);
    const target = join(work, 'never.tar');
    await refused(root, ['save', '-o', target, BUSYBOX_REF, 'nothing'], 'No such image: nothing');
    expect(existsSync(target)).toBe(false);
    const text = join(work, 'not-an-archive');
    writeFileSync(text, 'hello, not a tar\n'.repeat(100));
    await refused(root, ['load', '-i', text], `${text}: not a tar archive (This does not look like a tar archive)`);
    const plain = join(work, 'plain.tar');
    await runCommand('/usr/bin/tar', ['-cf', plain, '-C', work, 'not-an-archive']);
    await refused(root, ['load', '-i', plain], `${plain}: no manifest.json: not a docker save archive`);
    await refused(root, ['load', '-i', join(work, 'missing.tar')], `${join(work, 'missing.tar')}: no such file`);
    expect(indexJson(root)).toBe(before);
  });
});

describe('cutaway pull and push', () => {
  let registry: TestRegistry | undefined;
  afterAll(async () => {
    await registry?.stop();
  });

  it('push sends an image to a registry; pull brings it into an empty store as the same image', async () => {
    registry = await startRegistry();
    const { root, busybox } = await freshRoot();
    const name = `${registry.host}/cw/busybox:1`;
    await refused(root, ['push', name], `An image does not exist locally with the tag: ${name} (hint: cutaway tag IMAGE ${name})`);
    await ok(root, ['tag', BUSYBOX_REF, name]);
    const pushed = await cutaway(root, ['push', name]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stdout).toBe(`${busybox!.descriptor.digest}\n`);
    expect(pushed.stderr).toBe(
      `The push refers to repository [${registry.host}/cw/busybox]\n${short(busybox!.manifest.layers[0]!.digest)}: Pushed\n1: digest: ${busybox!.descriptor.digest} size: ${busybox!.descriptor.size}\n`,
    );

    const { root: empty } = await freshRoot(false);
    const pulled = await cutaway(empty, ['pull', name]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toBe(`${name}\n`);
    expect(pulled.stderr).toContain(`Status: Downloaded newer image for ${name}\n`);
    expect(await ok(empty, ['images', '-q'])).toBe(`${short(busybox!.configDescriptor.digest)}\n`);
    const again = await cutaway(empty, ['pull', '-q', name]);
    expect(again).toMatchObject({ code: 0, stdout: `${name}\n`, stderr: '' });

    await refused(empty, ['pull', 'Bad:Ref:x'], 'invalid reference "Bad:Ref:x": repository name must be lowercase');
    const missing = await cutaway(empty, ['pull', '-q', `${registry.host}/cw/nothing:1`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^cutaway pull: error: oci-pull: .*MANIFEST_UNKNOWN.*\n$/);
  });
});

describe('image handles: one resolver for every command', () => {
  /** Every form that names busybox in a root: names, the ID in full and in part, the manifest digest, NAME@DIGEST (derived, and stored as a pull by digest stores it). */
  function handles(busybox: BuiltImage): string[] {
    const id = busybox.configDescriptor.digest;
    const digest = busybox.descriptor.digest;
    return [BUSYBOX_REF, 'cutaway.test/busybox', id, id.slice(7), short(id), `sha256:${short(id)}`, digest, digest.slice(7), `cutaway.test/busybox@${digest}`, `cutaway.test/pinned@${digest}`];
  }

  it('run, history, inspect, image inspect, tag and save take every form, and find the same image', async () => {
    const { root, busybox } = await freshRoot();
    const id = busybox!.configDescriptor.digest;
    await (await OciLayout.open(join(root, 'images'))).addRef(`cutaway.test/pinned@${busybox!.descriptor.digest}`, busybox!.descriptor);
    for (const [i, h] of handles(busybox!).entries()) {
      expect(await ok(root, ['run', '--rm', '--network', 'none', h, 'echo', 'ran']), h).toBe('ran\n');
      expect(await ok(root, ['history', '-q', h]), h).toBe(`${short(id)}\n`);
      for (const inspect of [['inspect'], ['inspect', '--type', 'image'], ['image', 'inspect']]) {
        expect((JSON.parse(await ok(root, [...inspect, h])) as { Id: string }[]).map((d) => d.Id), `${inspect.join(' ')} ${h}`).toEqual([id]);
      }
      expect(await ok(root, ['tag', h, `cw-tagged:${i}`]), h).toBe('');
      const archive = join(work, `handle-${i}.tar`);
      expect(await ok(root, ['save', '-o', archive, h]), h).toBe('');
      const manifest = JSON.parse((await runCommand('/usr/bin/tar', ['-xOf', archive, 'manifest.json'])).stdout) as { Config: string }[];
      expect(manifest.map((m) => m.Config), h).toEqual([`blobs/sha256/${id.slice(7)}`]);
    }
    // Still one image, now with every tag.
    expect(await ok(root, ['images', '-q'])).toBe(`${short(id)}\n`);
    expect((await ok(root, ['images', 'cw-tagged'])).trim().split('\n')).toHaveLength(handles(busybox!).length + 1);
  });

  it('rmi takes every form: a name untags, an ID, a prefix or a digest deletes; a NAME@DIGEST only a tag carries is refused', async () => {
    const { root, busybox } = await freshRoot();
    const contentForms = (id: Digest, digest: Digest) => [id, id.slice(7), short(id), `sha256:${short(id)}`, digest, digest.slice(7)];
    for (let form = 0; form < 6; form++) {
      const made = await putImage(root, busybox!, labelled(busybox!, `rmi-${form}`), () => [`docker.io/library/cw-rm:${form}`]);
      const h = contentForms(made.id, made.digest)[form]!;
      // busybox's layer is shared: only the image's own manifest and config go.
      expect(await ok(root, ['rmi', h]), h).toBe(`Untagged: cw-rm:${form}\nDeleted: ${made.id}\n`);
      for (const d of [made.id, made.digest]) expect(blobExists(root, d), h).toBe(false);
    }
    // A name pulled by digest is a name: untagged, and the image, left without one, deleted.
    const pinned = await putImage(root, busybox!, labelled(busybox!, 'pinned'), (d) => [`docker.io/library/cw-pinned@${d}`]);
    expect(await ok(root, ['rmi', `cw-pinned@${pinned.digest}`])).toBe(`Untagged: cw-pinned@${pinned.digest}\nDeleted: ${pinned.id}\n`);
    // NAME@DIGEST that a tag carries: no name of the store to untag; refused, naming the tag.
    const tagged = await putImage(root, busybox!, labelled(busybox!, 'tagged'), () => ['docker.io/library/cw-tagged:1']);
    await refused(root, ['rmi', `cw-tagged@${tagged.digest}`], `cannot untag cw-tagged@${tagged.digest}: the store keeps it only as the digest of cw-tagged:1 (hint: cutaway rmi cw-tagged:1, or the image ID ${short(tagged.id)})`);
    expect(await ok(root, ['rmi', 'cw-tagged:1'])).toBe(`Untagged: cw-tagged:1\nDeleted: ${tagged.id}\n`);
    expect(await ok(root, ['images', '-q'])).toBe(`${short(busybox!.configDescriptor.digest)}\n`);
  });

  it('an ambiguous ID prefix is refused by every command, naming it, and changes nothing; one more digit decides', async () => {
    const { root, busybox } = await freshRoot();
    // Two labels whose configs' digests share their first four hex digits (a birthday search).
    const seen = new Map<string, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; !pair; i++) {
      const start = digestOf(labelled(busybox!, `l${i}`)).slice(7, 11);
      const other = seen.get(start);
      if (other !== undefined) pair = [other, `l${i}`];
      else seen.set(start, `l${i}`);
    }
    const one = await putImage(root, busybox!, labelled(busybox!, pair[0]), () => ['docker.io/library/cw-one:1']);
    const two = await putImage(root, busybox!, labelled(busybox!, pair[1]), () => ['docker.io/library/cw-two:1']);
    const before = indexJson(root);
    const prefix = short(one.id).slice(0, 4);
    for (const p of [prefix, `sha256:${prefix}`]) {
      const message = `multiple IDs found with provided prefix: ${p}`;
      for (const args of [['history', p], ['tag', p, 'cw-x:1'], ['rmi', p], ['save', '-o', join(work, 'never.tar'), p], ['inspect', p]]) await refused(root, args, message);
      const inspect = await cutaway(root, ['image', 'inspect', p]);
      expect(inspect).toMatchObject({ code: 1, stdout: '', stderr: `cutaway image inspect: error: ${message}\n` });
      const run = await cutaway(root, ['run', '--rm', '--network', 'none', p, 'true']);
      expect(run).toMatchObject({ code: 125, stdout: '', stderr: `cutaway run: error: ${message}\n` });
    }
    expect(indexJson(root)).toBe(before);
    let n = 5;
    while (one.id[7 + n - 1] === two.id[7 + n - 1]) n++;
    expect(await ok(root, ['history', '-q', one.id.slice(7, 7 + n)])).toBe(`${short(one.id)}\n`);
    expect(await ok(root, ['run', '--rm', '--network', 'none', two.id.slice(7, 7 + n), 'echo', 'two'])).toBe('two\n');
  });

  it('an ID or a digest the store lacks is No such image, never pulled (run, FROM); FROM and run take what build -q prints', async () => {
    const { root, busybox } = await freshRoot();
    const zeros = '0'.repeat(64);
    for (const h of [`sha256:${zeros}`, zeros, 'sha256:0000']) {
      const r = await cutaway(root, ['run', '--rm', '--network', 'none', h, 'true']);
      // No "Unable to find image … locally", no oci-pull: one line.
      expect(r, h).toMatchObject({ code: 125, stdout: '', stderr: `cutaway run: error: No such image: ${h}\n` });
    }
    const context = join(work, `context-handles-${roots}`);
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM sha256:${zeros}\n`);
    const missing = await cutaway(root, ['build', '-q', '--network', 'none', context]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain(`No such image: sha256:${zeros}`);
    expect(missing.stderr).not.toContain('Unable to find image');

    // FROM by an ID prefix; then `run --rm $(build -q ctx)`, the issue's own line.
    writeFileSync(join(context, 'Dockerfile'), `FROM ${short(busybox!.configDescriptor.digest)}\nRUN echo built > /built\n`);
    const built = await cutaway(root, ['build', '-q', '--network', 'none', context]);
    expect(built.code, built.stderr).toBe(0);
    expect(await ok(root, ['run', '--rm', '--network', 'none', built.stdout.trim(), 'cat', '/built'])).toBe('built\n');
  });

  it('one config under an OCI and a Docker schema 2 manifest is one image: one ID in images and df, one rmi removes both references', async () => {
    // By ID: a tag and a digest name of one repository, one image.
    const { root, busybox } = await freshRoot();
    const id = busybox!.configDescriptor.digest;
    const v2 = await putImage(root, busybox!, busyboxConfig(root, busybox!), (d) => [`cutaway.test/busybox@${d}`], true);
    expect(v2.id).toBe(id);
    expect(await ok(root, ['images'])).toMatch(new RegExp(`^REPOSITORY.*\ncutaway\\.test/busybox\\s+latest\\s+${short(id)}\\s.*\n$`));
    expect(await ok(root, ['images', '-q'])).toBe(`${short(id)}\n`);
    expect(await ok(root, ['system', 'df'])).toMatch(/^Images\s+1\s/m);
    const [doc] = JSON.parse(await ok(root, ['image', 'inspect', `cutaway.test/busybox@${v2.digest}`])) as { Id: string; RepoTags: string[]; RepoDigests: string[] }[];
    expect(doc).toMatchObject({ Id: id, RepoTags: [BUSYBOX_REF], RepoDigests: [`cutaway.test/busybox@${busybox!.descriptor.digest}`, `cutaway.test/busybox@${v2.digest}`] });
    for (const h of [busybox!.descriptor.digest, v2.digest]) expect(await ok(root, ['history', '-q', h])).toBe(`${short(id)}\n`);
    expect(await ok(root, ['rmi', short(id)])).toBe(`Untagged: ${BUSYBOX_REF}\nUntagged: cutaway.test/busybox@${v2.digest}\nDeleted: ${id}\nDeleted: ${busybox!.manifest.layers[0]!.digest}\n`);
    expect(JSON.parse(indexJson(root))).toMatchObject({ manifests: [] });
    for (const d of [busybox!.descriptor.digest, v2.digest, id, busybox!.manifest.layers[0]!.digest]) expect(blobExists(root, d)).toBe(false);

    // By the tag: the digest names of its repository go with it, as moby's rmi does.
    const { root: second, busybox: b2 } = await freshRoot();
    const v2b = await putImage(second, b2!, busyboxConfig(second, b2!), (d) => [`cutaway.test/busybox@${d}`], true);
    expect(await ok(second, ['rmi', BUSYBOX_REF])).toBe(`Untagged: ${BUSYBOX_REF}\nUntagged: cutaway.test/busybox@${v2b.digest}\nDeleted: ${id}\nDeleted: ${b2!.manifest.layers[0]!.digest}\n`);
    expect(JSON.parse(indexJson(second))).toMatchObject({ manifests: [] });

    // Tags in two repositories, one on each manifest: by ID only with -f, and then both go.
    const { root: third, busybox: b3 } = await freshRoot();
    await putImage(third, b3!, busyboxConfig(third, b3!), () => ['docker.io/library/cw-other:v2'], true);
    await refused(third, ['rmi', short(id)], `conflict: unable to delete ${short(id)} (must be forced) - image is referenced in multiple repositories`);
    expect(await ok(third, ['rmi', '-f', id])).toBe(`Untagged: ${BUSYBOX_REF}\nUntagged: cw-other:v2\nDeleted: ${id}\nDeleted: ${b3!.manifest.layers[0]!.digest}\n`);
    expect(JSON.parse(indexJson(third))).toMatchObject({ manifests: [] });
  });

  it("inspect finds a container first, then an image; --type picks one kind; image inspect is Docker's document", async () => {
    const { root, busybox } = await freshRoot();
    const id = busybox!.configDescriptor.digest;
    await ok(root, ['tag', BUSYBOX_REF, 'cw-dual']);
    await ok(root, ['run', '--name', 'cw-dual', '--network', 'none', BUSYBOX_REF, 'true']);
    const [container] = JSON.parse(await ok(root, ['inspect', 'cw-dual'])) as { Name: string; Image: string; State: unknown }[];
    // Docker's Image of a container: the image ID.
    expect(container).toMatchObject({ Name: '/cw-dual', Image: id, State: { Status: 'exited' } });
    const [image] = JSON.parse(await ok(root, ['inspect', '--type', 'image', 'cw-dual'])) as Record<string, unknown>[];
    expect(image).toEqual({
      Id: id,
      RepoTags: [BUSYBOX_REF, 'cw-dual:latest'],
      RepoDigests: [`cutaway.test/busybox@${busybox!.descriptor.digest}`, `cw-dual@${busybox!.descriptor.digest}`],
      Parent: '',
      Comment: '',
      Created: busybox!.config.created,
      DockerVersion: '',
      Author: '',
      Config: busybox!.config.config,
      Architecture: busybox!.config.architecture,
      Os: 'linux',
      Size: busybox!.manifest.layers[0]!.size + busybox!.configDescriptor.size,
      GraphDriver: { Name: 'overlay', Data: { LowerDir: layerDir(root, busybox!.diffIds[0]!) } },
      RootFS: { Type: 'layers', Layers: busybox!.diffIds },
      // Docker's zero time: the store keeps no time of tagging.
      Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    });
    // Several at once, each by its kind; the container's id prefix is a container's.
    const containerId = (await ok(root, ['ps', '-a', '-q'])).trim();
    const both = JSON.parse(await ok(root, ['inspect', containerId, short(id)])) as { Id: string }[];
    expect(both.map((d) => d.Id)).toEqual([expect.stringMatching(new RegExp(`^${containerId}`)), id]);
    expect((JSON.parse(await ok(root, ['inspect', '--type', 'container', 'cw-dual'])) as { Name: string }[])[0]!.Name).toBe('/cw-dual');

    await refused(root, ['inspect', 'cw-nothing'], 'No such object: cw-nothing');
    await refused(root, ['inspect', 'cw-dual', 'cw-nothing'], 'No such object: cw-nothing');
    await refused(root, ['inspect', '--type', 'container', short(id)], `No such container: ${short(id)}`);
    await refused(root, ['inspect', '--type', 'image', 'cw-nothing'], 'No such image: cw-nothing');
    expect(await cutaway(root, ['image', 'inspect', 'cw-nothing'])).toMatchObject({ code: 1, stdout: '', stderr: 'cutaway image inspect: error: No such image: cw-nothing\n' });
    const bad = await cutaway(root, ['inspect', '--type', 'network', 'cw-dual']);
    expect(bad).toMatchObject({ code: 125, stdout: '' });
    expect(bad.stderr).toMatch(/^cutaway inspect: error: "network" is not a valid value for --type\n/);
    expect(await ok(root, ['rm', 'cw-dual'])).toBe('cw-dual\n');
  });
});
