import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { ContainerStore } from '../containers/store.ts';
import { VolumeStore } from './store.ts';

/** docker volume rm: every volume checked first (missing, unless -f; in use), so that one refusal removes none. */
export const rm = command(
  {
    name: 'volume rm',
    summary: 'Remove volumes',
    synopsis: ['[-f] VOLUME…'],
    description: 'Remove volumes and their data. A volume a container uses, running or stopped, is refused.',
    options: [{ name: 'force', short: 'f', type: 'boolean', help: 'no error for a volume that is not there' }],
    operands: { min: 1, names: 'VOLUME…' },
    examples: ['cutaway volume rm data', 'cutaway volume rm -f data scratch'],
    classic: ['docker volume rm', 'rm -rf /var/lib/cutaway/volumes/data'],
  },
  async (inv, root) => {
    const volumes = new VolumeStore(root);
    const containers = new ContainerStore(root);
    const names = inv.positionals;
    const configs = containers.ids().map((id) => containers.config(id));
    const present = names.filter((name) => {
      if (volumes.exists(name)) return true;
      if (!inv.options.force) throw new ToolError(`No such volume: ${name}`);
      return false;
    });
    for (const name of present) {
      const users = volumes.usersOf(name, configs);
      // moby volume service: errVolumeInUse, with the ids of the containers that use it.
      if (users.length) throw new ToolError(`remove ${name}: volume is in use - [${users.join(' ')}]`);
    }
    for (const name of new Set(present)) volumes.remove(name);
    process.stdout.write(names.map((n) => `${n}\n`).join(''));
  },
);
