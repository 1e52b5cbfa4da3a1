import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestOf, hostPlatform, MediaType, OciLayout, resolveNamedImage, type Descriptor } from '@cutaway/oci';
import { runCommand } from '../../../test/fixtures/commands.ts';
import type { BuiltImage } from '../../../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';
import { buildMultiArchSource } from './multi-arch.ts';

// oci-pull and oci-push against a real registry (Debian's docker-registry),
// with images built offline and pushed there by skopeo, or by oci-push itself.

let work: string;
let source: OciLayout;
let registry: TestRegistry;
let busybox: BuiltImage;
let armManifest: Descriptor;

const skopeo = (...args: string[]) => execFileSync('skopeo', args, { encoding: 'utf8' });

/** A fresh state root for one test; the store is <root>/images. */
async function freshRoot(): Promise<{ root: string; env: NodeJS.ProcessEnv; store: string }> {
  const root = await mkdtemp(join(work, 'root-'));
  return { root, env: { CUTAWAY_ROOT: root }, store: join(root, 'images') };
}

/** Every file of a store's blobs/, so a test can count copies and look for leftovers. */
async function storeFiles(store: string): Promise<string[]> {
  const entries = await readdir(store, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && !e.name.endsWith('.lock')).map((e) => join(e.parentPath, e.name).slice(store.length + 1)).sort();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-pull-test-'));
  ({ source, busybox, armManifest } = await buildMultiArchSource(join(work, 'source')));

  registry = await startRegistry();
  skopeo('copy', '-q', '--dest-tls-verify=false', `oci:${source.dir}:busybox:1`, `docker://${registry.host}/busybox:1`);
  skopeo('copy', '-q', '--all', '--dest-tls-verify=false', `oci:${source.dir}:multi:1`, `docker://${registry.host}/multi:1`);
  skopeo('copy', '-q', '--override-arch', 'arm64', '--dest-tls-verify=false', `oci:${source.dir}:arm:1`, `docker://${registry.host}/arm:1`);
});

