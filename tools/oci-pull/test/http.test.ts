/**
 * http.ts and auth.ts against real local servers (node:http on 127.0.0.1:0):
 * redirects followed by hand (credentials stay with their origin, Range and
 * method kept), WWW-Authenticate parsing on headers registries really send,
 * and credentials from --creds and Docker's config.json.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '@cutaway/cli';
import { basicAuthorization, dockerConfigCredentials, parseChallenges, parseCreds } from '../src/auth.ts';
import { closeConnections, httpRequest, readBody } from '../src/http.ts';

interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

interface TestServer {
  server: Server;
  origin: string;
  seen: Seen[];
}

type Handler = (path: string, res: ServerResponse, method: string, headers: IncomingHttpHeaders) => void;

async function listen(handler: Handler): Promise<TestServer> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push({ method: req.method ?? '', path, headers: req.headers });
    req.resume();
    handler(path, res, req.method ?? '', req.headers);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function close(s: TestServer | undefined): Promise<void> {
  if (!s) return;
  s.server.closeAllConnections();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

const BLOB = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');
const AUTH = basicAuthorization({ username: 'alice', password: 'secret' });

/** Answers a GET of BLOB, honouring `Range: bytes=N-` with a 206. */
function serveBlob(res: ServerResponse, method: string, headers: IncomingHttpHeaders): void {
  const range = /^bytes=(\d+)-$/.exec(String(headers.range ?? ''));
  const start = range ? Number(range[1]) : 0;
  const body = BLOB.subarray(start);
  res.writeHead(range ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(body.length),
    ...(range && { 'content-range': `bytes ${start}-${BLOB.length - 1}/${BLOB.length}` }),
  });
  res.end(method === 'HEAD' ? undefined : body);
}

