/**
 * Every argument after a built tool's name is the tool's, and every argument after a container's image is
 * the container command's: Node reads none of them. Node 20 reads `--env-file X`, `--env-file=X` and
 * `--env-file-if-exists X` anywhere on its command line, after the script too, unless a `--` comes first
 * (src/node_dotenv.cc, Dotenv::GetDataFromArgs): a tool's shebang ends Node's options with `--`
 * (scripts/build.ts), ns-exec runs its planner as `node PLANNER -- ARGS`. Options Node takes only before
 * the script (`--import`, `--require`, `-e`, `--inspect`) are passed too, so that a change of how the tools
 * start shows here. So is how a bundle starts (scripts/launcher.ts): with V8's code cache the build made, or,
 * whatever has become of that cache, without it, the same.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from './fixtures/commands.ts';
import { removeContainers } from './fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from './fixtures/images.ts';

let work: string;
let root: string;
/** A file Node would load as an env file: its NODE_OPTIONS would make every later Node start run INJECT. */
let envFile: string;
let missing: string;

/** Node's own options, each as a tool or a container command might be given it. */
const nodeOptions = () => [
  ['--env-file', missing],
  [`--env-file=${missing}`],
  ['--env-file', envFile],
  [`--env-file=${envFile}`],
  ['--env-file-if-exists', envFile],
  ['--import', missing],
  ['--require', missing],
  ['-r', missing],
  ['-e', '0'],
  ['--inspect'],
  ['--'],
];

/** The Node tools in bin/ (the C ones, ns-exec and cutaway-shim, parse their own arguments before any Node starts). */
const NODE_TOOLS = ['cg-limit', 'layer-commit', 'netbridge', 'oci-pull', 'oci-push', 'overlay-mount'];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-args-'));
  root = join(work, 'root');
  missing = join(work, 'cw-no-such-file');
  const inject = join(work, 'inject.cjs');
  writeFileSync(inject, 'process.stderr.write("INJECTED\\n");\n');
  envFile = join(work, 'cw.env');
  writeFileSync(envFile, `NODE_OPTIONS=--require=${inject}\nCW_FROM_ENV_FILE=1\n`);
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
});

afterEach(async () => {
  await removeContainers(root);
});

afterAll(async () => {
  await removeTree(work);
});

describe("a tool's arguments are its own", () => {
  it.each(NODE_TOOLS)('%s answers an unknown option with its own usage error, whatever Node would make of it', async (tool) => {
    for (const option of nodeOptions().filter((o) => o[0] !== '--')) {
      const out = await runCommand(tool, option);
      const name = option[0]!.split('=')[0];
      expect({ option, stderr: out.stderr.split('\n')[0], code: out.code }).toEqual({ option, stderr: `${tool}: error: unknown option ${name}`, code: 2 });
      expect(out.stderr).not.toMatch(/INJECTED|node:/);
    }
  });

  it('cutaway answers a Node option in place of a command with its own usage error', async () => {
    for (const option of nodeOptions().filter((o) => o[0] !== '--')) {
      const out = await runCommand('cutaway', option, { env: { CUTAWAY_ROOT: root } });
      expect(out.stderr.split('\n')[0]).toBe(`cutaway: error: unknown flag: ${option[0]!.split('=')[0]}`);
      expect(out.stderr).not.toMatch(/INJECTED|node:/);
      // Docker's status for a usage error (an unknown flag before the command too).
      expect(out.code).toBe(125);
    }
  });

  it('an option value that looks like a Node option is a value (ns-exec, with its own --env-file)', async () => {
    // ns-exec has an --env-file of its own (Docker's): a missing file is ns-exec's error, not Node's.
    const out = await runCommand('ns-exec', ['--rootfs', work, '--env-file', missing, '--', 'true']);
    expect(out.stderr.split('\n')[0]).toMatch(/^ns-exec: error: .*cw-no-such-file/);
    expect(out.stderr).not.toMatch(/INJECTED|node:/);
  });
});

