import { pipeline, Transform, type Readable } from 'node:stream';
import { shellQuote, ToolError, type Steps } from '@cutaway/cli';
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
  parseDigest,
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
  type Platform,
  type Reference,
} from '@cutaway/oci';
import { mapLimited } from './common.ts';
import { registryError, repositoryScope, type RegistryClient } from './registry.ts';
import { scriptLine, traceLine } from './script.ts';
import type { PulledBlob, PullContext, PullResult, RegistrySource } from './source.ts';

/** A registry pull under way: the context, the reference, and a client for its registry. */
interface RegistryPull extends PullContext {
  client: RegistryClient;
  ref: Reference;
}

const BLOB_ATTEMPTS = 4;

/** Failures of the store's own file system: no other attempt helps them. */
const STORE_ERRORS = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO']);

function shellUrl(url: URL): string {
  return `'${url.href}'`;
}

/**
 * What the registry says a tag or digest is: its exact bytes, checked against the digest we asked for or were
 * told. The dry-run script fetches it into its temporary directory, named by its digest, and checks it there.
 */
async function fetchManifest(opts: RegistryPull, reference: string): Promise<{ bytes: Buffer; contentType: string | undefined; digest: Digest }> {
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

/** Counts the bytes of a stream into a progress bar. */
function counting(progress: (done: number) => void, start: number): Transform {
  let done = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      done += chunk.length;
      progress(done);
      cb(null, chunk);
    },
  });
}

