/**
 * ns-exec speaking runc's command line (src/oci/runtime-cli.ts), side by side with /usr/sbin/runc where what
 * it prints is read by engines: the errors (texts and statuses), `state`, `list`, `--log` lines, `spec`.
 *
 * Three parts:
 * - without a container: errors for missing and bad ids, a missing bundle, unsupported verbs, the --log line,
 *   `list` of nothing, `spec`, `features`; and that ns-exec's own command line is still its own;
 * - a simulated container (a shell waiting at exec.fifo as ns-exec.c's `create` leaves PID 1, and the record
 *   `create` writes): start (the byte, the FIFO gone, poststart hooks and their stdin), state through
 *   created/running/stopped, kill, delete and its poststop hooks — the Node side alone;
 * - real containers over a bundle from `ns-exec spec` and the busybox fixture, against runc's on the same
 *   bundle: create → created → start → running → kill → stopped → delete, run's exit status, exec,
 *   duplicate ids, delete of a running one. These need oci/plan.ts (planFromConfig) and ns-exec.c's
 *   create/cleanup/detach steps; they are skipped while oci/plan.ts is missing.
 *
 * Every container id starts with `cw`, every state root is a temporary directory of this file, every
 * container is deleted with --force in afterAll (runc's and ns-exec's), and their cgroups are checked gone.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toolPath, waitFor } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';
import { buildProbe, installProbe, PROBE } from './probe.ts';

const RUNC = '/usr/sbin/runc';
const NS_EXEC = toolPath('ns-exec');
const planReady = existsSync(join(dirname(fileURLToPath(import.meta.url)), '../src/oci/plan.ts'));

let work: string;
let rootfs: string;
/** A state root per runtime: nothing in /run/runc or /run/ns-exec. */
const roots: Record<string, string> = {};
/** Every container made here, by runtime, for afterAll. */
const made: { runtime: string; id: string; cgroup: string }[] = [];
/** The simulated containers' processes, killed in afterAll whatever the verbs did. */
const simulated: number[] = [];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A runtime verb, to completion (stdin closed). */
function rt(runtime: string, args: string[], options: { cwd?: string; globals?: string[] } = {}): Result {
  const r = spawnSync(runtime, ['--root', roots[runtime]!, ...(options.globals ?? []), ...args], { encoding: 'utf8', timeout: 30_000, ...(options.cwd && { cwd: options.cwd }) });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `create` or `run -d`, whose container keeps the stdio it is given: files, as the conformance suite gives
 * them (a pipe would stay open as long as the container runs).
 */
function rtDetached(runtime: string, args: string[]): Result & { out: string } {
  const out = mkdtempSync(join(work, 'stdio-'));
  const [o, e] = [openSync(join(out, 'stdout'), 'w'), openSync(join(out, 'stderr'), 'w')];
  const r = spawnSync(runtime, ['--root', roots[runtime]!, ...args], { stdio: ['ignore', o, e], timeout: 30_000 });
  closeSync(o);
  closeSync(e);
  return { code: r.status, stdout: readFileSync(join(out, 'stdout'), 'utf8'), stderr: readFileSync(join(out, 'stderr'), 'utf8'), out };
}

/** runc writes `time="…" level=error msg="TEXT"` on stderr, ns-exec `ns-exec: error: TEXT`: the TEXT. */
function message(stderr: string): string {
  const runc = /msg="((?:[^"\\]|\\.)*)"/.exec(stderr);
  if (runc) return JSON.parse(`"${runc[1]}"`) as string;
  return /ns-exec: error: (.*?)(?: \(hint: .*\))?$/m.exec(stderr)?.[1] ?? stderr.trim();
}

