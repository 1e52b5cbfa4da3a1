import { DockerfileError } from './errors.ts';

/**
 * EXPOSE ports (after substitution) as the image config's ExposedPorts keys:
 * `80` → `80/tcp`, `53/udp`, and a range `8000-8002/tcp` → one key per port,
 * as Docker's nat.ParsePortSpecs does. Protocols: tcp, udp, sctp.
 */
export function exposedPorts(ports: readonly string[]): string[] {
  const keys = new Set<string>();
  for (const spec of ports) {
    const slash = spec.indexOf('/');
    const range = slash < 0 ? spec : spec.slice(0, slash);
    const proto = (slash < 0 || slash === spec.length - 1 ? 'tcp' : spec.slice(slash + 1)).toLowerCase();
    if (!['tcp', 'udp', 'sctp'].includes(proto)) throw new DockerfileError(`invalid proto: ${proto} in EXPOSE ${spec}`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(range);
    const start = Number(m?.[1]);
    const end = m?.[2] === undefined ? start : Number(m[2]);
    if (!m || start > 65535 || end > 65535) throw new DockerfileError(`invalid port ${JSON.stringify(spec)} in EXPOSE`);
    if (end < start) throw new DockerfileError(`invalid range specified for the port: ${range}`);
    for (let p = start; p <= end; p++) keys.add(`${p}/${proto}`);
  }
  return [...keys];
}
