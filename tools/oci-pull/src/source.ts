import { ToolError, UsageError, type Progress, type Steps } from '@cutaway/cli';
import { formatReference, parseReference, type Digest, type OciLayout, type Platform, type Reference } from '@cutaway/oci';
import { registryUrl, type RegistryClient } from './registry.ts';

/** A registry's image: a plain reference. */
export interface RegistrySource {
  kind: 'registry';
  ref: Reference;
}

/** An image in an OCI layout, by its name in DIR's index.json; `tag` is the name it gets in the store. */
export interface OciSource {
  kind: 'oci';
  dir: string;
  name: string;
  tag: string;
}

/** An image in a `docker save` archive (`-`: stdin), by one of its RepoTags when it holds more than one. */
export interface ArchiveSource {
  kind: 'docker-archive';
  file: string;
  ref?: Reference;
}

/** Where an image comes from: a registry, an OCI layout, or a `docker save` archive. */
export type Source = RegistrySource | OciSource | ArchiveSource;

/** What every source is read with: pull (registry), copyImage (oci:) and importDockerArchive (docker-archive:) take it alike. */
export interface PullContext {
  /**
   * The store, being opened (made if need be) as the reading starts, so that a registry pull asks for the
   * manifest meanwhile; undefined only in a dry run against a store that does not exist yet.
   */
  store: Promise<OciLayout | undefined>;
  /** The store's directory, absolute (the dry-run script works there); default: the layout's. */
  storeDir?: string;
  platform: Platform;
  /** Whether `platform` is the user's (--platform) rather than this host's. */
  platformGiven?: boolean;
  /** Blobs transferred at once. */
  jobs: number;
  progress: Progress;
  steps: Steps;
  dryRun: boolean;
  /** A client for the registry a reference names (--creds, --insecure, --ca-cert); only the registry source asks. */
  registryClient(ref: Reference): Promise<RegistryClient>;
}

export interface PulledBlob {
  mediaType: string;
  digest: Digest;
  size: number;
  /** Already in the store: not fetched. */
  cached: boolean;
}

/** What reading any source gives (`oci-pull --json` prints it). */
export interface PullResult {
  reference: string;
  /** The image manifest now tagged in the store. */
  digest: Digest;
  /** The index (manifest list) the tag pointed at, when there was one. */
  indexDigest?: Digest;
  platform: string;
  config: PulledBlob;
  layers: PulledBlob[];
}

/** The store a local source writes to: only a registry pull has a dry run (its curl commands). */
export async function localTarget(ctx: PullContext): Promise<OciLayout> {
  const layout = await ctx.store;
  if (ctx.dryRun || !layout) throw new UsageError('--dry-run is for registry pulls');
  return layout;
}

/** A name from a local source is tagged in the store normalised, as `docker load` does. */
function storeTag(name: string): string {
  try {
    return formatReference(parseReference(name));
  } catch {
    return name;
  }
}

/**
 * Reads skopeo's transport syntax: `oci:DIR:NAME`, `docker-archive:FILE[:REF]`;
 * anything else is a registry reference. DIR and FILE end at the first ":".
 */
export function parseSource(text: string): Source {
  if (text.startsWith('oci:')) {
    const rest = text.slice('oci:'.length);
    const colon = rest.indexOf(':');
    if (colon <= 0 || colon === rest.length - 1) throw new UsageError(`${text}: want oci:DIR:NAME (the name of the image in DIR's index.json)`);
    const name = rest.slice(colon + 1);
    return { kind: 'oci', dir: rest.slice(0, colon), name, tag: storeTag(name) };
  }
  if (text.startsWith('docker-archive:')) {
    const rest = text.slice('docker-archive:'.length);
    const colon = rest.indexOf(':');
    const file = colon >= 0 ? rest.slice(0, colon) : rest;
    if (!file) throw new UsageError(`${text}: want docker-archive:FILE[:REF]`);
    return colon >= 0 ? { kind: 'docker-archive', file, ref: parseReference(rest.slice(colon + 1)) } : { kind: 'docker-archive', file };
  }
  const ref = parseReference(text);
  // A registry no connection can reach (a port out of range) is bad input: refused before the store is made.
  try {
    registryUrl('https', ref.domain);
  } catch (e) {
    throw e instanceof ToolError ? new ToolError(`${formatReference(ref)}: ${e.message}`) : e;
  }
  return { kind: 'registry', ref };
}
