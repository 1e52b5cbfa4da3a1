import { readFileSync } from 'node:fs';
import { readMountRecord, ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { usingStore } from '../store-lock.ts';
import { streamTool, tool, tryTool } from '../tools.ts';
import { overlayArgs } from './lifecycle.ts';
import { currentState } from './state.ts';
import { recordContainerEvent } from './events.ts';
import { ContainerStore } from './store.ts';

const isMounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

/**
 * A container's rootfs, the merged view of its layers and upper, for `work`: a running container's mount as it
 * is; a stopped or created one's mounted for the time of `work` (overlay-mount, on the layers it had or its
 * image) and unmounted after. Under the store's shared lock, as start holds it: no prune takes the layers meanwhile.
 */
export async function withRootfs<T>(store: ContainerStore, id: string, root: string, work: (merged: string, running: boolean) => Promise<T>): Promise<T> {
  return usingStore(root, async () => {
    const mount = readMountRecord(store.path(id));
    const running = currentState(store, id).status === 'running';
    // Mounted already (running, or stopped and not yet taken down): used as it is, and left so.
    if (mount && (running || isMounted(mount.merged))) return work(mount.merged, running);
    const env = { CUTAWAY_ROOT: root };
    const config = store.config(id);
    const merged = await tool('overlay-mount', overlayArgs(config, mount?.lowers), env);
    try {
      return await work(merged, false);
    } finally {
      await tryTool('overlay-mount', ['--unmount', id], env);
    }
  });
}

/** docker export: the container's merged rootfs as a tar (layer-commit DIR -o: numeric owners, xattrs, hardlinks). */
export const exportContainer = command(
  {
    name: 'export',
    summary: "Write a container's merged rootfs as a tar",
    synopsis: ['[-o FILE] CONTAINER'],
    description: [
      "A container's filesystem (its layers and its changes, merged: what it sees at /, without its",
      'volumes and the mounts ns-exec makes) as a tar, to stdout or -o FILE. A stopped container is mounted',
      '(overlay-mount) for the time it takes. The tar is written by layer-commit DIR -o (numeric owners, modes,',
      'mtimes, xattrs, hardlinks); a terminal is refused as stdout, as Docker does.',
    ].join('\n'),
    options: [{ name: 'output', short: 'o', type: 'string', arg: 'FILE', help: 'write to a file, instead of stdout' }],
    operands: { min: 1, max: 1, names: 'CONTAINER' },
    examples: ['cutaway export web > web.tar', 'cutaway export -o web.tar web', 'cutaway export web | tar t'],
    classic: ['docker export', 'tar -C "$(overlay-mount -q IMAGE --name ID)" --numeric-owner --xattrs -cf - .'],
  },
  async (inv, root) => {
    const output = inv.options.output;
    if (output === undefined && process.stdout.isTTY) throw new ToolError('cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const store = new ContainerStore(root);
    const id = store.find(inv.positionals[0]!);
    await withRootfs(store, id, root, (merged) => streamTool('layer-commit', [merged, '-o', output ?? '-'], { CUTAWAY_ROOT: root }, 'ignore', 'inherit'));
    recordContainerEvent(store, id, 'export');
  },
);