/** Downloads one blob into the store (resuming an interrupted download), unless it is there already. */
async function pullBlob(opts: RegistryPull, d: Descriptor, label: string): Promise<PulledBlob> {
  const { client, layout, ref, progress } = opts;
  const path = `/v2/${ref.path}/blobs/${d.digest}`;
  const file = blobName(d.digest);
  const summary = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (layout && !opts.dryRun && (await layout.hasBlob(d.digest))) {
    opts.steps.note(`${file} is in the store already`);
    progress.item(label, d.size).finish('already exists');
    return { ...summary, cached: true };
  }
  const { algorithm, encoded } = parseDigest(d.digest);
  traceLine(opts.steps, `curl -fsSL${client.curlOptions()} -o ${file} ${shellUrl(client.url(path))}`);
  traceLine(opts.steps, `echo '${encoded}  ${file}' | ${algorithm}sum -c`);
  // The script asks the store as it runs, as the tool does: a blob there already is not fetched again. A blob
  // enters the store only verified, by a rename from the store's own file system.
  scriptLine(opts.steps, `if [ ! -f ${file} ]; then   # ${label}`);
  scriptLine(opts.steps, `  curl -fsSL${client.curlOptions()} -o "$tmp/${encoded}" ${shellUrl(client.url(path))}`);
  scriptLine(opts.steps, `  echo "${encoded}  $tmp/${encoded}" | ${algorithm}sum -c --quiet`);
  scriptLine(opts.steps, `  mv "$tmp/${encoded}" ${file}`);
  scriptLine(opts.steps, 'fi');
  if (opts.dryRun || !layout) return { ...summary, cached: false };
  const bar = progress.item(label, d.size);
  // pipeline, not pipe: a connection that drops must fail the store's write (and be resumed), not leave it waiting.
  // Bytes are counted only for a bar someone sees.
  const body = (res: { body: Readable }, offset: number): Readable => (progress.interactive ? pipeline(res.body, counting(bar.update, offset), () => {}) : res.body);
  for (let attempt = 1; ; attempt++) {
    let resumedFrom = 0;
    try {
      const stored = await layout.putBlobResumable({ digest: d.digest, size: d.size }, async (offset) => {
        resumedFrom = offset;
        const res = await client.request(path, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, scopes: [repositoryScope(ref.path, ['pull'])] });
        if (res.status === 206) {
          const range = /^bytes (\d+)-/.exec(String(res.headers['content-range']));
          if (range && Number(range[1]) === offset) return { stream: body(res, offset), offset };
          res.body.resume();
          throw new Error(`unexpected Content-Range ${res.headers['content-range']}`);
        }
        if (res.status === 200) return { stream: body(res, 0), offset: 0 };
        throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${await registryError(res)}`);
      });
      bar.finish(stored.resumedAt > 0 ? `pull complete (resumed at ${stored.resumedAt} bytes)` : 'pull complete');
      return { ...summary, cached: false };
    } catch (e) {
      if (e instanceof ToolError) throw e;
      // A resumed blob that does not verify may owe it to the bytes kept from before (the .partial is gone now): once more, from zero.
      if (e instanceof OciError && resumedFrom > 0 && attempt < BLOB_ATTEMPTS) {
        process.stderr.write(`${label}: the resumed download did not verify; fetching it again from the start\n`);
        continue;
      }
      if (e instanceof OciError) throw new ToolError(`${repositoryName(ref)}: blob ${d.digest} rejected: ${e.message}`, 'the registry holds a corrupt blob; nothing was stored');
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (STORE_ERRORS.has(code)) {
        const full = code === 'ENOSPC' || code === 'EDQUOT';
        throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${(e as Error).message}`, full ? `free space where the store is (df ${layout.dir}); pulling again resumes where this pull stopped` : undefined);
      }
      if (attempt >= BLOB_ATTEMPTS) throw new ToolError(`${repositoryName(ref)}: blob ${d.digest}: ${(e as Error).message}`);
      process.stderr.write(`${label}: ${(e as Error).message}; resuming\n`);
    }
  }
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
  const opts: RegistryPull = { ...ctx, client: await ctx.registryClient(ref), ref };
  const { layout } = opts;
  const tagName = formatReference(ref);
  const dir = ctx.storeDir ?? layout?.dir ?? '.';
  opts.steps.note(`pull ${formatReference(ref)} for ${formatPlatform(opts.platform)} into ${dir}`);
  traceLine(opts.steps, 'mkdir -p blobs/sha256');
  if (opts.dryRun) scriptPrologue(opts.steps, dir);
  // A dry run changes nothing, not even the store's lock files.
  const leased = <T>(work: () => Promise<T>) => (layout && !opts.dryRun ? layout.withLease(work) : work());
  return leased(async () => {
    let fetched = await fetchManifest(opts, ref.digest ?? ref.tag!);
    let doc = parseDocument(ref, fetched);
    let indexDigest: Digest | undefined;
    if (doc.kind === 'index') {
      indexDigest = fetched.digest;
      const chosen = manifestFor(ref, doc.index, opts.platform);
      opts.steps.note(`the index lists ${chosen.digest} for ${formatPlatform(chosen.platform!)}`);
      fetched = await fetchManifest(opts, chosen.digest);
      doc = parseDocument(ref, fetched);
      if (doc.kind !== 'manifest') throw new ToolError(`${formatReference(ref)}: nested indexes are not supported`);
    }
    const manifest: ImageManifest = doc.manifest;
    const config = await pullBlob(opts, manifest.config, 'config');
    if (opts.dryRun) checkConfigScript(opts.steps, ref, manifest, indexDigest === undefined ? opts.platform : undefined);
    // The config is checked before any layer is fetched: an image for another platform, or one whose config
    // does not fit its manifest, costs no layer download.
    if (layout && !opts.dryRun) {
      const image = await layout.readConfig(manifest.config.digest).catch((e: Error) => {
        throw new ToolError(`${formatReference(ref)}: config ${manifest.config.digest}: ${e.message}`);
      });
      if (image.rootfs.diff_ids.length !== manifest.layers.length) {
        throw new ToolError(`${formatReference(ref)}: the config lists ${image.rootfs.diff_ids.length} diff_ids for ${manifest.layers.length} layers`);
      }
      if (!indexDigest) checkPlatform(ref, image, opts.platform, opts.platformGiven ?? false);
    }
    const layers = await mapLimited(manifest.layers, opts.jobs, (l, i) => pullBlob(opts, l, `layer ${i + 1}/${manifest.layers.length} ${l.digest.slice(7, 19)}`));
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
      config,
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

function parseDocument(ref: Reference, fetched: { bytes: Buffer; contentType: string | undefined }) {
  try {
    return parseManifestDocument(fetched.bytes, fetched.contentType);
  } catch (e) {
    throw new ToolError(`${formatReference(ref)}: ${(e as Error).message}`);
  }
}
