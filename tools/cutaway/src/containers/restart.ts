import { command } from '../command.ts';
import { signalFirst } from '../rootless.ts';
import { recordContainerEvent } from './events.ts';
import { eachInParallel } from './parallel.ts';
import { startContainer } from './start.ts';
import { stopSeconds, stopWithEvent, TIME_OPTION } from './stop.ts';
import { ContainerStore } from './store.ts';

export const restart = command(
  {
    name: 'restart',
    summary: 'Stop containers and start them again',
    synopsis: ['[-t SECONDS] CONTAINER…'],
    description: 'stop, then start.',
    options: [{ ...TIME_OPTION, help: 'how long stop waits before SIGKILL' }],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway restart web', 'cutaway restart -t 2 web'],
    classic: ['docker restart', 'cutaway stop C && cutaway start C'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    const seconds = (id: string) => stopSeconds(store, id, inv.options.time);
    // Rootless, the stop is done from the user's own namespace, the start in a user namespace of its own (rootless.ts).
    await signalFirst(false, async () => {
      await Promise.all(ids.map((id) => stopWithEvent(store, id, seconds(id))));
    });
    await eachInParallel(ids, inv.positionals, async (id) => {
      await stopWithEvent(store, id, seconds(id));
      await startContainer(store, id, root);
      recordContainerEvent(store, id, 'restart');
    });
  },
);
