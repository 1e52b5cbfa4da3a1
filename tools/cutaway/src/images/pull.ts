import { formatReference, parseReference } from '@cutaway/oci';
import type { PullResult } from '../../../oci-pull/src/source.ts';
import { command } from '../command.ts';
import { stderrLines } from '../format.ts';
import { recordReferenceEvent } from '../system/events-log.ts';
import { tool } from '../tools.ts';
import { familiarName, givesTagOrDigest, shortId } from './store.ts';

/**
 * docker pull: oci-pull does the work (registry, auth from docker login's config.json, blobs verified by
 * digest); this prints what Docker prints about it, on stderr, and the handle on stdout.
 */

/** docker pull REF: returns the full reference pulled (Docker's last line). */
async function pullImage(root: string, ref: string, options: { platform?: string; quiet: boolean }): Promise<string> {
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const say = stderrLines(options.quiet);
  if (!givesTagOrDigest(ref)) say('Using default tag: latest');
  say(`${parsed.tag ?? parsed.digest}: Pulling from ${parsed.path}`);
  const report = JSON.parse(await tool('oci-pull', ['-q', '--json', ...(options.platform ? ['--platform', options.platform] : []), ref], { CUTAWAY_ROOT: root })) as PullResult;
  recordReferenceEvent(root, 'pull', ref);
  for (const layer of report.layers) say(`${shortId(layer.digest)}: ${layer.cached ? 'Already exists' : 'Pull complete'}`);
  say(`Digest: ${report.indexDigest ?? report.digest}`);
  const fresh = !report.config.cached || report.layers.some((l) => !l.cached);
  say(`Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(name)}`);
  return name;
}


/** --platform, for pull and load. */
export const PLATFORM_OPTION = { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the platform (default: this host's)" } as const;

export const pull = command(
  {
    name: 'pull',
    summary: 'Fetch an image from a registry',
    synopsis: ['[--platform P] [-q] NAME[:TAG|@DIGEST]'],
    description: 'Pull an image from a registry into the store (oci-pull): each blob verified by its digest, those the store has not fetched again. Prints the full reference.',
    options: [PLATFORM_OPTION],
    operands: { min: 1, max: 1, names: 'NAME[:TAG|@DIGEST]' },
    examples: ['cutaway pull busybox', 'cutaway pull --platform linux/arm64 localhost:5000/app:1'],
    classic: ['docker pull', 'oci-pull NAME', 'skopeo copy docker://NAME oci:$CUTAWAY_ROOT/images:NAME'],
  },
  async (inv, root) => {
    process.stdout.write(`${await pullImage(root, inv.positionals[0]!, { ...(inv.options.platform !== undefined && { platform: inv.options.platform }), quiet: inv.options.quiet })}\n`);
  },
);
