import type { ContainerConfigRecord } from './store.ts';

/** HOST:CTR[/PROTO] or CTR specs → Docker's port key (`80/tcp`) and the host port ('' where the spec names none). */
function parsePorts(specs: readonly string[]): { port: string; hostPort: string }[] {
  return specs.map((p) => {
    const [mapping = '', proto = 'tcp'] = p.split('/');
    const parts = mapping.split(':');
    return { port: `${parts.at(-1)}/${proto}`, hostPort: parts.length > 1 ? parts[0]! : '' };
  });
}

/** The -p as run was given them: HostConfig.PortBindings ('' for the host port of `-p 80`, as Docker shows it). */
export function publishedPorts(config: ContainerConfigRecord): { port: string; hostPort: string }[] {
  return parsePorts(config.network?.ports ?? []);
}

/** The ports as published while it runs, with the host port netbridge chose for `-p 80`: NetworkSettings.Ports. */
export function boundPorts(config: ContainerConfigRecord): { port: string; hostPort: string }[] {
  return config.network?.published ? parsePorts(config.network.published) : publishedPorts(config);
}

/** A running container's published ports as Docker's PORTS column shows them: 0.0.0.0:8080->80/tcp. */
export function portsText(config: ContainerConfigRecord): string[] {
  return boundPorts(config).map(({ port, hostPort }) => `0.0.0.0:${hostPort}->${port}`);
}
