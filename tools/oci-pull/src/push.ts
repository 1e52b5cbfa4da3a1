import { resolve } from 'node:path';
import { shellQuote, ToolError, type Progress, type Steps } from '@cutaway/cli';
import {
  blobName,
  formatReference,
  parseReference,
  repositoryName,
  type Descriptor,
  type Digest,
  type ManifestDocument,
  type OciLayout,
  type Reference,
} from '@cutaway/oci';
import { mapLimited } from './common.ts';
import { registryError, repositoryScope, type RegistryClient } from './registry.ts';
import { traceLine } from './script.ts';

export interface PushOptions {
  client: RegistryClient;
  layout: OciLayout;
  /** The image's name in the layout. */
  name: string;
  target: Reference;
  jobs: number;
  progress: Progress;
  steps: Steps;
  dryRun: boolean;
  /** The dry-run script's state: whether push_blob is defined yet. */
  script: { defined: boolean };
}

export interface PushedBlob {
  mediaType: string;
  digest: Digest;
  size: number;
  /** exists: the registry had it; mounted: taken from another repository there; uploaded. */
  status: 'exists' | 'mounted' | 'uploaded';
}

export interface PushResult {
  reference: string;
  digest: Digest;
  blobs: PushedBlob[];
}

const UPLOAD_ATTEMPTS = 3;

/**
 * Other repositories of the same registry that the store knows hold each blob:
 * candidates for a cross-repository mount (distribution-spec "Mounting a blob
 * from another repository"), which spares the upload.
 */
async function mountSources(layout: OciLayout, target: Reference): Promise<Map<Digest, string>> {
  const sources = new Map<Digest, string>();
  for (const entry of await layout.list()) {
    let ref: Reference;
    try {
      ref = parseReference(entry.name);
    } catch {
      continue;
    }
    if (ref.domain !== target.domain || ref.path === target.path) continue;
    const doc = await layout.readManifestDocument(entry.descriptor).catch(() => undefined);
    if (doc?.kind !== 'manifest') continue;
    for (const d of [doc.manifest.config, ...doc.manifest.layers]) if (!sources.has(d.digest)) sources.set(d.digest, ref.path);
  }
  return sources;
}

async function pushBlob(opts: PushOptions, d: Descriptor, label: string, mountFrom: string | undefined): Promise<PushedBlob> {
  const { client, target, steps } = opts;
  const repo = target.path;
  const summary = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  const push = [repositoryScope(repo, ['pull', 'push'])];
  const head = await client.request(`/v2/${repo}/blobs/${d.digest}`, { method: 'HEAD', scopes: push });
  head.body.resume();
  traceLine(steps, `curl -fsSI${client.curlOptions()} '${client.url(`/v2/${repo}/blobs/${d.digest}`).href}'   # 200: the registry has it`);
  if (opts.dryRun) {
    // The script asks the registry as it runs (the blob may be there by then, or gone): push_blob does what
    // the rest of this function does.
    if (!opts.script.defined) {
      opts.script.defined = true;
      for (const line of pushBlobFunction(client, repo)) steps.run(line);
    }
    // A mount needs pull on the other repository too: a token for both, which serves the later requests as well.
    const token = mountFrom ? client.tokenStep([...push, repositoryScope(mountFrom, ['pull'])]) : undefined;
    if (token) steps.run(token);
    steps.run(`push_blob ${d.digest}${mountFrom ? ` ${shellQuote(mountFrom)}` : ''}   # ${label}`);
    return { ...summary, status: 'uploaded' };
  }
  const bar = opts.progress.item(label, d.size);
  if (head.status === 200) {
    bar.finish('layer already exists');
    return { ...summary, status: 'exists' };
  }
  const file = `blobs/${d.digest.replace(':', '/')}`;
  for (let attempt = 1; ; attempt++) {
    try {
      let startPath = `/v2/${repo}/blobs/uploads/`;
      if (mountFrom) startPath += `?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(mountFrom)}`;
      const scopes = mountFrom ? [...push, repositoryScope(mountFrom, ['pull'])] : push;
      traceLine(steps, `curl -fsS -X POST -D headers.txt${client.curlOptions()} '${client.url(startPath).href}'   # 201: mounted; 202: Location: is the upload URL`);
      const started = await client.request(startPath, { method: 'POST', headers: { 'Content-Length': '0' }, scopes });
      started.body.resume();
      if (started.status === 201) {
        bar.finish(`mounted from ${mountFrom}`);
        return { ...summary, status: 'mounted' };
      }
      if (started.status !== 202 || !started.headers.location) throw new ToolError(`${repositoryName(target)}: starting an upload: ${await registryError(started)}`);
      const location = new URL(started.headers.location, client.base);
      location.searchParams.append('digest', d.digest);
      traceLine(steps, `curl -fsS -X PUT${client.curlOptions()} -H 'Content-Type: application/octet-stream' -T ${file} '${location.href}'`);
      let sent = 0;
      const put = await client.request('', {
        url: location,
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(d.size) },
        body: () => opts.layout.openBlob(d.digest).on('data', (chunk: Buffer) => bar.update((sent += chunk.length))),
        scopes: push,
        retry: false,
      });
      if (put.status !== 201) throw new ToolError(`${repositoryName(target)}: uploading ${d.digest}: ${await registryError(put)}`);
      put.body.resume();
      bar.finish('pushed');
      return { ...summary, status: 'uploaded' };
    } catch (e) {
      if (e instanceof ToolError || attempt >= UPLOAD_ATTEMPTS) throw e instanceof ToolError ? e : new ToolError(`${repositoryName(target)}: uploading ${d.digest}: ${(e as Error).message}`);
      process.stderr.write(`${label}: ${(e as Error).message}; retrying\n`);
    }
  }
}

