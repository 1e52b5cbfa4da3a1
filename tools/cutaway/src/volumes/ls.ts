import { command, NO_OPERANDS } from '../command.ts';
import { FORMAT_OPTION, formatOutput } from '../format.ts';
import { VolumeStore } from './store.ts';

export const ls = command(
  {
    name: 'volume ls',
    summary: 'List volumes',
    synopsis: ['[-q] [--format FORMAT]'],
    description: 'List the named volumes; -q prints only their names.',
    options: [FORMAT_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway volume ls', 'cutaway volume rm $(cutaway volume ls -q)'],
    classic: ['docker volume ls', 'ls /var/lib/cutaway/volumes'],
  },
  async (inv, root) => {
    const volumes = new VolumeStore(root);
    // docker/cli's volumeContext: --format's fields; -q is {{.Name}} unless a --format is given.
    const rows = volumes.names().map((name) => ({ Name: name, Driver: 'local', Scope: 'local', Mountpoint: volumes.mountpoint(name), Labels: '', Label: (_key: string) => '', Links: 'N/A', Size: 'N/A' }));
    const format = inv.options.quiet && !inv.options.format ? '{{.Name}}' : inv.options.format;
    process.stdout.write(formatOutput(format, rows, { table: 'table {{.Driver}}\t{{.Name}}', headers: { Name: 'VOLUME NAME' }, structType: '*formatter.volumeContext' }));
  },
);
