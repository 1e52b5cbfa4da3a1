import type { ContainerConfigRecord } from './store.ts';

/** A container's published ports as Docker's PORTS column shows them: 0.0.0.0:8080->80/tcp. */
export function portsText(config: ContainerConfigRecord): string[] {
  return (config.network?.ports ?? []).map((p) => {
    const [mapping = '', proto = 'tcp'] = p.split('/');
    const parts = mapping.split(':');
    return `0.0.0.0:${parts.length > 1 ? parts[0] : '?'}->${parts.at(-1)}/${proto}`;
  });
}
