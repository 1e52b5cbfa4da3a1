import { imageStoreDir, ROOT_OPTION, runTool, stateRoot, ToolError, toolSpec, type Invocation } from '@cutaway/cli';
import { formatReference, OciLayout, parseReference } from '@cutaway/oci';
import pkg from '../package.json' with { type: 'json' };
import { jobsOption, REGISTRY_OPTIONS, registryClient } from './common.ts';
import { closeConnections } from './http.ts';
import { push } from './push.ts';
import { withCredentialCheck } from './script.ts';

const spec = toolSpec({
  name: 'oci-push',
  version: pkg.version,
  synopsis: ['[options] REF', '[options] --from NAME REF'],
  description: [
    'Pushes an image from the store (or --layout DIR) to a registry, as docker push does:',
    'each blob the registry lacks is uploaded (or mounted from another repository of the same',
    'registry), then the manifest — for a multi-platform index, every image and then the index.',
    'Prints the pushed manifest digest.',
  ].join('\n'),
  options: [
    { name: 'from', type: 'string', arg: 'NAME', help: 'push the store image named NAME (default: the one named REF)' },
    ...REGISTRY_OPTIONS,
    { name: 'layout', type: 'string', arg: 'DIR', help: 'read from this OCI layout instead of the store' },
    ROOT_OPTION,
  ],
  operands: { min: 1, max: 1, names: 'REF' },
  examples: [
    'oci-push localhost:5000/app:1                       # the store image tagged localhost:5000/app:1',
    'oci-push --from docker.io/library/busybox:latest localhost:5000/busybox:latest',
    'oci-push --creds me:secret --layout ./build registry.example.com/team/app:2',
    'oci-push --dry-run localhost:5000/app:1 > push.sh    # the same push as curl commands',
  ],
  classic: [
    'curl -I  http://localhost:5000/v2/app/blobs/sha256:…                       # 200: already there',
    'curl -X POST http://localhost:5000/v2/app/blobs/uploads/                    # 202, Location: the upload URL',
    'curl -X PUT --data-binary @blob "$LOCATION&digest=sha256:…"',
    "curl -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' --data-binary @manifest.json http://localhost:5000/v2/app/manifests/1",
    'skopeo copy oci:/var/lib/cutaway/images:localhost:5000/app:1 docker://localhost:5000/app:1',
  ],
});

async function main({ options, positionals, progress, steps, json }: Invocation<typeof spec.options>): Promise<number> {
  const target = parseReference(positionals[0]!);
  const dir = options.layout ?? imageStoreDir(stateRoot(options.root));
  const layout = await OciLayout.open(dir).catch((e: Error) => {
    throw new ToolError(e.message, 'nothing to push: pull or build an image first');
  });
  // --from names a store image as written there (a layout from elsewhere may use short names), else normalised.
  const from = options.from;
  const name = from !== undefined && (await layout.resolve(from)) ? from : formatReference(from !== undefined ? parseReference(from) : target);
  const dryRun = options['dry-run'];
  const client = await registryClient(target, options, steps);
  try {
    const result = await push({ client, layout, name, target, jobs: jobsOption(options.jobs), progress, steps, dryRun, script: { defined: false } });
    if (dryRun) process.stdout.write(withCredentialCheck(steps.toScript(), ['curl', 'sed', 'tr', 'mktemp', ...(client.usesTokens ? ['jq'] : [])]));
    else if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${result.digest}\n`);
    if (!dryRun) progress.step(`${result.reference}: pushed (${result.digest})`);
  } finally {
    closeConnections();
  }
  return 0;
}

void runTool(spec, main);
