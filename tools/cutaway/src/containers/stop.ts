import { constants as osConstants } from 'node:os';
import { UsageError } from '@cutaway/cli';
import { command } from '../command.ts';
import { recordContainerEvent } from './events.ts';
import { thawIfPaused } from './pause.ts';
import { signalPid } from './signals.ts';
import { currentState, shimAlive } from './state.ts';
import { ContainerStore } from './store.ts';
import { waitForExit } from './wait.ts';

/** --time, docker stop's grace period in seconds (default 10). */
export const TIME_OPTION = { name: 'time', short: 't', type: 'string', arg: 'SECONDS', help: 'how long to wait before SIGKILL' } as const;

export function graceSeconds(time: string | undefined): number {
  const seconds = time !== undefined ? Number(time) : 10;
  if (!Number.isFinite(seconds) || seconds < 0) throw new UsageError(`--time ${time}: want seconds`);
  return seconds;
}

/** SIGTERM to PID 1, SIGKILL after `seconds`; returns once the container's shim has taken down what it had. */
export async function stopContainer(store: ContainerStore, id: string, seconds: number): Promise<void> {
  const s = currentState(store, id);
  if (s.status !== 'running') return;
  recordContainerEvent(store, id, 'kill', { signal: String(osConstants.signals.SIGTERM) });
  signalPid(s.pid!, 'SIGTERM');
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline && currentState(store, id).status === 'running') await new Promise((r) => setTimeout(r, 50));
  if (currentState(store, id).status === 'running') {
    recordContainerEvent(store, id, 'kill', { signal: String(osConstants.signals.SIGKILL) });
    signalPid(s.pid!, 'SIGKILL');
    await thawIfPaused(store, id);
  }
  await waitForExit(store, id);
  // As docker stop returns once the container is cleaned up.
  for (let i = 0; i < 300 && shimAlive(store, id); i++) await new Promise((r) => setTimeout(r, 20));
}

/** docker stop of one container, and its `stop` event: after its kill and die, and only if it was running (moby daemon/stop.go). */
export async function stopWithEvent(store: ContainerStore, id: string, seconds: number): Promise<void> {
  const running = currentState(store, id).status === 'running';
  await stopContainer(store, id, seconds);
  if (running) recordContainerEvent(store, id, 'stop');
}

export const stop = command(
  {
    name: 'stop',
    summary: 'Stop running containers',
    synopsis: ['[-t SECONDS] CONTAINER…'],
    description: 'SIGTERM to PID 1, then SIGKILL after the timeout (default 10 s).',
    options: [TIME_OPTION],
    operands: { min: 1, names: 'CONTAINER…' },
    dryRun: true,
    examples: ['cutaway stop web', 'cutaway stop -t 0 web db', 'cutaway stop --dry-run web   # the kill, wait, kill, as a script'],
    classic: ['docker stop', 'kill -TERM "$(cat $CUTAWAY_ROOT/containers/ID/pid)"; sleep 10; kill -KILL …'],
  },
  async (inv, root, r) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    const seconds = graceSeconds(inv.options.time);
    await r.each(ids, inv.positionals, (id) => (r.dryRun ? r.stopContainer(store, id, seconds) : stopWithEvent(store, id, seconds)));
  },
);
