/**
 * oci-pull's and oci-push's --dry-run scripts do what the tools do: each
 * script, run by bash (or sh) with nothing but curl, sha256sum, jq and
 * flock, leaves a store byte for byte as the tool leaves another (its
 * oci-layout, index.json with the tag's entry, every blob verified), or puts
 * in a registry the same manifests and blobs as the tool puts there — against
 * Debian's docker-registry on 127.0.0.1, without auth, with htpasswd basic
 * auth and with bearer tokens.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType, OciLayout, type Descriptor } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { buildDebianImage, removeTree, run, type BuiltImage } from '../../../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';
import { buildMultiArchSource } from './multi-arch.ts';

const USER = 'carol';
const PASSWORD = 'Dr:y run/#%&!';
const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest].join(', ');

let work: string;
let source: OciLayout;
let busybox: BuiltImage;
let armManifest: Descriptor;
let index: Descriptor;
let registry: TestRegistry;
let counter = 0;

/** A state root of its own for each run (not made: the tools make it), and an empty DOCKER_CONFIG: never the host's logins. */
function fresh(): { root: string; store: string; env: NodeJS.ProcessEnv } {
  const root = join(work, `root-${++counter}`);
  return { root, store: join(root, 'images'), env: { CUTAWAY_ROOT: root, DOCKER_CONFIG: join(work, 'docker-config'), HOME: work, CUTAWAY_TRACE: '' } };
}

/** A tool's run, which must succeed. */
async function tool(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const out = await runCommand(name, args, { env });
  expect(out.code, out.stderr).toBe(0);
  return out;
}