describe("a tool's code cache", () => {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  /** Built commands, by their dist/ files (dist/<name>.cjs, .bundle.cjs, .code-cache), and command lines to compare. */
  const COMMANDS = [
    { tool: 'cutaway', name: 'cutaway', args: [['--help'], ['--version'], ['ps', '--no-such', 'a b', 'é', '--', '']] },
    { tool: 'oci-pull', name: 'oci-pull', args: [['--help'], ['--no-such', '--env-file', 'x']] },
    // ns-exec runs its planner as `node PLANNER -- ARGS`.
    { tool: 'ns-exec', name: 'ns-exec-plan', args: [['--', '--dry-run', '--rootfs', '/', '--hostname', 'cw', '--', 'echo', 'a b', '--env-file', '']] },
  ] as const;
  /** What may have become of a cache: each must leave the tool as it is with the cache the build made. */
  const DAMAGE: [string, (cache: Buffer, other: Buffer) => Buffer | undefined][] = [
    ['missing', () => undefined],
    ['empty', () => Buffer.alloc(0)],
    ['cut short', (cache) => cache.subarray(0, cache.length >> 1)],
    ['garbage', (cache) => randomBytes(cache.length)],
    // Byte 44: byte 40 of V8's own data, after launcher.ts's 4-byte checksum. V8 checks no checksum of its own, and
    // takes this one and dies ("Fatal error … unreachable code"): the launcher's checksum keeps it from V8.
    ['a byte changed', (cache) => Buffer.from(cache).fill(cache[44]! ^ 0xff, 44, 45)],
    ["another tool's", (_, other) => other],
  ];

  /** A copy of a built command's files in a directory of its own, beside a node_modules as in the repository. */
  function copyCommand(tool: string, name: string, label: string): string {
    const dir = join(work, 'cache', label.replace(/\W/g, '-'), tool);
    mkdirSync(join(dir, 'dist'), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'));
    for (const suffix of ['.cjs', '.bundle.cjs', '.code-cache']) copyFileSync(join(repo, 'tools', tool, 'dist', `${name}${suffix}`), join(dir, 'dist', `${name}${suffix}`));
    return join(dir, 'dist', `${name}.cjs`);
  }

  /** Runs a command's launcher as its shebang or ns-exec would. */
  const start = (launcher: string, args: readonly string[]): Promise<CommandResult> =>
    launcher.endsWith('-plan.cjs') ? runCommand('/usr/bin/env', ['node', launcher, ...args]) : runCommand(launcher, [...args]);

  afterAll(() => rmSync(join(work, 'cache'), { recursive: true, force: true }));

  it.each(COMMANDS)("$name runs the same whatever its cache is: V8's, missing, cut short, garbage, changed, another's", async ({ tool, name, args }) => {
    const intact = copyCommand(tool, name, 'intact');
    const other = readFileSync(join(repo, 'tools', 'cg-limit', 'dist', 'cg-limit.code-cache'));
    const expected = await Promise.all(args.map((a) => start(intact, a)));
    expect(expected.map((r) => r.stderr + r.stdout)).not.toContain('');
    for (const [label, damage] of DAMAGE) {
      const launcher = copyCommand(tool, name, label);
      const cacheFile = launcher.replace(/\.cjs$/, '.code-cache');
      const cache = damage(readFileSync(cacheFile), other);
      if (cache) writeFileSync(cacheFile, cache);
      else rmSync(cacheFile);
      for (const [i, a] of args.entries()) expect({ label, args: a, ...(await start(launcher, a)) }).toEqual({ label, args: a, ...expected[i] });
    }
  });

  it("V8 takes the cache the build made (made by the Node the tools' shebang finds, with its flags)", async () => {
    // Reports, for the bundle a launcher compiles, whether V8 rejected the cache it was given.
    const hook = join(work, 'cache-hook.cjs');
    writeFileSync(
      hook,
      "const vm = require('node:vm'); const Script = vm.Script;\n" +
        "vm.Script = class extends Script { constructor(code, o) { super(code, o); process.stderr.write(`cache ${o.cachedData ? (this.cachedDataRejected ? 'rejected' : 'taken') : 'none'}\\n`); } };\n",
    );
    for (const { tool, name } of COMMANDS) {
      const out = await runCommand('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'node', '--require', hook, '--', join(repo, 'tools', tool, 'dist', `${name}.cjs`), '--version']);
      expect({ name, stderr: out.stderr, code: out.code }).toEqual({ name, stderr: 'cache taken\n', code: 0 });
    }
  });
});

describe("a container command's arguments are its own", () => {
  const args = () => nodeOptions().flat();

  it('cutaway run --rm IMG echo ARGS prints ARGS', async () => {
    const out = await runCommand('cutaway', ['run', '--rm', '--network', 'none', BUSYBOX_REF, 'echo', ...args()], { env: { CUTAWAY_ROOT: root } });
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(`${args().join(' ')}\n`);
    expect(out.code).toBe(0);
    // Every container gone (containers/.names keeps the name reservations).
    expect(readdirSync(join(root, 'containers')).filter((d) => !d.startsWith('.'))).toEqual([]);
  });

  it('cutaway run -d IMG echo ARGS logs ARGS (through cutaway-shim)', async () => {
    const started = await runCommand('cutaway', ['run', '-d', '--network', 'none', BUSYBOX_REF, 'echo', ...args()], { env: { CUTAWAY_ROOT: root } });
    expect(started.stderr).toBe('');
    const id = started.stdout.trim();
    expect((await runCommand('cutaway', ['wait', id], { env: { CUTAWAY_ROOT: root } })).stdout).toBe('0\n');
    const logs = await runCommand('cutaway', ['logs', id], { env: { CUTAWAY_ROOT: root } });
    expect(logs.stdout).toBe(`${args().join(' ')}\n`);
    expect(logs.stderr).not.toMatch(/INJECTED|node:/);
    await runCommand('cutaway', ['rm', '-f', id], { env: { CUTAWAY_ROOT: root } });
  });

  it('cutaway run IMG with an --env-file of its own still passes the command its --env-file', async () => {
    const file = join(work, 'cw-container.env');
    writeFileSync(file, 'CW_IN_CONTAINER=yes\n');
    const out = await runCommand(
      'cutaway',
      ['run', '--rm', '--network', 'none', '--env-file', file, BUSYBOX_REF, 'sh', '-c', 'echo "$CW_IN_CONTAINER ${CW_FROM_ENV_FILE:-unset} $*"', 'sh', '--env-file', envFile],
      { env: { CUTAWAY_ROOT: root } },
    );
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe(`yes unset --env-file ${envFile}\n`);
  });
});
