/**
 * The truth after a crash (issue 16, point 3, and the temp blobs of point 2): what ps, wait and inspect say
 * once the process that waited for a container's PID 1 was killed — cutaway-shim for `run -d`, the
 * foreground `cutaway run`, ns-exec — and what `system df` and `system prune` make of the temp blob a killed
 * layer-commit leaves in the image store (and of an interrupted pull's .partial). Real containers, real
 * kill -9s, a real 200 MB layer.
 *
 * Containers are named cwcrash-…, on no network; afterEach takes down whatever a test left (every process
 * by the pid cutaway wrote, then mounts, cgroups, directories: test/fixtures/containers.ts), also when the
 * test failed, and checks that no mount of this file's root is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { lockFile } from '@cutaway/libc';
import { OciLayout } from '@cutaway/oci';
import { runCommand, signalWhenCaught, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;
const started: ChildProcess[] = [];

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root } });
}

/** A PID 1 that runs until SIGUSR1, then exits with `code`; it writes nothing (its reader may be gone). */
const untilUsr1 = (code: number) => ['sh', '-c', `trap "exit ${code}" USR1; while :; do sleep 0.1; done`];

interface Inspected {
  Id: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number; Error: string; FinishedAt: string };
}

async function inspect(name: string): Promise<Inspected> {
  const out = await cutaway(['inspect', name]);
  expect(out.stderr).toBe('');
  return (JSON.parse(out.stdout) as Inspected[])[0]!;
}

/** ps -a's STATUS cell for a container. */
async function statusOf(name: string): Promise<string> {
  const ps = await cutaway(['ps', '-a']);
  const line = ps.stdout.split('\n').find((l) => l.trimEnd().endsWith(` ${name}`));
  if (!line) throw new Error(`${name} is not in ps -a:\n${ps.stdout}`);
  const header = ps.stdout.split('\n')[0]!;
  return line.slice(header.indexOf('STATUS'), header.indexOf('PORTS')).trim();
}

const containerDir = (id: string) => join(root, 'containers', id);
const pidIn = (id: string, file: string) => Number(readFileSync(join(containerDir(id), file), 'utf8'));

/** proc(5) stat: the state letter and the parent, or undefined once the process is reaped. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: state!, ppid: Number(ppid) };
  } catch {
    return undefined;
  }
}

/** Ended: reaped, or a zombie nobody has reaped yet. */
const ended = (pid: number) => (procStat(pid)?.state ?? 'Z') === 'Z';

/** `cutaway run -d` on no network; its id, once PID 1 runs (docker run -d returns then). */
async function runDetached(name: string, command: string[]): Promise<string> {
  const out = await cutaway(['run', '-d', '--name', name, '--network', 'none', BUSYBOX_REF, ...command]);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return out.stdout.trim();
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-crash-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
});

