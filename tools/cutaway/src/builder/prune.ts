import { command, NO_OPERANDS } from '../command.ts';
import { confirmOrCancel, FORCE_OPTION } from '../confirm.ts';
import { reclaimedLine } from '../format.ts';
import { pruningStore } from '../store-lock.ts';
import { removeImages, section } from '../system/prune.ts';
import { planPrune, takeInventory } from '../system/usage.ts';

/**
 * docker builder prune: the build cache — cutaway build's step images (localhost/cutaway-cache:<key>) that no
 * container uses, stopped ones included, the blobs and unpacked layers only they had, and the temp files of
 * killed writers — as system prune removes it, and nothing else.
 */
export const prune = command(
  {
    name: 'builder prune',
    summary: 'Remove the build cache',
    synopsis: ['[-a] [-f]'],
    description: [
      "Remove the build cache: cutaway build's step images (localhost/cutaway-cache:<key>) no container uses, the",
      'blobs and unpacked layers nothing else needs (a layer a named image shares stays with it), and the temp files',
      "of killed writers in images/.cutaway/; print the cache keys removed and the space that freed. -a is taken as",
      "Docker's and removes the same: nothing here is cache that an image still names.",
    ].join('\n'),
    options: [{ name: 'all', short: 'a', type: 'boolean', help: 'all build cache (the same here: see above)' }, FORCE_OPTION],
    operands: NO_OPERANDS,
    examples: ['cutaway builder prune -f', 'cutaway system df   # the Build Cache line, before and after'],
    classic: ['docker builder prune', 'cutaway rmi localhost/cutaway-cache:KEY …   # each step image; system prune removes them too'],
  },
  async (inv, root) => {
    await confirmOrCancel(inv.options.force, `This will remove all ${inv.options.all ? '' : 'dangling '}build cache.`, 'builder prune');
    const report = await pruningStore(root, async () => {
      const inventory = await takeInventory(root);
      const removed = await removeImages(root, inventory, planPrune(inventory, { all: false, volumes: false, cacheOnly: true }));
      return section('Deleted build cache objects', removed.cache) + reclaimedLine(removed.freed);
    });
    process.stdout.write(report);
  },
);
