/**
 * attach (issue 19 part 5): a terminal joined to a detached container through its shim's socket, as docker
 * attach — output from now on with stdout and stderr kept apart, input to a -i container's stdin (which stays
 * open when the input ends), signals passed on, the detach keys, the container's status as attach's — and
 * start -a of a running container, which attaches. Docker's documented behaviour is the reference (podman
 * attach follows it; its own detach message differs).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, shellWord, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { busyboxRoot } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF } from '../../../test/fixtures/images.ts';

const state = busyboxRoot('cw-attach-');
let root: string;

beforeAll(() => {
  ({ root } = state);
});

function cutaway(args: string[], input?: string): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root }, input });
}

async function detached(args: string[]): Promise<string> {
  const out = await cutaway(['run', '-d', '--network', 'none', ...args]);
  expect(out).toMatchObject({ code: 0, stderr: '' });
  return out.stdout.trim();
}

/** `cutaway attach ARGS` (or another command line) left running: what it has printed so far, the input it is given, and its end. */
function attaching(args: string[], commandLine = [toolPath('cutaway'), 'attach', ...args]) {
  const child = spawn(commandLine[0]!, commandLine.slice(1), { env: { ...process.env, CUTAWAY_ROOT: root }, stdio: ['pipe', 'pipe', 'pipe'] });
  const seen = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (seen.stdout += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (seen.stderr += d.toString()));
  const ended = new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? 128 + osConstants.signals[signal!])));
  return { child, seen, ended };
}

