import { ToolError } from '@cutaway/cli';
import { familiarReference, formatReference, parseReference } from '@cutaway/oci';
import { command } from '../command.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { ImageStore } from './store.ts';

export const tag = command(
  {
    name: 'tag',
    summary: 'Give an image another name',
    synopsis: ['SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]'],
    description: 'Give an image of the store (by name, ID or unique ID prefix, manifest digest, NAME@DIGEST) another name: an entry in index.json for the same manifest.',
    options: [],
    operands: { min: 2, max: 2, names: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]' },
    examples: ['cutaway tag busybox localhost:5000/busybox:1', 'cutaway tag 4567abcd0123 myapp:latest'],
    classic: ['docker tag', 'jq \'.manifests += [{… "annotations": {"org.opencontainers.image.ref.name": "TARGET"}}]\' index.json'],
  },
  async (inv, root) => {
    const [source, target] = inv.positionals as [string, string];
    const store = await ImageStore.open(root);
    const { descriptor, image } = store.find(source);
    const ref = parseReference(target);
    if (ref.digest) throw new ToolError(`refusing to create a tag with a digest reference: ${target}`);
    // Under a lease: a concurrent rmi's gc waits, and cannot take the blobs from under the new name.
    await store.layout.withLease(() => store.layout.addRef(formatReference(ref), descriptor));
    recordImageEvent(root, 'tag', image.id, familiarReference(ref));
  },
);