async function putManifest(opts: PushOptions, reference: string, mediaType: string, bytes: Buffer, digest: Digest): Promise<void> {
  const { client, target, steps } = opts;
  const path = `/v2/${target.path}/manifests/${reference}`;
  steps.run(`curl -sS --fail-with-body -X PUT${client.curlOptions()} -H 'Content-Type: ${mediaType}' --data-binary @${blobName(digest)} '${client.url(path).href}'`);
  if (opts.dryRun) return;
  const res = await client.request(path, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: bytes, scopes: [repositoryScope(target.path, ['pull', 'push'])] });
  if (res.status !== 201) throw new ToolError(`${formatReference(target)}: manifest refused: ${await registryError(res)}`);
  res.body.resume();
  const announced = res.headers['docker-content-digest'];
  if (typeof announced === 'string' && announced !== digest) throw new ToolError(`${formatReference(target)}: the registry stored the manifest as ${announced}, expected ${digest}`);
}

/**
 * The dry-run script's push_blob DIGEST [REPO], defined once the registry's auth is known (its curl options): the
 * blob's HEAD (200: the registry has it; 404: it lacks it, as any other answer fails), then an upload's POST
 * (?mount= from REPO: 201 is mounted; 202 starts an upload at the Location given) and the blob's PUT there with
 * its digest, monolithic, as the tool uploads it. Every curl failure stops the script.
 */
function pushBlobFunction(client: RegistryClient, repo: string): string[] {
  const auth = client.curlOptions();
  const base = client.url(`/v2/${repo}/blobs/`).href;
  return [
    '# push_blob DIGEST [REPO]: HEAD 200 = the registry has the blob; 404 = POST an upload (mounted from REPO: 201;',
    '# else 202 and a Location), then PUT the blob there with ?digest= (monolithic, as oci-push does)',
    'push_blob() {',
    `  code=$(curl -sS -o /dev/null -w '%{http_code}' -I${auth} "${base}$1")`,
    '  case $code in',
    '    200) echo "$1: already exists" >&2; return ;;',
    '    404) ;;',
    `    *) echo "HEAD ${base}$1: HTTP $code" >&2; exit 1 ;;`,
    '  esac',
    `  url="${base}uploads/\${2:+?mount=$1&from=$2}"`,
    `  code=$(curl -sS -X POST -H 'Content-Length: 0' -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}'${auth} "$url")`,
    '  case $code in',
    '    201) echo "$1: mounted from $2" >&2; return ;;',
    '    202) ;;',
    '    *) echo "POST $url: HTTP $code: $(cat "$tmp/body")" >&2; exit 1 ;;',
    '  esac',
    `  location=$(sed -n 's/^Location: *//Ip' "$tmp/headers" | tr -d '\\r')`,
    `  case $location in /*) location="${client.base.origin}$location" ;; esac`,
    `  case $location in *\\?*) location="$location&digest=$1" ;; *) location="$location?digest=$1" ;; esac`,
    `  curl -sS --fail-with-body -X PUT${auth} -H 'Content-Type: application/octet-stream' -T "blobs/\${1%%:*}/\${1#*:}" "$location"`,
    '  echo "$1: pushed" >&2',
    '}',
  ];
}

/**
 * `docker push`: every blob the registry lacks is uploaded (or mounted from
 * another repository of the same registry), then the manifest; for an index,
 * each platform's image first, by digest, then the index under the tag.
 */
export async function push(opts: PushOptions): Promise<PushResult> {
  const { layout, name, target } = opts;
  const root = await layout.resolve(name);
  if (!root) throw new ToolError(`no image named ${name} in ${layout.dir}`, 'oci-pull it, or name it as `oci-pull`/`layer-commit` tagged it (the full reference)');
  const sources = await mountSources(layout, target);
  opts.steps.note(`push ${name} to ${formatReference(target)}`);
  opts.steps.run(`cd ${shellQuote(resolve(layout.dir))}`);
  if (opts.dryRun) {
    // Response headers and bodies go to a temporary directory, not into the store.
    opts.steps.run('tmp=$(mktemp -d)');
    opts.steps.run(`trap 'rm -rf "$tmp"' EXIT`);
  }
  const blobs: PushedBlob[] = [];

  const pushManifest = async (d: Descriptor, reference: string, doc: ManifestDocument): Promise<void> => {
    if (doc.kind === 'index') {
      for (const child of doc.index.manifests) {
        if (!(await layout.hasBlob(child.digest))) throw new ToolError(`${name}: the index lists ${child.digest}, which is not in the store`);
        await pushManifest(child, child.digest, await layout.readManifestDocument(child));
      }
    } else {
      const all = [doc.manifest.config, ...doc.manifest.layers];
      const pushed = await mapLimited(all, opts.jobs, (b, i) => pushBlob(opts, b, i === 0 ? 'config' : `layer ${i}/${all.length - 1} ${b.digest.slice(7, 19)}`, sources.get(b.digest)));
      blobs.push(...pushed);
    }
    await putManifest(opts, reference, doc.mediaType, await layout.readBlob(d.digest), d.digest);
  };

  if (target.digest && target.digest !== root.digest) throw new ToolError(`${formatReference(target)}: the image is ${root.digest}, not ${target.digest}`);
  await pushManifest(root, target.digest ?? target.tag!, await layout.readManifestDocument(root));
  return { reference: formatReference(target), digest: root.digest, blobs };
}