/** The tool's --dry-run script: it makes nothing (not even the store's directory). */
async function dryRun(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const root = env.CUTAWAY_ROOT;
  const existed = root !== undefined && existsSync(root);
  const out = await tool(name, ['--dry-run', ...args], env);
  expect(out.stdout).toMatch(/^#!\/bin\/sh\nset -eu\nfor command in /);
  if (root !== undefined && !existed) expect(existsSync(root)).toBe(false);
  return out.stdout;
}

/** Runs a script with bash (or `shell`), in the work directory, with only `env` added. */
async function runScript(script: string, env: NodeJS.ProcessEnv = {}, shell = '/bin/bash'): Promise<CommandResult> {
  const file = join(work, `script-${++counter}.sh`);
  await writeFile(file, script);
  return runCommand(shell, [file], { env, cwd: work });
}

/**
 * A store as its readers see it: every file's sha256, by path. The store's private .cutaway/ may hold lock files
 * (both leave them) and nothing else: no temporary file of either is left behind.
 */
async function storeState(store: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  for (const e of await readdir(store, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name).slice(store.length + 1);
    if (path.startsWith('.cutaway/')) {
      expect(path, 'a leftover in .cutaway/').toMatch(/\.lock$/);
      continue;
    }
    files[path] = createHash('sha256').update(await readFile(join(store, path))).digest('hex');
  }
  return files;
}

/** Every blob of a store is named by its own digest. */
async function expectVerified(store: string): Promise<void> {
  for (const name of await readdir(join(store, 'blobs/sha256'))) expect(createHash('sha256').update(await readFile(join(store, 'blobs/sha256', name))).digest('hex')).toBe(name);
}

async function entries(store: string): Promise<unknown[]> {
  return JSON.parse(await readFile(join(store, 'index.json'), 'utf8')).manifests;
}

/** A manifest as the plain registry serves it: its bytes, and the digest it announces. */
async function manifestOf(reg: TestRegistry, repo: string, reference: string): Promise<{ bytes: Buffer; digest: string | null }> {
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${reference}`, { headers: { Accept: MANIFEST_ACCEPT } });
  expect(res.status, `${repo}:${reference}`).toBe(200);
  return { bytes: Buffer.from(await res.arrayBuffer()), digest: res.headers.get('docker-content-digest') };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-dry-run-pull-'));
  await mkdir(join(work, 'docker-config'));
  ({ source, busybox, armManifest, index } = await buildMultiArchSource(join(work, 'source')));
  registry = await startRegistry();
  for (const [name, all] of [['busybox:1', false], ['multi:1', true], ['arm:1', false]] as const) {
    await tool('oci-push', ['--layout', source.dir, '--from', name, `${registry.host}/${name}`], fresh().env);
    if (all) expect((await manifestOf(registry, 'multi', '1')).digest).toBe(index.digest);
  }
});

afterAll(async () => {
  await registry?.stop();
  if (work) await removeTree(work);
});

/**
 * `ref` pulled by the tool into a fresh store and by its --dry-run script into another: the script succeeds and
 * leaves the same store, every blob verified. The script, the store's state and the script's store.
 */
async function pullBothWays(ref: string): Promise<{ script: string; state: Record<string, string>; store: string }> {
  const a = fresh();
  const b = fresh();
  const script = await dryRun('oci-pull', [ref], b.env);
  await tool('oci-pull', [ref], a.env);
  const ran = await runScript(script);
  expect(ran.code, ran.stderr).toBe(0);
  const state = await storeState(a.store);
  expect(await storeState(b.store)).toEqual(state);
  await expectVerified(b.store);
  return { script, state, store: b.store };
}

describe('oci-pull --dry-run: the script leaves the store the tool leaves', () => {
  it('a single-platform image: oci-layout, index.json and blobs byte for byte; run again (by sh), nothing changes', async () => {
    const ref = `${registry.host}/busybox:1`;
    const { script, state, store } = await pullBothWays(ref);
    const blobs = [busybox.descriptor, busybox.manifest.config, ...busybox.manifest.layers].map((d) => `blobs/sha256/${d.digest.slice(7)}`);
    expect(Object.keys(state).sort()).toEqual(['index.json', 'oci-layout', ...blobs].sort());
    expect(await entries(store)).toEqual([{ mediaType: MediaType.ociManifest, digest: busybox.descriptor.digest, size: busybox.descriptor.size, annotations: { 'org.opencontainers.image.ref.name': ref } }]);
    // skopeo reads it as a layout
    expect(JSON.parse(await run('skopeo', ['inspect', `oci:${store}:${ref}`])).Digest).toBe(busybox.descriptor.digest);
    const again = await runScript(script, {}, '/bin/sh');
    expect(again.code, again.stderr).toBe(0);
    expect(await storeState(store)).toEqual(state);
  });

  it('the Debian image (debootstrap minbase, one 50 MB layer): the same store, byte for byte', async () => {
    const layout = await OciLayout.create(join(work, 'debian-source'));
    const debian = await buildDebianImage(layout, 'debian:bookworm');
    const ref = `${registry.host}/debian:bookworm`;
    await tool('oci-push', ['--layout', layout.dir, '--from', 'debian:bookworm', ref], fresh().env);
    const { state } = await pullBothWays(ref);
    expect(state[`blobs/sha256/${debian.manifest.layers[0]!.digest.slice(7)}`]).toBe(debian.manifest.layers[0]!.digest.slice(7));
  }, 300_000);

  it("an index: the platform's manifest tagged, into a store that has the layer already: it is not fetched again", async () => {
    const a = fresh();
    const b = fresh();
    // Both stores hold busybox:1 first (the tool's), so the index's amd64 image is all there but for its tag.
    await tool('oci-pull', [`${registry.host}/busybox:1`], a.env);
    await tool('oci-pull', [`${registry.host}/busybox:1`], b.env);
    const layer = join(b.store, 'blobs/sha256', busybox.manifest.layers[0]!.digest.slice(7));
    const before = await stat(layer);
    const ref = `${registry.host}/multi:1`;
    const script = (await tool('oci-pull', ['--dry-run', ref], b.env)).stdout;
    expect(script).toContain(`# the index lists ${busybox.descriptor.digest} for linux/amd64`);
    await tool('oci-pull', [ref], a.env);
    const ran = await runScript(script);
    expect(ran.code, ran.stderr).toBe(0);
    expect(await storeState(b.store)).toEqual(await storeState(a.store));
    expect((await entries(b.store)).map((e) => (e as { annotations: Record<string, string> }).annotations['org.opencontainers.image.ref.name'])).toEqual([`${registry.host}/busybox:1`, ref]);
    expect((await stat(layer)).ino).toBe(before.ino);
    // Pulled again, the name's entry is replaced, not added: the same index.json.
    await tool('oci-pull', [ref], a.env);
    expect((await runScript(script)).code).toBe(0);
    expect(await storeState(b.store)).toEqual(await storeState(a.store));
  });

  it('refuses what the tool refuses: an arm64-only image on this host, the config stored and nothing tagged', async () => {
    const ref = `${registry.host}/arm:1`;
    const a = fresh();
    const b = fresh();
    const script = await dryRun('oci-pull', [ref], b.env);
    const refused = await runCommand('oci-pull', [ref], { env: a.env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/does not match this host's platform: wanted linux\/amd64, actual: linux\/arm64/);
    const ran = await runScript(script);
    expect(ran.code).toBe(1);
    expect(ran.stderr).toBe(`${ref}: the image does not match the platform: wanted linux/amd64, actual: linux/arm64\n`);
    expect(await storeState(b.store)).toEqual(await storeState(a.store));
    expect(await entries(b.store)).toEqual([]);
  });

  it('checks its prerequisites before anything: a missing command is named, nothing is made', async () => {
    const b = fresh();
    const script = await dryRun('oci-pull', [`${registry.host}/busybox:1`], b.env);
    const ran = await runScript(script, { PATH: '/nonexistent' });
    expect(ran.code).toBe(1);
    expect(ran.stderr).toMatch(/^this script needs curl \(on Debian: apt-get install coreutils curl jq util-linux\)\n$/);
    expect(existsSync(b.root)).toBe(false);
  });

  it('fails, and says so, when the registry does not have the tag any more (a digest mismatch is never stored)', async () => {
    const b = fresh();
    const script = await dryRun('oci-pull', [`${registry.host}/busybox:1`], b.env);
    // The script pins what the tag was: served another manifest now, it stops at the check.
    const moved = script.replace(`/v2/busybox/manifests/1'`, `/v2/multi/manifests/1'`);
    const ran = await runScript(moved);
    expect(ran.code).not.toBe(0);
    expect(ran.stderr).toMatch(/FAILED|did NOT match/);
    expect(await readdir(join(b.store, 'blobs/sha256'))).toEqual([]);
  });
});

