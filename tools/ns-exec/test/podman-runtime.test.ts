/**
 * ns-exec as podman's OCI runtime: what `podman run --runtime RUNTIME` gives a user, checked with runc (the
 * reference, as the bench runs podman) and with ns-exec (issue 21: until NS_EXEC_RUNTIME_READY, its cases run as
 * it.fails).
 *
 * podman runs on the bench's throwaway store (test/fixtures/podman.ts: its own root, runroot and tmpdir, vfs,
 * cgroupfs with every container under a cw-pmrt-PID cgroup parent, no events, an empty CNI config dir); a
 * `--runtime PATH` after the store's own `--runtime runc` chooses the runtime (the last one wins). podman names the
 * runtime by the path's basename; as "ns-exec" is not in containers.conf's runtime_supports_json, podman passes it no
 * --root and no --log: the runtime keeps its state in its own default root and podman reads its errors from stderr
 * (through conmon). conmon runs `create --bundle B --pid-file F [--console-socket S] ID` and
 * `exec --pid-file F --process P --detach [--tty] [--console-socket S] ID`; podman itself runs `start ID`,
 * `kill ID SIG`, `delete --force ID`, `state ID` (see /tmp/engine-contract.md).
 *
 * Every case but the published port runs with `--network none`: nothing of the host's network changes. The published
 * port uses podman's default CNI network as the bench does (the cni-podman0 bridge, removed afterwards if this run
 * made it; the portmap plugin's rules go with the container, and the dispatch chains it adds once are removed when this
 * run added them and nothing else uses CNI: test/fixtures/cni-leftovers.ts), fetched from the host on 127.0.0.1.
 *
 * Cleanup, also after a failure: after each case `podman rm -f` of every container of the store; afterAll ends (by
 * pid) any process still in the cgroup parent — a runtime that hangs can leave conmon or a container there — then
 * the store's remove() (containers, cgroups, mounts, the bridge) and the temporary directory.
 */
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX_REF, removeTree } from '../../../test/fixtures/images.ts';
import { HAVE_PODMAN, podmanStore, type PodmanStore } from '../../../test/fixtures/podman.ts';
import { cniRules, removeCniRulesAdded } from '../../../test/fixtures/cni-leftovers.ts';
import { cgroupDirs, cgroupPids, ENGINE_RUNTIMES, runBounded, shellLine, type BoundedResult, type EngineRuntime } from '../../../test/fixtures/engine-runtimes.ts';

const PODMAN = '/usr/bin/podman';
const HAVE = HAVE_PODMAN && existsSync('/usr/bin/conmon') && process.getuid?.() === 0;
const CGROUP_PARENT = `cw-pmrt-${process.pid}`;
/** What a container keeps running: it ends with status 7 on SIGTERM (a PID 1 without a handler ignores it). */
const SERVE = 'trap "exit 7" TERM; while :; do sleep 0.1; done';

let work = '';
let store: PodmanStore | undefined;
let cniBefore: Record<string, string[]> = {};

const out = (r: BoundedResult) => `exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`;

/** podman on the store with RUNTIME (the global options, then `--runtime PATH`, then the command). */
function podman(rt: EngineRuntime, args: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<BoundedResult> {
  if (!store) throw new Error('no podman store');
  return runBounded(PODMAN, [...store.globalArgs, '--runtime', rt.path, ...args], { env: store.env, ...options });
}

/** The same podman command line under a terminal (`script`), as a user at a shell runs it: `-it` needs one. */
function podmanInTerminal(rt: EngineRuntime, args: string[]): Promise<BoundedResult> {
  if (!store) throw new Error('no podman store');
  return runBounded('/usr/bin/script', ['-qec', shellLine([PODMAN, ...store.globalArgs, '--runtime', rt.path, ...args]), '/dev/null'], { env: store.env });
}

/** What the runtime says of a container: `RUNTIME state ID` as podman runs it (no --root: the runtime's default). */
const runtimeState = (rt: EngineRuntime, id: string) => runBounded(rt.path, ['state', id]);

/** A TCP port free on 127.0.0.1 right now. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Processes left in the cgroup parent (every hierarchy, every level), ended by pid. */
async function endProcessesUnder(relative: string): Promise<void> {
  const walk = (dir: string): string[] => [dir, ...readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).flatMap((d) => walk(join(dir, d.name)))];
  const dirs = cgroupDirs(relative).flatMap(walk);
  const pids = [...new Set(dirs.flatMap(cgroupPids))];
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      console.warn(`cleanup: killed ${pid} (${readFileSync(`/proc/${pid}/comm`, 'utf8').trim()}) left under ${relative}`);
    } catch {
      // gone meanwhile
    }
  }
  for (let i = 0; i < 100 && dirs.some((d) => cgroupPids(d).length > 0); i++) await new Promise((r) => setTimeout(r, 20));
}

