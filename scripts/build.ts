/**
 * Builds every tool into a runnable command: tools/<name>/src/<bin>.ts (or
 * src/main.ts) is bundled with its libs by esbuild into
 * tools/<name>/dist/<bin>.cjs, so a tool starts without compiling TypeScript,
 * and bin/<bin> at the top of the repository links to it. A command with
 * a src/…/<bin>.c is that C program, compiled (ns-exec, cutaway-shim), plus
 * src/<bin>-plan.ts bundled beside it where there is one (ns-exec's planner).
 *
 *   tsx scripts/build.ts [TOOL_DIR…]     (default: every tools/* with a bin)
 */
import { chmod, mkdir, readdir, readFile, rm, symlink } from 'node:fs/promises';
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
 * One TypeScript entry and its libs → one CommonJS file that starts without
 * compiling anything. CommonJS, not ESM: Node's ESM loader adds ~7 ms to
 * every start, and every tool start is on someone's hot path.
 */
async function bundle(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: NATIVE,
    banner: { js: SHEBANG },
    sourcemap: 'linked',
    logLevel: 'warning',
  });
  await chmod(outfile, 0o755);
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
