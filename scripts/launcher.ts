/**
 * How a built tool starts (scripts/build.ts writes this file, bundled, as tools/<name>/dist/<bin>.cjs). The tool
 * itself is dist/<bin>.bundle.cjs; dist/<bin>.code-cache holds V8's code cache of it, made by the build from a
 * run of the tool. Compiling the bundle was the largest part of every start (~20 ms of cutaway's ~70): with the
 * cache, V8 reads the compiled code of the functions that run at start instead of compiling them again.
 *
 * The bundle runs as Node would run it as the main module: wrapped in Node's CommonJS function, with this
 * module's `module`, `exports` and `require` (the bundle sits beside this file, so `require('koffi')` resolves as
 * it would from the bundle), and the bundle's own __filename and __dirname. process.argv is untouched: argv[1]
 * is the command's script, this file, in the bundle's directory.
 *
 * The cache is used only when its checksum matches: V8 checks a cache's version, flags and the length of the
 * source it was made from, but not its contents (a changed byte can crash V8), nor that the source is the same.
 * A cache that is missing, corrupt, made from another bundle, or rejected by V8 (another Node) costs the compile
 * the cache would have saved, nothing more.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

const BUNDLE = __filename.replace(/\.cjs$/, '.bundle.cjs');
const CACHE = __filename.replace(/\.cjs$/, '.code-cache');
/** Set by the build only: the file to write the code cache to once this run has exited. */
const WRITE_CACHE = 'CUTAWAY_WRITE_CODE_CACHE';
/** The cache file: this many bytes of checksum (checksum()), then V8's data. */
const HEADER = 4;

/** Node's own CommonJS wrapper; lines past the first keep their numbers, as the bundle's source map has them. */
const wrap = (source: string) => `(function (exports, require, module, __filename, __dirname) { ${source}\n})`;

/** crc32 of the bundle, then of V8's data; none on a Node without zlib.crc32 (before 20.15), which uses no cache. */
function checksum(bundle: Buffer, data: Buffer): number | undefined {
  return typeof crc32 === 'function' ? crc32(data, crc32(bundle)) : undefined;
}

/** V8's data from the cache file, if there is one and it was made from this bundle. */
function cachedData(bundle: Buffer): Buffer | undefined {
  let file: Buffer;
  try {
    file = readFileSync(CACHE);
  } catch {
    return undefined;
  }
  const data = file.subarray(HEADER);
  return file.length > HEADER && checksum(bundle, data) === file.readUInt32LE(0) ? data : undefined;
}

/** The cache of everything compiled by the time the process exits (what ran at start too), with its header. */
function writeCache(script: Script, bundle: Buffer, file: string): void {
  const data = script.createCachedData();
  const header = Buffer.alloc(HEADER);
  header.writeUInt32LE(checksum(bundle, data) ?? 0);
  writeFileSync(file, Buffer.concat([header, data]));
}

/** Compiles the bundle and runs it; the files read are not kept (but by a run that writes the cache). */
function start(): void {
  const bundle = readFileSync(BUNDLE);
  const script = new Script(wrap(bundle.toString()), { filename: BUNDLE, cachedData: cachedData(bundle) });
  const cacheFile = process.env[WRITE_CACHE];
  if (cacheFile) {
    // Not for the tools this one runs: each has its own cache.
    delete process.env[WRITE_CACHE];
    process.on('exit', () => writeCache(script, bundle, cacheFile));
  }
  const main = script.runInThisContext() as (exports: unknown, req: typeof require, mod: typeof module, filename: string, dir: string) => void;
  // `this` is module.exports, as at any CommonJS module's top level.
  main.call(module.exports, module.exports, require, module, BUNDLE, dirname(BUNDLE));
}

start();
