/**
 * The built `oci-pull` and `oci-push` against registries that want
 * credentials: htpasswd basic auth (--creds, Docker's config.json, refusals
 * with one line and a hint, no secret ever printed), and bearer tokens from a
 * token server, anonymous and as a user, as Docker Hub works.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree, run, Stage, writeImage, type BuiltImage } from '../../../test/fixtures/images.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';

const USER = 'alice';
/** With a ":" (--creds splits at the first one) and characters a shell or URL would mangle. */
const PASSWORD = 'Pa:ss w0rd/#%&!';
const TOKEN_USER = 'bob';
const TOKEN_PASSWORD = 'Tk:9xQz-Secret-42';

let work: string;
let source: OciLayout;
let image: BuiltImage;
let roots = 0;
let emptyDockerConfig: string;

async function freshRoot(): Promise<string> {
  const root = join(work, 'roots', String(++roots));
  await mkdir(root, { recursive: true });
  return root;
}

/** The tools' environment: a temp root and a DOCKER_CONFIG of the test's choosing (never the host's). */
function env(root: string, dockerConfig = emptyDockerConfig): NodeJS.ProcessEnv {
  return { CUTAWAY_ROOT: root, DOCKER_CONFIG: dockerConfig, HOME: work, CUTAWAY_TRACE: '', CUTAWAY_DEBUG: '' };
}

/** Asserts no form of a secret appears in some output. */
function expectNoSecret(output: string, username: string, password: string): void {
  expect(output).not.toContain(password);
  for (const part of password.split(':')) if (part.length >= 4) expect(output).not.toContain(part);
  expect(output).not.toContain(Buffer.from(`${username}:${password}`).toString('base64'));
  expect(output).not.toContain(encodeURIComponent(password));
}

