import { readFile } from 'node:fs/promises';
import { ToolError, UsageError, type OptionSpec, type OptionValues, type Steps } from '@cutaway/cli';
import { formatReference, type Reference } from '@cutaway/oci';
import { dockerConfigCredentials, parseCreds } from './auth.ts';
import { RegistryClient } from './registry.ts';

/** The options oci-pull and oci-push share: how to reach and authenticate to a registry. */
export const REGISTRY_OPTIONS = [
  { name: 'creds', type: 'string', arg: 'USER:PASSWORD', help: 'credentials for the registry, - to read them from stdin (default: the auths of ~/.docker/config.json)' },
  { name: 'insecure', type: 'boolean', help: 'plain http to the registry (loopback registries are, unless --ca-cert is given)' },
  { name: 'ca-cert', type: 'string', arg: 'FILE', help: 'https, trusting this CA certificate (PEM) as well as the system ones' },
  { name: 'jobs', short: 'j', type: 'string', arg: 'N', help: 'blobs transferred at once (default 4)' },
] as const satisfies readonly OptionSpec[];

export function jobsOption(value: string | undefined): number {
  if (value === undefined) return 4;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError(`--jobs must be a whole number from 1 to 64, got ${JSON.stringify(value)}`);
  return n;
}

/** --creds: USER:PASSWORD, or `-`: that line from stdin (so a password stays out of the process list). */
async function givenCreds(creds: string): Promise<string> {
  if (creds !== '-') return creds;
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A client for the reference's registry, with --creds (else docker login's), --insecure and --ca-cert. */
export async function registryClient(ref: Reference, options: OptionValues<typeof REGISTRY_OPTIONS>, steps: Steps): Promise<RegistryClient> {
  const credentials = options.creds !== undefined ? parseCreds(await givenCreds(options.creds)) : await dockerConfigCredentials(ref.domain);
  const caFile = options['ca-cert'];
  const ca =
    caFile !== undefined
      ? await readFile(caFile).catch((e: Error) => {
          throw new ToolError(`--ca-cert ${caFile}: ${e.message}`);
        })
      : undefined;
  try {
    return new RegistryClient(ref.domain, { insecure: options.insecure, ...(ca && caFile !== undefined && { ca, caFile }), ...(credentials && { credentials }), steps });
  } catch (e) {
    // A registry no URL can name: the error names the reference it came from.
    throw e instanceof ToolError ? new ToolError(`${formatReference(ref)}: ${e.message}`, e.hint) : e;
  }
}

/** Runs `work` over `items`, at most `limit` at a time, keeping order in the result. */
export async function mapLimited<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** Waits for every one of the promises, then gives their values, or throws the first one's error (in order) that failed. */
export async function allSettled<T extends unknown[]>(...promises: { [K in keyof T]: Promise<T[K]> }): Promise<T> {
  const results = await Promise.allSettled(promises);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as T;
}
