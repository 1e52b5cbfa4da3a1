import { constants as osConstants } from 'node:os';
import { rootless, ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { signalFirst } from '../rootless.ts';
import { recordContainerEvent } from './events.ts';
import { removeAnonymousVolumes } from './anonymous-volumes.ts';
import { teardown } from './lifecycle.ts';
import { currentState } from './state.ts';
import { stopContainer } from './stop.ts';
import { ContainerStore } from './store.ts';

export const rm = command(
  {
    name: 'rm',
    summary: 'Remove containers',
    synopsis: ['[-f] [-v] CONTAINER…'],
    description: 'Remove containers: their mounts, network endpoint, cgroup and directory. A running one needs -f.',
    options: [
      { name: 'force', short: 'f', type: 'boolean', help: 'kill a running container first' },
      { name: 'volumes', short: 'v', type: 'boolean', help: 'its anonymous volumes too (those of VOLUME and -v /DST; not named ones)' },
    ],
    operands: { min: 1, names: 'CONTAINER…' },
    dryRun: true,
    examples: ['cutaway rm web', 'cutaway rm -f $(cutaway ps -aq)', 'cutaway rm --dry-run -f web   # stop, teardown and removal, as a script'],
    classic: ['docker rm', 'overlay-mount --unmount ID --rm; netbridge down ID12; cg-limit rm cw-ID12'],
  },
  async (inv, root, r) => {
    const store = new ContainerStore(root);
    const ids = inv.positionals.map((n) => store.find(n));
    const running = ids.filter((id) => currentState(store, id).status === 'running');
    if (running.length && !inv.options.force)
      throw new ToolError(`cannot remove container "${store.config(running[0]!).name}": container is running: stop the container before removing or force remove`);
    // Rootless, the kill is done from the user's own namespace, the rest in a user namespace of its own (rootless.ts).
    await signalFirst(r.dryRun, async () => {
      // Docker's rm -f kills: SIGKILL, whatever its stop signal.
      await Promise.all(running.map((id) => stopContainer(store, id, 0, osConstants.signals.SIGKILL)));
    });
    await r.each(ids, inv.positionals, async (id) => {
      const config = store.config(id);
      // (A --dry-run script with -f stops it if it is running when the script runs.)
      // Taken down below, in this process, rather than by its shim (not rootless: there the shim's namespace holds its mounts).
      if (r.dryRun ? inv.options.force : currentState(store, id).status === 'running') await r.stopContainer(store, id, 0, osConstants.signals.SIGKILL, !rootless());
      // Taken down when it exited (its shim, or run in the foreground): only its directory is left.
      await r.whenDown(
        store,
        id,
        async () => {
          r.removeContainer(store, id, config.name);
          if (!r.dryRun) recordContainerEvent(store, config, 'destroy');
        },
        () => teardown(store, config, { CUTAWAY_ROOT: root }, true, r),
      );
      if (inv.options.volumes) await removeAnonymousVolumes(store, config, root, r);
    });
  },
);
