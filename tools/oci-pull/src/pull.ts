import { shellQuote, ToolError, type ProgressItem, type Steps } from '@cutaway/cli';
import {
  blobName,
  digestOf,
  formatPlatform,
  formatReference,
  isAttestation,
  LAYOUT_VERSION,
  MediaType,
  MANIFEST_ACCEPT,
  OciError,
  OciLayout,
  parseDigest,
  parseImageConfig,
  parseManifestDocument,
  platformRank,
  REF_NAME,
  repositoryName,
  selectPlatform,
  verifyBytes,
  type Descriptor,
  type Digest,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ManifestDocument,
  type Platform,
  type Reference,
} from '@cutaway/oci';
import { blobFailure, blobSteps, fetchBlob, pullBlob, shellUrl, storedBlob, summaryOf, type ManifestFetch, type RegistryFetch, type RegistryPull } from './blobs.ts';
import { allSettled, mapLimited } from './common.ts';
import { registryError, repositoryScope } from './registry.ts';
import { scriptLine, traceLine } from './script.ts';
import type { PulledBlob, PullContext, PullResult, RegistrySource } from './source.ts';

/** A manifest (or index) as the registry sent it, with its digest. */
interface FetchedManifest {
  bytes: Buffer;
  contentType: string | undefined;
  digest: Digest;
}

/**
 * What the registry says a tag or digest is: its exact bytes, checked against the digest we asked for or were
 * told. The dry-run script fetches it into its temporary directory, named by its digest, and checks it there.
 */
async function fetchManifest(opts: ManifestFetch, reference: string): Promise<FetchedManifest> {
  const { client, ref } = opts;
  const repo = ref.path;
  const path = `/v2/${repo}/manifests/${reference}`;
  const res = await client.request(path, { headers: { Accept: MANIFEST_ACCEPT }, scopes: [repositoryScope(repo, ['pull'])] });
  if (res.status === 404) {
    throw new ToolError(`${formatReference(ref)}: not found: ${await registryError(res)}`, `does ${repositoryName(ref)} have ${ref.digest ? `a manifest ${ref.digest}` : `a tag ${ref.tag}`}?`);
  }
  if (res.status !== 200) throw new ToolError(`${formatReference(ref)}: manifest request failed: ${await registryError(res)}`);
  const chunks: Buffer[] = [];
  for await (const chunk of res.body as AsyncIterable<Buffer>) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const header = res.headers['docker-content-digest'];
  const announced = typeof header === 'string' ? header : undefined;
  let digest: Digest;
  try {
    if (reference.includes(':')) {
      verifyBytes(bytes, { digest: reference as Digest });
      digest = reference as Digest;
    } else {
      digest = digestOf(bytes, announced ? parseDigest(announced).algorithm : 'sha256');
      if (announced && announced !== digest) throw new OciError(`the registry announced ${announced} but sent ${digest}`);
    }
  } catch (e) {
    throw new ToolError(`${formatReference(ref)}: manifest rejected: ${(e as Error).message}`);
  }
  const { algorithm, encoded } = parseDigest(digest);
  const curl = (file: string) => `curl -fsSL${client.curlOptions()} -H 'Accept: ${MANIFEST_ACCEPT}' -o ${file} ${shellUrl(client.url(path))}`;
  traceLine(opts.steps, curl('manifest.json'));
  scriptLine(opts.steps, curl(`"$tmp/${encoded}"`));
  // The script pins what the registry sent now: a tag moved since is a mismatch, not another image.
  scriptLine(opts.steps, `echo "${encoded}  $tmp/${encoded}" | ${algorithm}sum -c --quiet`);
  const contentType = res.headers['content-type'];
  return { bytes, contentType, digest };
}

/** The image's config and how it came: its summary, and `store` to put it into the store (nothing if it is there). */
interface PulledConfig {
  blob: PulledBlob;
  /** Undefined in a dry run. */
  image?: ImageConfig;
  store(): Promise<void>;
}

/** A config fetched into memory, verified, and its progress item (finished once it is stored). */
interface FetchedConfig {
  bytes: Buffer;
  bar: ProgressItem;
}

/**
 * The config, fetched into memory as soon as the manifest names it, while the store is made ready and leased
 * (a config is read whole to be checked in any case); undefined when the store at `dir` holds it already.
 */
