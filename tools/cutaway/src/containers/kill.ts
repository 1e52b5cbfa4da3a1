import { command } from '../command.ts';
import { signalNumber, signalPid } from './signals.ts';
import { runningPid } from './state.ts';
import { ContainerStore } from './store.ts';

export const kill = command(
  {
    name: 'kill',
    synopsis: ['[-s SIGNAL] CONTAINER…'],
    description: "Send a signal (default SIGKILL) to containers' PID 1.",
    options: [{ name: 'signal', short: 's', type: 'string', arg: 'SIG', help: 'the signal, by name or number' }],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway kill web', 'cutaway kill -s HUP web'],
    classic: ['docker kill', 'kill -KILL "$(cat $CUTAWAY_ROOT/containers/ID/pid)"'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    const sig = signalNumber(inv.options.signal ?? 'KILL');
    for (const [i, id] of ids.entries()) {
      signalPid(runningPid(store, id), sig);
      process.stdout.write(`${inv.positionals[i]}\n`);
    }
  },
);
