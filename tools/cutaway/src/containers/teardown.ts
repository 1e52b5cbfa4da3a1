import { command } from '../command.ts';
import { teardown as takeDown } from './lifecycle.ts';
import { ContainerStore } from './store.ts';

/**
 * `cutaway __teardown ID`: what cutaway-shim becomes (execvp, the same pid) once a detached container has
 * exited — what the container had taken down, and with --rm its directory. Not one of Docker's commands.
 */
export const teardown = command(
  {
    name: '__teardown',
    summary: 'Take down what an exited container had',
    synopsis: ['ID'],
    description: "Take down what an exited container had (cutaway-shim's last step).",
    options: [],
    operands: { min: 1, max: 1, names: 'ID' },
    examples: [],
    classic: ['overlay-mount --unmount ID; netbridge down ID12; cg-limit rm --force ID12'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const config = store.config(inv.positionals[0]!);
    await takeDown(store, config, { CUTAWAY_ROOT: root }, config.autoRemove);
  },
);
