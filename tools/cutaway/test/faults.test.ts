/**
 * Faults are input too: a closed output pipe, SIGTERM/SIGINT and SIGKILL at several points of `cutaway run`
 * (foreground) and `cutaway build`, and several runs at once. After each, one invariant: every mount under
 * the root, every network namespace and veth of this file's network, every cgroup of a container that was
 * in the store, belongs to a container the store lists; once `system prune -f` has run, none is left, the
 * store's containers/ is empty and the image store verifies (every name resolves, every blob hashes to its
 * digest).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findImage, OciLayout } from '@cutaway/oci';
import { runCommand, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;
/** This file's own network (the default one is shared with other test files running at the same time). */
let network: string;
let bridge: string;
/** Every container id the store held during a test: what the host may still have of them is checked. */
const seen = new Set<string>();

const env = () => ({ CUTAWAY_ROOT: root });

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: env() });
}

/** The ids in containers/ now (remembered in `seen`). */
function containerIds(): string[] {
  const dir = join(root, 'containers');
  const ids = existsSync(dir) ? readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)) : [];
  for (const id of ids) seen.add(id);
  return ids;
}

/** Starts a cutaway command in the background, noting the containers it makes as they appear. */
function start(args: string[]): { child: ReturnType<typeof spawn>; done: Promise<CommandResult>; stderr: () => string } {
  const child = spawn(toolPath('cutaway'), args, { env: { ...process.env, ...env() }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => (stderr += d));
  const watch = setInterval(containerIds, 10);
  const done = new Promise<CommandResult>((resolve) =>
    child.on('close', (code, signal) => {
      clearInterval(watch);
      containerIds();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return { child, done, stderr: () => stderr };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the host has of this root and of the containers seen: mounts, netns, veths on this file's bridge, cgroups. */
async function leftovers(): Promise<string[]> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root)).map((l) => `mount ${l.split(' ')[4]}`);
  const names = new Set([...seen].flatMap((id) => [id.slice(0, 12), `cwbuild-${id.slice(0, 10)}`]));
  const netns = (existsSync('/run/netns') ? readdirSync('/run/netns') : []).filter((n) => names.has(n)).map((n) => `netns ${n}`);
  const veths = existsSync(`/sys/class/net/${bridge}/brif`) ? readdirSync(`/sys/class/net/${bridge}/brif`).map((v) => `veth ${v}`) : [];
  const cgroups = readdirSync('/sys/fs/cgroup')
    .flatMap((h) => [...seen].map((id) => join('/sys/fs/cgroup', h, `cw-${id.slice(0, 12)}`)))
    .filter((dir) => existsSync(dir))
    .map((dir) => `cgroup ${dir}`);
  return [...mounts, ...netns, ...veths, ...cgroups];
}

/** The store verifies: every name in index.json resolves to an image whose blobs are all there and hash to their digests. */
async function verifyStore(): Promise<void> {
  const layout = await OciLayout.open(join(root, 'images'));
  const blobs = join(root, 'images', 'blobs', 'sha256');
  for (const name of readdirSync(blobs)) expect(createHash('sha256').update(readFileSync(join(blobs, name))).digest('hex'), `blob ${name}`).toBe(name);
  const index = JSON.parse(readFileSync(join(root, 'images', 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
  for (const m of index.manifests) {
    const name = m.annotations?.['org.opencontainers.image.ref.name'];
    if (!name) continue;
    const image = await findImage(layout, name);
    for (const d of [image.manifest.config, ...image.manifest.layers]) expect(existsSync(join(blobs, d.digest.slice(7))), `${name}: ${d.digest}`).toBe(true);
  }
}

/**
 * The tools a killed cutaway had started (overlay-mount, netbridge, cg-limit: Node processes with this root in
 * their environment) finish their step on their own; what they make is recorded already, and prune takes it
 * once they are done — waited for here as a user would wait for the command line to settle.
 */
async function orphansDone(): Promise<void> {
  const mine = (pid: string) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8') === 'node\n' && readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`CUTAWAY_ROOT=${root}`);
    } catch {
      return false;
    }
  };
  for (let i = 0; i < 200 && readdirSync('/proc').some((p) => /^\d+$/.test(p) && Number(p) !== process.pid && mine(p)); i++) await sleep(50);
}

/** The invariant: what is left belongs to the store's containers, and prune takes all of it. */
async function expectReclaimable(): Promise<void> {
  await orphansDone();
  const listed = new Set((await cutaway(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean));
  // A container whose record was made is listed; a kill inside store.create (before config.json) leaves a
  // directory only, which is no container yet: prune sweeps it (store.ts incomplete()).
  for (const id of containerIds()) if (existsSync(join(root, 'containers', id, 'config.json'))) expect(listed.has(id.slice(0, 12)), `container ${id} in ps -a`).toBe(true);
  // Running ones first stop (a PID 1 left by a killed run); prune takes the stopped ones.
  for (const id of containerIds()) await cutaway(['rm', '-f', id]);
  const pruned = await cutaway(['system', 'prune', '-f']);
  expect(pruned.code, pruned.stderr).toBe(0);
  expect(containerIds()).toEqual([]);
  expect(await leftovers()).toEqual([]);
  await verifyStore();
  // This root's network was unused: prune took it, as Docker's does. The next test gets it again.
  await makeNetwork();
}

async function makeNetwork(): Promise<void> {
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.206.${process.pid % 250}.0/24`, '--json'], { env: env() });
  expect(made.stderr).toBe('');
  bridge = (JSON.parse(made.stdout) as { Options: Record<string, string> }).Options['com.docker.network.bridge.name']!;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-faults-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  network = `cwtest-faults-${process.pid}`;
  await makeNetwork();
});

afterEach(async () => {
  await removeContainers(root);
  seen.clear();
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: env() });
  await removeTree(work);
});

describe('a closed output pipe', () => {
  it('run --rm … | head -1: the first line, no stack trace, and the container gone', async () => {
    const out = await runCommand('/bin/sh', ['-c', `"$0" run --rm --network ${network} ${BUSYBOX_REF} seq 200000 | head -1`, toolPath('cutaway')], { env: env() });
    expect(out.stdout.split('\n')[0]).toBe('1');
    expect(out.stderr).toBe('');
    expect(containerIds()).toEqual([]);
    expect(await leftovers()).toEqual([]);
  });

  it('save | head and ps | head end quietly, with 141 (SIGPIPE) as a filter would', async () => {
    for (const args of [['save', BUSYBOX_REF], ['images'], ['history', BUSYBOX_REF]]) {
      const out = await runCommand('/bin/bash', ['-c', `set -o pipefail; "$0" "$@" | head -c 1 > /dev/null; echo "\${PIPESTATUS[0]}"`, toolPath('cutaway'), ...args], { env: env() });
      expect(out.stderr, args.join(' ')).toBe('');
      expect(['0', '141'], args.join(' ')).toContain(out.stdout.trim());
    }
  });
});

describe('signals to a foreground cutaway run', () => {
  // PID 1 ends on TERM and INT with 7 (a PID 1 ignores signals it has no handler for, as under Docker).
  const trapping = ['sh', '-c', 'trap "exit 7" TERM INT; sleep 5 & wait'];

  it.each([
    ['SIGTERM', 0],
    ['SIGTERM', 150],
    ['SIGINT', 300],
    ['SIGTERM', 1500],
  ] as const)('%s after %i ms: passed to the container or, before it runs, the run stops; --rm leaves nothing', async (signal, delay) => {
    const { child, done } = start(['run', '--rm', '--network', network, BUSYBOX_REF, ...trapping]);
    await sleep(delay);
    child.kill(signal);
    const out = await done;
    // Before Node has its handlers: killed by the signal; then, before the container runs: 128+N, quietly;
    // once it runs: the container's own answer to the signal — 7 from the trap, or 0 when the signal came
    // before the trap was set (a PID 1 ignores a signal it has no handler for, as under Docker).
    if (out.code === null) expect(out.signal).toBe(signal);
    else expect([0, 7, 128 + (signal === 'SIGTERM' ? 15 : 2)], out.stderr).toContain(out.code);
    expect(out.stderr).not.toMatch(/Error|at .*\.cjs/);
    expect(containerIds()).toEqual([]);
    expect(await leftovers()).toEqual([]);
    await verifyStore();
  });

  it.each([0, 200, 600, 1500])('SIGKILL after %i ms: ps -a tells what is left, never Up once PID 1 is gone, and prune reclaims it', async (delay) => {
    const { child, done } = start(['run', '--rm', '--network', network, BUSYBOX_REF, 'sh', '-c', 'sleep 1; exit 3']);
    await sleep(delay);
    child.kill('SIGKILL');
    await done;
    // PID 1 (if it got that far) ends by itself a second later.
    await sleep(2000);
    for (const id of containerIds()) {
      const pid = existsSync(join(root, 'containers', id, 'pid')) ? Number(readFileSync(join(root, 'containers', id, 'pid'), 'utf8')) : undefined;
      const running = pid !== undefined && existsSync(`/proc/${pid}`);
      if (!running) expect((await cutaway(['ps', '-q'])).stdout).not.toContain(id.slice(0, 12));
    }
    await expectReclaimable();
  });
});

describe('signals to cutaway run -d', () => {
  it.each([
    ['SIGKILL', 0],
    ['SIGKILL', 250],
    ['SIGTERM', 250],
    ['SIGKILL', 700],
  ] as const)('%s after %i ms: what is left is a container ps -a lists, and prune (after rm -f) reclaims it', async (signal, delay) => {
    const { child, done } = start(['run', '-d', '--network', network, BUSYBOX_REF, 'sleep', '30']);
    await sleep(delay);
    child.kill(signal);
    const out = await done;
    expect(out.stderr).not.toMatch(/at .*\.cjs/);
    await expectReclaimable();
  });
});

describe('signals to cutaway build', () => {
  let context: string;
  beforeAll(() => {
    context = join(work, 'cw-build-ctx');
    mkdirSync(context, { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo one > /one\nRUN sleep 30\nRUN echo never > /never\n`);
  });

  it('SIGTERM during a RUN kills the step and removes its container: 143, nothing left', async () => {
    const { child, done, stderr } = start(['build', '--network', network, '--no-cache', context]);
    for (let i = 0; i < 500 && !/Step 3\/4 : RUN sleep 30\n ---> Running in/.test(stderr()); i++) await sleep(20);
    await sleep(500);
    const started = Date.now();
    child.kill('SIGTERM');
    const out = await done;
    expect(out.code, out.stderr).toBe(143);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(containerIds()).toEqual([]);
    expect(await leftovers()).toEqual([]);
    await verifyStore();
  });

  it.each([100, 800, 2500])('SIGKILL after %i ms: the step container is in ps -a, and prune reclaims everything', async (delay) => {
    const { child, done } = start(['build', '--network', network, '--no-cache', context]);
    await sleep(delay);
    child.kill('SIGKILL');
    await done;
    await expectReclaimable();
  });
});

