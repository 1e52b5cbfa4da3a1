/**
 * ns-exec as containerd's runtime: what `ctr run --runc-binary RUNTIME` gives a user, checked with runc (the
 * reference) and with ns-exec.
 *
 * The test starts its own containerd (Debian's containerd 1.6) on a private config: root, state, the gRPC and ttrpc
 * sockets, the opt dir all under a cw-ctrd-* temporary directory, the CRI plugin and the snapshotters this host
 * cannot use disabled, the overlayfs snapshotter. The busybox fixture (an OCI layout, built offline) is tarred and
 * `ctr images import`ed into a namespace of its own (cw-ctrd-PID, which also names the containers' cgroups:
 * ctr's spec puts a container at /NAMESPACE/ID). Every ctr run gets `--runc-root` under the temporary directory, so the
 * runtime's state is there too. containerd-shim-runc-v2 calls the runtime as
 *   RT --root ROOT/NS --log BUNDLE/log.json --log-format json create --bundle BUNDLE --pid-file BUNDLE/init.pid
 *      [--console-socket S] ID;  start ID;  exec --process P --detach --pid-file F ID;  ps --format json ID;
 *      kill ID SIG;  delete ID;  delete --force ID
 * (see /tmp/engine-contract.md for the whole list and what the shim relies on).
 *
 * Cleanup, also after a failure: after each case every container of the namespace is killed (SIGKILL) and deleted
 * with its task; afterAll stops containerd by its pid, ends by pid any shim or container process of ours still alive
 * (a runtime that misbehaves can leave them), removes the namespace's cgroups, unmounts what is mounted under the
 * temporary directory, removes it, and removes the directories under /run/containerd that the shims made (their
 * sockets, ctr's fifos), when this run created them and they are empty.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { BUSYBOX_REF, buildBusyboxImage, removeTree, run } from '../../../test/fixtures/images.ts';
import { cgroupDirs, cgroupPids, ENGINE_RUNTIMES, runBounded, shellLine, type BoundedResult } from '../../../test/fixtures/engine-runtimes.ts';

const CONTAINERD = '/usr/bin/containerd';
const CTR = '/usr/bin/ctr';
const HAVE_CONTAINERD = [CONTAINERD, CTR, '/usr/bin/containerd-shim-runc-v2'].every((p) => existsSync(p)) && process.getuid?.() === 0;
/** What the shims and ctr make under /run/containerd whatever containerd's own state directory is. */
const RUN_DIRS = ['/run/containerd', '/run/containerd/s', '/run/containerd/fifo', '/run/containerd/runc'];

const NS = `cw-ctrd-${process.pid}`;
let work = '';
let sock = '';
let runtimeRoot = '';
let daemon: ChildProcess | undefined;
let daemonExited: Promise<void> = Promise.resolve();
let runDirsBefore: string[] = [];

