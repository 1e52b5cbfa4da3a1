/**
 * The built `oci-pull` against a real registry through a fault-injecting HTTP
 * proxy: 503s, a 429 with Retry-After and dropped connections are retried; a
 * blob whose connection is cut is resumed with a Range request; a pull killed
 * with SIGKILL resumes from its .partial file; a corrupt blob in the registry
 * is rejected and nothing of it is stored.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { digestOf, OciLayout, type Digest } from '@cutaway/oci';
import { runCommand, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree, run, Stage, writeImage, type BuiltImage } from '../../../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';

// ─── The proxy ───────────────────────────────────────────────────────────────

const CUT_SETTLE_MS = 300;

interface Logged {
  method: string;
  path: string;
  range?: string;
  /** What the proxy answered (0: the connection was reset without an answer). */
  status: number;
}

/** A fault for the first request that matches; each is used once, in order. */
interface Fault {
  match: RegExp;
  method?: string;
  /** Answer with this status (and a JSON error body) instead of forwarding. */
  status?: number;
  retryAfter?: number;
  /** Destroy the socket without answering. */
  reset?: boolean;
  /** Forward the answer's headers and this many body bytes, then destroy the socket. */
  cutAfter?: number;
  /** Forward without the Range header, as a server or cache that ignores it. */
  dropRange?: boolean;
}

class FaultProxy {
  readonly log: Logged[] = [];
  faults: Fault[] = [];
  /** Bytes per second for blob bodies; undefined: full speed. */
  throttle: number | undefined;
  private server!: Server;
  host = '';

  constructor(private readonly upstream: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', resolve);
    });
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  count(method: string, pattern: RegExp): number {
    return this.log.filter((l) => l.method === method && pattern.test(l.path)).length;
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const i = this.faults.findIndex((f) => f.match.test(path) && (f.method ?? 'GET') === method);
    return i < 0 ? undefined : this.faults.splice(i, 1)[0];
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const entry: Logged = { method, path, ...(req.headers.range && { range: req.headers.range }), status: 0 };
    this.log.push(entry);
    const fault = this.takeFault(method, path);
    if (fault?.reset) {
      req.socket.destroy();
      return;
    }
    if (fault?.status) {
      entry.status = fault.status;
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...(fault.retryAfter !== undefined && { 'retry-after': String(fault.retryAfter) }) });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: `injected ${fault.status}` }] }));
      return;
    }
    const headers = { ...req.headers };
    if (fault?.dropRange) delete headers.range;
    const upstream = request({ host: this.upstream.host, port: this.upstream.port, method, path, headers });
    req.pipe(upstream);
    let answer: IncomingMessage;
    try {
      [answer] = (await once(upstream, 'response')) as [IncomingMessage];
    } catch {
      req.socket.destroy();
      return;
    }
    entry.status = answer.statusCode ?? 0;
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    let gone = false;
    // One listener for the whole answer: a race with once(res, 'close') per full buffer added one each time.
    const closed = new Promise<void>((resolve) => res.once('close', resolve));
    res.on('close', () => {
      gone = true;
      answer.destroy();
    });
    const blob = /\/blobs\/sha256:/.test(path) && method === 'GET';
    const rate = blob ? this.throttle : undefined;
    let left = blob ? fault?.cutAfter : undefined;
    try {
      for await (const data of answer as AsyncIterable<Buffer>) {
        let chunk = data;
        if (left !== undefined) {
          chunk = chunk.subarray(0, left);
          left -= chunk.length;
        }
        for (let at = 0; at < chunk.length && !gone; ) {
          const piece = rate ? chunk.subarray(at, at + 16384) : chunk.subarray(at);
          at += piece.length;
          if (!res.write(piece)) await Promise.race([once(res, 'drain'), closed]);
          if (rate) await sleep((piece.length / rate) * 1000);
        }
        if (gone) return;
        if (left === 0) {
          // Let the client take in (and write to disk) every byte sent, then drop the connection:
          // the resume offset is then exactly cutAfter. (Bytes still in flight when a stream
          // fails are dropped by the client and fetched again, which is correct but not exact.)
          await new Promise<void>((resolve) => res.write('', () => resolve()));
          await sleep(CUT_SETTLE_MS);
          res.socket?.destroy();
          answer.destroy();
          return;
        }
      }
      res.end();
    } catch {
      res.socket?.destroy();
    }
  }
}

