import { existsSync } from 'node:fs';
import { command } from '../command.ts';
import { currentState, exitCodeOf } from './state.ts';
import { ContainerStore } from './store.ts';

/** Until the container has exited: its exit code (255 when nothing recorded it, as Docker; 0 when it is removed meanwhile). */
export async function waitForExit(store: ContainerStore, id: string): Promise<number> {
  for (;;) {
    if (!existsSync(store.path(id, 'state.json'))) return 0;
    const s = currentState(store, id);
    if (s.status === 'exited') return exitCodeOf(s);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const wait = command(
  {
    name: 'wait',
    summary: 'Wait until containers stop, then print their exit codes',
    synopsis: ['CONTAINER…'],
    description: 'Wait until containers exit and print their exit codes.',
    options: [],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway wait job', 'status=$(cutaway wait $(cutaway run -d busybox false))'],
    classic: ['docker wait', 'wait PID'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    for (const id of ids) process.stdout.write(`${await waitForExit(store, id)}\n`);
  },
);