const ctr = (args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<BoundedResult> => runBounded(CTR, ['-a', sock, '-n', NS, ...args], options);
const out = (r: BoundedResult) => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

async function containers(): Promise<string[]> {
  const r = await ctr(['containers', 'ls', '-q']);
  return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
}

/** `ctr task ls`: id → { pid, status } */
async function tasks(): Promise<Map<string, { pid: number; status: string }>> {
  const r = await ctr(['tasks', 'ls']);
  const map = new Map<string, { pid: number; status: string }>();
  for (const line of r.stdout.split('\n').slice(1)) {
    const [id, pid, status] = line.trim().split(/\s+/);
    if (id && pid && status) map.set(id, { pid: Number(pid), status });
  }
  return map;
}

async function waitForStatus(id: string, status: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const t = (await tasks()).get(id);
    if (t?.status === status) return;
    if (Date.now() > end) throw new Error(`task ${id}: ${t?.status ?? 'gone'}, not ${status}, after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every container of the namespace: its task killed and deleted, then the container (and its snapshot). */
async function removeAllContainers(): Promise<void> {
  for (const id of await containers()) {
    const t = (await tasks()).get(id);
    if (t && t.status !== 'STOPPED') {
      await ctr(['tasks', 'kill', '-a', '-s', 'SIGKILL', id]);
      await waitForStatus(id, 'STOPPED', 5000).catch(() => undefined);
    }
    if (t) await ctr(['tasks', 'delete', '-f', id]);
    const removed = await ctr(['containers', 'delete', id]);
    if (removed.code !== 0) console.warn(`cleanup: ctr containers delete ${id}: ${removed.stderr.trim()}`);
  }
}

/** Pids of the processes whose command line holds `needle` (the shims name our socket in theirs). */
function pidsWithArg(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function killPid(pid: number, what: string): void {
  try {
    process.kill(pid, 'SIGKILL');
    console.warn(`cleanup: killed ${what} ${pid}`);
  } catch {
    // already gone
  }
}

/** The namespace's cgroups (ctr puts a container at /NS/ID), deepest first; their processes killed first. */
async function removeNamespaceCgroups(): Promise<void> {
  for (const top of cgroupDirs(NS)) {
    const subs = readdirSync(top, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => join(top, d.name));
    for (const dir of [...subs, top]) {
      for (const pid of cgroupPids(dir)) killPid(pid, `container process (${dir})`);
      for (let i = 0; i < 100 && cgroupPids(dir).length > 0; i++) await new Promise((r) => setTimeout(r, 20));
      try {
        rmdirSync(dir);
      } catch (e) {
        console.warn(`cleanup: rmdir ${dir}: ${(e as Error).message}`);
      }
    }
  }
}

beforeAll(async () => {
  if (!HAVE_CONTAINERD) return;
  runDirsBefore = RUN_DIRS.filter((d) => existsSync(d));
  work = mkdtempSync(join(tmpdir(), 'cw-ctrd-'));
  sock = join(work, 'c.sock');
  runtimeRoot = join(work, 'runtime');
  mkdirSync(runtimeRoot);
  const config = join(work, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(work, 'root')}"`,
      `state = "${join(work, 'state')}"`,
      // no Kubernetes (CRI), and none of the snapshotters this host has no filesystem for
      'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(work, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const log = openSync(join(work, 'containerd.log'), 'a');
  daemon = spawn(CONTAINERD, ['--config', config], { cwd: work, stdio: ['ignore', log, log] });
  closeSync(log);
  const child = daemon;
  daemonExited = new Promise((resolve) => child.once('exit', () => resolve()));
  const end = Date.now() + 20_000;
  while ((await runBounded(CTR, ['-a', sock, 'version'], { timeoutMs: 5000 })).code !== 0) {
    if (child.exitCode !== null || Date.now() > end) throw new Error(`containerd did not start: ${readFileSync(join(work, 'containerd.log'), 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const layout = join(work, 'layout');
  await buildBusyboxImage(await OciLayout.create(layout));
  const archive = join(work, 'busybox.tar');
  await run('tar', ['-C', layout, '-cf', archive, '.']);
  const imported = await ctr(['images', 'import', archive], { timeoutMs: 60_000 });
  if (imported.code !== 0) throw new Error(`ctr images import: ${out(imported)}`);
}, 120_000);

afterEach(async () => {
  if (daemon) await removeAllContainers();
});

afterAll(async () => {
  if (!work) return;
  if (daemon) {
    await removeAllContainers();
    if (daemon.exitCode === null && daemon.pid !== undefined) {
      process.kill(daemon.pid, 'SIGTERM');
      const stopped = await Promise.race([daemonExited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!stopped) {
        killPid(daemon.pid, 'containerd (did not stop on SIGTERM)');
        await daemonExited;
      }
    }
  }
  // Shims outlive containerd by design; ours (they carry our socket's path) go once their tasks are deleted.
  for (let i = 0; i < 50 && pidsWithArg(sock).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  for (const pid of pidsWithArg(sock)) killPid(pid, 'containerd-shim');
  await removeNamespaceCgroups();
  await removeTree(work);
  for (const dir of [...RUN_DIRS].reverse()) {
    if (runDirsBefore.includes(dir) || !existsSync(dir) || readdirSync(dir).length > 0) continue;
    rmdirSync(dir);
  }
}, 120_000);

describe.skipIf(!HAVE_CONTAINERD)('ctr run --runc-binary RUNTIME (containerd 1.6, containerd-shim-runc-v2)', () => {
  for (const rt of ENGINE_RUNTIMES) {
    const tag = rt.name === 'runc' ? 'r' : 'n';
    const rtArgs = () => ['--runc-binary', rt.path, '--runc-root', runtimeRoot];

    describe(`${rt.name}`, () => {
      it("returns the command's exit status, and leaves no container, runtime state or cgroup behind (--rm)", async () => {
        const id = `cw${tag}exit`;
        const r = await ctr(['run', '--rm', ...rtArgs(), BUSYBOX_REF, id, 'sh', '-c', 'exit 3']);
        expect(r.code, out(r)).toBe(3);
        expect(r.timedOut).toBe(false);
        expect(await containers()).not.toContain(id);
        expect(existsSync(join(runtimeRoot, NS, id)), 'the runtime state of a deleted container').toBe(false);
        expect(cgroupDirs(`${NS}/${id}`), 'cgroups of a deleted container').toEqual([]);
      });

      it('relays stdin, stdout and stderr; the command is PID 1', async () => {
        const id = `cw${tag}io`;
        const r = await ctr(['run', '--rm', ...rtArgs(), BUSYBOX_REF, id, 'sh', '-c', 'echo out; echo err >&2; echo "pid $$"; read line; echo "got $line"'], { input: 'piped\n' });
        expect(r.code, out(r)).toBe(0);
        expect(r.stdout).toBe('out\npid 1\ngot piped\n');
        expect(r.stderr).toBe('err\n');
      });

      it('reports a command that does not exist, naming it, with a failing status', async () => {
        const r = await ctr(['run', '--rm', ...rtArgs(), BUSYBOX_REF, `cw${tag}nosuch`, '/nosuch']);
        expect(r.code, out(r)).not.toBe(0);
        expect(r.timedOut).toBe(false);
        expect(r.stdout + r.stderr).toMatch(/\/nosuch/);
      });

      it('-t gives the command a terminal (through --console-socket)', async () => {
        const line = shellLine([CTR, '-a', sock, '-n', NS, 'run', '--rm', '-t', ...rtArgs(), BUSYBOX_REF, `cw${tag}tty`, 'sh', '-c', 'tty; exit 5']);
        const r = await runBounded('/usr/bin/script', ['-qec', line, '/dev/null']);
        expect(r.code, out(r)).toBe(5);
        expect(r.stdout).toMatch(/\/dev\/pts\/\d+\s/);
        expect(r.stdout).not.toMatch(/not a tty/);
      });

      it('run -d, task exec, task ps, a memory limit, task kill, task delete, container delete', async () => {
        const id = `cw${tag}detach`;
        const started = await ctr(['run', '-d', '--memory-limit', String(64 << 20), ...rtArgs(), BUSYBOX_REF, id, 'sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done']);
        expect(started.code, out(started)).toBe(0);
        await waitForStatus(id, 'RUNNING');
        const pid = (await tasks()).get(id)?.pid ?? 0;
        expect(pid).toBeGreaterThan(0);
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toMatch(/^sh\0-c\0/);

        // ctr's spec mounts no /sys/fs/cgroup: the limit is read where the spec's cgroupsPath put PID 1, from the host
        const memoryCgroup = /^\d+:memory:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, 'utf8'))?.[1];
        expect(memoryCgroup).toBe(`/${NS}/${id}`);
        expect(readFileSync(`/sys/fs/cgroup/memory${memoryCgroup}/memory.limit_in_bytes`, 'utf8')).toBe(`${64 << 20}\n`);

        const exec = await ctr(['tasks', 'exec', '--exec-id', `${id}-e1`, id, 'sh', '-c', 'echo "in $(cat /proc/1/cmdline | tr "\\0" " ")"; grep memory /proc/self/cgroup; exit 4']);
        expect(exec.code, out(exec)).toBe(4);
        expect(exec.stdout).toMatch(/^in sh -c trap/);
        expect(exec.stdout, 'the exec joins the container\'s cgroup').toContain(`:memory:/${NS}/${id}\n`);

        const ps = await ctr(['tasks', 'ps', id]);
        expect(ps.code, out(ps)).toBe(0);
        expect(ps.stdout.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]))).toContain(pid);

        const killed = await ctr(['tasks', 'kill', id]); // SIGTERM
        expect(killed.code, out(killed)).toBe(0);
        await waitForStatus(id, 'STOPPED');
        const deleted = await ctr(['tasks', 'delete', id]);
        expect(deleted.code, out(deleted)).toBe(0);
        expect(deleted.stderr).toMatch(/exit code 7\b/);
        expect((await tasks()).has(id)).toBe(false);
        expect(existsSync(`/proc/${pid}`)).toBe(false);
        expect(cgroupDirs(`${NS}/${id}`), 'cgroups of a deleted task').toEqual([]);

        const gone = await ctr(['containers', 'delete', id]);
        expect(gone.code, out(gone)).toBe(0);
        expect(await containers()).not.toContain(id);
        expect(existsSync(join(runtimeRoot, NS, id))).toBe(false);
      });
    });
  }
});