describe('several commands at once', () => {
  it('five run -d --name same: exactly one wins, the others get Docker\'s conflict (125)', async () => {
    const outs = await Promise.all(Array.from({ length: 5 }, () => cutaway(['run', '-d', '--name', 'cw-same', '--network', network, BUSYBOX_REF, 'sleep', '30'])));
    containerIds();
    expect(outs.filter((o) => o.code === 0), outs.map((o) => o.stderr).join('')).toHaveLength(1);
    for (const o of outs.filter((x) => x.code !== 0)) {
      expect(o.code).toBe(125);
      expect(o.stderr).toMatch(/^cutaway run: error: Conflict\. The container name "\/cw-same" is already in use by container "[0-9a-f]{64}"/);
    }
    expect((await cutaway(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean)).toHaveLength(1);
    expect((await cutaway(['rm', '-f', 'cw-same'])).code).toBe(0);
    await expectReclaimable();
  });

  it('system prune -a during runs never takes layers from under a starting container', async () => {
    for (let round = 0; round < 4; round++) {
      await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
      const [ran, pruned] = await Promise.all([
        cutaway(['run', '--rm', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'test -x /bin/busybox && echo ok']),
        sleep(round * 60).then(() => cutaway(['system', 'prune', '-a', '-f'])),
      ]);
      expect(pruned.code, pruned.stderr).toBe(0);
      // Either the run found the image first (and prune waited for it), or prune took the image first and the
      // run says so (it would pull: the test registry is not there) — never an empty rootfs.
      if (ran.code === 0) expect(ran.stdout).toBe('ok\n');
      else expect(ran.stderr, `round ${round}`).toMatch(/Unable to find image|No such image|oci-pull/);
      expect(ran.stderr).not.toMatch(/executable file not found|no such file or directory/i);
    }
    await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
    await expectReclaimable();
  });

  it.each(['a/b', '..', 'x'.repeat(300), 'a\nb'])('refuses the name %j as Docker does (125), making nothing', async (name) => {
    const out = await cutaway(['run', '--rm', '--name', name, '--network', network, BUSYBOX_REF, 'true']);
    expect(out.code).toBe(125);
    expect(out.stderr).toMatch(/^cutaway run: error: Invalid container name \(/);
    expect(out.stderr.trim().split('\n')).toHaveLength(2);
    expect(containerIds()).toEqual([]);
  });
});
