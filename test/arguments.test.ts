/**
 * Every argument after a built tool's name is the tool's, and every argument after a container's image is
 * the container command's: Node reads none of them. Node 20 reads `--env-file X`, `--env-file=X` and
 * `--env-file-if-exists X` anywhere on its command line, after the script too, unless a `--` comes first
 * (src/node_dotenv.cc, Dotenv::GetDataFromArgs): a tool's shebang ends Node's options with `--`
 * (scripts/build.ts), ns-exec runs its planner as `node PLANNER -- ARGS`. Options Node takes only before
 * the script (`--import`, `--require`, `-e`, `--inspect`) are passed too, so that a change of how the tools
 * start shows here.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand } from './fixtures/commands.ts';
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