/** A bundle whose config.json is `ns-exec spec`'s, with the busybox rootfs, `args`, no terminal and a cgroup of the test's. */
function bundle(name: string, args: string[], edit: (config: Record<string, any>) => void = () => {}): string {
  const dir = join(work, `bundle-${name}`);
  mkdirSync(dir, { recursive: true });
  rmSync(join(dir, 'config.json'), { force: true });
  expect(rt(NS_EXEC, ['spec', '--bundle', dir]).code).toBe(0);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, any>;
  config.process.args = args;
  config.process.terminal = false;
  config.root.path = rootfs;
  config.linux.cgroupsPath = `/cw-rtcli-${name}`;
  edit(config);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** The same id under each runtime: `cw-<tag>-<runtime>`. */
function idFor(runtime: string, tag: string): string {
  const id = `cw-${tag}-${runtime === RUNC ? 'runc' : 'nsexec'}`;
  made.push({ runtime, id, cgroup: `/cw-rtcli-${tag}` });
  return id;
}

function stateOf(runtime: string, id: string): Record<string, unknown> {
  const r = rt(runtime, ['state', id]);
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-runtime-cli-'));
  rootfs = await busyboxRootfs(work);
  for (const runtime of [RUNC, NS_EXEC]) roots[runtime] = mkdtempSync(join(work, 'root-'));
});

afterAll(async () => {
  for (const { runtime, id } of made) rt(runtime, ['delete', '--force', id]);
  for (const pid of simulated) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  const left: string[] = [];
  for (const { cgroup } of made) {
    // Every hierarchy (cpu and cpuacct are links to one: each directory once).
    for (const dir of new Set(readdirSync('/sys/fs/cgroup').map((h) => realpathSync(join('/sys/fs/cgroup', h))).map((h) => join(h, cgroup)))) {
      if (existsSync(dir)) {
        left.push(dir);
        spawnSync('rmdir', [dir]);
      }
    }
  }
  if (work) await removeTree(work);
  // The tests that make containers assert their cgroups gone; this only keeps a failed one from leaving any.
  if (left.length) console.warn(`cgroups left behind, removed now: ${left.join(' ')}`);
});