afterAll(async () => {
  await registry?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('oci-pull from a registry', () => {
  it('pulls an image into the store, prints its digest and tags it with the full reference', async () => {
    const { env, store } = await freshRoot();
    const ref = `${registry.host}/busybox:1`;
    const out = await runCommand('oci-pull', [ref], { env });
    expect(out.stderr).toMatch(/pull complete/);
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`${busybox.descriptor.digest}\n`);
    const layout = await OciLayout.open(store);
    const image = await resolveNamedImage(layout, ref);
    expect(image.manifest.layers.map((l) => l.digest)).toEqual(busybox.manifest.layers.map((l) => l.digest));
    expect(image.config.rootfs.diff_ids).toEqual(busybox.diffIds);
    // skopeo reads what oci-pull wrote
    const inspected = JSON.parse(skopeo('inspect', `oci:${store}:${ref}`));
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
  });

  it('does no blob request on a second pull, and says the image is up to date', async () => {
    const { env } = await freshRoot();
    const ref = `${registry.host}/busybox:1`;
    expect((await runCommand('oci-pull', ['-q', ref], { env })).code).toBe(0);
    const again = await runCommand('oci-pull', ['--trace', '--json', ref], { env });
    expect(again.code).toBe(0);
    const result = JSON.parse(again.stdout);
    expect([result.config, ...result.layers].every((b: { cached: boolean }) => b.cached)).toBe(true);
    expect(again.stderr).toMatch(/^\+ curl .*\/manifests\/1'$/m);
    expect(again.stderr).not.toMatch(/^\+ curl .*\/blobs\//m);
    expect(again.stderr).toMatch(/image is up to date/);
  });

  it('picks the platform from an index, and says which platforms there are when none matches', async () => {
    const { env, store } = await freshRoot();
    const ref = `${registry.host}/multi:1`;
    const arm = await runCommand('oci-pull', ['--json', '--platform', 'linux/arm64', ref], { env });
    expect(arm.code).toBe(0);
    const result = JSON.parse(arm.stdout);
    expect(result.digest).toBe(armManifest.digest);
    expect(result.platform).toBe('linux/arm64');
    expect(result.indexDigest).toMatch(/^sha256:/);
    const amd = await runCommand('oci-pull', ['--platform', 'linux/amd64', '--layout', join(store, '..', 'other'), ref], { env });
    expect(amd.stdout).toBe(`${busybox.descriptor.digest}\n`);
    const none = await runCommand('oci-pull', ['--platform', 'linux/s390x', ref], { env });
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`oci-pull: error: ${ref}: no matching manifest for linux/s390x in the manifest list entries (hint: the image is for linux/amd64, linux/arm64)\n`);
  });

  it('refuses a single-platform image for another platform before fetching a layer, and tags nothing', async () => {
    const { env, store } = await freshRoot();
    const host = `${hostPlatform().os}/${hostPlatform().architecture}`;
    expect(host).not.toBe('linux/arm64'); // busybox:1 is this host's, arm:1 is linux/arm64
    const other = host === 'linux/s390x' ? 'linux/riscv64' : 'linux/s390x';
    const ref = `${registry.host}/busybox:1`;
    const wrong = await runCommand('oci-pull', ['--trace', '--platform', other, ref], { env });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.split('\n').filter((l) => l.startsWith('oci-pull:'))).toEqual([
      `oci-pull: error: ${ref}: the image does not match the specified platform: wanted ${other}, actual: ${host} (hint: it is a single-platform image: pull it with --platform ${host})`,
    ]);
    const layer = busybox.manifest.layers[0]!.digest;
    expect(wrong.stderr).not.toContain(`/blobs/${layer}`);
    const layout = await OciLayout.open(store);
    expect(await layout.list()).toEqual([]);
    expect(await layout.hasBlob(layer)).toBe(false);

    // Without --platform, this host's is wanted: an arm64-only image is refused the same way, and pulled with --platform.
    const arm = `${registry.host}/arm:1`;
    const refused = await runCommand('oci-pull', [arm], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr.split('\n').filter((l) => l.startsWith('oci-pull:'))).toEqual([
      `oci-pull: error: ${arm}: the image does not match this host's platform: wanted ${host}, actual: linux/arm64 (hint: it is a single-platform image: pull it with --platform linux/arm64)`,
    ]);
    const pulled = await runCommand('oci-pull', ['-q', '--platform', 'linux/arm64', arm], { env });
    expect(pulled.stderr).toBe('');
    expect(pulled.stdout).toBe(`${armManifest.digest}\n`);
  });

  it('names registry, repository and tag when the image is not there, and tags nothing', async () => {
    const { env, store } = await freshRoot();
    for (const ref of [`${registry.host}/busybox:nope`, `${registry.host}/nothing/here:1`]) {
      const out = await runCommand('oci-pull', [ref], { env });
      expect(out.code).toBe(1);
      expect(out.stderr.trim().split('\n')).toHaveLength(1);
      expect(out.stderr).toContain(`oci-pull: error: ${ref}: not found:`);
    }
    expect(await (await OciLayout.open(store)).list()).toEqual([]);
  });

  it('rejects bad input with one line and exit 2 for usage, 1 for a bad reference, creating nothing', async () => {
    const { root, env } = await freshRoot();
    const cases: [string[], number, RegExp][] = [
      [[], 2, /^oci-pull: error: "oci-pull" requires exactly 1 argument: REF\nTry 'oci-pull --help'/],
      [['a', 'b'], 2, /"oci-pull" requires exactly 1 argument: REF/],
      [['--bogus', 'busybox'], 2, /unknown option --bogus/],
      [['--jobs', '0', 'busybox'], 2, /--jobs must be a whole number from 1 to 64, got "0"/],
      [['Ubuntu'], 1, /^oci-pull: error: invalid reference "Ubuntu": repository name must be lowercase\n$/],
      [['--platform', 'linux', 'busybox'], 1, /invalid platform "linux"/],
      [['oci:nodir'], 2, /want oci:DIR:NAME/],
      [['127.0.0.1:99999/x'], 1, /^oci-pull: error: 127\.0\.0\.1:99999\/x:latest: registry 127\.0\.0\.1:99999: port 99999 is out of range \(1-65535\)\n$/],
    ];
    for (const [args, code, message] of cases) {
      const out = await runCommand('oci-pull', ['-q', ...args], { env: { ...env, CUTAWAY_TRACE: '' } });
      expect({ args, code: out.code }).toEqual({ args, code });
      expect(out.stderr).toMatch(message);
      expect(out.stdout).toBe('');
    }
    expect(await readdir(root)).toEqual([]);
    const refused = await runCommand('oci-pull', ['-q', '127.0.0.1:1/x:1'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^oci-pull: error: 127\.0\.0\.1:1: ECONNREFUSED.*\(hint: is the registry running/);
  }, 60_000);

  it('lets four pulls of one image into one store run at once, storing each blob once', async () => {
    const { env, store } = await freshRoot();
    const ref = `${registry.host}/busybox:1`;
    const runs = await Promise.all(Array.from({ length: 4 }, () => runCommand('oci-pull', ['-q', ref], { env })));
    expect(runs.map((r) => [r.code, r.stdout])).toEqual(Array(4).fill([0, `${busybox.descriptor.digest}\n`]));
    const blobs = (await storeFiles(store)).filter((f) => f.startsWith('blobs/'));
    expect(blobs).toHaveLength(3); // manifest, config, layer
    for (const blob of blobs) expect(`sha256:${blob.split('/')[2]}`).toBe(digestOf(await readFile(join(store, blob))));
    expect(await (await OciLayout.open(store)).list()).toHaveLength(1);
    expect((await storeFiles(store)).filter((f) => f.includes('.partial') || f.endsWith('.tmp'))).toEqual([]);
  });

  it('prints the curl and sha256sum commands with --dry-run, and changes nothing', async () => {
    const { root, env } = await freshRoot();
    const ref = `${registry.host}/busybox:1`;
    const out = await runCommand('oci-pull', ['--dry-run', ref], { env });
    expect(out.code).toBe(0);
    const layer = busybox.manifest.layers[0]!.digest;
    expect(out.stdout).toMatch(/^#!\/bin\/sh\nset -eu\n/);
    const hex = busybox.descriptor.digest.slice(7);
    expect(out.stdout).toContain(`-o "$tmp/${hex}" 'http://${registry.host}/v2/busybox/manifests/1'`);
    expect(out.stdout).toContain(`-o "$tmp/${layer.slice(7)}" 'http://${registry.host}/v2/busybox/blobs/${layer}'`);
    expect(out.stdout).toContain(`echo "${layer.slice(7)}  $tmp/${layer.slice(7)}" | sha256sum -c --quiet`);
    expect(await readdir(root)).toEqual([]);
    // The script itself works: run it and find the image in the store (dry-run.test.ts compares it with the tool's).
    const scratch = await mkdtemp(join(work, 'dry-run-'));
    await writeFile(join(scratch, 'pull.sh'), out.stdout);
    execFileSync('sh', ['pull.sh'], { cwd: scratch, stdio: 'ignore' });
    expect((await stat(join(root, 'images/blobs/sha256', layer.slice(7)))).size).toBe(busybox.manifest.layers[0]!.size);
    expect((await (await OciLayout.open(join(root, 'images'))).resolve(ref))?.digest).toBe(busybox.descriptor.digest);
  });

  it('pulls zstd and uncompressed layers as they are, verified', async () => {
    // Two layers made by GNU tar: one compressed by Debian's zstd, one left as a plain tar.
    const stage = await mkdtemp(join(work, 'zstd-'));
    await writeFile(join(stage, 'a.txt'), 'zstd layer\n');
    const tar = execFileSync('tar', ['--create', '--sort=name', '--mtime=@0', '--numeric-owner', '-C', stage, 'a.txt']);
    const zstd = execFileSync('zstd', ['-q', '-c'], { input: tar });
    const layout = await OciLayout.create(join(work, 'zstd-layout'));
    const zLayer = { mediaType: MediaType.ociLayerZstd, ...(await layout.putBlob(zstd)) };
    const plainLayer = { mediaType: MediaType.ociLayer, ...(await layout.putBlob(tar)) };
    const config = await layout.putJson(MediaType.ociConfig, { ...busybox.config, rootfs: { type: 'layers', diff_ids: [digestOf(tar), digestOf(tar)] }, history: undefined });
    const manifest = await layout.putJson(MediaType.ociManifest, { schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [zLayer, plainLayer] });
    await layout.addRef('zstd:1', manifest);
    // skopeo would gzip the plain layer on the way (containers/image compresses for registries); oci-push sends blobs as they are.
    const { env, store } = await freshRoot();
    const pushed = await runCommand('oci-push', ['--layout', layout.dir, '--from', 'zstd:1', `${registry.host}/zstd:1`], { env });
    expect(pushed.stderr).toMatch(/^layer 2\/2 .*: pushed$/m);
    expect(pushed.code).toBe(0);
    const out = await runCommand('oci-pull', ['--json', `${registry.host}/zstd:1`], { env });
    expect(out.code).toBe(0);
    const result = JSON.parse(out.stdout);
    expect(result.digest).toBe(manifest.digest);
    expect(result.layers.map((l: Descriptor) => [l.mediaType, l.digest])).toEqual([
      [MediaType.ociLayerZstd, zLayer.digest],
      [MediaType.ociLayer, plainLayer.digest],
    ]);
    expect(await readFile(join(store, 'blobs/sha256', zLayer.digest.slice(7)))).toEqual(zstd);
  });

  it('copies from a local OCI layout (oci:DIR:NAME)', async () => {
    const { env, store } = await freshRoot();
    const out = await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env });
    expect(out.code).toBe(0);
    expect(out.stdout).toBe(`${busybox.descriptor.digest}\n`);
    expect((await (await OciLayout.open(store)).list()).map((e) => e.name)).toEqual(['docker.io/library/busybox:1']);
    const missing = await runCommand('oci-pull', [`oci:${source.dir}:nope:1`], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/no image named nope:1/);
  });
});

describe('oci-push', () => {
  it('pushes a store image that skopeo and oci-pull read back, uploading only what is missing', async () => {
    const { env, store } = await freshRoot();
    await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env });
    const target = `${registry.host}/pushed/busybox:2`;
    const pushed = await runCommand('oci-push', ['--json', '--from', 'busybox:1', target], { env });
    expect(pushed.code).toBe(0);
    const result = JSON.parse(pushed.stdout);
    expect(result.digest).toBe(busybox.descriptor.digest);
    const inspected = JSON.parse(skopeo('inspect', '--tls-verify=false', `docker://${target}`));
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
    // A second push finds every blob there.
    const again = JSON.parse((await runCommand('oci-push', ['--json', '--from', 'busybox:1', target], { env })).stdout);
    expect(again.blobs.map((b: { status: string }) => b.status)).toEqual(['exists', 'exists']);
    // and oci-pull reads what oci-push wrote
    const back = await freshRoot();
    expect((await runCommand('oci-pull', ['-q', target], { env: back.env })).stdout).toBe(`${busybox.descriptor.digest}\n`);
    expect(await storeFiles(store)).toContain(`blobs/sha256/${busybox.descriptor.digest.slice(7)}`);
  });

  it('mounts blobs from another repository of the same registry instead of uploading them', async () => {
    const { env } = await freshRoot();
    await runCommand('oci-pull', ['-q', `${registry.host}/busybox:1`], { env });
    const out = await runCommand('oci-push', ['--json', '--from', `${registry.host}/busybox:1`, `${registry.host}/mounted:1`], { env });
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout).blobs.map((b: { status: string }) => b.status)).toEqual(['mounted', 'mounted']);
  });

  it('pushes a multi-platform index with each image, and skopeo copies all of it back', async () => {
    const { env } = await freshRoot();
    // Bring the whole index into a store: copy the source layout's blobs with skopeo --all.
    const layoutDir = join(work, 'multi-layout');
    skopeo('copy', '-q', '--all', `oci:${source.dir}:multi:1`, `oci:${layoutDir}:${registry.host}/multi2:1`);
    const out = await runCommand('oci-push', ['--layout', layoutDir, `${registry.host}/multi2:1`], { env });
    expect(out.code).toBe(0);
    const raw = JSON.parse(skopeo('inspect', '--raw', '--tls-verify=false', `docker://${registry.host}/multi2:1`));
    expect(raw.manifests.map((m: Descriptor) => m.digest)).toEqual([busybox.descriptor.digest, armManifest.digest]);
    const back = join(work, 'multi-back');
    skopeo('copy', '-q', '--all', '--src-tls-verify=false', `docker://${registry.host}/multi2:1`, `oci:${back}:m`);
    expect(await (await OciLayout.open(back)).list()).toHaveLength(1);
  });

  it('refuses to push what the store does not have', async () => {
    const { env } = await freshRoot();
    await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env });
    const out = await runCommand('oci-push', [`${registry.host}/never-pulled:1`], { env });
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^oci-push: error: no image named 127\.0\.0\.1:\d+\/never-pulled:1 in .*\/images/);
  });
});
