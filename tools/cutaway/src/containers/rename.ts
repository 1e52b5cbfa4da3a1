import { ToolError, UsageError } from '@cutaway/cli';
import { command } from '../command.ts';
import { recordContainerEvent } from './events.ts';
import { ContainerStore } from './store.ts';

/**
 * docker rename: the container's name changes, nothing else (its hostname, id and cgroup stay). The name's
 * reservation moves under the store's names lock (store.ts rename), so the new name is checked and taken in
 * one step and the old one freed after.
 */
export const rename = command(
  {
    name: 'rename',
    summary: 'Give a container another name',
    synopsis: ['CONTAINER NEW_NAME'],
    description: 'Rename a container, running or not: its name reservation moves to NEW_NAME, which must be free.',
    options: [],
    operands: { min: 2, max: 2, names: 'CONTAINER NEW_NAME' },
    examples: ['cutaway rename web web-old', 'cutaway rename $(cutaway ps -lq) db'],
    classic: ['docker rename', 'mv $CUTAWAY_ROOT/containers/.names/OLD $CUTAWAY_ROOT/containers/.names/NEW   # and config.json\'s "name"'],
  },
  async (inv, root) => {
    const [container, wanted] = inv.positionals as [string, string];
    // Docker's CLI refuses empty names; its daemon takes "/name" as "name".
    const name = wanted.replace(/^\//, '');
    if (!container || !name) throw new UsageError('Neither old nor new names may be empty');
    const store = new ContainerStore(root);
    const id = store.find(container);
    const oldName = store.config(id).name;
    if (oldName === name) throw new ToolError('Renaming a container with the same name as its current name');
    await store.rename(id, name);
    recordContainerEvent(store, id, 'rename', { oldName });
  },
);