describe('runc\'s command line, no container', () => {
  it.each([
    [['state', 'cwnosuch'], 'container does not exist'],
    [['delete', 'cwnosuch'], 'container does not exist'],
    [['kill', 'cwnosuch'], 'container does not exist'],
    [['kill', 'cwnosuch', 'KILL'], 'container does not exist'],
    [['start', 'cwnosuch'], 'container does not exist'],
    [['pause', 'cwnosuch'], 'container does not exist'],
    [['state', 'cw/bad'], 'invalid container ID format'],
    [['state', '..'], 'invalid container ID format'],
    [['create', '--bundle', '/nonexistent-cw', 'cwnobundle'], 'chdir /nonexistent-cw: no such file or directory'],
  ])('%j: exit 1 and runc\'s text', (args, text) => {
    for (const runtime of [RUNC, NS_EXEC]) {
      const r = rt(runtime, args);
      expect(r.code, runtime).toBe(1);
      expect(message(r.stderr), runtime).toContain(text);
    }
  });

  it('create without a config.json, with a bad id, with an empty id: runc\'s texts', () => {
    const empty = mkdtempSync(join(work, 'empty-'));
    expect(message(rt(NS_EXEC, ['create', '--bundle', empty, 'cwnoconfig']).stderr)).toBe('JSON specification file config.json not found');
    expect(message(rt(RUNC, ['create', '--bundle', empty, 'cwnoconfig']).stderr)).toContain('JSON specification file config.json not found');
    // runc reads the bundle's config before it looks at the id: a valid one, so that the id is what fails.
    const valid = bundle('ids', ['true']);
    for (const [id, text] of [['cw bad', 'invalid container ID format'], ['', 'container id cannot be empty']]) {
      const r = rt(NS_EXEC, ['create', '--bundle', valid, id!]);
      expect(r.code).toBe(1);
      expect(message(r.stderr)).toBe(text);
      expect(message(rt(RUNC, ['create', '--bundle', valid, id!]).stderr)).toContain(text);
    }
    writeFileSync(join(empty, 'config.json'), '{"ociVersion": "2.0.0"}');
    expect(message(rt(NS_EXEC, ['create', '--bundle', empty, 'cwv2']).stderr)).toMatch(/ociVersion 2\.0\.0 is not supported/);
    writeFileSync(join(empty, 'config.json'), '{not json');
    expect(message(rt(NS_EXEC, ['create', '--bundle', empty, 'cwjson']).stderr)).toMatch(/config\.json: not valid JSON/);
    expect(existsSync(join(roots[NS_EXEC]!, 'cwv2'))).toBe(false);
  });

  it('delete --force of a container that does not exist succeeds, as runc', () => {
    for (const runtime of [RUNC, NS_EXEC]) expect(rt(runtime, ['delete', '--force', 'cwnosuch']).code).toBe(0);
  });

  it('a missing id is a usage error, exit 1 as runc\'s', () => {
    for (const verb of ['state', 'start', 'delete', 'kill']) {
      expect(rt(RUNC, [verb]).code).toBe(1);
      expect(rt(NS_EXEC, [verb]).code).toBe(1);
    }
  });

  it('--log FILE --log-format json: the error is also the file\'s last line, as logrus writes it; text format too', () => {
    const json = join(work, 'log.json');
    const text = join(work, 'log.txt');
    for (const runtime of [RUNC, NS_EXEC]) {
      rmSync(json, { force: true });
      rmSync(text, { force: true });
      expect(rt(runtime, ['state', 'cwnosuch'], { globals: ['--log', json, '--log-format', 'json'] }).code).toBe(1);
      const line = JSON.parse(readFileSync(json, 'utf8').trim().split('\n').at(-1)!) as Record<string, string>;
      expect(Object.keys(line).sort()).toEqual(['level', 'msg', 'time']);
      expect(line).toMatchObject({ level: 'error', msg: 'container does not exist' });
      expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(rt(runtime, ['state', 'cwnosuch'], { globals: ['--log=' + text] }).code).toBe(1);
      expect(readFileSync(text, 'utf8')).toMatch(/^time="[^"]+" level=error msg="container does not exist"\n$/);
    }
  });

  it('list of nothing prints what runc prints: the header, `null` as json, nothing with -q', () => {
    for (const args of [['list'], ['list', '--format', 'json'], ['list', '-q'], ['list', '--format=json']]) {
      const [a, b] = [rt(RUNC, args), rt(NS_EXEC, args)];
      expect(b.code).toBe(0);
      expect(b.stdout, args.join(' ')).toBe(a.stdout);
    }
  });

  it('spec writes Docker\'s defaults where runc spec writes its own, and refuses to overwrite with runc\'s text', () => {
    const [ours, theirs] = [mkdtempSync(join(work, 'spec-')), mkdtempSync(join(work, 'spec-'))];
    expect(rt(NS_EXEC, ['spec'], { cwd: ours }).code).toBe(0);
    expect(rt(RUNC, ['spec'], { cwd: theirs }).code).toBe(0);
    const [a, b] = [JSON.parse(readFileSync(join(theirs, 'config.json'), 'utf8')), JSON.parse(readFileSync(join(ours, 'config.json'), 'utf8'))];
    // The same shape and starting point: sh on a terminal, rootfs/ as the root, tab-indented.
    expect(readFileSync(join(ours, 'config.json'), 'utf8')).toMatch(/^\{\n\t"ociVersion"/);
    expect(b.process).toMatchObject({ terminal: true, args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } });
    expect(b.root.path).toBe(a.root.path);
    // Docker's, not runc's: 14 capabilities, /sys/fs/cgroup, /dev/shm 64 MiB, the cgroup namespace, masked paths.
    expect(b.process.capabilities.bounding).toHaveLength(14);
    expect(b.process.capabilities.bounding).toContain('CAP_NET_RAW');
    expect(b.process.capabilities.ambient).toBeUndefined();
    expect(b.mounts.map((m: { destination: string }) => m.destination)).toEqual(expect.arrayContaining(a.mounts.map((m: { destination: string }) => m.destination)));
    expect(b.linux.namespaces).toContainEqual({ type: 'cgroup' });
    expect(b.linux.maskedPaths).toEqual(expect.arrayContaining(['/proc/kcore', '/proc/keys', '/sys/firmware']));
    expect(b.linux.readonlyPaths).toEqual(a.linux.readonlyPaths);
    for (const runtime of [RUNC, NS_EXEC]) {
      const r = rt(runtime, ['spec'], { cwd: runtime === RUNC ? theirs : ours });
      expect(r.code).toBe(1);
      expect(message(r.stderr)).toBe('File config.json exists. Remove it first');
    }
    const rootless = mkdtempSync(join(work, 'spec-'));
    expect(rt(NS_EXEC, ['spec', '--rootless', '--bundle', rootless]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(rootless, 'config.json'), 'utf8'));
    expect(c.linux.namespaces).toContainEqual({ type: 'user' });
    expect(c.linux.uidMappings).toEqual([{ containerID: 0, hostID: 0, size: 1 }]);
  });

  it('features: runtime-spec features.md, stating what ns-exec does (no systemd, AppArmor, SELinux, seccomp agent)', () => {
    const r = rt(NS_EXEC, ['features']);
    expect(r.code).toBe(0);
    const f = JSON.parse(r.stdout);
    const runc = JSON.parse(rt(RUNC, ['features']).stdout);
    expect(Object.keys(f).filter((k) => k !== 'annotations')).toEqual(Object.keys(runc).filter((k) => k !== 'annotations'));
    expect(f.hooks).toEqual(runc.hooks);
    expect(f.linux.namespaces).toEqual(runc.linux.namespaces);
    expect(f.linux.capabilities).toEqual(runc.linux.capabilities);
    expect(f.linux.cgroup).toEqual({ v1: true, v2: true, systemd: false, systemdUser: false });
    expect(f.linux.seccomp.actions).not.toContain('SCMP_ACT_NOTIFY');
    expect(f.linux.apparmor.enabled).toBe(false);
  });

  it('checkpoint, restore, update, events, --systemd-cgroup: one line, exit 1', () => {
    for (const args of [['checkpoint', 'cwx'], ['restore', 'cwx'], ['update', 'cwx'], ['events', 'cwx'], ['--systemd-cgroup', 'create', 'cwx']]) {
      const r = rt(NS_EXEC, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).toMatch(/^ns-exec: error: /);
    }
  });

  it('ns-exec\'s own command line stays its own: --version, -v, --help, a usage error', () => {
    for (const v of ['--version', '-v']) expect(rt(NS_EXEC, [v], {}).stdout).toMatch(/^ns-exec \d/);
    const help = spawnSync(NS_EXEC, ['--help'], { encoding: 'utf8' });
    expect(help.stdout).toMatch(/--rootfs DIR/);
    const bad = spawnSync(NS_EXEC, ['--rootfs'], { encoding: 'utf8' });
    expect(bad.status).toBe(125);
  });
});