describe('attach', () => {
  it("passes on the output from the moment it joins, stdout and stderr apart, and exits with the container's status", async () => {
    const id = await detached([BUSYBOX_REF, 'sh', '-c', 'echo before; sleep 1; echo out; echo err >&2; exit 3']);
    const a = attaching([id.slice(0, 12)]);
    expect(await a.ended).toBe(3);
    // Only what came after attach joined (Docker's attach shows no past output: that is logs).
    expect(a.seen).toEqual({ stdout: 'out\n', stderr: 'err\n' });
  });

  it('ends when its output pipe closes (`attach C | head -1`), status 141 as SIGPIPE gives; the container goes on', async () => {
    const id = await detached([BUSYBOX_REF, 'sh', '-c', 'while :; do echo tick; sleep 0.05; done']);
    const out = await runCommand('/bin/bash', ['-c', `${shellWord(toolPath('cutaway'))} attach ${id} | head -1; echo "attach: \${PIPESTATUS[0]}"`], { env: { CUTAWAY_ROOT: root } });
    expect(out).toMatchObject({ code: 0, stdout: 'tick\nattach: 141\n', stderr: '' });
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', id])).stdout).toBe('running\n');
  });

  it("sends the input to a -i container's stdin, which stays open after the input ends (Docker's -d -i)", async () => {
    const id = await detached(['-i', BUSYBOX_REF, 'sh', '-c', 'while read l; do echo "got $l"; done; echo stdin-closed']);
    const a = attaching([id]);
    a.child.stdin.end('a\nb\n');
    await waitFor('the echoed input', () => a.seen.stdout === 'got a\ngot b\n');
    // The input has ended; the container's stdin has not: it still runs, and a second attach can feed it.
    await new Promise((r) => setTimeout(r, 300));
    expect((await cutaway(['inspect', '-f', '{{.State.Running}}', id])).stdout).toBe('true\n');
    const b = attaching([id]);
    b.child.stdin.end('c\n');
    await waitFor('the output on both attached clients', () => a.seen.stdout.endsWith('got c\n') && b.seen.stdout === 'got c\n');
    expect((await cutaway(['kill', id])).code).toBe(0);
    expect(await a.ended).toBe(137);
    expect(await b.ended).toBe(137);
    expect(a.seen.stdout).not.toContain('stdin-closed');
  });

  it('passes a signal to the container (--sig-proxy), or not (--sig-proxy=false: attach just ends)', async () => {
    const script = 'trap "echo caught; exit 7" INT; echo ready; while :; do sleep 0.1; done';
    const id = await detached([BUSYBOX_REF, 'sh', '-c', script]);
    const a = attaching([id]);
    await new Promise((r) => setTimeout(r, 500));
    a.child.kill('SIGINT');
    expect(await a.ended).toBe(7);
    expect(a.seen.stdout).toBe('caught\n');

    const other = await detached([BUSYBOX_REF, 'sh', '-c', script]);
    const b = attaching(['--sig-proxy=false', other]);
    await new Promise((r) => setTimeout(r, 500));
    b.child.kill('SIGINT');
    expect(await b.ended).toBe(130);
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', other])).stdout).toBe('running\n');
  });

  it('detaches on Ctrl-P Ctrl-Q ("read escape sequence", status 1) and leaves the container running; a broken sequence is passed on', async () => {
    const id = await detached(['-i', '--name', 'cw-cat', BUSYBOX_REF, 'cat']);
    const a = attaching(['cw-cat']);
    a.child.stdin.write('x\x10y\n');
    await waitFor('the echoed input with its Ctrl-P', () => a.seen.stdout === 'x\x10y\n');
    a.child.stdin.write('z\x10\x11ignored\n');
    expect(await a.ended).toBe(1);
    expect(a.seen.stderr).toBe('cutaway attach: error: read escape sequence\n');
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', id])).stdout).toBe('running\n');
    // Other keys, given as Docker takes them.
    const b = attaching(['--detach-keys', 'ctrl-a,q', id]);
    b.child.stdin.write('w\n');
    await waitFor('the echoed line', () => b.seen.stdout === 'w\n');
    b.child.stdin.write('\x01q');
    expect(await b.ended).toBe(1);
    const bad = await cutaway(['attach', '--detach-keys', 'ctrl-1', id]);
    expect(bad).toMatchObject({ code: 1, stderr: 'cutaway attach: error: Invalid detach keys (ctrl-1) provided\n' });
  });

  it('--no-stdin keeps the input from a -i container', async () => {
    const id = await detached(['-i', BUSYBOX_REF, 'cat']);
    const a = attaching(['--no-stdin', id]);
    a.child.stdin.end('not for the container\n');
    await new Promise((r) => setTimeout(r, 500));
    await cutaway(['kill', id]);
    expect(await a.ended).toBe(137);
    expect(a.seen.stdout).toBe('');
  });

  it("gives Docker's errors: a stopped container, a paused one, a terminal's container without a terminal", async () => {
    const stopped = (await cutaway(['create', BUSYBOX_REF, 'true'])).stdout.trim();
    expect(await cutaway(['attach', stopped])).toMatchObject({ code: 1, stderr: 'cutaway attach: error: You cannot attach to a stopped container, start it first\n' });
    const paused = await detached([BUSYBOX_REF, 'sleep', '30']);
    expect((await cutaway(['pause', paused])).code).toBe(0);
    expect(await cutaway(['attach', paused])).toMatchObject({ code: 1, stderr: 'cutaway attach: error: You cannot attach to a paused container, unpause it first\n' });
    expect((await cutaway(['unpause', paused])).code).toBe(0);
    const tty = await detached(['-it', BUSYBOX_REF, 'sh']);
    expect(await cutaway(['attach', tty], '')).toMatchObject({ code: 1, stderr: 'cutaway attach: error: the input device is not a TTY\n' });
    // Without stdin, a terminal's container can be watched from anywhere.
    const watch = attaching(['--no-stdin', tty]);
    await new Promise((r) => setTimeout(r, 300));
    await cutaway(['kill', tty]);
    expect(await watch.ended).toBe(137);
  });

  it('works with a terminal: the keys go to the container through its pty, and Ctrl-P Ctrl-Q leaves it', async () => {
    const id = await detached(['-it', BUSYBOX_REF, 'sh']);
    // script(1) gives attach a terminal of its own, fed from our pipe once attach has made it raw (before, the
    // terminal's line discipline would hold the keys, and take Ctrl-Q as XON).
    const a = attaching([], ['/usr/bin/script', '-qec', `${shellWord(toolPath('cutaway'))} attach ${id}`, '/dev/null']);
    await new Promise((r) => setTimeout(r, 1000));
    a.child.stdin.write('echo $((6*7))\n');
    await waitFor('the answer', () => a.seen.stdout.includes('42'));
    a.child.stdin.write('\x10\x11');
    expect(await a.ended).toBe(1);
    expect(a.seen.stdout).toContain('read escape sequence');
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', id])).stdout).toBe('running\n');
  });

  it("start -a of a running container attaches to it; the socket goes with the container", async () => {
    const id = await detached([BUSYBOX_REF, 'sh', '-c', 'sleep 1; echo late; exit 4']);
    const out = await cutaway(['start', '-a', id]);
    expect(out).toMatchObject({ code: 4, stdout: 'late\n', stderr: '' });
    await waitFor('the socket removed', () => !existsSync(join(root, 'containers', id, 'attach.sock')));
  });
});