async function prefetchConfig(opts: RegistryFetch, d: Descriptor): Promise<FetchedConfig | undefined> {
  return (await OciLayout.holdsBlob(opts.storeDir, d.digest)) ? undefined : fetchConfig(opts, d);
}

async function fetchConfig(opts: RegistryFetch, d: Descriptor): Promise<FetchedConfig> {
  blobSteps(opts, d, 'config');
  const bar = opts.progress.item('config', d.size);
  return { bytes: await fetchBlob(opts, d, 'config', bar), bar };
}

/**
 * The image's config, wanted before any layer is fetched (its checks decide whether they are): the one
 * `prefetched`, else the store's, else fetched now. One fetched is stored by `store`, while the layers
 * download: its write, fsync and renames are not in the way of the first layer byte.
 */
async function pullConfig(opts: RegistryPull, d: Descriptor, prefetched: Promise<FetchedConfig | undefined>): Promise<PulledConfig> {
  const { layout, ref } = opts;
  const unreadable = (e: Error) => new ToolError(`${formatReference(ref)}: config ${d.digest}: ${e.message}`);
  if (!layout || opts.dryRun) return { blob: await pullBlob(opts, d, 'config'), store: async () => {} };
  let fetched = await prefetched;
  if (!fetched) {
    const stored = await storedBlob(opts, d, 'config');
    if (stored) {
      const image = await layout.readConfig(d.digest).catch((e: Error) => {
        throw unreadable(e);
      });
      return { blob: stored, image, store: async () => {} };
    }
    fetched = await fetchConfig(opts, d);
  }
  const { bytes, bar } = fetched;
  let image: ImageConfig;
  try {
    image = parseImageConfig(bytes);
  } catch (e) {
    throw unreadable(e as Error);
  }
  const store = async () => {
    await layout.putBlob(bytes, { digest: d.digest, size: d.size }).catch((e: unknown) => {
      throw blobFailure(opts, d, e) ?? e;
    });
    bar.finish('pull complete');
  };
  return { blob: { ...summaryOf(d), cached: false }, image, store };
}

/** The image manifest for the platform, through an index if the reference names one. */
async function resolveImage(opts: ManifestFetch & Pick<PullContext, 'platform'>): Promise<{ fetched: FetchedManifest; doc: ManifestDocument & { kind: 'manifest' }; indexDigest?: Digest }> {
  const { ref } = opts;
  let fetched = await fetchManifest(opts, ref.digest ?? ref.tag!);
  let doc = parseDocument(ref, fetched);
  if (doc.kind === 'manifest') return { fetched, doc };
  const indexDigest = fetched.digest;
  const chosen = manifestFor(ref, doc.index, opts.platform);
  opts.steps.note(`the index lists ${chosen.digest} for ${formatPlatform(chosen.platform!)}`);
  fetched = await fetchManifest(opts, chosen.digest);
  doc = parseDocument(ref, fetched);
  if (doc.kind !== 'manifest') throw new ToolError(`${formatReference(ref)}: nested indexes are not supported`);
  return { fetched, doc, indexDigest };
}

/**
 * `docker pull`: resolve the reference to an image manifest for the platform
 * (through an index if there is one), fetch the config and the layers that the
 * store lacks, each verified as it streams, then tag the manifest with the
 * full reference. Everything happens under a store lease, so a concurrent gc
 * cannot take blobs that are stored but not yet tagged.
 */
