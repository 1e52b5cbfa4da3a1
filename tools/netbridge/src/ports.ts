import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { ToolError, UsageError } from '@cutaway/cli';
import type { PortMapping } from './store.ts';

function port(text: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new UsageError(`invalid port mapping ${JSON.stringify(spec)}: ${text} is not a port (1-65535)`);
  return n;
}

/** `-p HOST:CTR[/tcp|udp]`, or `-p CTR` for a free host port, as docker run reads them. */
export function parsePort(spec: string): { protocol: 'tcp' | 'udp'; hostPort?: number; containerPort: number } {
  const [ports = '', protocol = 'tcp', extra] = spec.split('/');
  if (extra !== undefined || (protocol !== 'tcp' && protocol !== 'udp')) throw new UsageError(`invalid port mapping ${JSON.stringify(spec)}: expected HOST:CTR[/tcp|udp]`);
  const parts = ports.split(':');
  if (parts.length > 2) throw new UsageError(`invalid port mapping ${JSON.stringify(spec)}: expected HOST:CTR[/tcp|udp] (binding to one host address is not supported)`);
  const containerPort = port(parts.at(-1)!, spec);
  return parts.length === 2 ? { protocol, hostPort: port(parts[0]!, spec), containerPort } : { protocol, containerPort };
}

/** Whether something on this host listens on the port already: a published port would take its traffic away. */
function bindable(protocol: 'tcp' | 'udp', hostPort: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (protocol === 'tcp') {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen({ port: hostPort, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
    } else {
      const socket = createSocket('udp4');
      socket.once('error', () => resolve(false));
      socket.bind({ port: hostPort, address: '0.0.0.0', exclusive: true }, () => socket.close(() => resolve(true)));
    }
  });
}

/** A published port's key among the taken ones: "tcp/8080". */
export function portKey(protocol: 'tcp' | 'udp', hostPort: number): string {
  return `${protocol}/${hostPort}`;
}

/**
 * The host ports for `specs`: each free on the host (no socket bound to it) and not `taken` (published already,
 * by an endpoint of any state root: the host-wide records and the kernel's port maps), refused with Docker's line.
 */
export async function allocatePorts(specs: string[], taken: Set<string>): Promise<PortMapping[]> {
  taken = new Set(taken);
  const wanted = specs.map((spec) => ({ spec, ...parsePort(spec) }));
  const result: PortMapping[] = [];
  for (const { spec, protocol, hostPort, containerPort } of wanted) {
    if (hostPort !== undefined) {
      if (taken.has(portKey(protocol, hostPort))) throw new ToolError(`Bind for 0.0.0.0:${hostPort} failed: port is already allocated`);
      if (!(await bindable(protocol, hostPort))) throw new ToolError(`port ${hostPort}/${protocol} is already in use on this host`);
      taken.add(portKey(protocol, hostPort));
      result.push({ protocol, hostPort, containerPort });
      continue;
    }
    // docker run -p CTR: a free port from the kernel's ephemeral range (ip_local_port_range's default).
    let chosen: number | undefined;
    for (let candidate = 32768; candidate <= 60999 && chosen === undefined; candidate++)
      if (!taken.has(portKey(protocol, candidate)) && (await bindable(protocol, candidate))) chosen = candidate;
    if (chosen === undefined) throw new ToolError(`no free host port for ${spec}`);
    taken.add(portKey(protocol, chosen));
    result.push({ protocol, hostPort: chosen, containerPort });
  }
  return result;
}
