import { ContainerStore } from './store.ts';
import { command } from '../command.ts';
import { CONTAINER_OPERANDS, CONTAINER_OPTIONS, newContainer } from './create.ts';
import { removeAnonymousVolumes } from './anonymous-volumes.ts';
import { prepare, teardown } from './lifecycle.ts';
import { PROCESS_OPTIONS } from './process-options.ts';
import { runAttached } from './start.ts';
import { holdStore } from '../store-lock.ts';
import { holdSignals, signalled, signalStatus } from '../tools.ts';

/**
 * docker run: oci-pull (when the image is missing), overlay-mount, cg-limit (with -m, --cpus or --pids-limit),
 * netbridge (the bridge network and -p), ns-exec. The image config becomes the process as under Docker
 * (Entrypoint + Cmd, Env, WorkingDir, User).
 */
export const run = command(
  {
    name: 'run',
    summary: 'Run a command in a new container made from an image',
    ...CONTAINER_OPERANDS,
    description: [
      'docker run, from the tools: oci-pull (when the image is missing), overlay-mount, cg-limit (with -m,',
      '--cpus or --pids-limit), netbridge (the bridge network and -p), ns-exec. The image config becomes the',
      'process as under Docker (Entrypoint + Cmd, Env, WorkingDir, User). The container gets a 64-hex id and a',
      "name; its state is in $CUTAWAY_ROOT/containers/<id>. Exits with the command's status (125: cutaway failed).",
    ].join('\n'),
    options: [{ ...PROCESS_OPTIONS.detach, help: 'run in the background and print the container id' }, ...CONTAINER_OPTIONS],
    dryRun: true,
    examples: ['cutaway run --rm busybox echo hello', 'cutaway run --dry-run --rm -p 8080:80 busybox httpd -f -p 80 > run.sh   # the tool commands, as a script', 'cutaway run -d --name web -p 8080:80 busybox httpd -f -p 80', 'cutaway run --rm -it -m 64m debian bash'],
    classic: ['docker run', 'podman run'],
  },
  async (inv, root, r) => {
    const o = inv.options;
    const [ref, ...argv] = inv.positionals as [string, ...string[]];
    const env = { CUTAWAY_ROOT: root };
    const store = new ContainerStore(root);
    // From here on a signal (Ctrl-C, kill) is passed to the container or, before it runs, ends the run once
    // what was made is taken down: never a half-made container left behind.
    if (!r.dryRun) holdSignals();
    // From the image until the container runs, the store's shared lock (store-lock.ts): a prune at the same
    // time waits, and then sees a running container, whose image and layers it keeps.
    // (Not while planning a --dry-run: that changes nothing, not even the lock file; the script takes no lock.)
    const hold = r.dryRun ? { release: () => {} } : await holdStore(root);
    try {
      const config = await newContainer(store, { options: o, ref, argv }, root, r);
      // What a failed start leaves nothing of: the container, and the anonymous volumes made for it.
      const discard = async () => {
        await teardown(store, config, env, true, r);
        if (!config.autoRemove) await removeAnonymousVolumes(store, config, root, r);
      };
      let nsExecArgs: string[];
      try {
        nsExecArgs = await r.guarded(
          () => prepare(store, config, env, r),
          discard,
        );
      } catch (e) {
        // Ctrl-C reaches the tools prepare runs too (the terminal signals the whole group): no failure of theirs.
        const interrupted = signalled();
        if (interrupted) return signalStatus(interrupted);
        throw e;
      }
      const interrupted = signalled();
      if (interrupted) {
        await teardown(store, config, env, config.autoRemove, r);
        return signalStatus(interrupted);
      }
      if (o.detach) {
        await r.guarded(
          () => r.startShim(store, config, nsExecArgs, root),
          discard,
        );
        r.print(config.id);
        return 0;
      }
      return await runAttached(store, config, nsExecArgs, env, r, o.interactive, () => hold.release());
    } finally {
      hold.release();
    }
  },
);
