import { ToolError } from '@cutaway/cli';
import { formatReference, layerCompression, parseReference, repositoryName } from '@cutaway/oci';
import type { PushResult } from '../../../oci-pull/src/push.ts';
import { command } from '../command.ts';
import { stderrLines } from '../format.ts';
import { recordReferenceEvent } from '../system/events-log.ts';
import { tool } from '../tools.ts';
import { entryNamed, familiarName, ImageStore, shortId } from './store.ts';

/** docker push NAME[:TAG]: returns the digest of the manifest pushed. */
async function pushImage(root: string, ref: string, options: { quiet: boolean }): Promise<string> {
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const image = (await ImageStore.open(root)).images.find((i) => i.names.includes(name));
  if (!image) throw new ToolError(`An image does not exist locally with the tag: ${familiarName(name)}`, `cutaway tag IMAGE ${familiarName(name)}`);
  const say = stderrLines(options.quiet);
  say(`The push refers to repository [${repositoryName(parsed)}]`);
  const report = JSON.parse(await tool('oci-push', ['-q', '--json', ref], { CUTAWAY_ROOT: root })) as PushResult;
  recordReferenceEvent(root, 'push', ref);
  const status = { exists: 'Layer already exists', mounted: 'Mounted from another repository', uploaded: 'Pushed' };
  for (const blob of report.blobs.filter((b) => layerCompression(b.mediaType) !== undefined)) say(`${shortId(blob.digest)}: ${status[blob.status]}`);
  say(`${parsed.tag ?? parsed.digest}: digest: ${report.digest} size: ${entryNamed(image, name)!.descriptor.size}`);
  return report.digest;
}

export const push = command(
  {
    name: 'push',
    summary: 'Send an image to a registry',
    synopsis: ['[-q] NAME[:TAG]'],
    description: 'Push an image of the store to its registry (oci-push): only the blobs the registry lacks, then the manifest. Prints the digest pushed.',
    options: [],
    operands: { min: 1, max: 1, names: 'NAME[:TAG]' },
    examples: ['cutaway tag busybox localhost:5000/busybox:1 && cutaway push localhost:5000/busybox:1'],
    classic: ['docker push', 'oci-push NAME', 'skopeo copy oci:$CUTAWAY_ROOT/images:NAME docker://NAME'],
  },
  async (inv, root) => {
    process.stdout.write(`${await pushImage(root, inv.positionals[0]!, { quiet: inv.options.quiet })}\n`);
  },
);
