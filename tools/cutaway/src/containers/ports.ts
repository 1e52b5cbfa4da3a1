import type { ContainerConfigRecord } from './store.ts';

/** A -p as run was given it (HOST:CTR[/PROTO], or CTR): Docker's port key (`80/tcp`) and the host port ('' when netbridge picks one). */
export function publishedPorts(config: ContainerConfigRecord): { port: string; hostPort: string }[] {
  return (config.network?.ports ?? []).map((p) => {
    const [mapping = '', proto = 'tcp'] = p.split('/');
    const parts = mapping.split(':');
    return { port: `${parts.at(-1)}/${proto}`, hostPort: parts.length > 1 ? parts[0]! : '' };
  });
}

/** A container's published ports as Docker's PORTS column shows them: 0.0.0.0:8080->80/tcp. */
export function portsText(config: ContainerConfigRecord): string[] {
  return publishedPorts(config).map(({ port, hostPort }) => `0.0.0.0:${hostPort || '?'}->${port}`);
}