export async function pull(source: RegistrySource, ctx: PullContext): Promise<PullResult> {
  const { ref } = source;
  const tagName = formatReference(ref);
  const storeDir = ctx.storeDir ?? (await ctx.store)?.dir ?? '.';
  const remote: RegistryFetch = { ...ctx, storeDir, client: await ctx.registryClient(ref), ref };
  remote.steps.note(`pull ${formatReference(ref)} for ${formatPlatform(remote.platform)} into ${storeDir}`);
  traceLine(remote.steps, 'mkdir -p blobs/sha256');
  if (remote.dryRun) scriptPrologue(remote.steps, storeDir);
  // The manifest is asked for at once, and the config as soon as the manifest names it: the store is made
  // ready and leased meanwhile (a new store's files are written and synced, the lease's lock loads the libc
  // bindings). Should the store fail too, its error is the one to throw.
  const resolving = resolveImage(remote);
  resolving.catch(() => {});
  const configFetch = remote.dryRun ? Promise.resolve(undefined) : resolving.then(({ doc }) => prefetchConfig(remote, doc.manifest.config));
  configFetch.catch(() => {});
  const opts: RegistryPull = { ...remote, layout: await ctx.store };
  const { layout } = opts;
  // A dry run changes nothing, not even the store's lock files.
  const leased = <T>(work: () => Promise<T>) => (layout && !opts.dryRun ? layout.withLease(work) : work());
  return leased(async () => {
    const { fetched, doc, indexDigest } = await resolving;
    const manifest: ImageManifest = doc.manifest;
    const config = await pullConfig(opts, manifest.config, configFetch);
    if (opts.dryRun) checkConfigScript(opts.steps, ref, manifest, indexDigest === undefined ? opts.platform : undefined);
    // The config is checked before any layer is fetched: an image for another platform, or one whose config
    // does not fit its manifest, costs no layer download. Refused, it is stored all the same, as the dry-run
    // script stores it before its checks: the two leave the same store.
    if (config.image) {
      try {
        checkConfig(ref, manifest, config.image, indexDigest ? undefined : opts);
      } catch (e) {
        await config.store().catch(() => {});
        throw e;
      }
    }
    // The layers download as many at once as --jobs says, while the config is stored; both end before the tag.
    const [layers] = await allSettled(
      mapLimited(manifest.layers, opts.jobs, (l, i) => pullBlob(opts, l, `layer ${i + 1}/${manifest.layers.length} ${l.digest.slice(7, 19)}`)),
      config.store(),
    );
    const descriptor: Descriptor = { mediaType: doc.mediaType, digest: fetched.digest, size: fetched.bytes.length };
    if (layout && !opts.dryRun) {
      await layout.putBlob(fetched.bytes, { digest: fetched.digest, size: fetched.bytes.length });
      await layout.addRef(tagName, descriptor);
    }
    opts.steps.note(`tag ${tagName} → ${fetched.digest} in index.json`);
    if (opts.dryRun) tagScript(opts.steps, tagName, descriptor);
    return {
      reference: formatReference(ref),
      digest: fetched.digest,
      ...(indexDigest && { indexDigest }),
      platform: formatPlatform(opts.platform),
      config: config.blob,
      layers,
    };
  });
}

/**
 * The start of the dry-run script: into the store (made as OciLayout.create makes it), under a shared lease on
 * its gc lock as the tools hold one (gc keeps what a pull stores before it is tagged), with a temporary
 * directory inside it, so that a verified blob enters the store by a rename.
 */
function scriptPrologue(steps: Steps, dir: string): void {
  const q = shellQuote;
  for (const line of [
    `mkdir -p ${q(`${dir}/blobs/sha256`)} ${q(`${dir}/.cutaway`)}`,
    `cd ${q(dir)}`,
    'exec 8>>.cutaway/gc.lock',
    'flock -s 8   # a lease, as the tools take: a gc meanwhile keeps what this pull stores before it is tagged',
    'tmp=$(mktemp -d .cutaway/pull.XXXXXX)',
    `trap 'rm -rf "$tmp"' EXIT`,
    '# oci-layout and index.json, each made only if absent (a link is atomic), as the tools make them',
    `printf '%s' ${q(JSON.stringify({ imageLayoutVersion: LAYOUT_VERSION }))} > "$tmp/oci-layout"`,
    'ln "$tmp/oci-layout" oci-layout 2>/dev/null || [ -f oci-layout ]',
    `printf '%s' ${q(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }))} > "$tmp/index.json"`,
    'ln "$tmp/index.json" index.json 2>/dev/null || [ -f index.json ]',
  ])
    steps.run(line);
}

/**
 * The tool's checks of the config, before any layer is fetched: as many diff_ids as layers, and for an image
 * without an index, the platform's os and architecture.
 */