beforeAll(async () => {
  if (!HAVE) return;
  cniBefore = await cniRules();
  work = mkdtempSync(join(tmpdir(), 'cw-pmrt-'));
  store = await podmanStore(join(work, 'podman'), CGROUP_PARENT);
}, 120_000);

afterEach(async () => {
  await store?.removeContainers();
});

afterAll(async () => {
  if (!work) return;
  await store?.removeContainers();
  await endProcessesUnder(CGROUP_PARENT);
  await store?.remove();
  await removeCniRulesAdded(cniBefore);
  await removeTree(work);
}, 120_000);

describe.skipIf(!HAVE)('podman run --runtime RUNTIME (podman 4.3, conmon 2.1)', () => {
  for (const rt of ENGINE_RUNTIMES) {
    const tag = rt.name === 'runc' ? 'r' : 'n';
    const common = ['--cgroup-parent', CGROUP_PARENT];

    describe(`${rt.name}`, () => {
      it("run --rm returns the command's exit status, and the runtime forgets the container", async () => {
        const cidfile = join(work, `cid-${tag}-exit`);
        const r = await podman(rt, ['run', '--rm', ...common, '--network', 'none', '--cidfile', cidfile, BUSYBOX_REF, 'sh', '-c', 'exit 3']);
        expect(r.code, out(r)).toBe(3);
        const id = readFileSync(cidfile, 'utf8').trim();
        expect((await podman(rt, ['ps', '-a', '-q', '--no-trunc'])).stdout).not.toContain(id);
        const state = await runtimeState(rt, id);
        expect(state.code, out(state)).not.toBe(0);
        expect(state.stderr).toMatch(/does not exist/);
      });

      it('relays stdin (-i), stdout and stderr; the command is PID 1', async () => {
        const r = await podman(rt, ['run', '--rm', '-i', ...common, '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'echo out; echo err >&2; echo "pid $$"; read line; echo "got $line"'], { input: 'piped\n' });
        expect(r.code, out(r)).toBe(0);
        expect(r.stdout).toBe('out\npid 1\ngot piped\n');
        expect(r.stderr).toBe('err\n');
      });

      it('a command that does not exist: status 127, naming it', async () => {
        const r = await podman(rt, ['run', '--rm', ...common, '--network', 'none', BUSYBOX_REF, '/nosuch']);
        expect(r.code, out(r)).toBe(127);
        expect(r.stderr).toMatch(/\/nosuch/);
      });

      it('-it gives the command a terminal (through --console-socket)', async () => {
        // The pause before the exit: conmon 2.1 can lose a terminal's last output when the process ends at once (seen in CI with runc).
        const r = await podmanInTerminal(rt, ['run', '--rm', '-it', ...common, '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'tty; sleep 0.3; exit 5']);
        expect(r.code, out(r)).toBe(5);
        expect(r.stdout).toMatch(/\/dev\/pts\/\d+\s/);
      });

      it('-m 64m and --pids-limit 20, seen from inside (cgroup v1 files)', async () => {
        const r = await podman(rt, ['run', '--rm', ...common, '--network', 'none', '-m', '64m', '--pids-limit', '20', BUSYBOX_REF, 'cat', '/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/pids/pids.max']);
        expect(r.code, out(r)).toBe(0);
        expect(r.stdout).toBe(`${64 << 20}\n20\n`);
      });

      it('--pids-limit 20 is enforced: forks past it fail', async () => {
        // 30 background sleeps from a subshell, which dies (busybox sh: "can't fork") at the first one past the limit;
        // PID 1's exit then takes the sleeps with it
        const r = await podman(rt, ['run', '--rm', ...common, '--network', 'none', '--pids-limit', '20', BUSYBOX_REF, 'sh', '-c', 'n=$( (for i in $(seq 30); do sleep 5 >/dev/null & echo x; done) 2>/dev/null | wc -l); echo "forked $n"']);
        expect(r.code, out(r)).toBe(0);
        const forked = Number(/forked (\d+)/.exec(r.stdout)?.[1]);
        expect(forked, r.stdout).toBeGreaterThan(10);
        expect(forked).toBeLessThan(20);
      });

      it('-d, exec (status, output, -it), stop (SIGTERM: the trap\'s status), rm', async () => {
        const name = `cw-pmrt-${tag}-d`;
        const started = await podman(rt, ['run', '-d', ...common, '--network', 'none', '--name', name, BUSYBOX_REF, 'sh', '-c', SERVE]);
        expect(started.code, out(started)).toBe(0);
        const id = started.stdout.trim();
        expect(id).toMatch(/^[0-9a-f]{64}$/);

        const exec = await podman(rt, ['exec', name, 'sh', '-c', 'echo "in $(cat /proc/1/cmdline | tr "\\0" " ")"; echo err >&2; exit 4']);
        expect(exec.code, out(exec)).toBe(4);
        expect(exec.stdout).toBe(`in sh -c ${SERVE} \n`);
        expect(exec.stderr).toBe('err\n');
        const execTty = await podmanInTerminal(rt, ['exec', '-it', name, 'sh', '-c', 'tty; exit 6']);
        expect(execTty.code, out(execTty)).toBe(6);
        expect(execTty.stdout).toMatch(/\/dev\/pts\/\d+\s/);

        const state = await runtimeState(rt, id);
        expect(state.code, out(state)).toBe(0);
        expect(JSON.parse(state.stdout)).toMatchObject({ id, status: 'running' });

        const stopped = await podman(rt, ['stop', '-t', '10', name]);
        expect(stopped.code, out(stopped)).toBe(0);
        const exit = await podman(rt, ['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', name]);
        expect(exit.stdout.trim()).toBe('exited 7');
        const removed = await podman(rt, ['rm', name]);
        expect(removed.code, out(removed)).toBe(0);
        expect((await runtimeState(rt, id)).stderr).toMatch(/does not exist/);
      });

      it('-d, kill (SIGKILL: 137 from podman wait), rm', async () => {
        const name = `cw-pmrt-${tag}-k`;
        const started = await podman(rt, ['run', '-d', ...common, '--network', 'none', '--name', name, BUSYBOX_REF, 'sleep', '1000']);
        expect(started.code, out(started)).toBe(0);
        const killed = await podman(rt, ['kill', name]);
        expect(killed.code, out(killed)).toBe(0);
        const waited = await podman(rt, ['wait', name]);
        expect(waited.stdout.trim(), out(waited)).toBe('137');
        const removed = await podman(rt, ['rm', name]);
        expect(removed.code, out(removed)).toBe(0);
      });

      it('-p 127.0.0.1:PORT:80 publishes busybox httpd to the host (podman\'s CNI network)', async () => {
        const port = await freePort();
        const name = `cw-pmrt-${tag}-p`;
        const started = await podman(rt, ['run', '-d', ...common, '--name', name, '-p', `127.0.0.1:${port}:80`, BUSYBOX_REF, 'sh', '-c', `mkdir -p /www && echo served-${tag} > /www/index.html && exec httpd -f -p 80 -h /www`]);
        expect(started.code, out(started)).toBe(0);
        let body = '';
        const end = Date.now() + 10_000;
        while (Date.now() < end) {
          body = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }).then((r) => r.text(), (e: Error) => `(${e.message})`);
          if (body === `served-${tag}\n`) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        expect(body).toBe(`served-${tag}\n`);
        const removed = await podman(rt, ['rm', '-f', '--time', '0', name]);
        expect(removed.code, out(removed)).toBe(0);
      });
    });
  }
});
