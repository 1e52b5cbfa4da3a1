import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { boundPorts } from './ports.ts';
import { currentState } from './state.ts';
import { ContainerStore } from './store.ts';

export const port = command(
  {
    name: 'port',
    summary: "List a container's published ports",
    synopsis: ['CONTAINER [PRIVATE_PORT[/PROTO]]'],
    description: [
      "A running container's published ports: CONTAINER_PORT/PROTO -> HOST_IP:HOST_PORT, the host port netbridge chose",
      'for a -p that named none. With PRIVATE_PORT: only the host address it is published on.',
    ].join('\n'),
    options: [],
    operands: { min: 1, max: 2, names: 'CONTAINER [PRIVATE_PORT[/PROTO]]' },
    examples: ['cutaway port web', 'cutaway port web 80', 'curl "http://$(cutaway port web 80/tcp)/"'],
    classic: ['docker port', 'nft list table ip cw'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const [name, privatePort] = inv.positionals as [string, string | undefined];
    const id = store.find(name);
    // As Docker's NetworkSettings.Ports: published only while it runs.
    const ports = currentState(store, id).status === 'running' ? boundPorts(store.config(id)) : [];
    if (privatePort === undefined) {
      // In Docker's order: natural, 9/tcp before 10/tcp.
      const lines = ports.map(({ port, hostPort }) => `${port} -> 0.0.0.0:${hostPort}`).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      process.stdout.write(lines.map((l) => `${l}\n`).join(''));
      return;
    }
    const key = privatePort.includes('/') ? privatePort : `${privatePort}/tcp`;
    const found = ports.filter((p) => p.port === key);
    if (!found.length) throw new ToolError(`No public port '${key}' published for ${name}`);
    process.stdout.write(found.map((p) => `0.0.0.0:${p.hostPort}\n`).join(''));
  },
);
