import type { ContainerConfig, Digest } from '@cutaway/oci';
import { ImageStore } from '../images/store.ts';
import { containerJSON } from './container-json.ts';
import type { ContainerStore } from './store.ts';

/** A value as one word of an instruction's KEY="VALUE" (config-change.ts's splitWords reads it back as it was). */
const quoted = (text: string): string => `"${text.replace(/[\\"]/g, '\\$&')}"`;

/**
 * docker commit's image config: the container's — its command, variables, working directory, user, labels and
 * published ports, as inspect's Config shows them — with `-c` over it, as moby's daemon merges them (daemon/
 * commit.go merge: what -c sets wins; an ENTRYPOINT among -c takes neither the container's Entrypoint nor its
 * Cmd). As layer-commit --change instructions on the container's image, the container's first, then `given`.
 */
export async function commitChanges(store: ContainerStore, id: string, root: string, given: readonly string[]): Promise<string[]> {
  const images = await ImageStore.open(root).catch(() => undefined);
  const container = containerJSON(store, id, { root, images, networkIds: new Map() }).Config as ContainerConfig;
  const image = images?.images.find((i) => i.blobs.has(store.config(id).imageDigest as Digest))?.image.config.config;
  const changes: string[] = [];
  if (!given.some((c) => /^\s*entrypoint\b/i.test(c))) {
    if (container.Entrypoint?.length || image?.Entrypoint?.length) changes.push(`ENTRYPOINT ${JSON.stringify(container.Entrypoint ?? [])}`);
    if (container.Cmd?.length || image?.Cmd?.length) changes.push(`CMD ${JSON.stringify(container.Cmd ?? [])}`);
  }
  // `K` alone (run's -e K, unset) is no variable of the image.
  const env = (container.Env ?? []).filter((e) => e.includes('=')).map((e) => `${e.slice(0, e.indexOf('='))}=${quoted(e.slice(e.indexOf('=') + 1))}`);
  if (env.length) changes.push(`ENV ${env.join(' ')}`);
  if (container.WorkingDir) changes.push(`WORKDIR ${container.WorkingDir}`);
  if (container.User) changes.push(`USER ${container.User}`);
  const labels = Object.entries(container.Labels ?? {});
  if (labels.length) changes.push(`LABEL ${labels.map(([k, v]) => `${quoted(k)}=${quoted(v)}`).join(' ')}`);
  const ports = Object.keys(container.ExposedPorts ?? {});
  if (ports.length) changes.push(`EXPOSE ${ports.join(' ')}`);
  return [...changes, ...given];
}
