import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ToolError, type Steps } from '@cutaway/cli';
import { registryApiHost } from '@cutaway/oci';
import { basicAuthorization, parseChallenges, type Challenge, type Credentials } from './auth.ts';
import { httpRequest, readBody, type HttpResponse } from './http.ts';

export interface RegistryOptions {
  /** Plain http (Docker's insecure-registries); loopback hosts use it unless a CA is given. */
  insecure?: boolean;
  ca?: Buffer;
  /** Where the CA came from, for the dry-run script's `curl --cacert`. */
  caFile?: string;
  credentials?: Credentials;
  steps: Steps;
  /** Attempts for a request that fails with 429, 5xx or a dropped connection. */
  retries?: number;
}

export type Action = 'pull' | 'push';

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  /** Scopes needed, as `repository:NAME:ACTIONS` (token.md "Requesting a Token"). */
  scopes: string[];
  /** A full URL (upload locations) instead of a path under the registry. */
  url?: URL;
  /** Whether to retry on 429/5xx/network errors: not for uploads whose body cannot be replayed. */
  retry?: boolean;
}

export function repositoryScope(repository: string, actions: Action[]): string {
  return `repository:${repository}:${actions.join(',')}`;
}

/** Loopback registries speak plain http, as Docker assumes for 127.0.0.0/8 and localhost. */
function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return name === 'localhost' || name.endsWith('.localhost') || /^127\./.test(name) || name === '::1';
}

/** The registry's base URL; a host:port that no connection can reach is refused here, saying why (not "Invalid URL"). */
export function registryUrl(scheme: string, domain: string): URL {
  const host = registryApiHost(domain);
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port !== undefined && !(Number(port) >= 1 && Number(port) <= 65535)) throw new ToolError(`registry ${domain}: port ${port} is out of range (1-65535)`);
  try {
    return new URL(`${scheme}://${host}`);
  } catch (e) {
    throw new ToolError(`registry ${domain}: not a host[:port] a URL can name (${(e as Error).message})`);
  }
}

/** The message of a registry's JSON error body (distribution-spec "Error Codes"), or its status. */
export async function registryError(res: HttpResponse): Promise<string> {
  const text = (await readBody(res, 1 << 20).catch(() => Buffer.alloc(0))).toString('utf8');
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    if (first) return `${first.code ?? res.status}${first.message ? `: ${first.message}` : ''}`;
  } catch {
    // not JSON: fall through to the status line
  }
  if (res.url.protocol === 'http:' && /HTTP request to an HTTPS server/i.test(text)) {
    return `the registry speaks https (give the CA that signed its certificate with --ca-cert FILE; loopback registries are assumed plain http)`;
  }
  return `HTTP ${res.status}${text && text.length < 200 ? `: ${text.trim()}` : ''}`;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);

/** A dropped or stalled connection is worth another try; a wrong host, a refused port or a TLS failure is not. */
function isTransient(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === undefined || ['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED', 'EAI_AGAIN', 'UND_ERR_SOCKET'].includes(code);
}

/**
 * A client of one registry's distribution API (distribution-spec spec.md),
 * with the auth dance of the token spec: a request without credentials gets
 * 401 and a challenge; Basic challenges get the user's credentials, Bearer
 * challenges get a token from the realm for the scopes needed. Tokens are kept
 * per scope set and renewed when they expire; none is ever printed.
 */
export class RegistryClient {
  readonly base: URL;
  private readonly tokens = new Map<string, { authorization: string; expires: number }>();
  private challenge?: Challenge;

  constructor(
    readonly domain: string,
    private readonly options: RegistryOptions,
  ) {
    // A CA given for the registry means it speaks TLS, loopback or not.
    const scheme = options.ca ? 'https' : options.insecure || isLoopback(domain) ? 'http' : 'https';
    this.base = registryUrl(scheme, domain);
  }

  /**
   * The curl options a dry-run script needs to talk to this registry as we
   * do: its CA, and how it asked us to authenticate (the secret stays a
   * shell variable).
   */
  curlOptions(): string {
    const cacert = this.options.caFile ? ` --cacert '${this.options.caFile}'` : '';
    const scheme = this.challenge?.scheme;
    return `${cacert}${scheme === 'bearer' ? ' -H "Authorization: Bearer $TOKEN"' : scheme === 'basic' ? ' -u "$REGISTRY_USER:$REGISTRY_PASSWORD"' : ''}`;
  }

  url(path: string): URL {
    return new URL(path, this.base);
  }

