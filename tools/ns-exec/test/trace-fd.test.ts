/**
 * ns-exec's trace on a file descriptor of its own (CUTAWAY_TRACE_FD), as
 * cutaway --trace runs it: the steps go there, labelled with CUTAWAY_TRACE_LABELS,
 * and not to stderr, which is the container's; the command never sees the fd.
 * The rootfs is the busybox fixture; nothing is left running (each ns-exec is
 * awaited).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';

let work: string;
let busybox: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-tracefd-'));
  busybox = await busyboxRootfs(work);
});

afterAll(async () => {
  await removeTree(work);
});

/** ns-exec with a pipe on fd 4 besides stdout and stderr: what each carried, and its status. */
function withTracePipe(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string; trace: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(toolPath('ns-exec'), args, { env: { ...process.env, CUTAWAY_TRACE: '', CUTAWAY_TRACE_LABELS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ignore', 'pipe'] });
    const out = { stdout: '', stderr: '', trace: '' };
    child.stdout!.on('data', (d: Buffer) => (out.stdout += d));
    child.stderr!.on('data', (d: Buffer) => (out.stderr += d));
    child.stdio[4]!.on('data', (d: Buffer) => (out.trace += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, ...out }));
  });
}

describe('CUTAWAY_TRACE_FD', () => {
  it('sends the steps to that fd, labelled, in order; stderr is the command\'s alone; the command sees stdio only', async () => {
    const out = await withTracePipe(['--trace', '--rootfs', busybox, '--hostname', 'cwtrace', '--', 'sh', '-c', 'ls /proc/self/fd; echo err >&2'], { CUTAWAY_TRACE_FD: '4', CUTAWAY_TRACE_LABELS: '1' });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr).toBe('err\n');
    // 0 1 2, and 3: the directory ls itself has open. Neither fd 4 nor ns-exec's copy of it.
    expect(out.stdout).toBe('0\n1\n2\n3\n');
    const lines = out.trace.split('\n').filter(Boolean);
    expect(lines.every((l) => l.startsWith('+ '))).toBe(true);
    // Every step, the host side's and PID 1's, in the order taken; notes (`+ # …`) are not steps and not labelled.
    const steps = lines.filter((l) => !l.startsWith('+ # '));
    expect(steps.every((l) => l.endsWith('  # ns-exec'))).toBe(true);
    expect(steps[0]).toBe('+ keyctl new_session >/dev/null  # ns-exec');
    expect(steps[1]).toMatch(/^\+ unshare --fork --pid /);
    const pivot = steps.findIndex((l) => /^\+ cd .* && pivot_root \. \. && umount -l \. && cd \/  # ns-exec$/.test(l));
    expect(pivot).toBeGreaterThan(steps.indexOf('+ hostname cwtrace  # ns-exec'));
    expect(steps.at(-1)).toMatch(/^\+ cd \/ && exec setpriv .* -- env -i .* sh -c .*  # ns-exec$/);
  });

  it('without CUTAWAY_TRACE_LABELS the lines are as on stderr; CUTAWAY_TRACE=1 turns the trace on as --trace does', async () => {
    const out = await withTracePipe(['--rootfs', busybox, '--hostname', 'cwtrace', '--', 'hostname'], { CUTAWAY_TRACE: '1', CUTAWAY_TRACE_FD: '4' });
    expect(out.stdout).toBe('cwtrace\n');
    expect(out.stderr).toBe('');
    expect(out.trace.split('\n')).toContain('+ hostname cwtrace');
  });

  it('a fd that is not open is ns-exec\'s error (125), and nothing runs', async () => {
    const out = await withTracePipe(['--trace', '--rootfs', busybox, '--', 'echo', 'ran'], { CUTAWAY_TRACE_FD: '9' });
    expect(out.code).toBe(125);
    expect(out.stdout).toBe('');
    expect(out.stderr).toMatch(/^ns-exec: error: the trace's file descriptor 9 \(CUTAWAY_TRACE_FD\): Bad file descriptor$/m);
  });
});