describe('httpRequest redirects', () => {
  let cdn: TestServer;
  let registry: TestServer;

  beforeAll(async () => {
    // The "CDN": another origin (another port) that blob redirects point at.
    cdn = await listen((path, res, method, headers) => {
      if (path.startsWith('/blob')) serveBlob(res, method, headers);
      else if (path === '/back') res.writeHead(307, { location: `${registry.origin}/final` }).end();
      else res.writeHead(404).end();
    });
    registry = await listen((path, res, method, headers) => {
      const chain = /^\/chain\/(\d+)\/(\d+)$/.exec(path);
      if (path === '/cross') res.writeHead(307, { location: `${cdn.origin}/blob?sig=x` }).end();
      else if (path === '/same') res.writeHead(307, { location: '/final' }).end();
      else if (path === '/final') serveBlob(res, method, headers);
      else if (path === '/via-cdn') res.writeHead(302, { location: `${cdn.origin}/back` }).end();
      else if (path === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (path === '/put') res.writeHead(307, { location: '/final' }).end();
      else if (path === '/hang') return; // never answers
      else if (chain) {
        // /chain/N/CODE: N more redirects, each with status CODE, then the blob.
        const left = Number(chain[1]);
        if (left === 0) serveBlob(res, method, headers);
        else res.writeHead(Number(chain[2]), { location: `/chain/${left - 1}/${chain[2]}` }).end();
      } else res.writeHead(404).end();
    });
  });

  afterEach(() => {
    cdn.seen.length = 0;
    registry.seen.length = 0;
  });

  afterAll(async () => {
    closeConnections();
    await close(cdn);
    await close(registry);
  });

  it('drops Authorization on a 307 to another origin (another port), keeps Range', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/cross`), { headers: { Authorization: AUTH, Range: 'bytes=10-', Accept: 'x/y' } });
    expect(res.status).toBe(206);
    expect(res.url.href).toBe(`${cdn.origin}/blob?sig=x`);
    expect((await readBody(res)).toString()).toBe(BLOB.subarray(10).toString());
    expect(registry.seen).toHaveLength(1);
    expect(registry.seen[0]!.headers.authorization).toBe(AUTH);
    expect(cdn.seen).toHaveLength(1);
    expect(cdn.seen[0]!.headers.authorization).toBeUndefined();
    expect(cdn.seen[0]!.headers.range).toBe('bytes=10-');
    expect(cdn.seen[0]!.headers.accept).toBe('x/y');
  });

  it('keeps Authorization and Range on a same-origin 307', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/same`), { headers: { Authorization: AUTH, Range: 'bytes=30-' } });
    expect(res.status).toBe(206);
    expect(res.url.pathname).toBe('/final');
    expect((await readBody(res)).toString()).toBe('uvwxyz');
    expect(registry.seen.map((s) => [s.path, s.headers.authorization, s.headers.range])).toEqual([
      ['/same', AUTH, 'bytes=30-'],
      ['/final', AUTH, 'bytes=30-'],
    ]);
  });

  it('never sends Authorization to the other origin in an A → B → A chain', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/via-cdn`), { headers: { Authorization: AUTH } });
    expect(res.status).toBe(200);
    await readBody(res);
    expect(cdn.seen.map((s) => [s.path, s.headers.authorization])).toEqual([['/back', undefined]]);
    // Back at the original origin, as Go's net/http does (it compares with the first request's host).
    expect(registry.seen.map((s) => s.path)).toEqual(['/via-cdn', '/final']);
    expect(registry.seen[1]!.headers.authorization).toBe(AUTH);
  });

  for (const code of [301, 302, 307, 308]) {
    it(`follows a chain of ${code}s for HEAD and GET, keeping the method`, async () => {
      const head = await httpRequest(new URL(`${registry.origin}/chain/3/${code}`), { method: 'HEAD' });
      expect(head.status).toBe(200);
      expect(head.headers['content-length']).toBe(String(BLOB.length));
      expect(head.url.pathname).toBe(`/chain/0/${code}`);
      expect(await readBody(head)).toHaveLength(0);
      const get = await httpRequest(new URL(`${registry.origin}/chain/3/${code}`));
      expect((await readBody(get)).equals(BLOB)).toBe(true);
      expect(registry.seen.map((s) => `${s.method} ${s.path}`)).toEqual([
        ...[3, 2, 1, 0].map((n) => `HEAD /chain/${n}/${code}`),
        ...[3, 2, 1, 0].map((n) => `GET /chain/${n}/${code}`),
      ]);
    });
  }

  it('turns a GET redirected by 303 into a GET of the new location', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/chain/1/303`));
    expect((await readBody(res)).equals(BLOB)).toBe(true);
    expect(registry.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /chain/1/303', 'GET /chain/0/303']);
  });

  // Known bug (reported): HEAD redirected by 303 is re-sent as GET. RFC 9110 §15.4.4 and the
  // Fetch standard keep HEAD; a push's "does the registry have this blob?" HEAD would download it.
  it('keeps HEAD across a 303', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/chain/1/303`), { method: 'HEAD' });
    await readBody(res);
    expect(registry.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['HEAD /chain/1/303', 'HEAD /chain/0/303']);
  });

  it('does not follow a redirect of a PUT (its body cannot be replayed): the 307 is the answer', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/put`), { method: 'PUT', body: Buffer.from('x') });
    res.body.resume();
    expect(res.status).toBe(307);
    expect(registry.seen.map((s) => `${s.method} ${s.path}`)).toEqual(['PUT /put']);
  });

  it('gives up after 10 redirects with an error naming the URL', async () => {
    await expect(httpRequest(new URL(`${registry.origin}/loop`))).rejects.toThrow(`more than 10 redirects from ${registry.origin}/loop`);
    // The first request and 10 redirects followed.
    expect(registry.seen).toHaveLength(11);
    // Exactly 10 redirects is still fine.
    registry.seen.length = 0;
    const ten = await httpRequest(new URL(`${registry.origin}/chain/10/302`));
    expect((await readBody(ten)).equals(BLOB)).toBe(true);
    await expect(httpRequest(new URL(`${registry.origin}/chain/11/302`))).rejects.toThrow(/more than 10 redirects/);
  });

  it('times out a server that never answers', async () => {
    await expect(httpRequest(new URL(`${registry.origin}/hang`), { timeout: 200 })).rejects.toThrow(`no response from 127.0.0.1:${new URL(registry.origin).port} within 0.2s`);
  });

  it('readBody refuses a body over its limit', async () => {
    const res = await httpRequest(new URL(`${registry.origin}/final`));
    await expect(readBody(res, 10)).rejects.toThrow(/larger than 10 bytes/);
  });
});

describe('parseChallenges', () => {
  it("reads Docker Hub's bearer challenge", () => {
    expect(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' } },
    ]);
  });

  it('keeps commas inside a quoted scope, and an error param', () => {
    expect(parseChallenges('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:a/b:pull,push",error="insufficient_scope"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' } },
    ]);
  });

  it("reads distribution's htpasswd challenge and ECR's basic one", () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseChallenges('Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"')).toEqual([
      { scheme: 'basic', params: { realm: 'https://123456789012.dkr.ecr.us-east-1.amazonaws.com/', service: 'ecr.amazonaws.com' } },
    ]);
  });

  it('reads several challenges in one header (as Node joins repeated headers)', () => {
    expect(parseChallenges('Basic realm="cutaway-test", Bearer realm="https://auth.example/token",service="reg",scope="repository:x/y:pull,push"')).toEqual([
      { scheme: 'basic', params: { realm: 'cutaway-test' } },
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg', scope: 'repository:x/y:pull,push' } },
    ]);
    expect(parseChallenges('Negotiate, Basic realm="r"')).toEqual([
      { scheme: 'negotiate', params: {} },
      { scheme: 'basic', params: { realm: 'r' } },
    ]);
  });

  it('unescapes quoted-pairs, allows token values, spaces around "=", any case', () => {
    expect(parseChallenges('BASIC Realm = "say \\"hi\\" \\\\ there" , charset=UTF-8')).toEqual([
      { scheme: 'basic', params: { realm: 'say "hi" \\ there', charset: 'UTF-8' } },
    ]);
    expect(parseChallenges('Bearer realm=https://auth.example/token,service=reg')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.example/token', service: 'reg' } },
    ]);
  });

  it('gives nothing for an empty header', () => {
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges(' , ')).toEqual([]);
  });
});

