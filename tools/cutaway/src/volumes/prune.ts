import { command, NO_OPERANDS } from '../command.ts';
import { confirmOrCancel, FORCE_OPTION } from '../confirm.ts';
import { ContainerStore } from '../containers/store.ts';
import { reclaimedLine } from '../format.ts';
import { diskUsage } from '../system/disk-usage.ts';
import { VolumeStore } from './store.ts';

export const prune = command(
  {
    name: 'volume prune',
    summary: 'Remove the volumes no container uses',
    synopsis: ['[-f]'],
    description: 'Remove every volume no container uses, and say how much space that freed.',
    options: [FORCE_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway volume prune -f'],
    classic: ['docker volume prune'],
  },
  async (inv, root) => {
    await confirmOrCancel(inv.options.force, 'This will remove all local volumes not used by at least one container.', 'volume prune');
    const volumes = new VolumeStore(root);
    const containers = new ContainerStore(root);
    const configs = containers.ids().map((id) => containers.config(id));
    const unused = volumes.names().filter((name) => !volumes.usersOf(name, configs).length);
    let freed = 0;
    for (const name of unused) {
      freed += diskUsage(volumes.path(name));
      volumes.remove(name);
    }
    process.stdout.write(`${unused.length ? `Deleted Volumes:\n${unused.map((n) => `${n}\n`).join('')}\n` : ''}${reclaimedLine(freed)}`);
  },
);