describe('oci-pull --dry-run with registry auth', () => {
  let basic: TestRegistry;
  let token: TestRegistry;

  beforeAll(async () => {
    basic = await startRegistry({ auth: { username: USER, password: PASSWORD } });
    token = await startRegistry({ auth: { token: { users: [{ username: USER, password: PASSWORD }], anonymousPull: false } } });
    for (const reg of [basic, token]) await tool('oci-push', ['--creds', `${USER}:${PASSWORD}`, '--layout', source.dir, '--from', 'busybox:1', `${reg.host}/app:1`], fresh().env);
  });

  afterAll(async () => {
    await basic?.stop();
    await token?.stop();
  });

  for (const kind of ['basic', 'token'] as const) {
    it(`${kind} auth: the script, given REGISTRY_USER and REGISTRY_PASSWORD, leaves the tool's store; without them it stops first`, async () => {
      const reg = kind === 'basic' ? basic : token;
      const ref = `${reg.host}/app:1`;
      const a = fresh();
      const b = fresh();
      const script = await dryRun('oci-pull', ['--creds', `${USER}:${PASSWORD}`, ref], b.env);
      expect(script).not.toContain(PASSWORD.split(':')[1]!);
      expect(script).toContain(kind === 'basic' ? '-u "$REGISTRY_USER:$REGISTRY_PASSWORD"' : '-H "Authorization: Bearer $TOKEN"');
      const without = await runScript(script);
      expect(without.code).toBe(1);
      expect(without.stderr).toMatch(/REGISTRY_USER: needs the registry credentials/);
      expect(existsSync(b.root)).toBe(false);
      await tool('oci-pull', ['--creds', `${USER}:${PASSWORD}`, ref], a.env);
      const ran = await runScript(script, { REGISTRY_USER: USER, REGISTRY_PASSWORD: PASSWORD });
      expect(ran.code, ran.stderr).toBe(0);
      expect(await storeState(b.store)).toEqual(await storeState(a.store));
      // A wrong password is the registry's (or token server's) 401: curl fails, the script stops, nothing is tagged.
      const c = fresh();
      const wrong = await runScript(script.replaceAll(b.store, c.store), { REGISTRY_USER: USER, REGISTRY_PASSWORD: 'wrong' });
      expect(wrong.code).not.toBe(0);
      expect(wrong.stderr).toMatch(/401/);
      expect(await entries(c.store)).toEqual([]);
    });
  }
});

