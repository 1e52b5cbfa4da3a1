import { command } from '../command.ts';
import { portsText } from './ports.ts';
import { ContainerStore } from './store.ts';

export const port = command(
  {
    name: 'port',
    summary: "List a container's published ports",
    synopsis: ['CONTAINER'],
    description: "A container's published ports: CONTAINER_PORT/PROTO -> HOST_IP:HOST_PORT.",
    options: [],
    operands: { min: 1, max: 1, names: 'CONTAINER' },
    examples: ['cutaway port web'],
    classic: ['docker port', 'nft list table ip cw'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const config = store.config(store.find(inv.positionals[0]!));
    process.stdout.write(
      portsText(config)
        .map((p) => {
          const [host, ctr] = p.split('->');
          return `${ctr} -> ${host}\n`;
        })
        .join(''),
    );
  },
);