describe('dockerConfigCredentials', () => {
  let dir: string;
  const saved = process.env.DOCKER_CONFIG;
  const b64 = (s: string) => Buffer.from(s).toString('base64');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cutaway-docker-config-'));
    process.env.DOCKER_CONFIG = dir;
  });

  afterAll(async () => {
    if (saved === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = saved;
    await rm(dir, { recursive: true, force: true });
  });

  const writeConfig = (config: unknown) => writeFile(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));

  it('gives undefined without a config.json, or with a broken one', async () => {
    await rm(join(dir, 'config.json'), { force: true });
    expect(await dockerConfigCredentials('127.0.0.1:5000')).toBeUndefined();
    await writeConfig('{ not json');
    expect(await dockerConfigCredentials('127.0.0.1:5000')).toBeUndefined();
    await writeConfig({ credsStore: 'desktop' });
    expect(await dockerConfigCredentials('127.0.0.1:5000')).toBeUndefined();
  });

  it('decodes base64 auth entries (a ":" in the password stays in it), and username/password ones', async () => {
    await writeConfig({
      auths: {
        '127.0.0.1:5000': { auth: b64('alice:pa:ss:word') },
        'registry.example.com': { username: 'bob', password: 'hunter2' },
        'empty.example.com': { auth: '' },
        'identity.example.com': { auth: '', identitytoken: 'abc' },
      },
    });
    expect(await dockerConfigCredentials('127.0.0.1:5000')).toEqual({ username: 'alice', password: 'pa:ss:word' });
    expect(await dockerConfigCredentials('registry.example.com')).toEqual({ username: 'bob', password: 'hunter2' });
    expect(await dockerConfigCredentials('empty.example.com')).toBeUndefined();
    expect(await dockerConfigCredentials('identity.example.com')).toBeUndefined();
    expect(await dockerConfigCredentials('127.0.0.1:5001')).toBeUndefined();
    expect(await dockerConfigCredentials('127.0.0.1')).toBeUndefined();
  });

  it('finds Docker Hub under https://index.docker.io/v1/ for docker.io', async () => {
    await writeConfig({ auths: { 'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') }, 'quay.io': { auth: b64('q:q') } } });
    expect(await dockerConfigCredentials('docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(await dockerConfigCredentials('quay.io')).toEqual({ username: 'q', password: 'q' });
    // Other spellings of the Hub that docker login has written.
    await writeConfig({ auths: { 'registry-1.docker.io': { auth: b64('reg1:pw') } } });
    expect(await dockerConfigCredentials('docker.io')).toEqual({ username: 'reg1', password: 'pw' });
    await writeConfig({ auths: { 'docker.io': { auth: b64('short:pw') } } });
    expect(await dockerConfigCredentials('docker.io')).toEqual({ username: 'short', password: 'pw' });
  });

  it('matches keys written with a scheme and path (http://host:port, https://host/v1/)', async () => {
    await writeConfig({
      auths: {
        'http://127.0.0.1:5000': { auth: b64('plain:one') },
        'https://127.0.0.1:5001/v2/': { auth: b64('tls:two') },
        'localhost:5002': { auth: b64('local:three') },
      },
    });
    expect(await dockerConfigCredentials('127.0.0.1:5000')).toEqual({ username: 'plain', password: 'one' });
    expect(await dockerConfigCredentials('127.0.0.1:5001')).toEqual({ username: 'tls', password: 'two' });
    expect(await dockerConfigCredentials('localhost:5002')).toEqual({ username: 'local', password: 'three' });
    expect(await dockerConfigCredentials('docker.io')).toBeUndefined();
  });
});

describe('parseCreds', () => {
  it('splits at the first ":" so the password may contain more', () => {
    expect(parseCreds('alice:pa:ss')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(parseCreds('bob:')).toEqual({ username: 'bob', password: '' });
    expect(parseCreds('u:p@ss w0rd!')).toEqual({ username: 'u', password: 'p@ss w0rd!' });
  });

  it('refuses a value without a user or without a ":"', () => {
    for (const bad of ['alice', ':secret', '', ':']) {
      let error: unknown;
      try {
        parseCreds(bad);
      } catch (e) {
        error = e;
      }
      expect(error, bad).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe('--creds must be USER:PASSWORD');
      // The message never echoes the (possibly secret) value.
      if (bad.length > 1) expect((error as Error).message).not.toContain(bad);
    }
  });
});