/** The one line of a failure: `TOOL: error: …`, nothing else on stderr. */
function oneErrorLine(result: CommandResult, tool = 'oci-pull'): string {
  expect(result.code, result.stderr).toBe(1);
  const lines = result.stderr.trim().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^${tool}: error: `));
  return lines[0]!;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'cutaway-auth-'));
  emptyDockerConfig = join(work, 'docker-config-empty');
  await mkdir(emptyDockerConfig);
  source = await OciLayout.create(join(work, 'source'));
  const dir = join(work, 'stage');
  await mkdir(dir);
  const stage = new Stage(dir);
  await stage.file('etc/motd', 'behind a login\n');
  await stage.file('data/blob.bin', randomBytes(48 << 10));
  image = await writeImage(source, 'app', { layers: [{ dir, createdBy: 'COPY . /' }], cmd: ['/bin/sh'] });
});

afterAll(async () => {
  if (work) await removeTree(work);
});

describe('a registry with htpasswd basic auth', () => {
  let registry: TestRegistry | undefined;
  let ref: string;

  beforeAll(async () => {
    registry = await startRegistry({ auth: { username: USER, password: PASSWORD } });
    ref = `${registry.host}/app:1`;
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`, `oci:${source.dir}:app`, `docker://${ref}`]);
  });

  afterAll(async () => {
    await registry?.stop();
  });

  it('without credentials: exit 1, one line saying unauthorized, with a hint', async () => {
    const root = await freshRoot();
    const line = oneErrorLine(await runCommand('oci-pull', [ref], { env: env(root) }));
    expect(line).toBe(`oci-pull: error: ${registry!.host}: unauthorized: authentication required (hint: pass --creds USER:PASSWORD or log in with docker login)`);
  });

  it('with a wrong password: exit 1, one line naming the refused user; the wrong password is not printed', async () => {
    const root = await freshRoot();
    const result = await runCommand('oci-pull', ['--creds', `${USER}:not-${PASSWORD}`, ref], { env: env(root) });
    const line = oneErrorLine(result);
    expect(line).toMatch(new RegExp(`unauthorized: the registry refused the credentials for ${USER} \\(hint: check --creds`));
    expectNoSecret(result.stderr, USER, `not-${PASSWORD}`);
    // A user the registry does not know at all is refused the same way.
    const stranger = oneErrorLine(await runCommand('oci-pull', ['--creds', `mallory:${PASSWORD}`, ref], { env: env(root) }));
    expect(stranger).toMatch(/refused the credentials for mallory/);
  });

  it('with the right --creds: pulls; --trace, --json and stderr never show the password', async () => {
    const root = await freshRoot();
    const result = await runCommand('oci-pull', ['--trace', '--json', '--creds', `${USER}:${PASSWORD}`, ref], { env: env(root) });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ reference: ref, digest: image.descriptor.digest });
    // The trace shows the steps, with the credentials as shell variables.
    expect(result.stderr).toMatch(/^\+ curl .*-u "\$REGISTRY_USER:\$REGISTRY_PASSWORD"/m);
    expectNoSecret(result.stderr, USER, PASSWORD);
    expectNoSecret(result.stdout, USER, PASSWORD);
    const layout = await OciLayout.open(join(root, 'images'));
    expect((await layout.resolve(ref))?.digest).toBe(image.descriptor.digest);

    // --dry-run's script keeps the secret in a variable too.
    const dry = await runCommand('oci-pull', ['--dry-run', '--creds', `${USER}:${PASSWORD}`, ref], { env: env(await freshRoot()) });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('-u "$REGISTRY_USER:$REGISTRY_PASSWORD"');
    expectNoSecret(dry.stdout + dry.stderr, USER, PASSWORD);
  });

  it('takes the credentials from DOCKER_CONFIG/config.json, as docker login writes them', async () => {
    const config = join(work, 'docker-config-login');
    await mkdir(config);
    const auth = (user: string, password: string) => Buffer.from(`${user}:${password}`).toString('base64');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [registry!.host]: { auth: auth(USER, PASSWORD) } } }));
    const root = await freshRoot();
    const result = await runCommand('oci-pull', ['--trace', ref], { env: env(root, config) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${image.descriptor.digest}\n`);
    expectNoSecret(result.stderr, USER, PASSWORD);

    // A stale login is refused by name; --creds wins over config.json.
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [`http://${registry!.host}`]: { auth: auth(USER, 'stale') } } }));
    expect(oneErrorLine(await runCommand('oci-pull', [ref], { env: env(await freshRoot(), config) }))).toMatch(`refused the credentials for ${USER}`);
    const override = await runCommand('oci-pull', ['--creds', `${USER}:${PASSWORD}`, ref], { env: env(await freshRoot(), config) });
    expect(override.code, override.stderr).toBe(0);
  });

  it('oci-push --creds uploads an image that skopeo then sees there; without credentials push is refused', async () => {
    const root = await freshRoot();
    const target = `${registry!.host}/pushed:1`;
    const refused = await runCommand('oci-push', ['--layout', source.dir, '--from', 'app', target], { env: env(root) });
    expect(oneErrorLine(refused, 'oci-push')).toMatch(/unauthorized: authentication required/);

    const result = await runCommand('oci-push', ['--trace', '--layout', source.dir, '--from', 'app', '--creds', `${USER}:${PASSWORD}`, target], { env: env(root) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${image.descriptor.digest}\n`);
    expectNoSecret(result.stdout + result.stderr, USER, PASSWORD);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${USER}:${PASSWORD}`, `docker://${target}`])) as { Digest: string; Layers: string[] };
    expect(inspected.Digest).toBe(image.descriptor.digest);
    expect(inspected.Layers).toEqual(image.manifest.layers.map((l) => l.digest));
  });
});

// ─── Bearer tokens ───────────────────────────────────────────────────────────

/** A pass-through proxy in front of the registry that records each request's Authorization scheme. */
interface Recorded {
  method: string;
  path: string;
  /** "Bearer", "Basic", or "" when the request carried none. */
  scheme: string;
  status: number;
}

