import { command, NO_OPERANDS } from '../command.ts';
import { ago, table } from '../format.ts';
import { portsText } from './ports.ts';
import { currentState, exitCodeOf } from './state.ts';
import { ContainerStore, type ContainerState } from './store.ts';

function statusText(state: ContainerState): string {
  if (state.status === 'running') return `Up ${ago(state.startedAt)}`;
  // Unknown (the keeper was killed, nothing recorded the exit): Docker's 255, with no time, which nobody knows.
  if (state.status === 'exited') return `Exited (${exitCodeOf(state)})${state.finishedAt ? ` ${ago(state.finishedAt)} ago` : ''}`;
  return 'Created';
}

/** docker ps's COMMAND column: the command line quoted, cut at 20 characters. */
function commandText(argv: string[]): string {
  const text = argv.join(' ');
  return `"${text.length > 20 ? `${text.slice(0, 19)}…` : text}"`;
}

/** docker ps: the running containers (all with -a), newest first; -q (the common --quiet) prints only their ids. */
export const ps = command(
  {
    name: 'ps',
    synopsis: ['[-a] [-q]'],
    description: 'List containers: the running ones, or all with -a; -q prints only their ids.',
    options: [{ name: 'all', short: 'a', type: 'boolean', help: 'all containers, not only running ones' }],
    operands: NO_OPERANDS,
    examples: ['cutaway ps', 'cutaway ps -a', 'cutaway rm $(cutaway ps -aq)'],
    classic: ['docker ps', 'ls $CUTAWAY_ROOT/containers; cat $CUTAWAY_ROOT/containers/*/state.json'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const rows = store
      .ids()
      .map((id) => ({ id, config: store.config(id), state: currentState(store, id) }))
      .filter((c) => inv.options.all || c.state.status === 'running')
      .sort((a, b) => Date.parse(b.config.created) - Date.parse(a.config.created));
    if (inv.options.quiet) {
      process.stdout.write(rows.map((c) => `${c.id.slice(0, 12)}\n`).join(''));
      return;
    }
    process.stdout.write(
      table([
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
        ...rows.map((c) => [c.id.slice(0, 12), c.config.image.replace(/^docker\.io\/library\//, ''), commandText(c.config.command), `${ago(c.config.created)} ago`, statusText(c.state), portsText(c.config).join(', '), c.config.name]),
      ]),
    );
  },
);
