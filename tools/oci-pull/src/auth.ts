import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '@cutaway/cli';
import { DOCKER_HUB } from '@cutaway/oci';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate header (RFC 9110 §11.6.1): one or more challenges,
 * each a scheme and comma-separated auth-params whose values are tokens or
 * quoted strings. A quoted `scope` may itself contain commas
 * (`repository:a/b:pull,push`), so this is a small tokenizer, not a split.
 */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const skip = (chars: RegExp) => {
    while (i < header.length && chars.test(header[i]!)) i++;
  };
  const token = () => {
    const start = i;
    skip(/[^\s,=]/);
    return header.slice(start, i);
  };
  while (i < header.length) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) break;
    const params: Record<string, string> = {};
    for (;;) {
      skip(/\s/);
      const save = i;
      const name = token();
      skip(/\s/);
      if (!name || header[i] !== '=') {
        i = save; // the next challenge's scheme
        break;
      }
      i++;
      skip(/\s/);
      let value = '';
      if (header[i] === '"') {
        i++;
        while (i < header.length && header[i] !== '"') {
          if (header[i] === '\\') i++;
          value += header[i] ?? '';
          i++;
        }
        i++;
      } else {
        const start = i;
        skip(/[^\s,]/);
        value = header.slice(start, i);
      }
      params[name.toLowerCase()] = value;
      skip(/\s/);
      if (header[i] === ',') i++;
    }
    challenges.push({ scheme: scheme.toLowerCase(), params });
  }
  return challenges;
}

export interface Credentials {
  username: string;
  password: string;
}

/** `--creds user:pass` (the password may contain ":"). */
export function parseCreds(text: string): Credentials {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new UsageError(`--creds must be USER:PASSWORD`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The key Docker stores Docker Hub credentials under in config.json. */
const HUB_AUTH_KEY = 'https://index.docker.io/v1/';

/**
 * Credentials for a registry from Docker's config.json (`$DOCKER_CONFIG`, else
 * ~/.docker): the `auths` entry for the host, written by `docker login`
 * (base64 `user:pass` in `auth`, or `username`/`password`). Keys may carry a
 * scheme and path (`https://host/v1/`), as older clients wrote them.
 */
export async function dockerConfigCredentials(domain: string): Promise<Credentials | undefined> {
  const dir = process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
  let config: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
  } catch {
    return undefined;
  }
  const wanted = domain === DOCKER_HUB ? ['index.docker.io', 'docker.io', 'registry-1.docker.io'] : [domain];
  for (const [key, entry] of Object.entries(config.auths ?? {})) {
    const host = key === HUB_AUTH_KEY ? 'index.docker.io' : key.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
    if (!wanted.includes(host)) continue;
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  }
  return undefined;
}

export function basicAuthorization(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
}
