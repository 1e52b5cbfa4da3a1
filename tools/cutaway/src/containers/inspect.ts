import { ToolError, UsageError } from '@cutaway/cli';
import { AmbiguousImageError } from '@cutaway/oci';
import { command } from '../command.ts';
import { formatInspect, INSPECT_FORMAT_OPTION } from '../format.ts';
import { imageInspectOf } from '../images/inspect.ts';
import { ImageStore, type StoreImage } from '../images/store.ts';
import { listNetworks } from '../networks/store.ts';
import { containerJSON } from './container-json.ts';
import { ContainerStore } from './store.ts';

const TYPES = ['container', 'image'];

/** Whether an error is the container store's "No such container" (an ambiguous prefix is not: it is reported). */
const noSuchContainer = (e: unknown) => e instanceof ToolError && e.message.startsWith('No such container:');

export const inspect = command(
  {
    name: 'inspect',
    summary: 'Show containers or images in detail, as JSON',
    synopsis: ['[--type container|image] [-f FORMAT] NAME|ID…'],
    description: [
      "Everything known about containers and images, as JSON in Docker's shapes. Each NAME|ID is looked up as Docker",
      'does: a container (by name, ID or unique ID prefix) first, then an image (by name, image ID or unique prefix,',
      'manifest digest, NAME@DIGEST); --type looks for one kind only.',
    ].join('\n'),
    options: [{ name: 'type', type: 'string', arg: 'container|image', help: 'only this kind of object' }, INSPECT_FORMAT_OPTION],
    operands: { min: 1, names: 'NAME|ID…' },
    examples: ['cutaway inspect web', "cutaway inspect web | jq -r '.[0].NetworkSettings.IPAddress'", "cutaway inspect --type image busybox | jq -r '.[0].Id'"],
    classic: ['docker inspect', 'cat $CUTAWAY_ROOT/containers/ID/config.json $CUTAWAY_ROOT/containers/ID/state.json', 'jq . $CUTAWAY_ROOT/images/blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const type = inv.options.type;
    if (type !== undefined && !TYPES.includes(type)) throw new UsageError(`"${type}" is not a valid value for --type`);
    const containers = new ContainerStore(root);
    let images: ImageStore | undefined;
    const imageStore = async () => (images ??= await ImageStore.open(root));
    /** One object by what was typed, in Docker's order; nothing found is Docker's error for the kind asked. */
    const lookup = async (handle: string): Promise<{ container: string } | { image: StoreImage }> => {
      if (type !== 'image') {
        try {
          return { container: containers.find(handle) };
        } catch (e) {
          if (type === 'container' || !noSuchContainer(e)) throw e;
        }
      }
      const store = await imageStore();
      try {
        return { image: store.find(handle).image };
      } catch (e) {
        if (type === 'image' || e instanceof AmbiguousImageError) throw e;
        throw new ToolError(`No such object: ${handle}`);
      }
    };
    // Every name is looked up first: an unknown one or an ambiguous prefix prints nothing.
    const found = [];
    for (const handle of inv.positionals) found.push(await lookup(handle));
    // For containers: the image store (their image IDs and configs: a damaged one leaves them the manifest
    // digest) and the networks' IDs (netbridge's; none when it cannot tell).
    const networkIds = new Map<string, string>();
    if (found.some((f) => 'container' in f)) {
      await imageStore().catch(() => undefined);
      for (const n of await listNetworks({ CUTAWAY_ROOT: root }, true).catch(() => [])) networkIds.set(n.name, n.id);
    }
    const documents = found.map((f) => ('container' in f ? containerJSON(containers, f.container, { root, images, networkIds }) : imageInspectOf(images!, f.image, root)));
    process.stdout.write(formatInspect(inv.options.format, documents));
  },
);
