import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { buildBusyboxImage, type BuiltImage } from '../../../test/fixtures/images.ts';
import { createTestCA, startRegistry, type RegistryOptions, type TestCA, type TestRegistry } from '../../../test/fixtures/registry.ts';

// oci-pull and oci-push --ca-cert against registries that speak https with a
// certificate from a private CA (Debian's docker-registry, http.tls), one of
// them behind basic auth; skopeo pushes the image there and reads back what
// oci-push wrote, trusting the same CA through a cert dir.

const AUTH = { username: 'cutaway', password: 'not a secret' };
const CREDS = `${AUTH.username}:${AUTH.password}`;

const execFileAsync = promisify(execFile);

/** Runs skopeo; a failure's message carries its stderr. */
async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('skopeo', args, { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000 });
  return stdout;
}

let work: string;
let source: OciLayout;
let busybox: BuiltImage;
/** https, no auth. */
let registry: TestRegistry;
/** https and basic auth. */
let authRegistry: TestRegistry;
/** A CA that signed neither registry's certificate. */
let otherCA: TestCA;
const registries: TestRegistry[] = [];

/** The registry's CA, alone in its directory: skopeo's --cert-dir (it reads *.crt there as CAs). */
const certDir = (r: TestRegistry) => dirname(caOf(r));

function caOf(r: TestRegistry): string {
  if (!r.caCert) throw new Error('the registry did not start with tls');
  return r.caCert;
}

async function start(options: RegistryOptions): Promise<TestRegistry> {
  const r = await startRegistry(options);
  registries.push(r);
  return r;
}

/** A fresh state root for one run, and an empty Docker config dir, so no docker login of the host's is used. */
async function freshEnv(): Promise<NodeJS.ProcessEnv> {
  const root = await mkdtemp(join(work, 'root-'));
  const dockerConfig = join(root, 'docker');
  await mkdir(dockerConfig);
  return { CUTAWAY_ROOT: root, DOCKER_CONFIG: dockerConfig };
}

/** A failed run: exit 1 and exactly one line on stderr, `TOOL: error: …`; returns that line. */
function oneErrorLine(out: CommandResult, tool: string): string {
  expect(out.code, out.stderr).toBe(1);
  expect(out.stdout).toBe('');
  const lines = out.stderr.trimEnd().split('\n');
  expect(lines, out.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${tool}: error: `));
  return lines[0]!;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cw-tls-test-'));
  source = await OciLayout.create(join(work, 'source'));
  busybox = await buildBusyboxImage(source, 'busybox:1');
  // Both at once; each is in `registries` as soon as it runs, for afterAll, whatever the other does.
  const started = await Promise.allSettled([start({ tls: true }), start({ tls: true, auth: AUTH }), createTestCA(join(work, 'other-ca'), 'cutaway other CA')]);
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  [registry, authRegistry] = started.slice(0, 2).map((s) => (s as PromiseFulfilledResult<TestRegistry>).value) as [TestRegistry, TestRegistry];
  otherCA = (started[2] as PromiseFulfilledResult<TestCA>).value;

  await skopeo('copy', '-q', '--dest-cert-dir', certDir(registry), `oci:${source.dir}:busybox:1`, `docker://${registry.host}/busybox:1`);
  await skopeo('copy', '-q', '--dest-cert-dir', certDir(authRegistry), '--dest-creds', CREDS, `oci:${source.dir}:busybox:1`, `docker://${authRegistry.host}/busybox:1`);
});

afterAll(async () => {
  await Promise.allSettled(registries.map((r) => r.stop()));
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the TLS test registry', () => {
  it('serves https, with its CA alone in a directory of its own', async () => {
    expect(registry.url).toBe(`https://${registry.host}`);
    expect(authRegistry.url).toBe(`https://${authRegistry.host}`);
    expect(await readdir(certDir(registry))).toEqual(['ca.crt']);
  });
});

