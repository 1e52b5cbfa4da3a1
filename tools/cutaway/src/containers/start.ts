import { ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { realRunner, type Runner } from '../runner.ts';
import { holdStore, usingStore } from '../store-lock.ts';
import { holdSignals } from '../tools.ts';
import { attachTo, DEFAULT_DETACH_KEYS, parseDetachKeys } from './attach.ts';
import { recordContainerEvent } from './events.ts';
import { prepare, startShim, teardown } from './lifecycle.ts';
import { eachInParallel } from './parallel.ts';
import { currentState, isPaused } from './state.ts';
import { ContainerStore, type ContainerConfigRecord } from './store.ts';

/**
 * docker start: what a container had is made again from config.json — what a reboot may have left (a stale
 * network endpoint, a cgroup) taken down first, the overlay mounted on the upper it had, the cgroup, the
 * endpoint, the /etc files — and a shim runs it.
 */
export async function startContainer(store: ContainerStore, id: string, root: string): Promise<void> {
  // Until it runs, under the store's shared lock: a prune would take a stopped container, and its layers (store-lock.ts).
  await usingStore(root, () => startStopped(store, id, root));
}

/** A stopped (or created) container's mounts, cgroup and network made again from its config: ns-exec's arguments. */
async function prepareAgain(store: ContainerStore, id: string, root: string): Promise<{ config: ContainerConfigRecord; nsExecArgs: string[] }> {
  const env = { CUTAWAY_ROOT: root };
  const config = store.config(id);
  await teardown(store, config, env, false);
  const nsExecArgs = await prepare(store, config, env).catch(async (e: unknown) => {
    await teardown(store, config, env, false);
    throw e;
  });
  await store.writeState(id, { status: 'created' });
  return { config, nsExecArgs };
}

/** Docker's daemon refuses to start a paused container (daemon/start.go), to run attached or not. */
function refusePaused(store: ContainerStore, id: string): void {
  if (isPaused(currentState(store, id))) throw new ToolError('cannot start a paused container, try unpause instead');
}

async function startStopped(store: ContainerStore, id: string, root: string): Promise<void> {
  refusePaused(store, id);
  if (currentState(store, id).status === 'running') return;
  const { config, nsExecArgs } = await prepareAgain(store, id, root);
  await startShim(store, config, nsExecArgs, root).catch(async (e: unknown) => {
    await teardown(store, config, { CUTAWAY_ROOT: root }, false);
    throw e;
  });
}

/**
 * A prepared container run in the foreground, as docker run without -d and docker start -a: its output on
 * ours, signals passed on, then taken down (removed with --rm); its exit status. `running`: called once it runs.
 */
export async function runAttached(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[], env: NodeJS.ProcessEnv, r: Runner, stdin: boolean, running: () => void): Promise<number> {
  if (!r.dryRun) recordContainerEvent(store, config, 'attach');
  const code = await r.runProcess(store, config, nsExecArgs, { stdin: stdin ? 'inherit' : 'ignore', out: process.stdout, err: process.stderr, running }, env);
  await teardown(store, config, env, config.autoRemove, r);
  return r.status(code);
}

/** docker start -a: the container started in the foreground, attached to its stdout and stderr (and stdin with -i); its status. */
async function startAttached(store: ContainerStore, id: string, root: string, stdin: boolean, detachKeys: Buffer): Promise<number> {
  refusePaused(store, id);
  // Docker's start -a of a running container attaches to it.
  if (currentState(store, id).status === 'running') return attachTo(store, id, { stdin, sigProxy: true, detachKeys });
  holdSignals();
  const hold = await holdStore(root);
  try {
    const { config, nsExecArgs } = await prepareAgain(store, id, root);
    return await runAttached(store, config, nsExecArgs, { CUTAWAY_ROOT: root }, realRunner, stdin, () => hold.release());
  } finally {
    hold.release();
  }
}

export const start = command(
  {
    name: 'start',
    summary: 'Start stopped containers',
    synopsis: ['[-a [-i]] CONTAINER…'],
    description: [
      'Start created or stopped containers, in the background: mounts, network and cgroup made from their config.',
      "-a: one container, in the foreground, its stdout and stderr on cutaway's (stdin too with -i); exits with its status.",
      'A running container is attached to instead (cutaway attach).',
    ].join('\n'),
    options: [
      { name: 'attach', short: 'a', type: 'boolean', help: "attach stdout and stderr and exit with the container's status" },
      { name: 'interactive', short: 'i', type: 'boolean', help: "attach the container's stdin" },
      { name: 'detach-keys', type: 'string', arg: 'KEYS', help: `with -a, on a running container: the keys that detach (default "${DEFAULT_DETACH_KEYS}")` },
    ],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway start web', 'cutaway start $(cutaway ps -aq)', 'cutaway start -a $(cutaway create busybox echo hello)'],
    classic: ['docker start', 'docker start -a'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const attach = inv.options.attach || inv.options.interactive;
    if (attach && inv.positionals.length > 1) throw new ToolError('you cannot start and attach multiple containers at once');
    const ids = inv.positionals.map((n) => store.find(n));
    if (attach) return startAttached(store, ids[0]!, root, inv.options.interactive, parseDetachKeys(inv.options['detach-keys'] ?? DEFAULT_DETACH_KEYS));
    await eachInParallel(ids, inv.positionals, (id) => startContainer(store, id, root));
  },
);
