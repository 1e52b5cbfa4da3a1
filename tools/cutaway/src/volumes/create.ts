import { command } from '../command.ts';
import { VolumeStore } from './store.ts';

export const create = command(
  {
    name: 'volume create',
    summary: 'Make a volume',
    synopsis: ['[VOLUME]'],
    description: 'Make a named volume: the directory $CUTAWAY_ROOT/volumes/VOLUME/_data. Without a name, one of 64 random hex digits. Prints the name.',
    options: [],
    operands: { min: 0, max: 1, names: '[VOLUME]' },
    examples: ['cutaway volume create data', 'cutaway run --rm -v data:/data busybox sh -c "date > /data/when"'],
    classic: ['docker volume create', 'mkdir -p /var/lib/cutaway/volumes/data/_data'],
  },
  async (inv, root) => {
    const name = inv.positionals[0] ?? VolumeStore.randomName();
    new VolumeStore(root).create(name);
    process.stdout.write(`${name}\n`);
  },
);
