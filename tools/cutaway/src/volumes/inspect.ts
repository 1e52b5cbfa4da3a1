import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { formatInspect, INSPECT_FORMAT_OPTION } from '../format.ts';
import { VolumeStore } from './store.ts';

export const inspect = command(
  {
    name: 'volume inspect',
    summary: 'Show volumes in detail, as JSON',
    synopsis: ['[-f FORMAT] VOLUME…'],
    description: "Volumes as docker volume inspect shows them: the local driver's, with their mountpoint.",
    options: [INSPECT_FORMAT_OPTION],
    operands: { min: 1, names: 'VOLUME…' },
    examples: ['cutaway volume inspect data', "cutaway volume inspect data | jq -r '.[0].Mountpoint'"],
    classic: ['docker volume inspect', 'stat /var/lib/cutaway/volumes/data/_data'],
  },
  async (inv, root) => {
    const volumes = new VolumeStore(root);
    for (const name of inv.positionals) if (!volumes.exists(name)) throw new ToolError(`No such volume: ${name}`);
    const documents = inv.positionals.map((name) => ({ CreatedAt: volumes.createdAt(name), Driver: 'local', Labels: null, Mountpoint: volumes.mountpoint(name), Name: name, Options: null, Scope: 'local' }));
    process.stdout.write(formatInspect(inv.options.format, documents));
  },
);
