import { command, NO_OPERANDS } from '../command.ts';
import { FORMAT_OPTION, formatOutput, goTime, NO_TRUNC } from '../format.ts';
import { listNetworks } from './store.ts';

export const ls = command(
  {
    name: 'network ls',
    summary: 'List networks',
    synopsis: ['[-q] [--no-trunc] [--format FORMAT]'],
    description: 'List the networks: the bridge networks, host and none; -q prints only their ids.',
    options: [NO_TRUNC, FORMAT_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway network ls', 'cutaway network ls -q'],
    classic: ['docker network ls', 'netbridge network ls'],
  },
  async (inv, root) => {
    const networks = await listNetworks({ CUTAWAY_ROOT: root });
    // docker/cli's networkContext: --format's fields; -q is {{.ID}} unless a --format is given.
    const rows = networks.map((n) => ({
      ID: inv.options['no-trunc'] ? n.id : n.id.slice(0, 12),
      Name: n.name,
      Driver: n.driver,
      Scope: 'local',
      IPv6: 'false',
      Internal: 'false',
      Labels: '',
      Label: (_key: string) => '',
      CreatedAt: goTime(n.bridge?.Created ?? '0001-01-01T00:00:00Z'),
    }));
    const format = inv.options.quiet && !inv.options.format ? '{{.ID}}' : inv.options.format;
    process.stdout.write(formatOutput(format, rows, { table: 'table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}', headers: { ID: 'NETWORK ID' }, structType: '*formatter.networkContext' }));
  },
);