// ─── Fixtures ────────────────────────────────────────────────────────────────

let work: string;
let registry: TestRegistry | undefined;
let proxy: FaultProxy | undefined;
let emptyDockerConfig: string;
let source: OciLayout | undefined;
const images: Record<string, BuiltImage> = {};
let roots = 0;

/** An image of `count` layers (one by default), each holding one random file of `size` bytes (random: gzip cannot shrink it). */
async function randomImage(layout: OciLayout, name: string, size: number, count = 1): Promise<BuiltImage> {
  const layers = [];
  for (let i = 0; i < count; i++) {
    const dir = join(work, 'stage', name, String(i));
    await mkdir(dir, { recursive: true });
    const stage = new Stage(dir);
    await stage.file(`data/random-${i}.bin`, randomBytes(size));
    await stage.file('etc/motd', `${name} ${i}\n`);
    layers.push({ dir, createdBy: `COPY random-${i}.bin /data/ # ${size} bytes` });
  }
  return writeImage(layout, name, { layers, cmd: ['/bin/sh'] });
}

/** A fresh state root for one pull (the store is ROOT/images). */
async function freshRoot(): Promise<string> {
  const root = join(work, 'roots', String(++roots));
  await mkdir(root, { recursive: true });
  return root;
}

function env(root: string): NodeJS.ProcessEnv {
  return { CUTAWAY_ROOT: root, DOCKER_CONFIG: emptyDockerConfig, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '' };
}

function pullRef(repo: string): string {
  return `${proxy!.host}/${repo}:1`;
}

function pull(root: string, repo: string, ...args: string[]): Promise<CommandResult> {
  return runCommand('oci-pull', [...args, pullRef(repo)], { env: env(root) });
}

function blobPath(name: string): RegExp {
  return new RegExp(`^/v2/${name}/blobs/`);
}

/** Every blob in the store, checked with sha256sum against its file name. */
async function verifyStore(store: string): Promise<string[]> {
  const dir = join(store, 'blobs', 'sha256');
  const names = await readdir(dir);
  const out = await run('sha256sum', names.map((n) => join(dir, n)));
  for (const line of out.trim().split('\n')) {
    const [sum, file] = line.split(/\s+/);
    expect(file!.endsWith(`/${sum}`), `${file} hashes to ${sum}`).toBe(true);
  }
  return names;
}

async function partials(store: string): Promise<string[]> {
  return (await readdir(join(store, '.cutaway')).catch(() => [] as string[])).filter((n) => n.endsWith('.partial'));
}

async function tags(store: string): Promise<string[]> {
  const index = JSON.parse(await readFile(join(store, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  return index.manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name'] ?? '');
}

function hex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('oci-pull: error:'));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cutaway-resilience-'));
  emptyDockerConfig = join(work, 'docker-config');
  await mkdir(emptyDockerConfig);
  source = await OciLayout.create(join(work, 'source'));
  images.app = await randomImage(source, 'app', 512 << 10);
  images.cut = await randomImage(source, 'cut', 1 << 20);
  images.big = await randomImage(source, 'big', 20 << 20);
  images.bad = await randomImage(source, 'bad', 64 << 10);
  images.badconfig = await randomImage(source, 'badconfig', 64 << 10);
  images.multi = await randomImage(source, 'multi', 4 << 20, 3);
  registry = await startRegistry();
  for (const name of Object.keys(images)) {
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${source.dir}:${name}`, `docker://${registry.host}/${name}:1`]);
  }
  const [host, port] = registry.host.split(':');
  proxy = new FaultProxy({ host: host!, port: Number(port) });
  await proxy.start();
});

afterAll(async () => {
  await proxy?.stop();
  await registry?.stop();
  if (work) await removeTree(work);
});