describe('a simulated container: the Node side of start, state, kill and delete', () => {
  /**
   * What `create` leaves, made by hand: the record, the pid file, exec.fifo, and a shell standing for PID 1 that
   * blocks opening the FIFO for writing, writes a byte once `start` opens it, then becomes `sleep`.
   */
  function simulate(id: string, hooks: Record<string, unknown>): { dir: string; pid: number } {
    const dir = join(roots[NS_EXEC]!, id);
    mkdirSync(dir);
    spawnSync('mkfifo', [join(dir, 'exec.fifo')]);
    const child = spawn('/bin/sh', ['-c', `printf x > ${dir}/exec.fifo && exec sleep 300`], { stdio: 'ignore', detached: true });
    child.unref();
    simulated.push(child.pid!);
    writeFileSync(join(dir, 'pid'), String(child.pid));
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ ociVersion: '1.0.2', id, bundle: work, rootfs, created: '2026-01-02T03:04:05.123456789Z', annotations: { 'cw.test': 'yes' }, hooks, cgroups: [], ownPidNamespace: true }));
    made.push({ runtime: NS_EXEC, id, cgroup: '/nonexistent' });
    return { dir, pid: child.pid! };
  }

  it('created → start (poststart hooks, one failing) → running → kill → stopped → delete (poststop hooks)', async () => {
    const out = join(work, 'hooks');
    mkdirSync(out);
    const { dir, pid } = simulate('cwsim', {
      poststart: [{ path: '/bin/false' }, { path: '/bin/sh', args: ['sh', '-c', `cat > ${out}/poststart`] }],
      poststop: [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${out}/poststop; exit 1`] }, { path: '/bin/sh', args: ['sh', '-c', `echo "$CW_HOOK" > ${out}/env`], env: ['CW_HOOK=set'] }],
    });
    expect(stateOf(NS_EXEC, 'cwsim')).toEqual({ ociVersion: '1.0.2', id: 'cwsim', pid, status: 'created', bundle: work, rootfs, created: '2026-01-02T03:04:05.123456789Z', owner: '', annotations: { 'cw.test': 'yes' } });
    expect(rt(NS_EXEC, ['list']).stdout).toMatch(new RegExp(`^cwsim {7}${pid} +created {5}${work} {3}2026-01-02T03:04:05.123456789Z {3}root$`, 'm'));
    const started = rt(NS_EXEC, ['start', 'cwsim']);
    expect(started.code, started.stderr).toBe(0);
    // runtime.md: a failing poststart hook is a warning; the next one runs, with the state on stdin.
    expect(started.stderr).toMatch(/^ns-exec: warning: poststart hook \/bin\/false: exit status 1/);
    expect(JSON.parse(readFileSync(join(out, 'poststart'), 'utf8'))).toEqual({ ociVersion: '1.0.2', id: 'cwsim', status: 'running', pid, bundle: work, annotations: { 'cw.test': 'yes' } });
    expect(existsSync(join(dir, 'exec.fifo'))).toBe(false);
    expect(stateOf(NS_EXEC, 'cwsim').status).toBe('running');
    expect(message(rt(NS_EXEC, ['start', 'cwsim']).stderr)).toBe('cannot start an already running container');
    const del = rt(NS_EXEC, ['delete', 'cwsim']);
    expect([del.code, message(del.stderr)]).toEqual([1, 'cannot delete container cwsim that is not stopped: running']);
    expect(JSON.parse(rt(NS_EXEC, ['ps', '--format', 'json', 'cwsim']).stdout)).toEqual([pid]);
    expect(rt(NS_EXEC, ['kill', 'cwsim', 'nosig']).stderr).toMatch(/unknown signal "nosig"/);
    expect(rt(NS_EXEC, ['kill', 'cwsim', 'kill']).code).toBe(0);
    await waitFor('the process to be gone', () => stateOf(NS_EXEC, 'cwsim').status === 'stopped');
    expect(stateOf(NS_EXEC, 'cwsim').pid).toBe(0);
    expect(message(rt(NS_EXEC, ['kill', 'cwsim']).stderr)).toBe('container not running');
    expect(message(rt(NS_EXEC, ['start', 'cwsim']).stderr)).toBe('cannot start a container that has stopped');
    const deleted = rt(NS_EXEC, ['delete', 'cwsim']);
    expect(deleted.code).toBe(0);
    expect(deleted.stderr).toMatch(/warning: poststop hook \/bin\/sh: exit status 1/);
    expect(JSON.parse(readFileSync(join(out, 'poststop'), 'utf8'))).toMatchObject({ id: 'cwsim', status: 'stopped' });
    expect(readFileSync(join(out, 'env'), 'utf8')).toBe('set\n');
    expect(existsSync(dir)).toBe(false);
    expect(message(rt(NS_EXEC, ['state', 'cwsim']).stderr)).toBe('container does not exist');
  });

  it('delete of a created container kills it (as runc: containerd deletes a task that never started so); start of a dead one fails', async () => {
    const { pid } = simulate('cwsim2', {});
    expect(rt(NS_EXEC, ['delete', 'cwsim2']).code).toBe(0);
    await waitFor('the process to be gone', () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'));
    const { pid: pid3 } = simulate('cwsim3', {});
    process.kill(pid3, 'SIGKILL');
    await waitFor('the process to be gone', () => stateOf(NS_EXEC, 'cwsim3').status === 'stopped');
    expect(message(rt(NS_EXEC, ['start', 'cwsim3']).stderr)).toBe('cannot start a container that has stopped');
    expect(rt(NS_EXEC, ['delete', 'cwsim3']).code).toBe(0);
  });
});

describe.skipIf(!planReady)('real containers, against runc on the same bundle', () => {
  it('create → created → start → running → kill → stopped → delete, with runc\'s state fields', async () => {
    const dir = bundle('life', ['sleep', '300']);
    for (const runtime of [RUNC, NS_EXEC]) {
      const id = idFor(runtime, 'life');
      const created = rtDetached(runtime, ['create', '--bundle', dir, id]);
      expect(created.code, created.stderr).toBe(0);
      const s = stateOf(runtime, id);
      expect(Object.keys(s), runtime).toEqual(['ociVersion', 'id', 'pid', 'status', 'bundle', 'rootfs', 'created', 'owner']);
      expect(s).toMatchObject({ id, status: 'created', bundle: dir, rootfs, owner: '' });
      expect(s.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
      expect(rt(runtime, ['list']).stdout).toMatch(new RegExp(`^${id} +${s.pid as number} +created `, 'm'));
      const dup = rtDetached(runtime, ['create', '--bundle', dir, id]);
      expect([dup.code, message(dup.stderr)]).toEqual([1, expect.stringContaining('container with given ID already exists')]);
      expect(rt(runtime, ['start', id]).code).toBe(0);
      expect(stateOf(runtime, id).status).toBe('running');
      expect(message(rt(runtime, ['delete', id]).stderr)).toBe(`cannot delete container ${id} that is not stopped: running`);
      const exec = rt(runtime, ['exec', id, 'sh', '-c', 'echo $$; cat /proc/1/cmdline']);
      expect(exec.code, exec.stderr).toBe(0);
      expect(exec.stdout).toMatch(/sleep\0?300/);
      expect(rt(runtime, ['kill', id, 'KILL']).code).toBe(0);
      await waitFor('stopped', () => stateOf(runtime, id).status === 'stopped');
      expect(stateOf(runtime, id).pid).toBe(0);
      expect(rt(runtime, ['delete', id]).code).toBe(0);
      expect(message(rt(runtime, ['state', id]).stderr)).toBe('container does not exist');
      expect(existsSync(join('/sys/fs/cgroup/pids', 'cw-rtcli-life')), runtime).toBe(false);
    }
  });

  it('run exits with the command\'s status and leaves no container; run -d leaves a running one', async () => {
    const dir = bundle('run', ['sh', '-c', 'exit 7']);
    for (const runtime of [RUNC, NS_EXEC]) {
      const id = idFor(runtime, 'run');
      const r = rt(runtime, ['run', '--bundle', dir, id]);
      expect(r.code, r.stderr).toBe(7);
      expect(message(rt(runtime, ['state', id]).stderr)).toBe('container does not exist');
      // runc run destroys the container when its process ends: the cgroup goes too (ns-exec: ns-exec.c's part).
      expect(existsSync('/sys/fs/cgroup/pids/cw-rtcli-run'), runtime).toBe(false);
    }
    const detached = bundle('rund', ['sleep', '300']);
    for (const runtime of [RUNC, NS_EXEC]) {
      const id = idFor(runtime, 'rund');
      expect(rtDetached(runtime, ['run', '-d', '--bundle', detached, id]).code).toBe(0);
      expect(stateOf(runtime, id).status).toBe('running');
      expect(rt(runtime, ['delete', '--force', id]).code).toBe(0);
      expect(message(rt(runtime, ['state', id]).stderr)).toBe('container does not exist');
    }
  });

  it("runc spec's own capabilities (ambient ones, and no inheritable set): what cannot be ambient is left out, as runc leaves it", () => {
    const runcSpec = { bounding: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], permitted: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'], ambient: ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'] };
    const dir = bundle('ambient', ['sh', '-c', "grep -E '^Cap(Eff|Amb):' /proc/self/status"], (config) => (config.process.capabilities = runcSpec));
    const seen: Record<string, string> = {};
    for (const runtime of [RUNC, NS_EXEC]) {
      const r = rt(runtime, ['run', '--bundle', dir, idFor(runtime, 'ambient')]);
      expect(r.code, r.stderr).toBe(0);
      seen[runtime] = r.stdout;
    }
    expect(seen[NS_EXEC]).toBe(seen[RUNC]);
    expect(seen[NS_EXEC]).toMatch(/CapAmb:\t0000000000000000/);
  });

  /**
   * `exec --process FILE` (what conmon and containerd's shim run), the caller's umask 077: the lines of the exec'd
   * process's /proc/self/status that say what it was given, and its output after them.
   */
  function execProcess(runtime: string, id: string, name: string, process: Record<string, unknown>, script = ''): string[] {
    const file = join(work, `process-${name}.json`);
    const args = ['sh', '-c', `grep -E '^(Umask|Cap[A-Za-z]+|NoNewPrivs|Seccomp):' /proc/self/status; ${script}`];
    writeFileSync(file, JSON.stringify({ args, cwd: '/', env: ['PATH=/bin'], ...process, user: { uid: 0, gid: 0, ...(process.user as object | undefined) } }));
    const r = spawnSync('sh', ['-c', 'umask 077 && exec "$@"', 'sh', runtime, '--root', roots[runtime]!, 'exec', '--process', file, id], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, `${runtime} ${name}: ${r.stderr}`).toBe(0);
    return r.stdout.trim().split('\n');
  }

  it('exec --process: the five capability sets, no_new_privs and the umask of the process.json, as runc exec gives them', () => {
    // The container's own no_new_privs is not the exec'd process's: runc takes the process.json's, false when unsaid.
    const dir = bundle('execcaps', ['sleep', '300'], (c) => {
      c.process.noNewPrivileges = true;
    });
    const processes: Record<string, Record<string, unknown>> = {
      // No capabilities: the container's config process's (runc 1.1's finalizeNamespace), not none.
      none: {},
      root: {
        noNewPrivileges: true,
        capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL', 'CAP_SETUID'], effective: ['CAP_CHOWN'], permitted: ['CAP_CHOWN', 'CAP_KILL'], inheritable: ['CAP_KILL'], ambient: ['CAP_KILL'] },
      },
      // Another user keeps through execve only what is ambient (capabilities(7)).
      user: {
        user: { uid: 1000, gid: 1000, additionalGids: [5] },
        capabilities: { bounding: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], effective: ['CAP_KILL'], permitted: ['CAP_KILL', 'CAP_NET_BIND_SERVICE'], inheritable: ['CAP_NET_BIND_SERVICE'], ambient: ['CAP_NET_BIND_SERVICE'] },
      },
      empty: { capabilities: {} },
      umask: { user: { uid: 0, gid: 0, umask: 0o027 } },
    };
    const seen: Record<string, Record<string, string[]>> = {};
    for (const runtime of [RUNC, NS_EXEC]) {
      const id = idFor(runtime, 'execcaps');
      const r = rtDetached(runtime, ['run', '-d', '--bundle', dir, id]);
      expect(r.code, r.stderr).toBe(0);
      seen[runtime] = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, execProcess(runtime, id, name, p)]));
      expect(rt(runtime, ['delete', '--force', id]).code).toBe(0);
    }
    const [runc, ours] = [seen[RUNC]!, seen[NS_EXEC]!];
    expect(ours.none).toEqual(expect.arrayContaining(['CapBnd:\t00000000a80425fb', 'CapEff:\t00000000a80425fb', 'NoNewPrivs:\t0', 'Seccomp:\t0']));
    expect(ours.root).toEqual(expect.arrayContaining(['CapInh:\t0000000000000020', 'CapPrm:\t0000000000000021', 'CapEff:\t0000000000000021', 'CapBnd:\t00000000000000a1', 'CapAmb:\t0000000000000020', 'NoNewPrivs:\t1']));
    expect(ours.user).toEqual(expect.arrayContaining(['CapPrm:\t0000000000000400', 'CapEff:\t0000000000000400', 'CapAmb:\t0000000000000400']));
    expect(ours.empty).toEqual(expect.arrayContaining(['CapBnd:\t0000000000000000', 'CapEff:\t0000000000000000']));
    const withoutUmask = (lines: string[]) => lines.filter((l) => !l.startsWith('Umask:'));
    for (const name of Object.keys(processes)) expect(withoutUmask(ours[name]!), name).toEqual(withoutUmask(runc[name]!));
    // The umask: without one in the process, the caller's under both (runc 1.1's exec never sets one); with one,
    // ns-exec applies it (config.md, crun; runc 1.1 ignores it: 0077 here, runc 1.2 takes the container's).
    expect(ours.none![0]).toBe('Umask:\t0077');
    expect(runc.none![0]).toBe('Umask:\t0077');
    expect(ours.umask![0]).toBe('Umask:\t0027');
  });

  it("exec applies the container's own linux.seccomp, 64-bit argument values whole, as runc exec does; none without one", () => {
    // kill(2) of an odd signal is refused: (sig & (2^53 + 1)) == 1. The mask read as a double (2^53) would match
    // no signal at all, and Docker's default profile allows kill: SIGCHLD (17) refused, SIGWINCH (28) sent.
    const mask = '9007199254740993';
    const dir = bundle('execsc', ['sleep', '300'], (c) => {
      c.linux.seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 'MASK', valueTwo: 1, op: 'SCMP_CMP_MASKED_EQ' }] }] };
    });
    const config = join(dir, 'config.json');
    writeFileSync(config, readFileSync(config, 'utf8').replace('"MASK"', mask));
    const plain = bundle('execnosc', ['sleep', '300']);
    const script = 'kill -CHLD $$ && echo sent CHLD; kill -WINCH $$ && echo sent WINCH';
    const seen: Record<string, string[][]> = {};
    for (const runtime of [RUNC, NS_EXEC]) {
      const [id, idPlain] = [idFor(runtime, 'execsc'), idFor(runtime, 'execnosc')];
      for (const [b, i] of [[dir, id], [plain, idPlain]] as const) {
        const r = rtDetached(runtime, ['run', '-d', '--bundle', b, i]);
        expect(r.code, r.stderr).toBe(0);
      }
      seen[runtime] = [execProcess(runtime, id, 'seccomp', {}, script), execProcess(runtime, idPlain, 'plain', {}, script)];
      const withArgs = rt(runtime, ['exec', id, 'sh', '-c', script]);
      expect(withArgs.stdout, runtime).toBe('sent WINCH\n');
      if (runtime === NS_EXEC) {
        // The record keeps the value whole (as text), for an exec after the bundle is gone.
        const record = JSON.parse(readFileSync(join(roots[NS_EXEC]!, id, 'state.json'), 'utf8'));
        expect(record.seccomp.syscalls[0].args[0].value).toBe(mask);
        expect(JSON.parse(readFileSync(join(roots[NS_EXEC]!, idPlain, 'state.json'), 'utf8')).seccomp).toBeUndefined();
      }
      for (const i of [id, idPlain]) expect(rt(runtime, ['delete', '--force', i]).code).toBe(0);
    }
    const [filtered, unfiltered] = seen[NS_EXEC]!;
    expect(filtered).toContain('Seccomp:\t2');
    expect(filtered!.slice(-2)).toEqual(['Seccomp:\t2', 'sent WINCH']);
    expect(unfiltered).toContain('Seccomp:\t0');
    expect(unfiltered!.slice(-2)).toEqual(['sent CHLD', 'sent WINCH']);
    expect(seen[NS_EXEC]).toEqual(seen[RUNC]);
  });

  it("--no-new-keyring: the container's process and those exec starts keep the caller's session keyring, as under runc", async () => {
    installProbe(await buildProbe(work), rootfs);
    const pid1 = bundle('keyring', ['sh', '-c', `read k; exec ${PROBE} keyread $k`]);
    const [keep, fresh] = [bundle('keepring', ['sleep', '300']), bundle('newring', ['sleep', '300'])];
    const lines: Record<string, string[]> = {};
    for (const runtime of [RUNC, NS_EXEC]) {
      const id = (tag: string) => idFor(runtime, tag);
      const rtc = `${runtime} --root ${roots[runtime]!}`;
      // A key in a session keyring of the caller's own: readable by whoever has that keyring (its possessor).
      const script = [
        'k=$(keyctl add user cw-rtcli-key s3cret @s)',
        `echo $k | ${rtc} run --no-new-keyring --bundle ${pid1} ${id('keyring')}`,
        `${rtc} run -d --no-new-keyring --bundle ${keep} ${id('keepring')} </dev/null >/dev/null 2>&1`,
        `${rtc} exec ${id('keepring')} ${PROBE} keyread $k`,
        `${rtc} delete --force ${id('keepring')}`,
        `${rtc} run -d --bundle ${fresh} ${id('newring')} </dev/null >/dev/null 2>&1`,
        `${rtc} exec ${id('newring')} ${PROBE} keyread $k`,
        `${rtc} delete --force ${id('newring')}`,
      ].join('\n');
      const r = spawnSync('keyctl', ['session', '-', 'sh', '-c', script], { encoding: 'utf8', timeout: 60_000 });
      lines[runtime] = r.stdout.split('\n').filter((l) => l && !l.startsWith('Joined'));
    }
    expect(lines[NS_EXEC]).toEqual(['read s3cret', 'read s3cret', 'EACCES']);
    expect(lines[NS_EXEC]).toEqual(lines[RUNC]);
  });
});
