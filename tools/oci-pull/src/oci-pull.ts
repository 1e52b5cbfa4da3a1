import { resolve } from 'node:path';
import { imageStoreDir, ROOT_OPTION, runTool, stateRoot, toolSpec, type Invocation } from '@cutaway/cli';
import { hostPlatform, OciLayout, parsePlatform } from '@cutaway/oci';
import pkg from '../package.json' with { type: 'json' };
import { importDockerArchive } from './archive.ts';
import { jobsOption, REGISTRY_OPTIONS, registryClient } from './common.ts';
import { copyImage } from './copy.ts';
import { checkAuth } from './check-auth.ts';
import { closeConnections } from './http.ts';
import { pull } from './pull.ts';
import { withCredentialCheck } from './script.ts';
import { parseSource, type PullContext, type PullResult, type Source } from './source.ts';

const spec = toolSpec({
  name: 'oci-pull',
  version: pkg.version,
  synopsis: ['[options] REF', '[options] oci:DIR:NAME', '[options] docker-archive:FILE[:REF]', '--check-auth [--creds USER:PASSWORD|-] REGISTRY'],
  description: [
    'Pulls an image into the store (an OCI image layout at ROOT/images, or --layout DIR),',
    'as docker pull does: picks the manifest for the platform, downloads the blobs the store',
    'lacks (each verified by digest as it streams, interrupted downloads resumed), and tags',
    'the manifest with the full reference. Prints the manifest digest.',
  ].join('\n'),
  options: [
    { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the platform to pull for (default: this host's)" },
    ...REGISTRY_OPTIONS,
    { name: 'layout', type: 'string', arg: 'DIR', help: 'write to this OCI layout instead of the store' },
    { name: 'check-auth', type: 'boolean', help: 'the operand is a registry: only check that it accepts the credentials (GET /v2/, as docker login does)' },
    ROOT_OPTION,
  ],
  operands: { min: 1, max: 1, names: 'REF' },
  examples: [
    'oci-pull busybox                          # docker.io/library/busybox:latest',
    'oci-pull --platform linux/arm64 debian:bookworm',
    'oci-pull --creds me:secret localhost:5000/app:1',
    'oci-pull --dry-run alpine:3.20 > pull.sh   # the same pull as curl commands',
    'oci-pull oci:./layout:app:1                # from a local OCI layout',
    'digest=$(oci-pull -q ubuntu:24.04)',
    'echo "me:secret" | oci-pull --check-auth --creds - localhost:5000   # docker login\'s check: exit 0 when accepted',
  ],
  classic: [
    'TOKEN=$(curl -s "https://auth.docker.io/token?service=registry.docker.io&scope=repository:library/busybox:pull" | jq -r .token)',
    'curl -H "Authorization: Bearer $TOKEN" -H "Accept: application/vnd.oci.image.index.v1+json, …" https://registry-1.docker.io/v2/library/busybox/manifests/latest',
    'curl -L -H "Authorization: Bearer $TOKEN" https://registry-1.docker.io/v2/library/busybox/blobs/sha256:… | sha256sum',
    'skopeo copy docker://busybox oci:/var/lib/cutaway/images:docker.io/library/busybox:latest',
  ],
});

/** Reads an image from any source into the store: each kind has its reader, all called alike. */
function read(source: Source, ctx: PullContext): Promise<PullResult> {
  switch (source.kind) {
    case 'registry':
      return pull(source, ctx);
    case 'oci':
      return copyImage(source, ctx);
    case 'docker-archive':
      return importDockerArchive(source, ctx);
  }
}

async function main({ options, positionals, progress, steps, json }: Invocation<typeof spec.options>): Promise<number> {
  if (options['check-auth']) {
    const domain = await checkAuth(positionals[0]!, options, steps).finally(closeConnections);
    if (json) process.stdout.write(`${JSON.stringify({ registry: domain, authenticated: true })}\n`);
    return 0;
  }
  const platform = options.platform !== undefined ? parsePlatform(options.platform) : hostPlatform();
  const jobs = jobsOption(options.jobs);
  const dryRun = options['dry-run'];
  const dir = resolve(options.layout ?? imageStoreDir(stateRoot(options.root)));
  const source = parseSource(positionals[0]!);
  const store = dryRun ? OciLayout.open(dir).catch(() => undefined) : OciLayout.create(dir);
  // Its error is the reader's to throw, when it awaits the store.
  store.catch(() => {});

  const ctx: PullContext = { store, storeDir: dir, platform, platformGiven: options.platform !== undefined, jobs, progress, steps, dryRun, registryClient: (ref) => registryClient(ref, options, steps) };
  let result: PullResult;
  try {
    result = await read(source, ctx);
  } finally {
    closeConnections();
  }

  if (dryRun) process.stdout.write(withCredentialCheck(steps.toScript(), ['curl', 'sha256sum', 'jq', 'flock', 'mktemp']));
  else if (json) process.stdout.write(`${JSON.stringify({ ...result, store: dir })}\n`);
  else process.stdout.write(`${result.digest}\n`);
  if (!dryRun) {
    const upToDate = result.layers.every((l) => l.cached) && result.config.cached;
    const status = source.kind !== 'registry' ? 'imported' : upToDate ? 'image is up to date' : 'downloaded newer image';
    progress.step(`${result.reference}: ${status} (${result.digest})`);
  }
  return 0;
}

void runTool(spec, main);
