import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { existsSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import { Readable } from 'node:stream';

/**
 * A small HTTP client over node:http(s): keep-alive connections, streamed
 * bodies, a custom CA, and redirects followed by hand so that credentials never
 * cross to another origin (distribution-spec: "MUST NOT forward Authorization
 * headers across host boundaries") — a blob redirect to a CDN gets none.
 */

export interface HttpRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Extra trusted CA certificates (PEM), for registries with a private CA. */
  ca?: Buffer;
  /** Idle socket timeout, ms. */
  timeout?: number;
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The URL that answered, after redirects. */
  url: URL;
  body: IncomingMessage;
}

const MAX_REDIRECTS = 10;
const agents = new Map<string, http.Agent>();

const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/**
 * Node's bundled roots, the system's bundle (Debian's ca-certificates), the
 * file NODE_EXTRA_CA_CERTS names (the built tools' shebang hands it over as
 * CUTAWAY_EXTRA_CA_CERTS, so that Node does not parse it at every start), and
 * --ca-cert. An agent's `ca` replaces Node's default list, so all are listed.
 */
function trustedCAs(extra?: Buffer): string[] {
  const files = [SYSTEM_CA_BUNDLE, process.env.CUTAWAY_EXTRA_CA_CERTS, process.env.NODE_EXTRA_CA_CERTS].filter((f): f is string => Boolean(f) && existsSync(f!));
  return [...tls.rootCertificates, ...[...new Set(files)].map((f) => readFileSync(f, 'utf8')), ...(extra ? [extra.toString()] : [])];
}

function agentFor(url: URL, ca?: Buffer): http.Agent {
  const key = `${url.protocol}${ca ? ca.toString('base64') : ''}`;
  let agent = agents.get(key);
  if (!agent) {
    agent = url.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 16, ca: trustedCAs(ca) }) : new http.Agent({ keepAlive: true, maxSockets: 16 });
    agents.set(key, agent);
  }
  return agent;
}

function send(url: URL, req: HttpRequest, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const lib = url.protocol === 'https:' ? https : http;
    const outgoing = lib.request(url, { method: req.method ?? 'GET', headers, agent: agentFor(url, req.ca), timeout: req.timeout ?? 60_000 }, resolve);
    outgoing.on('timeout', () => outgoing.destroy(new Error(`no response from ${url.host} within ${(req.timeout ?? 60_000) / 1000}s`)));
    outgoing.on('error', reject);
    const body = req.body;
    if (body === undefined) outgoing.end();
    else if (Buffer.isBuffer(body)) outgoing.end(body);
    else {
      const stream = body();
      stream.on('error', (e) => outgoing.destroy(e));
      stream.pipe(outgoing);
    }
  });
}

export async function httpRequest(url: URL, req: HttpRequest = {}): Promise<HttpResponse> {
  const origin = url.origin;
  let current = url;
  const method = req.method ?? 'GET';
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    // Header names are case-insensitive: drop every spelling of Authorization on another origin.
    const headers = Object.fromEntries(Object.entries(req.headers ?? {}).filter(([name]) => current.origin === origin || name.toLowerCase() !== 'authorization'));
    const res = await send(current, { ...req, method }, headers);
    const location = res.headers.location;
    if (res.statusCode && [301, 302, 303, 307, 308].includes(res.statusCode) && location && (method === 'GET' || method === 'HEAD')) {
      res.resume();
      current = new URL(location, current);
      continue;
    }
    return { status: res.statusCode ?? 0, headers: res.headers, url: current, body: res };
  }
  throw new Error(`more than ${MAX_REDIRECTS} redirects from ${url.href}`);
}

export async function readBody(res: HttpResponse, limit = 16 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      res.body.destroy();
      throw new Error(`response from ${res.url.host} larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Closes keep-alive sockets so the process can exit. */
export function closeConnections(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}