describe('oci-pull --ca-cert', () => {
  it('pulls over https, trusting the CA, and prints the manifest digest', async () => {
    const env = await freshEnv();
    const out = await runCommand('oci-pull', ['--trace', '--ca-cert', caOf(registry), `${registry.host}/busybox:1`], { env });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(`${busybox.descriptor.digest}\n`);
    // Every request went to the https URL.
    expect(out.stderr).toContain(`https://${registry.host}/v2/busybox/manifests/1`);
    expect(out.stderr).not.toContain(`http://${registry.host}`);
    expect(out.stderr).toMatch(/pull complete/);
  });

  it('without --ca-cert fails with one line: a loopback registry is taken for plain http', async () => {
    const env = await freshEnv();
    const out = await runCommand('oci-pull', [`${registry.host}/busybox:1`], { env });
    const line = oneErrorLine(out, 'oci-pull');
    expect(line).toContain(registry.host);
    // Go's TLS server answers a plain http request with 400 and says why.
    expect(line).toMatch(/the registry speaks https \(give the CA that signed its certificate with --ca-cert FILE/);
  });

  it('with a CA that did not sign the certificate fails with one line about the certificate', async () => {
    const env = await freshEnv();
    const out = await runCommand('oci-pull', ['--ca-cert', otherCA.cert, `${registry.host}/busybox:1`], { env });
    const line = oneErrorLine(out, 'oci-pull');
    expect(line).toContain(registry.host);
    expect(line).toMatch(/certificate/i);
    // Not retried: a certificate the CA did not sign stays unsigned.
    expect(out.stderr).not.toMatch(/retrying/);
  });

  it('with a --ca-cert file that is not there fails with one line naming it', async () => {
    const env = await freshEnv();
    const missing = join(work, 'no-such-ca.crt');
    const out = await runCommand('oci-pull', ['--ca-cert', missing, `${registry.host}/busybox:1`], { env });
    const line = oneErrorLine(out, 'oci-pull');
    expect(line).toContain(`--ca-cert ${missing}`);
  });
});

describe('oci-push --ca-cert', () => {
  it('pushes over https, and skopeo, trusting the same CA, sees the image', async () => {
    const env = await freshEnv();
    expect((await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env })).code).toBe(0);
    const target = `${registry.host}/copy:1`;
    const out = await runCommand('oci-push', ['--ca-cert', caOf(registry), '--from', 'busybox:1', target], { env });
    expect(out.code, out.stderr).toBe(0);
    const inspected = JSON.parse(await skopeo('inspect', '--cert-dir', certDir(registry), `docker://${target}`));
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
    expect(inspected.Layers).toEqual(busybox.manifest.layers.map((l) => l.digest));
  });

  it('with a CA that did not sign the certificate fails with one line about the certificate, pushing nothing', async () => {
    const env = await freshEnv();
    expect((await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env })).code).toBe(0);
    const target = `${registry.host}/never:1`;
    const out = await runCommand('oci-push', ['--ca-cert', otherCA.cert, '--from', 'busybox:1', target], { env });
    expect(oneErrorLine(out, 'oci-push')).toMatch(/certificate/i);
    await expect(skopeo('inspect', '--cert-dir', certDir(registry), `docker://${target}`)).rejects.toThrow(/manifest unknown|not found/i);
  });
});

describe('basic auth over https', () => {
  it('oci-pull --ca-cert --creds pulls; without --creds it fails with one line', async () => {
    const ref = `${authRegistry.host}/busybox:1`;
    const pulled = await runCommand('oci-pull', ['--ca-cert', caOf(authRegistry), '--creds', CREDS, ref], { env: await freshEnv() });
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stdout).toBe(`${busybox.descriptor.digest}\n`);
    const anonymous = await runCommand('oci-pull', ['--ca-cert', caOf(authRegistry), ref], { env: await freshEnv() });
    const line = oneErrorLine(anonymous, 'oci-pull');
    expect(line).toMatch(/401|unauthori[sz]ed|credentials|denied/i);
  });

  it('oci-push --ca-cert --creds pushes, and skopeo with the same credentials sees the image', async () => {
    const env = await freshEnv();
    expect((await runCommand('oci-pull', ['-q', `oci:${source.dir}:busybox:1`], { env })).code).toBe(0);
    const target = `${authRegistry.host}/copy:1`;
    const out = await runCommand('oci-push', ['--ca-cert', caOf(authRegistry), '--creds', CREDS, '--from', 'busybox:1', target], { env });
    expect(out.code, out.stderr).toBe(0);
    const inspected = JSON.parse(await skopeo('inspect', '--cert-dir', certDir(authRegistry), '--creds', CREDS, `docker://${target}`));
    expect(inspected.Digest).toBe(busybox.descriptor.digest);
  });
});