  /** Sends a request, authenticating and retrying as needed; returns any final response for the caller to judge. */
  async request(path: string, opts: RequestOptions): Promise<HttpResponse> {
    const url = opts.url ?? this.url(path);
    const attempts = opts.retry === false ? 1 : (this.options.retries ?? 4);
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.authenticated(url, opts);
      } catch (e) {
        if (e instanceof ToolError || !isTransient(e) || attempt >= attempts) throw this.networkError(e);
        await this.backoff(attempt, `${(e as Error).message}`);
        continue;
      }
      if (RETRYABLE.has(res.status) && attempt < attempts) {
        const wait = Number(res.headers['retry-after']);
        res.body.resume();
        // Honour Retry-After (seconds), but never sleep more than a minute on a registry's say-so.
        await this.backoff(attempt, `HTTP ${res.status}`, Number.isFinite(wait) ? Math.min(wait, 60) * 1000 : undefined);
        continue;
      }
      return res;
    }
  }

  private networkError(e: unknown): Error {
    if (e instanceof ToolError) return e;
    const err = e as NodeJS.ErrnoException;
    const hint =
      err.code === 'ECONNREFUSED'
        ? 'is the registry running, and is the host:port right?'
        : err.code === 'EPROTO' || /wrong version number/.test(err.message)
          ? 'the registry may speak plain http: try --insecure'
          : /CERT|SIGNATURE|SELF_SIGNED/.test(err.code ?? '')
            ? "the registry's certificate is not signed by a CA this host trusts: is --ca-cert the CA that signed it?"
            : undefined;
    return new ToolError(`${this.domain}: ${err.code ?? err.message}${err.code && err.message && !err.message.includes(err.code) ? ` (${err.message})` : ''}`, hint);
  }

  private async backoff(attempt: number, why: string, ms?: number): Promise<void> {
    const wait = ms ?? Math.min(200 * 2 ** (attempt - 1), 5000);
    process.stderr.write(`${this.domain}: ${why}; retrying in ${(wait / 1000).toFixed(1)}s\n`);
    await sleep(wait);
  }

  private async authenticated(url: URL, opts: RequestOptions): Promise<HttpResponse> {
    const send = (authorization?: string) =>
      httpRequest(url, {
        method: opts.method ?? 'GET',
        headers: { 'User-Agent': 'cutaway-oci-pull', ...opts.headers, ...(authorization && { Authorization: authorization }) },
        ...(opts.body !== undefined && { body: opts.body }),
        ...(this.options.ca && { ca: this.options.ca }),
      });
    const known = this.challenge && (await this.authorization(this.challenge, opts.scopes, false));
    const res = await send(known);
    if (res.status !== 401) return res;
    const header = res.headers['www-authenticate'];
    res.body.resume();
    const challenges = parseChallenges(Array.isArray(header) ? header.join(', ') : (header ?? ''));
    const challenge = challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!challenge) throw new ToolError(`${this.domain}: 401 Unauthorized without a usable WWW-Authenticate challenge`);
    this.challenge = challenge;
    const authorization = await this.authorization(challenge, opts.scopes, Boolean(known));
    if (!authorization) throw this.unauthorized();
    const again = await send(authorization);
    if (again.status === 401) {
      again.body.resume();
      throw this.unauthorized();
    }
    return again;
  }

  private unauthorized(): ToolError {
    return this.options.credentials
      ? new ToolError(`${this.domain}: unauthorized: the registry refused the credentials for ${this.options.credentials.username}`, 'check --creds or the auths in ~/.docker/config.json')
      : new ToolError(`${this.domain}: unauthorized: authentication required`, 'pass --creds USER:PASSWORD or log in with docker login');
  }

  /** Where a bearer challenge's realm hands out a token for the scopes (token.md "Requesting a Token"). */
  private tokenUrl(challenge: Challenge, scopes: string[]): URL {
    const realm = challenge.params.realm;
    if (!realm) throw new ToolError(`${this.domain}: bearer challenge without a realm`);
    const url = new URL(realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    for (const scope of scopes) url.searchParams.append('scope', scope);
    return url;
  }

  /** The shell line that gets the token into $TOKEN (jq -e: no token, no success). */
  private tokenCommand(tokenUrl: URL): string {
    const cacert = this.options.caFile ? ` --cacert '${this.options.caFile}'` : '';
    return `TOKEN=$(curl -fsS${cacert}${this.options.credentials ? ' -u "$REGISTRY_USER:$REGISTRY_PASSWORD"' : ''} '${tokenUrl.href}' | jq -er '.token // .access_token')`;
  }

  /**
   * For a script: the line that gets a token for these scopes, when the registry asked for bearer tokens
   * (a request made with it needs no other); nothing for basic or no auth.
   */
  tokenStep(scopes: string[]): string | undefined {
    return this.challenge?.scheme === 'bearer' ? this.tokenCommand(this.tokenUrl(this.challenge, scopes)) : undefined;
  }

  /** Whether the registry asked for a bearer token (the script then needs jq). */
  get usesTokens(): boolean {
    return this.challenge?.scheme === 'bearer';
  }

  /** The Authorization header for a challenge and scopes; fetches (or renews) a bearer token when needed. */
  private async authorization(challenge: Challenge, scopes: string[], renew: boolean): Promise<string | undefined> {
    const creds = this.options.credentials;
    if (challenge.scheme === 'basic') return creds && basicAuthorization(creds);
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached && !renew && cached.expires > Date.now()) return cached.authorization;
    const tokenUrl = this.tokenUrl(challenge, scopes);
    this.options.steps.run(this.tokenCommand(tokenUrl));
    const res = await httpRequest(tokenUrl, {
      headers: { 'User-Agent': 'cutaway-oci-pull', ...(creds && { Authorization: basicAuthorization(creds) }) },
      ...(this.options.ca && { ca: this.options.ca }),
    });
    if (res.status === 401 || res.status === 403) {
      res.body.resume();
      throw this.unauthorized();
    }
    if (res.status !== 200) throw new ToolError(`${tokenUrl.host}: token request failed: ${await registryError(res)}`);
    const body = JSON.parse((await readBody(res)).toString('utf8')) as { token?: string; access_token?: string; expires_in?: number };
    const token = body.token ?? body.access_token;
    if (!token) throw new ToolError(`${tokenUrl.host}: token response has no token`);
    // token.md: expires_in defaults to 60 seconds; renew a little early.
    const lifetime = (body.expires_in ?? 60) * 1000;
    const authorization = `Bearer ${token}`;
    this.tokens.set(key, { authorization, expires: Date.now() + lifetime - Math.min(10_000, lifetime / 4) });
    return authorization;
  }
}
