import { constants as osConstants } from 'node:os';
import { command } from '../command.ts';
import { recordContainerEvent } from './events.ts';
import { thawIfPaused } from './pause.ts';
import { signalNumber, signalPid } from './signals.ts';
import { runningPid } from './state.ts';
import { ContainerStore } from './store.ts';

export const kill = command(
  {
    name: 'kill',
    summary: 'Send a signal to running containers',
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
      const pid = runningPid(store, id);
      recordContainerEvent(store, id, 'kill', { signal: String(sig) });
      signalPid(pid, sig);
      // Docker resumes a paused container after SIGKILL (other signals wait, pending, for unpause).
      if (sig === osConstants.signals.SIGKILL) await thawIfPaused(store, id);
      process.stdout.write(`${inv.positionals[i]}\n`);
    }
  },
);
