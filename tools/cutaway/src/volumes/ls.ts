import { command, NO_OPERANDS } from '../command.ts';
import { table } from '../format.ts';
import { VolumeStore } from './store.ts';

export const ls = command(
  {
    name: 'volume ls',
    synopsis: ['[-q]'],
    description: 'List the named volumes; -q prints only their names.',
    options: [],
    operands: NO_OPERANDS,
    examples: ['cutaway volume ls', 'cutaway volume rm $(cutaway volume ls -q)'],
    classic: ['docker volume ls', 'ls /var/lib/cutaway/volumes'],
  },
  async (inv, root) => {
    const names = new VolumeStore(root).names();
    process.stdout.write(inv.options.quiet ? names.map((n) => `${n}\n`).join('') : table([['DRIVER', 'VOLUME NAME'], ...names.map((n) => ['local', n])]));
  },
);