async function recordingProxy(upstream: string): Promise<{ host: string; seen: Recorded[]; stop(): Promise<void> }> {
  const [upHost, upPort] = upstream.split(':');
  const seen: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const entry: Recorded = { method: req.method ?? '', path: req.url ?? '', scheme: (req.headers.authorization ?? '').split(' ')[0]!, status: 0 };
    seen.push(entry);
    const out = request({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers });
    req.pipe(out);
    out.on('error', () => res.destroy());
    out.on('response', (answer: IncomingMessage) => {
      entry.status = answer.statusCode ?? 0;
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('a registry with bearer-token auth (a token server, as Docker Hub)', () => {
  let registry: TestRegistry | undefined;
  let proxy: Awaited<ReturnType<typeof recordingProxy>> | undefined;
  let ref: string;

  beforeAll(async () => {
    registry = await startRegistry({ auth: { token: { users: [{ username: TOKEN_USER, password: TOKEN_PASSWORD }] } } });
    await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', '--dest-creds', `${TOKEN_USER}:${TOKEN_PASSWORD}`, `oci:${source.dir}:app`, `docker://${registry.host}/app:1`]);
    proxy = await recordingProxy(registry.host);
    ref = `${proxy.host}/app:1`;
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
  });

  it('pulls anonymously: a token for repository:app:pull from the realm, then Bearer on every registry request', async () => {
    const tokens = registry!.tokenServer!;
    tokens.requests.length = 0;
    proxy!.seen.length = 0;
    const root = await freshRoot();
    const result = await runCommand('oci-pull', ['--trace', ref], { env: env(root) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${image.descriptor.digest}\n`);
    // One token, asked for without credentials, for the scope the pull needs.
    expect(tokens.requests.map((r) => ({ method: r.method, path: r.path, service: r.query.service, scope: r.query.scope, authorization: r.authorization, status: r.status, granted: r.granted }))).toEqual([
      { method: 'GET', path: '/token', service: [tokens.service], scope: ['repository:app:pull'], authorization: false, status: 200, granted: ['repository:app:pull'] },
    ]);
    // The first request meets the challenge; every one after it carries the token.
    const [first, ...rest] = proxy!.seen;
    expect(first).toMatchObject({ method: 'GET', path: '/v2/app/manifests/1', scheme: '', status: 401 });
    expect(rest.length).toBeGreaterThanOrEqual(3); // the manifest again, the config, the layer
    for (const r of rest) expect(r, `${r.method} ${r.path}`).toMatchObject({ scheme: 'Bearer', status: 200 });
    expect(rest.filter((r) => r.path.includes('/blobs/')).map((r) => r.path.split('/').at(-1)).sort()).toEqual([image.configDescriptor.digest, ...image.manifest.layers.map((l) => l.digest)].sort());
    // The trace names the token request, with the token as a shell variable and never a JWT.
    expect(result.stderr).toMatch(/^\+ TOKEN=\$\(curl -fsS '[^']*\/token\?service=/m);
    expect(result.stderr).toContain('-H "Authorization: Bearer $TOKEN"');
    expect(result.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}/);
  });

  it('pulls as a user: the token request carries Basic credentials, the registry sees only Bearer', async () => {
    const tokens = registry!.tokenServer!;
    tokens.requests.length = 0;
    proxy!.seen.length = 0;
    const result = await runCommand('oci-pull', ['--trace', '--creds', `${TOKEN_USER}:${TOKEN_PASSWORD}`, ref], { env: env(await freshRoot()) });
    expect(result.code, result.stderr).toBe(0);
    expect(tokens.requests.map((r) => [r.authorization, r.username, r.status])).toEqual([[true, TOKEN_USER, 200]]);
    expect(proxy!.seen.map((r) => r.scheme)).not.toContain('Basic');
    expectNoSecret(result.stderr, TOKEN_USER, TOKEN_PASSWORD);
    expect(result.stderr).toContain('-u "$REGISTRY_USER:$REGISTRY_PASSWORD"');
    expect(result.stderr).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}/);

    // The token server refuses a wrong password: one line naming the user.
    const refused = await runCommand('oci-pull', ['--creds', `${TOKEN_USER}:wrong`, ref], { env: env(await freshRoot()) });
    expect(oneErrorLine(refused)).toMatch(new RegExp(`refused the credentials for ${TOKEN_USER}`));
  });

  it('oci-push as a user gets a pull,push token and skopeo sees the image', async () => {
    const tokens = registry!.tokenServer!;
    tokens.requests.length = 0;
    const target = `${proxy!.host}/pushed:1`;
    const result = await runCommand('oci-push', ['--layout', source.dir, '--from', 'app', '--creds', `${TOKEN_USER}:${TOKEN_PASSWORD}`, target], { env: env(await freshRoot()) });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${image.descriptor.digest}\n`);
    expect(tokens.requests.some((r) => r.username === TOKEN_USER && r.granted.includes('repository:pushed:pull,push'))).toBe(true);
    const inspected = JSON.parse(await run('skopeo', ['inspect', '--tls-verify=false', '--creds', `${TOKEN_USER}:${TOKEN_PASSWORD}`, `docker://${registry!.host}/pushed:1`])) as { Digest: string };
    expect(inspected.Digest).toBe(image.descriptor.digest);
  });
});
