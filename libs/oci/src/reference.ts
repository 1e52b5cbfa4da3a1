import { asDigest, type Digest } from './digest.ts';
import { OciError } from './errors.ts';

/**
 * Image references as Docker reads them (distribution/reference, normalize.go):
 *   [DOMAIN/]PATH[:TAG][@DIGEST]
 * `ubuntu` is docker.io/library/ubuntu:latest; the first path component is a
 * domain only if it contains "." or ":", or is "localhost" (or has uppercase
 * letters, which a path component may not).
 */

export const DOCKER_HUB = 'docker.io';
/** The host that serves Docker Hub's registry API (Docker's own `DefaultRegistryHost`). */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const LEGACY_HUB = 'index.docker.io';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const NAME_MAX = 255;

export interface Reference {
  /** Registry identity, e.g. `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path within the registry, e.g. `library/ubuntu`. */
  path: string;
  tag?: string;
  digest?: Digest;
}

/** Parses and normalises a reference; adds `latest` when neither tag nor digest is given. */
export function parseReference(input: string): Reference {
  const fail = (why: string): never => {
    throw new OciError(`invalid reference ${JSON.stringify(input)}: ${why}`);
  };
  if (input === '') fail('empty');
  if (/\s/.test(input)) fail('contains whitespace');
  if (/^[a-f0-9]{64}$/.test(input)) fail('a 64-character hex string is an image id, not a reference; use NAME@sha256:…');

  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    try {
      digest = asDigest(rest.slice(at + 1));
    } catch (e) {
      fail((e as Error).message);
    }
    rest = rest.slice(0, at);
  }

  // A tag follows the last ":" that comes after the last "/" (a ":" before it is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) fail(`tag ${JSON.stringify(tag)} must be 1-128 characters of [A-Za-z0-9_.-], not starting with "." or "-"`);
  }
  if (rest === '') fail('no repository name');

  let domain = DOCKER_HUB;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) fail(`registry host ${JSON.stringify(domain)} is not a valid host[:port]`);
  if (domain === LEGACY_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;

  for (const component of path.split('/')) {
    if (component === '') fail('empty path component (double or trailing "/")');
    if (component !== component.toLowerCase()) fail('repository name must be lowercase');
    if (!PATH_COMPONENT.test(component)) {
      fail(`path component ${JSON.stringify(component)} must be lowercase letters and digits, separated by ".", "_", "__" or "-"`);
    }
  }
  if (domain.length + 1 + path.length > NAME_MAX) fail(`repository name longer than ${NAME_MAX} characters`);

  if (tag === undefined && digest === undefined) tag = 'latest';
  return { domain, path, ...(tag !== undefined && { tag }), ...(digest !== undefined && { digest }) };
}

/** `domain/path` — the repository's full name. */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full, normalised form: `docker.io/library/ubuntu:latest`, `localhost:5000/a/b:t@sha256:…`. */
export function formatReference(ref: Reference): string {
  return `${repositoryName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** Docker's short, familiar form: `ubuntu:latest`, `user/app:1`, `localhost:5000/a:t`. */
export function familiarReference(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === DOCKER_HUB) name = ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path;
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

/** The host:port that serves a registry's HTTP API (docker.io is served by registry-1.docker.io). */
export function registryApiHost(domain: string): string {
  return domain === DOCKER_HUB ? DOCKER_HUB_API_HOST : domain;
}
