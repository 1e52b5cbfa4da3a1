import { ToolError, type OptionValues, type Steps } from '@cutaway/cli';
import { DOCKER_HUB } from '@cutaway/oci';
import { REGISTRY_OPTIONS, registryClient } from './common.ts';
import { registryError } from './registry.ts';

/** A registry as docker login names it (`localhost:5000`, `https://host/v1/`, `index.docker.io`) → its domain. */
export function registryDomain(server: string): string {
  const host = server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) ? DOCKER_HUB : host;
}

/**
 * --check-auth: whether the registry accepts the credentials, as docker login checks them: GET /v2/, answering
 * its challenge (basic, or a bearer token from its realm with the credentials) as a pull would. Throws the
 * registry's refusal.
 */
export async function checkAuth(server: string, options: OptionValues<typeof REGISTRY_OPTIONS>, steps: Steps): Promise<string> {
  const domain = registryDomain(server);
  const client = await registryClient({ domain, path: '' }, options, steps);
  const res = await client.request('/v2/', { scopes: [] });
  if (res.status !== 200) throw new ToolError(`${domain}: ${await registryError(res)}`);
  res.body.resume();
  return domain;
}
