import { createHash } from 'node:crypto';
import { chmodSync, createWriteStream, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ToolError } from '@cutaway/cli';
import type { Staging } from './staging.ts';

/**
 * ADD of an http(s) URL, as the Dockerfile reference has it: the file downloaded (never extracted, even a tar),
 * mode 0600, its mtime the response's Last-Modified when it has one, named by the destination, or (a
 * destination ending in `/`) by the last part of the URL's path; with --checksum, verified (BuildKit's
 * "digest mismatch"). The real build downloads before the step, as Docker's classic builder does: the content's
 * digest is part of the step's cache key. A --dry-run script downloads with curl when it runs (scriptDownload).
 */

export const isUrl = (source: string) => /^https?:\/\//i.test(source);

/** The name a URL's file gets in a destination directory: the last part of its path (BuildKit: path.Base). */
export function urlFileName(url: string): string {
  let name = '';
  try {
    name = decodeURIComponent(posix.basename(new URL(url).pathname));
  } catch {
    // not a URL Node reads, or a bad %-escape: no name
  }
  if (!name || name === '/' || name === '.' || name === '..') throw new ToolError(`cannot determine filename from url: ${url}`);
  return name;
}

export interface Downloaded {
  /** The file, mode 0600, in a directory of its own (remove `dir` once done). */
  path: string;
  dir: string;
  /** sha256:… of its content. */
  digest: string;
}

/** A URL's file, into a new temporary directory; checked against `checksum` (sha256 hex) when given. */
export async function download(url: string, checksum: string | undefined): Promise<Downloaded> {
  const response = await fetch(url, { redirect: 'follow' }).catch((e: Error) => {
    throw new ToolError(`failed to GET ${url}: ${(e.cause as Error | undefined)?.message ?? e.message}`);
  });
  if (!response.ok || !response.body) throw new ToolError(`failed to GET ${url} with status ${response.status} ${response.statusText}`.trimEnd());
  const dir = mkdtempSync(join(tmpdir(), 'cw-add-'));
  const path = join(dir, 'file');
  const hash = createHash('sha256');
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), hashing, createWriteStream(path, { mode: 0o600 }));
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw new ToolError(`failed to GET ${url}: ${(e as Error).message}`);
  }
  const hex = hash.digest('hex');
  if (checksum !== undefined && hex !== checksum) {
    rmSync(dir, { recursive: true, force: true });
    throw new ToolError(`digest mismatch sha256:${hex}: sha256:${checksum}`);
  }
  chmodSync(path, 0o600);
  const modified = Date.parse(response.headers.get('last-modified') ?? '');
  if (!Number.isNaN(modified)) utimesSync(path, new Date(modified), new Date(modified));
  return { path, dir, digest: `sha256:${hex}` };
}

/**
 * download() as script lines: curl writes the file at `target` (a quoted word), its mtime from Last-Modified
 * (-R); then the checksum, the mode (0600 or --chmod's) and the owner. `quote` quotes a word of the script.
 */
export function scriptDownload(url: string, target: string, checksum: string | undefined, mode: string, owner: string, quote: (text: string) => string): string[] {
  const error = (text: string) => quote(`cutaway build: error: ${text}`);
  return [
    `if ! curl -fsSL -R -o ${target} ${quote(url)}; then echo ${error(`failed to GET ${url}`)} >&2; exit 1; fi`,
    ...(checksum === undefined
      ? []
      : [`cw_sum=$(sha256sum ${target})`, 'cw_sum=${cw_sum%% *}', `if [ "$cw_sum" != ${checksum} ]; then echo "cutaway build: error: digest mismatch sha256:$cw_sum: sha256:${checksum}" >&2; exit 1; fi`]),
    `chown -h ${owner} ${target}`,
    `chmod ${mode} ${target}`,
  ];
}

/** Each URL's file (download); if one fails, those downloaded already are removed. */
export async function downloadAll(urls: readonly string[], checksum: string | undefined): Promise<Downloaded[]> {
  const done: Downloaded[] = [];
  try {
    for (const url of urls) done.push(await download(url, checksum));
    return done;
  } catch (e) {
    removeDownloads(done);
    throw e;
  }
}

export function removeDownloads(files: readonly Downloaded[]): void {
  for (const f of files) rmSync(f.dir, { recursive: true, force: true });
}

/**
 * A URL's file in the staging tree: at `dest`, or in it named by the URL (`intoDir`: <dest> written as a
 * directory, or several sources); the real build's downloaded file, copied as a context file is (its mode 0600
 * and mtime kept, --chmod and --chown applied), or the script's curl.
 */
export function addUrl(tree: Staging, url: string, fetched: Downloaded | undefined, dest: string, intoDir: boolean, checksum: string | undefined): void {
  const rel = intoDir ? posix.join(dest, urlFileName(url)) : dest;
  if (fetched) tree.entry(fetched.path, rel);
  else tree.download(url, rel, checksum);
}
