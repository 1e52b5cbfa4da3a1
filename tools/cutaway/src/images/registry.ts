import { ToolError } from '@cutaway/cli';
import { formatReference, layerCompression, parseReference, repositoryName, type Digest } from '@cutaway/oci';
import { familiarName, givesTagOrDigest, ImageStore, shortId } from './store.ts';
import { tool } from '../tools.ts';

/**
 * docker pull and docker push: oci-pull and oci-push do the work (registry,
 * auth from docker login's config.json, blobs verified by digest); these
 * print what Docker prints about it, on stderr, and the handle on stdout.
 */

/** What `oci-pull --json` reports (tools/oci-pull PullResult). */
interface PullReport {
  digest: Digest;
  indexDigest?: Digest;
  config: { cached: boolean };
  layers: { digest: Digest; cached: boolean }[];
}

/** What `oci-push --json` reports (tools/oci-push PushResult). */
interface PushReport {
  digest: Digest;
  blobs: { mediaType: string; digest: Digest; status: 'exists' | 'mounted' | 'uploaded' }[];
}

/** Docker's progress lines, on stderr unless -q. */
function sayer(quiet: boolean): (line: string) => void {
  return (line) => {
    if (!quiet) process.stderr.write(`${line}\n`);
  };
}

/** docker pull REF: returns the full reference pulled (Docker's last line). */
export async function pullImage(root: string, ref: string, options: { platform?: string; quiet: boolean }): Promise<string> {
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const say = sayer(options.quiet);
  if (!givesTagOrDigest(ref)) say('Using default tag: latest');
  say(`${parsed.tag ?? parsed.digest}: Pulling from ${parsed.path}`);
  const report = JSON.parse(await tool('oci-pull', ['-q', '--json', ...(options.platform ? ['--platform', options.platform] : []), ref], { CUTAWAY_ROOT: root })) as PullReport;
  for (const layer of report.layers) say(`${shortId(layer.digest)}: ${layer.cached ? 'Already exists' : 'Pull complete'}`);
  say(`Digest: ${report.indexDigest ?? report.digest}`);
  const fresh = !report.config.cached || report.layers.some((l) => !l.cached);
  say(`Status: ${fresh ? 'Downloaded newer image' : 'Image is up to date'} for ${familiarName(name)}`);
  return name;
}

/** docker push NAME[:TAG]: returns the digest of the manifest pushed. */
export async function pushImage(root: string, ref: string, options: { quiet: boolean }): Promise<string> {
  const parsed = parseReference(ref);
  const name = formatReference(parsed);
  const image = (await ImageStore.open(root)).images.find((i) => i.names.includes(name));
  if (!image) throw new ToolError(`An image does not exist locally with the tag: ${familiarName(name)}`, `cutaway tag IMAGE ${familiarName(name)}`);
  const say = sayer(options.quiet);
  say(`The push refers to repository [${repositoryName(parsed)}]`);
  const report = JSON.parse(await tool('oci-push', ['-q', '--json', ref], { CUTAWAY_ROOT: root })) as PushReport;
  const status = { exists: 'Layer already exists', mounted: 'Mounted from another repository', uploaded: 'Pushed' };
  for (const blob of report.blobs.filter((b) => layerCompression(b.mediaType) !== undefined)) say(`${shortId(blob.digest)}: ${status[blob.status]}`);
  say(`${parsed.tag ?? parsed.digest}: digest: ${report.digest} size: ${image.descriptor.size}`);
  return report.digest;
}
