import type { HistoryEntry } from '@cutaway/oci';
import { command } from '../command.ts';
import { createdSince, ellipsis, humanSize, table } from '../format.ts';
import { NO_TRUNC } from './images.ts';
import { ImageStore, isParentOf, shortId, type StoreImage } from './store.ts';

interface HistoryOptions {
  quiet: boolean;
  noTrunc: boolean;
}

/**
 * docker history: the config's history, newest first, each entry that made a
 * layer with that layer's size (as stored), empty_layer entries 0B. IMAGE is
 * the image's ID on its top entry and, below, the ID of a step image the store
 * still has (the build cache's), else <missing>, as Docker shows pulled images.
 */
function imageHistory(store: ImageStore, image: StoreImage, options: HistoryOptions): string {
  const { config, manifest } = image.image;
  // Without a history, each layer is an entry of its own.
  const history: HistoryEntry[] = config.history ?? manifest.layers.map(() => ({ ...(config.created !== undefined && { created: config.created }) }));
  let layer = 0;
  const rows = history.map((entry, i) => {
    const size = entry.empty_layer ? 0 : (manifest.layers[layer++]?.size ?? 0);
    const step = i === history.length - 1 ? image : store.images.find((p) => p.image.config.history?.length === i + 1 && isParentOf(p, image));
    const id = step ? (options.noTrunc ? step.id : shortId(step.id)) : '<missing>';
    const createdBy = (entry.created_by ?? '').replaceAll('\t', ' ');
    return [id, createdSince(entry.created), options.noTrunc ? createdBy : ellipsis(createdBy, 45), humanSize(size), entry.comment ?? ''];
  });
  rows.reverse();
  if (options.quiet) return rows.map((r) => `${r[0]}\n`).join('');
  return table([['IMAGE', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'], ...rows]);
}

export const history = command(
  {
    name: 'history',
    synopsis: ['[-q] [--no-trunc] IMAGE'],
    description: "Show how an image was made: its config's history, newest first, with the size of each layer (as stored).",
    options: [NO_TRUNC],
    operands: { min: 1, max: 1, names: 'IMAGE' },
    examples: ['cutaway history busybox', 'cutaway history --no-trunc myapp:1'],
    classic: ['docker history', 'jq .history blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const store = await ImageStore.open(root);
    const { image } = store.find(inv.positionals[0]!);
    process.stdout.write(imageHistory(store, image, { quiet: inv.options.quiet, noTrunc: inv.options['no-trunc'] }));
  },
);