beforeEach(() => {
  if (!proxy) return;
  proxy.log.length = 0;
  proxy.faults = [];
  proxy.throttle = undefined;
});

// ─── Tests ───────────────────────────────────────────────────────────────────

describe('oci-pull through a faulty network', () => {
  it('retries 503s, a dropped connection and a 429 (honouring Retry-After), then succeeds', async () => {
    const root = await freshRoot();
    const layer = images.app!.manifest.layers[0]!.digest;
    proxy!.faults = [
      { match: /\/manifests\//, status: 503 },
      { match: /\/manifests\//, reset: true },
      { match: /\/manifests\//, status: 503 },
      { match: new RegExp(`/blobs/${layer}$`), status: 429, retryAfter: 1 },
    ];
    const started = Date.now();
    const result = await pull(root, 'app');
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(images.app!.descriptor.digest);
    expect(result.stderr).toMatch(/HTTP 503; retrying in 0\.2s/);
    expect(result.stderr).toMatch(/(socket hang up|ECONNRESET)[^\n]*; retrying in 0\.4s/);
    expect(result.stderr).toMatch(/HTTP 503; retrying in 0\.8s/);
    expect(result.stderr).toMatch(/HTTP 429; retrying in 1\.0s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2400);
    expect(proxy!.count('GET', /\/manifests\//)).toBe(4);
    expect(proxy!.log.filter((l) => l.path.endsWith(layer)).map((l) => l.status)).toEqual([429, 200]);
    expect(proxy!.faults).toEqual([]);
    await verifyStore(join(root, 'images'));
    expect(await tags(join(root, 'images'))).toEqual([pullRef('app')]);
  });

  it('gives up after 4 attempts with one error line', async () => {
    const root = await freshRoot();
    proxy!.faults = Array.from({ length: 4 }, () => ({ match: /\/manifests\//, status: 503 }));
    const result = await pull(root, 'app');
    expect(result.code, result.stderr).toBe(1);
    expect(proxy!.count('GET', /\/manifests\//)).toBe(4);
    expect(errorLines(result.stderr)).toEqual([`oci-pull: error: ${pullRef('app')}: manifest request failed: UNAVAILABLE: injected 503`]);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^oci-pull: error:/);
    expect(await tags(join(root, 'images'))).toEqual([]);
  });

  it('resumes a blob whose connection is cut, with Range requests, and stores it verified', async () => {
    const root = await freshRoot();
    const layer = images.cut!.manifest.layers[0]!;
    const match = new RegExp(`/blobs/${layer.digest}$`);
    proxy!.faults = [
      { match, cutAfter: 300_000 },
      { match, cutAfter: 200_000 },
    ];
    const result = await pull(root, 'cut');
    expect(result.stderr).not.toMatch(/error/);
    expect(result.code, result.stderr).toBe(0);
    expect(proxy!.log.filter((l) => match.test(l.path)).map((l) => [l.range, l.status])).toEqual([
      [undefined, 200],
      ['bytes=300000-', 206],
      ['bytes=500000-', 206],
    ]);
    expect(result.stderr).toMatch(/resuming/);
    expect(result.stderr).toMatch(/pull complete \(resumed at 500000 bytes\)/);
    const store = join(root, 'images');
    expect(await verifyStore(store)).toContain(hex(layer.digest));
    expect((await stat(join(store, 'blobs', 'sha256', hex(layer.digest)))).size).toBe(layer.size);
    expect(await partials(store)).toEqual([]);
  });

  it('restarts from zero, verified, when the server ignores Range (200 instead of 206)', async () => {
    const root = await freshRoot();
    const layer = images.cut!.manifest.layers[0]!;
    const match = new RegExp(`/blobs/${layer.digest}$`);
    proxy!.faults = [
      { match, cutAfter: 300_000 },
      { match, dropRange: true },
    ];
    const result = await pull(root, 'cut');
    expect(result.code, result.stderr).toBe(0);
    expect(proxy!.log.filter((l) => match.test(l.path)).map((l) => [l.range, l.status])).toEqual([
      [undefined, 200],
      ['bytes=300000-', 200],
    ]);
    expect(result.stderr).toMatch(/layer 1\/1 [0-9a-f]{12}: pull complete\n/);
    const store = join(root, 'images');
    expect(await verifyStore(store)).toContain(hex(layer.digest));
    expect(await partials(store)).toEqual([]);
  });

  it('finishes a .partial that already holds the whole blob (killed between the last write and the rename)', async () => {
    const root = await freshRoot();
    const store = join(root, 'images');
    const layer = images.cut!.manifest.layers[0]!;
    const layout = await OciLayout.create(store);
    await mkdir(join(store, '.cutaway'), { recursive: true });
    await writeFile(join(store, '.cutaway', `sha256-${hex(layer.digest)}.partial`), await source!.readBlob(layer.digest));
    const result = await pull(root, 'cut');
    expect(result.code, result.stderr).toBe(0);
    expect(await layout.hasBlob(layer.digest)).toBe(true);
    await verifyStore(store);
    expect(await partials(store)).toEqual([]);
  });

  it('recovers from a .partial whose bytes are wrong (a bad disk, a foreign file): fetched again from zero', async () => {
    const root = await freshRoot();
    const store = join(root, 'images');
    const layer = images.cut!.manifest.layers[0]!;
    await OciLayout.create(store);
    await writeFile(join(store, '.cutaway', `sha256-${hex(layer.digest)}.partial`), randomBytes(100_000));
    const first = await pull(root, 'cut');
    const second = first.code === 0 ? first : await pull(root, 'cut');
    // Whatever happens, the bad bytes never reach the store.
    await verifyStore(store);
    expect(await partials(store)).toEqual([]);
    expect(second.code, second.stderr).toBe(0);
    // The registry's blob is fine: the first pull must not fail blaming it.
    expect(first.code, first.stderr).toBe(0);
  });

  it('after kill -9 mid-download, the next pull resumes from the .partial; a third pull fetches no blob', async () => {
    const root = await freshRoot();
    const store = join(root, 'images');
    const layer = images.big!.manifest.layers[0]!;
    expect(layer.size).toBeGreaterThan(20 << 20);
    proxy!.throttle = 2 << 20;

    const child = spawn(toolPath('oci-pull'), [pullRef('big')], { env: { ...process.env, ...env(root) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = once(child, 'exit');
    const partialFile = join(store, '.cutaway', `sha256-${hex(layer.digest)}.partial`);
    let killedAt: number;
    try {
      // Wait until the partial file exists and has grown, then kill the pull outright.
      let first: number | undefined;
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`oci-pull exited early (${child.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error('the .partial file did not grow');
        const size = await stat(partialFile).then((s) => s.size, () => undefined);
        if (size !== undefined && size > 0) {
          first ??= size;
          if (size >= first + 256 * 1024) break;
        }
        await sleep(25);
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(child.signalCode).toBe('SIGKILL');
    killedAt = (await stat(partialFile)).size;
    expect(killedAt).toBeGreaterThan(0);
    expect(killedAt).toBeLessThan(layer.size);
    expect(await partials(store)).toEqual([`sha256-${hex(layer.digest)}.partial`]);
    expect(await tags(store)).toEqual([]);

    proxy!.throttle = undefined;
    proxy!.log.length = 0;
    const again = await pull(root, 'big');
    expect(again.stderr).not.toMatch(/error/);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(images.big!.descriptor.digest);
    expect(proxy!.log.filter((l) => l.path.endsWith(layer.digest)).map((l) => [l.range, l.status])).toEqual([[`bytes=${killedAt}-`, 206]]);
    expect(again.stderr).toContain(`pull complete (resumed at ${killedAt} bytes)`);
    const blobs = await verifyStore(store);
    expect(blobs.sort()).toEqual([images.big!.descriptor.digest, images.big!.configDescriptor.digest, layer.digest].map(hex).sort());
    expect(await partials(store)).toEqual([]);
    expect(await tags(store)).toEqual([pullRef('big')]);

    proxy!.log.length = 0;
    const third = await pull(root, 'big');
    expect(third.code, third.stderr).toBe(0);
    expect(third.stdout.trim()).toBe(images.big!.descriptor.digest);
    expect(third.stderr).toMatch(/image is up to date/);
    expect(proxy!.log.map((l) => `${l.method} ${l.path}`)).toEqual([`GET /v2/big/manifests/1`]);
    expect(proxy!.count('GET', blobPath('big')) + proxy!.count('HEAD', blobPath('big'))).toBe(0);
  });

  it('rejects a blob the registry holds corrupt: exit 1, one error line, nothing of it stored', async () => {
    const layer = images.bad!.manifest.layers[0]!;
    const data = join(registry!.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex(layer.digest).slice(0, 2), hex(layer.digest), 'data');
    const bytes = await readFile(data);
    expect(bytes.length).toBe(layer.size);
    for (let i = 1000; i < 1016; i++) bytes[i] = bytes[i]! ^ 0xff;
    await writeFile(data, bytes);

    const root = await freshRoot();
    const store = join(root, 'images');
    const result = await pull(root, 'bad');
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toBe('');
    const errors = errorLines(result.stderr);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(new RegExp(`^oci-pull: error: .*blob ${layer.digest} rejected: `));
    expect(result.stderr.trim().split('\n').at(-1)).toBe(errors[0]);
    // Corrupt data is not worth resuming: one request, no retry.
    expect(proxy!.count('GET', new RegExp(`/blobs/${layer.digest}$`))).toBe(1);
    const layout = await OciLayout.open(store);
    expect(await layout.hasBlob(layer.digest)).toBe(false);
    expect(await layout.hasBlob(images.bad!.descriptor.digest)).toBe(false);
    expect(await partials(store)).toEqual([]);
    expect(await tags(store)).toEqual([]);
    await verifyStore(store);
  });
});

describe('oci-pull stopped part-way while its blobs download at once', () => {
  it('killed with kill -9 while three layers and the config are stored at once: every blob there verifies, and the next pull resumes each layer', async () => {
    const root = await freshRoot();
    const store = join(root, 'images');
    const image = images.multi!;
    const layers = image.manifest.layers.map((l) => l.digest);
    const partialOf = (digest: Digest) => join(store, '.cutaway', `sha256-${hex(digest)}.partial`);
    proxy!.throttle = 2 << 20;

    const child = spawn(toolPath('oci-pull'), [pullRef('multi')], { env: { ...process.env, ...env(root) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = once(child, 'exit');
    try {
      // Every layer under way (its .partial written to) before the kill.
      const deadline = Date.now() + 20_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`oci-pull exited early (${child.exitCode}): ${stderr}`);
        if (Date.now() > deadline) throw new Error('the layers did not all start');
        const sizes = await Promise.all(layers.map((d) => stat(partialOf(d)).then((s) => s.size, () => 0)));
        if (sizes.every((size) => size > 0)) break;
        await sleep(25);
      }
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    expect(child.signalCode).toBe('SIGKILL');
    const killedAt = await Promise.all(layers.map(async (d) => (await stat(partialOf(d))).size));
    for (const [i, size] of killedAt.entries()) expect(size, `layer ${i + 1}`).toBeLessThan(image.manifest.layers[i]!.size);
    expect((await partials(store)).sort()).toEqual(layers.map((d) => `sha256-${hex(d)}.partial`).sort());
    // Whatever the kill caught half-done, nothing in blobs/ is wrong, and nothing is tagged.
    const stored = await verifyStore(store);
    expect(stored.filter((name) => layers.map(hex).includes(name))).toEqual([]);
    expect(await tags(store)).toEqual([]);

    proxy!.throttle = undefined;
    proxy!.log.length = 0;
    const again = await pull(root, 'multi');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toBe(image.descriptor.digest);
    for (const [i, d] of layers.entries()) {
      expect(proxy!.log.filter((l) => l.path.endsWith(d)).map((l) => [l.range, l.status])).toEqual([[`bytes=${killedAt[i]}-`, 206]]);
    }
    expect((await verifyStore(store)).sort()).toEqual([image.descriptor.digest, image.configDescriptor.digest, ...layers].map(hex).sort());
    expect(await partials(store)).toEqual([]);
    expect(await tags(store)).toEqual([pullRef('multi')]);
  });

  it('rejects a config the registry holds corrupt before it asks for any layer: one error line, nothing of the image stored', async () => {
    const image = images.badconfig!;
    const config = image.configDescriptor.digest;
    const data = join(registry!.dir, 'data', 'docker', 'registry', 'v2', 'blobs', 'sha256', hex(config).slice(0, 2), hex(config), 'data');
    const bytes = await readFile(data);
    bytes[bytes.indexOf('"')] = 0x27; // still as long, no longer the bytes the digest names
    await writeFile(data, bytes);

    const root = await freshRoot();
    const store = join(root, 'images');
    const result = await pull(root, 'badconfig');
    expect(result.code, result.stderr).toBe(1);
    expect(errorLines(result.stderr)).toEqual([`oci-pull: error: ${proxy!.host}/badconfig: blob ${config} rejected: digest mismatch: expected ${config}, got ${digestOf(bytes)} (hint: the registry holds a corrupt blob; nothing was stored)`]);
    expect(proxy!.count('GET', new RegExp(`/blobs/${config}$`))).toBe(1);
    expect(proxy!.count('GET', new RegExp(`/blobs/${image.manifest.layers[0]!.digest}$`))).toBe(0);
    expect(await readdir(join(store, 'blobs', 'sha256'))).toEqual([]);
    expect(await partials(store)).toEqual([]);
    expect(await tags(store)).toEqual([]);
  });
});

describe('oci-pull into a store whose file system is full', () => {
  /** A 1 MiB tmpfs as the state root, mounted for one test and unmounted after it, also when it fails. */
  let full: string | undefined;

  async function fullRoot(): Promise<string> {
    full = await mkdtemp(join(work, 'cw-full-'));
    await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'cw-full', full]);
    return full;
  }

  afterEach(async () => {
    if (full) await run('umount', [full]).catch(() => run('umount', ['-l', full!]));
    full = undefined;
  });

  it('from a registry: ENOSPC and the file it was writing, at once, with no retry; the .partial stays to resume from', async () => {
    const root = await fullRoot();
    const store = join(root, 'images');
    const layer = images.big!.manifest.layers[0]!.digest;
    const result = await pull(root, 'big');
    expect(result.code, result.stderr).toBe(1);
    expect(errorLines(result.stderr)).toEqual([
      `oci-pull: error: ${proxy!.host}/big: blob ${layer}: ENOSPC: no space left on device, write '${store}/.cutaway/sha256-${hex(layer)}.partial' (hint: free space where the store is (df ${store}); pulling again resumes where this pull stopped)`,
    ]);
    expect(result.stderr).not.toMatch(/aborted|resuming|retrying/);
    expect(proxy!.count('GET', new RegExp(`/blobs/${layer}$`))).toBe(1);
    expect(await partials(store)).toEqual([`sha256-${hex(layer)}.partial`]);
    expect(await tags(store)).toEqual([]);
  });

  it('from an OCI layout (oci:DIR:NAME): ENOSPC and the temp file, which is removed', async () => {
    const root = await fullRoot();
    const store = join(root, 'images');
    const layer = images.big!.manifest.layers[0]!.digest;
    const result = await runCommand('oci-pull', [`oci:${source!.dir}:big`], { env: env(root) });
    expect(result.code, result.stderr).toBe(1);
    const lines = errorLines(result.stderr);
    expect(lines).toHaveLength(1);
    const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(lines[0]).toMatch(new RegExp(`^${literal(`oci-pull: error: oci:${source!.dir}:big: blob ${layer}: ENOSPC: no space left on device, write '${store}/.cutaway/.blob.`)}[^']+\\.tmp'$`));
    expect((await readdir(join(store, '.cutaway'))).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(await tags(store)).toEqual([]);
  });
});
