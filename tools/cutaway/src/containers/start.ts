import { command } from '../command.ts';
import { usingStore } from '../store-lock.ts';
import { prepare, startShim, teardown } from './lifecycle.ts';
import { eachInParallel } from './parallel.ts';
import { currentState } from './state.ts';
import { ContainerStore } from './store.ts';

/**
 * docker start: what a container had is made again from config.json — what a reboot may have left (a stale
 * network endpoint, a cgroup) taken down first, the overlay mounted on the upper it had, the cgroup, the
 * endpoint, the /etc files — and a shim runs it.
 */
export async function startContainer(store: ContainerStore, id: string, root: string): Promise<void> {
  // Until it runs, under the store's shared lock: a prune would take a stopped container, and its layers (store-lock.ts).
  await usingStore(root, () => startStopped(store, id, root));
}

async function startStopped(store: ContainerStore, id: string, root: string): Promise<void> {
  if (currentState(store, id).status === 'running') return;
  const env = { CUTAWAY_ROOT: root };
  const config = store.config(id);
  await teardown(store, config, env, false);
  const nsExecArgs = await prepare(store, config, env).catch(async (e: unknown) => {
    await teardown(store, config, env, false);
    throw e;
  });
  await store.writeState(id, { status: 'created' });
  await startShim(store, id, nsExecArgs, root).catch(async (e: unknown) => {
    await teardown(store, config, env, false);
    throw e;
  });
}

export const start = command(
  {
    name: 'start',
    synopsis: ['CONTAINER…'],
    description: 'Start stopped containers again, in the background: mounts, network and cgroup recreated from their config.',
    options: [],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway start web', 'cutaway start $(cutaway ps -aq)'],
    classic: ['docker start'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    await eachInParallel(ids, inv.positionals, (id) => startContainer(store, id, root));
  },
);