describe('oci-push --dry-run: the script puts in the registry what the tool puts there', () => {
  it('uploads the blobs the registry lacks, then the manifest; a second run finds them all', async () => {
    const { env } = fresh();
    const script = await dryRun('oci-push', ['--layout', source.dir, '--from', 'busybox:1', `${registry.host}/by-script:1`], fresh().env);
    await tool('oci-push', ['--layout', source.dir, '--from', 'busybox:1', `${registry.host}/by-tool:1`], env);
    const ran = await runScript(script);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain(`${busybox.manifest.layers[0]!.digest}: pushed`);
    const byTool = await manifestOf(registry, 'by-tool', '1');
    const byScript = await manifestOf(registry, 'by-script', '1');
    expect(byScript).toEqual(byTool);
    expect(byScript.digest).toBe(busybox.descriptor.digest);
    for (const d of [busybox.manifest.config, ...busybox.manifest.layers]) expect((await fetch(`${registry.url}/v2/by-script/blobs/${d.digest}`, { method: 'HEAD' })).status).toBe(200);
    // Again: HEAD says 200 for every blob (a missing blob's 404 never stopped it), the manifest is put again.
    const again = await runScript(script);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toContain(`${busybox.manifest.config.digest}: already exists`);
    expect(await manifestOf(registry, 'by-script', '1')).toEqual(byTool);
  });

  it('the Debian image (one 50 MB layer): the same manifest and blobs in the registry', async () => {
    const layout = await OciLayout.create(join(work, 'debian-push'));
    const debian = await buildDebianImage(layout, 'debian:bookworm');
    const script = await dryRun('oci-push', ['--layout', layout.dir, '--from', 'debian:bookworm', `${registry.host}/debian-script:1`], fresh().env);
    await tool('oci-push', ['--layout', layout.dir, '--from', 'debian:bookworm', `${registry.host}/debian-tool:1`], fresh().env);
    const ran = await runScript(script);
    expect(ran.code, ran.stderr).toBe(0);
    const byScript = await manifestOf(registry, 'debian-script', '1');
    expect(byScript).toEqual(await manifestOf(registry, 'debian-tool', '1'));
    expect(byScript.digest).toBe(debian.descriptor.digest);
    for (const d of [debian.manifest.config, ...debian.manifest.layers]) expect((await fetch(`${registry.url}/v2/debian-script/blobs/${d.digest}`, { method: 'HEAD' })).status).toBe(200);
  }, 300_000);

  it("an index: each platform's image by digest, then the index under the tag", async () => {
    const script = await dryRun('oci-push', ['--layout', source.dir, '--from', 'multi:1', `${registry.host}/multi-script:1`], fresh().env);
    await tool('oci-push', ['--layout', source.dir, '--from', 'multi:1', `${registry.host}/multi-tool:1`], fresh().env);
    const ran = await runScript(script);
    expect(ran.code, ran.stderr).toBe(0);
    expect(await manifestOf(registry, 'multi-script', '1')).toEqual(await manifestOf(registry, 'multi-tool', '1'));
    for (const d of [busybox.descriptor, armManifest]) expect(await manifestOf(registry, 'multi-script', d.digest)).toEqual(await manifestOf(registry, 'multi-tool', d.digest));
  });

  it('with bearer tokens: mounts from a repository the store knows there, as the tool does', async () => {
    const token = await startRegistry({ auth: { token: { users: [{ username: USER, password: PASSWORD }], anonymousPull: false } } });
    try {
      const creds = ['--creds', `${USER}:${PASSWORD}`];
      // The store has the image by its name in that registry: its blobs can be mounted from there.
      const a = fresh();
      await tool('oci-push', [...creds, '--layout', source.dir, '--from', 'busybox:1', `${token.host}/origin:1`], a.env);
      await tool('oci-pull', [...creds, `${token.host}/origin:1`], a.env);
      const script = await dryRun('oci-push', [...creds, '--from', `${token.host}/origin:1`, `${token.host}/copy-script:1`], a.env);
      expect(script).toMatch(/^TOKEN=\$\(curl .*scope=repository%3Aorigin%3Apull/m);
      const pushed = await tool('oci-push', [...creds, '--from', `${token.host}/origin:1`, `${token.host}/copy-tool:1`], a.env);
      expect(pushed.stderr).toMatch(/mounted from origin/);
      const ran = await runScript(script, { REGISTRY_USER: USER, REGISTRY_PASSWORD: PASSWORD });
      expect(ran.code, ran.stderr).toBe(0);
      expect(ran.stderr).toContain(`${busybox.manifest.layers[0]!.digest}: mounted from origin`);
      // Both repositories give the same image: pulled from each, the same store.
      const fromTool = fresh();
      const fromScript = fresh();
      expect((await tool('oci-pull', [...creds, `${token.host}/copy-tool:1`], fromTool.env)).stdout).toBe(`${busybox.descriptor.digest}\n`);
      expect((await tool('oci-pull', [...creds, `${token.host}/copy-script:1`], fromScript.env)).stdout).toBe(`${busybox.descriptor.digest}\n`);
      const blobsOf = async (store: string) => Object.fromEntries(Object.entries(await storeState(store)).filter(([p]) => p.startsWith('blobs/')));
      expect(await blobsOf(fromScript.store)).toEqual(await blobsOf(fromTool.store));
    } finally {
      await token.stop();
    }
  });
});
