/**
 * cutaway --trace shows ns-exec's steps as it does every other tool's: after
 * its command line, each labelled `# ns-exec` — for run, exec, run -d (start)
 * and build's RUN — while the container's stderr, and its log, stay its own.
 * No network (--network none): the other tools' traces are run.test.ts's.
 *
 * afterEach takes down what a test's containers made (removeContainers: by
 * the pids cutaway wrote) and checks that no mount under the root is left.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root, CUTAWAY_TRACE: '', CUTAWAY_TRACE_FD: '' } });
}

const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root));

/** The lines of ns-exec's trace: its steps, as cutaway labels each tool's. */
const nsExecSteps = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('+ ') && l.endsWith('  # ns-exec'));
const PIVOT = /^\+ cd .* && pivot_root \. \. && umount -l \. && cd \/  # ns-exec$/;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-trace-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
});

afterEach(async () => {
  await removeContainers(root);
  expect(mounts()).toEqual([]);
});

afterAll(async () => {
  await removeTree(work);
});

describe('cutaway --trace and ns-exec', () => {
  it("run: ns-exec's steps on stderr after its command line, labelled; the container's stderr too, its stdout alone on stdout", async () => {
    const out = await cutaway(['--trace', 'run', '--rm', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'echo out; echo err >&2']);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe('out\n');
    const lines = out.stderr.split('\n');
    expect(lines.some((l) => l.startsWith('+ overlay-mount '))).toBe(true);
    const command = lines.findIndex((l) => l.startsWith('+ ns-exec '));
    expect(command).toBeGreaterThanOrEqual(0);
    const steps = nsExecSteps(out.stderr);
    expect(steps.some((l) => PIVOT.test(l))).toBe(true);
    expect(steps.at(-1)).toMatch(/^\+ cd \/ && exec setpriv .* sh -c .*  # ns-exec$/);
    expect(lines.indexOf(steps[0]!)).toBeGreaterThan(command);
    expect(lines).toContain('err');
  });

  it("a container run with --trace has none of the trace in its log", async () => {
    const out = await cutaway(['--trace', 'run', '--name', 'cw-trace-log', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'echo out; echo err >&2']);
    expect(out.code, out.stderr).toBe(0);
    expect(nsExecSteps(out.stderr).length).toBeGreaterThan(0);
    const logs = await cutaway(['logs', 'cw-trace-log']);
    expect(logs.stdout).toBe('out\n');
    expect(logs.stderr).toBe('err\n');
    await cutaway(['rm', 'cw-trace-log']);
  });

  it('run -d: the steps are shown once the container runs, and kept in shim.err, not in the log; exec: ns-exec --enter\'s steps', async () => {
    const run = await cutaway(['--trace', 'run', '-d', '--name', 'cw-trace-d', '--network', 'none', BUSYBOX_REF, 'sleep', '60']);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(run.stderr.split('\n').some((l) => l.startsWith('+ cutaway-shim '))).toBe(true);
    const steps = nsExecSteps(run.stderr);
    expect(steps.some((l) => PIVOT.test(l))).toBe(true);
    expect(steps.at(-1)).toMatch(/^\+ cd \/ && exec setpriv .* sleep 60  # ns-exec$/);
    const shimErr = readFileSync(join(root, 'containers', id, 'shim.err'), 'utf8');
    for (const step of steps) expect(shimErr).toContain(step);
    expect(readFileSync(join(root, 'containers', id, 'log'), 'utf8')).toBe('');

    const exec = await cutaway(['--trace', 'exec', 'cw-trace-d', 'sh', '-c', 'echo in; echo err >&2']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe('in\n');
    const lines = exec.stderr.split('\n');
    expect(lines.some((l) => l.startsWith('+ ns-exec --enter '))).toBe(true);
    const entered = nsExecSteps(exec.stderr);
    expect(entered.some((l) => l.startsWith('+ nsenter '))).toBe(true);
    expect(entered.at(-1)).toMatch(/ sh -c .*  # ns-exec$/);
    expect(lines).toContain('err');
    await cutaway(['rm', '-f', 'cw-trace-d']);
  });

  it("build: each RUN's ns-exec steps", async () => {
    const context = join(work, 'context');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo built\n`);
    const out = await cutaway(['--trace', 'build', '--network', 'none', '-t', 'cw-trace-build', context]);
    expect(out.code, out.stderr).toBe(0);
    expect(nsExecSteps(out.stderr).some((l) => /^\+ cd \/ && exec setpriv .* -c 'echo built'  # ns-exec$/.test(l))).toBe(true);
    await cutaway(['rmi', 'cw-trace-build']);
  });
});
