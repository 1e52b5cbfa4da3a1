import { existsSync } from 'node:fs';
import { command } from '../command.ts';
import { currentState, exitCodeOf } from './state.ts';
import { ContainerStore } from './store.ts';

/** How long an exit may wait for its keeper to record it (the die event) before the exit code is given anyway. */
const DIE_RECORD_WAIT_MS = 5000;

/**
 * Until the container has exited and its exit has been taken in — the die event recorded (state.json's died)
 * or the container taken down, as Docker's daemon has handled the exit when its wait returns, so that
 * `events` and `ps` after it see it: its exit code (255 when nothing recorded it, as Docker; 0 when it is
 * removed meanwhile). Should its keeper have been killed, no one records the die: the code comes after a while.
 */
export async function waitForExit(store: ContainerStore, id: string, pollMs = 100): Promise<number> {
  let exitedAt: number | undefined;
  for (;;) {
    if (!existsSync(store.path(id, 'state.json'))) return 0;
    const s = currentState(store, id);
    if (s.status === 'exited') {
      exitedAt ??= Date.now();
      if (s.died || s.down || Date.now() - exitedAt > DIE_RECORD_WAIT_MS) return exitCodeOf(s);
    }
    await new Promise((r) => setTimeout(r, pollMs));
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