afterEach(async () => {
  for (const child of started.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await removeContainers(root);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
});

afterAll(async () => {
  await removeTree(work);
});

describe('a container whose keeper was killed', () => {
  it('keeper (cutaway-shim) killed: Up while PID 1 runs; then its real exit code in ps -a, wait and inspect', async () => {
    const id = await runDetached('cwcrash-shim', untilUsr1(3));
    const pid = pidIn(id, 'pid');
    const shim = pidIn(id, 'shim.pid');
    process.kill(shim, 'SIGKILL');
    await waitFor('the shim to be gone', () => ended(shim));
    // PID 1 runs on, its ns-exec waiting for it: that is the truth.
    expect(await statusOf('cwcrash-shim')).toMatch(/^Up /);
    expect((await inspect('cwcrash-shim')).State).toMatchObject({ Status: 'running', Running: true, Pid: pid });

    await signalWhenCaught(pid, 'SIGUSR1');
    expect(await cutaway(['wait', 'cwcrash-shim'])).toMatchObject({ code: 0, stdout: '3\n' });
    expect(readFileSync(join(containerDir(id), 'exit'), 'utf8')).toBe('3\n');
    expect(await statusOf('cwcrash-shim')).toMatch(/^Exited \(3\) .* ago$/);
    expect((await cutaway(['ps', '-q'])).stdout).toBe('');
    const state = (await inspect('cwcrash-shim')).State;
    expect(state).toMatchObject({ Status: 'exited', Running: false, Pid: 0, ExitCode: 3, Error: '' });
    expect(Date.parse(state.FinishedAt)).toBeGreaterThan(Date.now() - 60_000);

    // Nothing took down what it had (the shim would have): rm does, as for any exited container.
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(id);
    expect(await cutaway(['rm', 'cwcrash-shim'])).toMatchObject({ code: 0, stderr: '' });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
  });

  it('ns-exec killed, the shim alive: PID 1 comes to the shim, which records its real code and takes the container down', async () => {
    const id = await runDetached('cwcrash-nsexec', untilUsr1(4));
    const pid = pidIn(id, 'pid');
    const nsExec = procStat(pid)!.ppid;
    const shim = pidIn(id, 'shim.pid');
    expect(readFileSync(`/proc/${nsExec}/comm`, 'utf8')).toBe('ns-exec\n');
    process.kill(nsExec, 'SIGKILL');
    await waitFor('PID 1 to be adopted by the shim', () => procStat(pid)?.ppid === shim);
    expect(await statusOf('cwcrash-nsexec')).toMatch(/^Up /);

    await signalWhenCaught(pid, 'SIGUSR1');
    expect(await cutaway(['wait', 'cwcrash-nsexec'])).toMatchObject({ code: 0, stdout: '4\n' });
    // Its pid file goes with it, once the container is down.
    await waitFor('the shim to take the container down', () => ended(shim), 30_000);
    expect(await statusOf('cwcrash-nsexec')).toMatch(/^Exited \(4\) .* ago$/);
    expect((await inspect('cwcrash-nsexec')).State).toMatchObject({ Status: 'exited', ExitCode: 4, Error: '' });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
  });

  it('shim, ns-exec and PID 1 killed together: exited with the status unknown (255 and an error, as Docker), never Up, not 137', async () => {
    const id = await runDetached('cwcrash-gone', untilUsr1(5));
    const pid = pidIn(id, 'pid');
    const shim = pidIn(id, 'shim.pid');
    const nsExec = procStat(pid)!.ppid;
    expect(readFileSync(`/proc/${nsExec}/comm`, 'utf8')).toBe('ns-exec\n');
    // In this order, so that no one is left to record anything.
    for (const p of [shim, nsExec, pid]) process.kill(p, 'SIGKILL');
    await waitFor('all three to be gone', () => [shim, nsExec, pid].every((p) => procStat(p) === undefined));

    expect((await cutaway(['ps', '-q'])).stdout).toBe('');
    // Docker's status for an exit no one knows: 255, and no time (no one knows when either).
    expect(await statusOf('cwcrash-gone')).toBe('Exited (255)');
    expect(await cutaway(['wait', 'cwcrash-gone'])).toMatchObject({ code: 0, stdout: '255\n' });
    const state = (await inspect('cwcrash-gone')).State;
    expect(state).toMatchObject({ Status: 'exited', Running: false, Pid: 0, ExitCode: 255 });
    expect(state.Error).toMatch(/exit status was not recorded/);
    expect((await cutaway(['rm', 'cwcrash-gone'])).code).toBe(0);
  });

  it('a foreground `cutaway run` killed: Up while PID 1 runs, then its real exit code', async () => {
    const run = spawn(toolPath('cutaway'), ['run', '--name', 'cwcrash-fg', '--network', 'none', BUSYBOX_REF, ...untilUsr1(6)], { env: { ...process.env, CUTAWAY_ROOT: root }, stdio: 'ignore' });
    started.push(run);
    const exited = new Promise((resolve) => run.once('exit', resolve));
    let id = '';
    await waitFor('the container to run', () => {
      for (const dir of readdirSync(join(root, 'containers')).filter((d) => /^[0-9a-f]{64}$/.test(d))) {
        try {
          const state = JSON.parse(readFileSync(join(containerDir(dir), 'state.json'), 'utf8')) as { status: string };
          if (state.status === 'running') id = dir;
        } catch {
          // not written yet
        }
      }
      return id !== '';
    }, 30_000);
    const pid = pidIn(id, 'pid');
    run.kill('SIGKILL');
    await exited;
    expect(await statusOf('cwcrash-fg')).toMatch(/^Up /);

    await signalWhenCaught(pid, 'SIGUSR1');
    expect(await cutaway(['wait', 'cwcrash-fg'])).toMatchObject({ code: 0, stdout: '6\n' });
    expect(await statusOf('cwcrash-fg')).toMatch(/^Exited \(6\) .* ago$/);
    expect((await inspect('cwcrash-fg')).State).toMatchObject({ Status: 'exited', Running: false, ExitCode: 6, Error: '' });
  });

  it('a start after such a crash is not told the old exit: the exit file goes before the new PID 1 runs', async () => {
    const id = await runDetached('cwcrash-again', untilUsr1(7));
    process.kill(pidIn(id, 'shim.pid'), 'SIGKILL');
    await signalWhenCaught(pidIn(id, 'pid'), 'SIGUSR1');
    expect((await cutaway(['wait', 'cwcrash-again'])).stdout).toBe('7\n');
    expect(await cutaway(['start', 'cwcrash-again'])).toMatchObject({ code: 0, stderr: '' });
    expect(existsSync(join(containerDir(id), 'exit'))).toBe(false);
    expect(await statusOf('cwcrash-again')).toMatch(/^Up /);
    expect((await inspect('cwcrash-again')).State).toMatchObject({ Status: 'running', ExitCode: 0 });
    await signalWhenCaught(pidIn(id, 'pid'), 'SIGUSR1');
    expect((await cutaway(['wait', 'cwcrash-again'])).stdout).toBe('7\n');
  });
});

describe('temp files a killed writer leaves in the image store', () => {
  /** Every ref resolves to blobs that are all there, and every stored blob hashes to its name. */
  async function storeVerifies(): Promise<void> {
    const layout = await OciLayout.open(join(root, 'images'));
    for (const ref of await layout.list()) for (const digest of (await layout.reachable([ref.descriptor])).keys()) expect(await layout.hasBlob(digest), `${ref.name}: ${digest}`).toBe(true);
    for (const [digest] of await layout.storedBlobs()) await layout.readBlob(digest); // throws on a mismatch
  }

  interface DfRow {
    Type: string;
    TotalCount: string;
    SizeBytes: number;
    ReclaimableBytes: number;
  }

  async function buildCache(): Promise<DfRow> {
    const out = await cutaway(['system', 'df', '--format', 'json']);
    expect(out.stderr).toBe('');
    return out.stdout.trim().split('\n').map((l) => JSON.parse(l) as DfRow).find((r) => r.Type === 'Build Cache')!;
  }

  const tempBlobs = () => readdirSync(join(root, 'images', '.cutaway')).filter((n) => n.endsWith('.tmp'));

  it('a killed layer-commit leaves a temp blob that df counts (never while its writer lives) and prune removes; the store still verifies', async () => {
    // 200 MB that gzip cannot shrink: several seconds of writing.
    const upper = join(work, 'upper');
    mkdirSync(upper, { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(upper, `random-${i}`), randomBytes(50_000_000));
    const before = await buildCache();

    const commit = spawn(toolPath('layer-commit'), [upper, '--image', BUSYBOX_REF, '-t', 'cwcrash/big:1', '-q'], { env: { ...process.env, CUTAWAY_ROOT: root }, stdio: 'ignore' });
    started.push(commit);
    const exited = new Promise((resolve) => commit.once('exit', resolve));
    await waitFor('layer-commit to write its temp blob', () => tempBlobs().some((n) => statSync(join(root, 'images', '.cutaway', n)).size > 0), 30_000);
    const [temp] = tempBlobs();

    // While its writer lives, the temp blob is nobody's to count or take.
    expect(await buildCache()).toEqual(before);
    expect((await cutaway(['system', 'prune', '-f'])).stdout).not.toContain(temp);
    expect(tempBlobs(), 'layer-commit ended before it could be killed: give it more to write').toEqual([temp]);

    commit.kill('SIGKILL');
    await exited;
    const size = statSync(join(root, 'images', '.cutaway', temp!)).size;
    expect(size).toBeGreaterThan(0);
    const after = await buildCache();
    expect(Number(after.TotalCount)).toBe(Number(before.TotalCount) + 1);
    expect(after.SizeBytes).toBe(before.SizeBytes + size);
    expect(after.ReclaimableBytes).toBe(before.ReclaimableBytes + size);
    expect((await cutaway(['system', 'df', '-v'])).stdout).toMatch(new RegExp(`^${temp!.replace(/\./g, '\\.')}\\s+temp\\s`, 'm'));

    const prune = await cutaway(['system', 'prune', '-f']);
    expect(prune.stderr).toBe('');
    expect(prune.stdout).toContain(`Deleted build cache objects:\n${temp}\n`);
    expect(tempBlobs()).toEqual([]);
    expect(await buildCache()).toMatchObject({ TotalCount: before.TotalCount, SizeBytes: before.SizeBytes });
    expect((await cutaway(['images'])).stdout).not.toContain('cwcrash/big');
    await storeVerifies();
  });

  it("counts and removes an interrupted pull's .partial only while no one holds its lock", async () => {
    const name = `sha256-${'ab'.repeat(32)}.partial`;
    const partial = join(root, 'images', '.cutaway', name);
    // A pull writing (or resuming) it holds <partial>.lock (OciLayout.putBlobResumable): alive, not counted, not removed.
    const lock = await lockFile(`${partial}.lock`);
    try {
      const before = await buildCache();
      writeFileSync(partial, randomBytes(123_456));
      expect(await buildCache()).toEqual(before);
      expect((await cutaway(['system', 'prune', '-f'])).stdout).not.toContain(name);
      expect(existsSync(partial)).toBe(true);
      lock.release(); // the pull killed
      const dead = await buildCache();
      expect(Number(dead.TotalCount)).toBe(Number(before.TotalCount) + 1);
      expect(dead.ReclaimableBytes).toBe(before.ReclaimableBytes + 123_456);
      const prune = await cutaway(['system', 'prune', '-f']);
      expect(prune.stdout).toContain(`Deleted build cache objects:\n${name}\n`);
      expect(prune.stdout).toContain('Total reclaimed space: 123.5kB');
      expect(existsSync(partial)).toBe(false);
    } finally {
      lock.release();
    }
    await storeVerifies();
  });
});
