import type { HistoryEntry } from '@cutaway/oci';
import { command } from '../command.ts';
import { createdSince, ellipsis, FORMAT_OPTION, formatOutput, goTime, humanSize, NO_TRUNC } from '../format.ts';
import { ImageStore, isParentOf, shortId, type StoreImage } from './store.ts';

interface HistoryOptions {
  quiet: boolean;
  noTrunc: boolean;
  format?: string;
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
    // docker/cli's HistoryContext: --format's fields.
    return { ID: id, CreatedSince: createdSince(entry.created), CreatedAt: goTime(entry.created), CreatedBy: options.noTrunc ? createdBy : ellipsis(createdBy, 45), Size: humanSize(size), Comment: entry.comment ?? '' };
  });
  rows.reverse();
  const format = options.quiet ? '{{.ID}}' : options.format;
  return formatOutput(format, rows, { table: 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}', headers: { ID: 'IMAGE', CreatedSince: 'CREATED' }, structType: '*formatter.historyContext' });
}

export const history = command(
  {
    name: 'history',
    summary: 'Show the steps an image was made by',
    synopsis: ['[-q] [--no-trunc] [--format FORMAT] IMAGE'],
    description: "Show how an image was made: its config's history, newest first, with the size of each layer (as stored).",
    options: [NO_TRUNC, FORMAT_OPTION],
    operands: { min: 1, max: 1, names: 'IMAGE' },
    examples: ['cutaway history busybox', 'cutaway history --no-trunc myapp:1'],
    classic: ['docker history', 'jq .history blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const store = await ImageStore.open(root);
    const { image } = store.find(inv.positionals[0]!);
    process.stdout.write(imageHistory(store, image, { quiet: inv.options.quiet, noTrunc: inv.options['no-trunc'], ...(inv.options.format !== undefined && { format: inv.options.format }) }));
  },
);