function checkConfigScript(steps: Steps, ref: Reference, manifest: ImageManifest, platform: Platform | undefined): void {
  const file = blobName(manifest.config.digest);
  const n = manifest.layers.length;
  const name = formatReference(ref);
  steps.run(`n=$(jq '.rootfs.diff_ids | length' ${file})`);
  steps.run(`[ "$n" -eq ${n} ] || { echo ${shellQuote(`${name}: the config lists`)} "$n" ${shellQuote(`diff_ids for ${n} layers`)} >&2; exit 1; }`);
  if (platform) {
    const want = `.os == ${JSON.stringify(platform.os)} and .architecture == ${JSON.stringify(platform.architecture)}`;
    steps.run(`jq -e ${shellQuote(want)} ${file} >/dev/null || { echo ${shellQuote(`${name}: the image does not match the platform: wanted ${formatPlatform(platform)}, actual:`)} "$(jq -r '"\\(.os)/\\(.architecture)"' ${file})" >&2; exit 1; }`);
  }
}

/**
 * The dry-run script's tag: the manifest into the store, then index.json updated under the lock the tools take
 * (.cutaway/index.lock) as OciLayout.addRef does — the name's old entry out, the new one last — and renamed into
 * place, byte for byte what the tool writes.
 */
function tagScript(steps: Steps, name: string, descriptor: Descriptor): void {
  const file = blobName(descriptor.digest);
  const { encoded } = parseDigest(descriptor.digest);
  const filter = `.mediaType //= ${JSON.stringify(MediaType.ociIndex)} | .manifests = [(.manifests[] | select(.annotations[$key] != $name)), ($desc + {annotations: {($key): $name}})]`;
  for (const line of [
    `[ -f ${file} ] || mv "$tmp/${encoded}" ${file}`,
    '(',
    '  flock 9',
    `  jq -jc --arg key ${REF_NAME} --arg name ${shellQuote(name)} --argjson desc ${shellQuote(JSON.stringify(descriptor))} \\`,
    `    ${shellQuote(filter)} index.json > "$tmp/index.json.new"`,
    '  mv "$tmp/index.json.new" index.json',
    ') 9>>.cutaway/index.lock',
  ])
    steps.run(line);
}

/** The index's manifest for the platform; when it has none, Docker's error, with the reference and the platforms it has. */
function manifestFor(ref: Reference, index: ImageIndex, platform: Platform): Descriptor {
  try {
    return selectPlatform(index, platform);
  } catch (e) {
    if (!(e instanceof OciError)) throw e;
    const available = [...new Set(index.manifests.filter((d) => d.platform && !isAttestation(d)).map((d) => formatPlatform(d.platform!)))];
    throw new ToolError(
      `${formatReference(ref)}: no matching manifest for ${formatPlatform(platform)} in the manifest list entries`,
      available.length ? `the image is for ${available.join(', ')}` : 'its manifest list names no platform',
    );
  }
}

/** The config fits the manifest (a diff_id for each layer), and with `wanted`, the platform (checkPlatform). */
function checkConfig(ref: Reference, manifest: ImageManifest, image: ImageConfig, wanted: Pick<PullContext, 'platform' | 'platformGiven'> | undefined): void {
  if (image.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new ToolError(`${formatReference(ref)}: the config lists ${image.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
  }
  if (wanted) checkPlatform(ref, image, wanted.platform, wanted.platformGiven ?? false);
}

/**
 * A single-platform image (a manifest without an index) is for the platform its config names: pulled for
 * another (--platform's, else this host's), it is refused, as docker pull --platform does, before any layer
 * is fetched.
 */
function checkPlatform(ref: Reference, config: ImageConfig, platform: Platform, given: boolean): void {
  const own: Platform = { os: config.os, architecture: config.architecture, ...(config.variant !== undefined && { variant: config.variant }) };
  if (platformRank(platform, own) >= 0) return;
  const wanted = given ? `the specified platform: wanted ${formatPlatform(platform)}` : `this host's platform: wanted ${formatPlatform(platform)}`;
  throw new ToolError(`${formatReference(ref)}: the image does not match ${wanted}, actual: ${formatPlatform(own)}`, `it is a single-platform image: pull it with --platform ${formatPlatform(own)}`);
}

function parseDocument(ref: Reference, fetched: FetchedManifest): ManifestDocument {
  try {
    return parseManifestDocument(fetched.bytes, fetched.contentType);
  } catch (e) {
    throw new ToolError(`${formatReference(ref)}: ${(e as Error).message}`);
  }
}
