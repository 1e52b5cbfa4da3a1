/**
 * Builds every tool into a runnable command: tools/<name>/src/<bin>.ts (or
 * src/main.ts) is bundled with its libs by esbuild into
 * tools/<name>/dist/<bin>.bundle.cjs, so a tool starts without compiling TypeScript;
 * dist/<bin>.cjs starts it (scripts/launcher.ts) with V8's code cache of it,
 * dist/<bin>.code-cache, made here by a run of the tool; and bin/<bin> at the top of
 * the repository links to dist/<bin>.cjs. A command with a src/…/<bin>.c is that C
 * program, compiled (ns-exec, cutaway-shim), plus src/<bin>-plan.ts built the same
 * way beside it where there is one (ns-exec's planner, dist/<bin>-plan.cjs).
 *
 *   tsx scripts/build.ts [TOOL_DIR…]     (default: every tools/* with a bin)
 */
import { chmod, mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const repo = resolve(import.meta.dirname, '..');
const run = promisify(execFile);

/** Native addons load their .node files at run time: they stay outside the bundle. */
const NATIVE = ['koffi'];

async function toolDirs(args: string[]): Promise<string[]> {
  if (args.length) return args.map((a) => resolve(a));
  const tools = join(repo, 'tools');
  if (!existsSync(tools)) return [];
  return (await readdir(tools)).map((name) => join(tools, name)).filter((dir) => existsSync(join(dir, 'package.json')));
}

/**
 * How every built tool starts. `-u NODE_EXTRA_CA_CERTS` keeps Node from parsing the CA bundle at every start
 * (~70-90 ms where it names the whole system bundle, as on our machines); the one tool that speaks TLS reads
 * the file itself, from CUTAWAY_EXTRA_CA_CERTS.
 *
 * The `--` after `node` ends Node's own options before the script, so every argument the kernel appends
 * (the script's path, then the user's arguments) is the tool's. Without it Node 20 reads `--env-file X`,
 * `--env-file=X` and `--env-file-if-exists X` anywhere in argv, after the script too, until a `--`
 * (src/node_dotenv.cc, Dotenv::GetDataFromArgs, run on the whole argv before option parsing): `cutaway run
 * IMG echo --env-file /x` died with "node: /x: not found" (exit 9), and an existing file would have been
 * loaded into the tool's environment, NODE_OPTIONS included. Costs nothing at start-up.
 */
const SHEBANG = '#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS CUTAWAY_EXTRA_CA_CERTS=${NODE_EXTRA_CA_CERTS} node --';

/**
 * One TypeScript entry and its libs → one CommonJS bundle (dist/<bin>.bundle.cjs),
 * started by `command` (dist/<bin>.cjs, the launcher) with its code cache, so that
 * a start compiles next to nothing. CommonJS, not ESM: Node's ESM loader adds ~7 ms
 * to every start, and every tool start is on someone's hot path.
 */
async function bundle(entry: string, command: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile: command.replace(/\.cjs$/, '.bundle.cjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: NATIVE,
    // import.meta.url, which CommonJS lacks (esbuild leaves it empty), is the bundle's own file URL: libs/libc
    // loads koffi relative to it, at its first call (createRequire).
    define: { 'import.meta.url': '__importMetaUrl' },
    banner: { js: "var __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  await writeFile(command, await launcher());
  await chmod(command, 0o755);
  await makeCodeCache(command);
}

let launcherText: Promise<string> | undefined;

/** scripts/launcher.ts as every tool's dist/<bin>.cjs: the same file for each (it finds its bundle by its own name). */
function launcher(): Promise<string> {
  launcherText ??= build({
    entryPoints: [join(repo, 'scripts', 'launcher.ts')],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    banner: { js: SHEBANG },
    write: false,
    logLevel: 'warning',
  }).then((result) => result.outputFiles[0]!.text);
  return launcherText;
}

/**
 * What a command is run with to make its code cache: the functions that run are compiled into the cache, the
 * others are compiled as they run. Runs that read and change nothing: --help, but for ns-exec's planner, whose
 * every start plans a container: a plan printed (--dry-run), so that the planning code is in its cache too
 * (~5 ms of its ~45 ms start).
 */
const CACHE_RUNS: Record<string, string[]> = { 'ns-exec-plan': ['--', '--dry-run', '--rootfs', '/', '--', '/bin/true'] };
const DEFAULT_CACHE_RUN = ['--help'];

/**
 * V8's code cache of a tool's bundle (scripts/launcher.ts): the tool is run once and the cache written as it
 * exits, so the functions a start runs are compiled and in it, not only the top level. Run as its shebang runs
 * it: the `node` on PATH (a cache is good for one Node only), without NODE_OPTIONS (V8 flags there would make
 * a cache that other starts reject). Written under another name and renamed, so no start reads half of one.
 */
async function makeCodeCache(command: string): Promise<void> {
  const cache = command.replace(/\.cjs$/, '.code-cache');
  const partial = `${cache}.${process.pid}`;
  const env: NodeJS.ProcessEnv = { ...process.env, CUTAWAY_WRITE_CODE_CACHE: partial };
  delete env.NODE_OPTIONS;
  delete env.NODE_EXTRA_CA_CERTS;
  try {
    await run('node', ['--', command, ...(CACHE_RUNS[basename(command, '.cjs')] ?? DEFAULT_CACHE_RUN)], { env }).catch((e: { code?: unknown }) => {
      // The cache is written as the tool exits, whatever its status: a plan this host cannot make (no user
      // namespaces for a rootless one, say) has compiled the planning code all the same.
      if (typeof e.code !== 'number') throw e;
    });
    await rename(partial, cache);
  } finally {
    await rm(partial, { force: true });
  }
}

/** The libraries a command's C program links with: ns-exec builds its seccomp filters with libseccomp (libseccomp-dev). */
const C_LIBRARIES: Record<string, string[]> = { 'ns-exec': ['-lseccomp'] };

/** A tool's C program (ns-exec's: namespaces must exist before Node starts), with every warning an error. */
async function compileC(source: string, outfile: string, libraries: string[] = []): Promise<void> {
  await mkdir(dirname(outfile), { recursive: true });
  await run('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', outfile, source, ...libraries]);
}

/** bin/<name> → the built command. */
async function link(bin: string, outfile: string): Promise<void> {
  const path = join(repo, 'bin', bin);
  await mkdir(join(repo, 'bin'), { recursive: true });
  await rm(path, { force: true });
  await symlink(relative(join(repo, 'bin'), outfile), path);
}

/** A command's C source, src/<bin>.c or deeper (cutaway's keeper sits with the container commands, in src/containers/). */
async function findSource(src: string, file: string): Promise<string | undefined> {
  const found = (await readdir(src, { recursive: true })).find((path) => basename(path) === file);
  return found === undefined ? undefined : join(src, found);
}

async function buildTool(dir: string): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
  const built: string[] = [];
  for (const [bin, target] of Object.entries(pkg.bin ?? {})) {
    const outfile = join(dir, target);
    const native = await findSource(join(dir, 'src'), `${bin}.c`);
    if (native) {
      // The command is the C program; what it plans with, if anything, is src/<bin>-plan.ts, beside it in dist/.
      await compileC(native, outfile, C_LIBRARIES[bin]);
      const planner = join(dir, 'src', `${bin}-plan.ts`);
      if (existsSync(planner)) await bundle(planner, join(dirname(outfile), `${bin}-plan.cjs`));
    } else {
      const own = join(dir, 'src', `${bin}.ts`);
      await bundle(existsSync(own) ? own : join(dir, 'src', 'main.ts'), outfile);
    }
    await link(bin, outfile);
    built.push(bin);
  }
  return built;
}

const dirs = await toolDirs(process.argv.slice(2));
for (const dir of dirs) {
  const bins = await buildTool(dir);
  process.stderr.write(`built ${relative(repo, dir)}: ${bins.map((b) => `bin/${b}`).join(' ')}\n`);
}
if (!dirs.length) process.stderr.write('no tools to build yet\n');
