/**
 * Rootless cutaway end to end, as an ordinary user with /etc/subuid and /etc/subgid ranges: pull from a
 * registry, run (--rm, -d, --network none, host, and the default slirp4netns network with -p, its DNS),
 * ps, exec, stop, rm, rm -f and restart of a container running as a mapped id, build, info; the state in
 * the user's XDG directories; and nothing left behind (processes of the user's ids, slirp4netns, mounts).
 *
 * The test runs as root: the user comes from test/fixtures/unprivileged-user.ts (useradd, its ranges, the
 * checkout's tools shared with it through a bind mount where others cannot reach them), each command runs
 * as the user through it, and the user, its ranges and everything it made go afterwards, also on failure.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, shellWord, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { createUnprivilegedUser, type UnprivilegedUser } from '../../../test/fixtures/unprivileged-user.ts';

const isRoot = process.getuid?.() === 0;
const haveTools = ['setpriv', 'useradd', 'userdel', 'newuidmap', 'slirp4netns'].every((c) => {
  try {
    execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
});

let work: string;
let home: string;
let xdgRun: string;
let user: UnprivilegedUser | undefined;
let registry: TestRegistry | undefined;

/** A cutaway command as the user, with the environment a login would give (HOME, XDG_RUNTIME_DIR). */
function asUser(args: string[]): Promise<CommandResult> {
  return user!.run(`exec ${['cutaway', ...args].map(shellWord).join(' ')}`, { cwd: work, env: { HOME: home, XDG_RUNTIME_DIR: xdgRun } });
}

async function ok(args: string[]): Promise<string> {
  const out = await asUser(args);
  expect(out.code, `cutaway ${args.join(' ')}: ${out.stderr}`).toBe(0);
  return out.stdout;
}

/** The user's store and runtime directory, as rootless cutaway picks them. */
const storeDir = () => join(home, '.local', 'share', 'cutaway');
const runDir = () => join(xdgRun, 'cutaway');

/** The host's processes of the user's ids: its own and its containers'. */
const userProcesses = () => user!.processes();

/** The real uid of a process as the host sees it. */
function hostUid(pid: number): number {
  return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** A container's PID 1, from its pid file. */
function containerPid(id: string): number {
  return Number(readFileSync(join(storeDir(), 'containers', id, 'pid'), 'utf8'));
}

/** A free TCP port on 127.0.0.1, for -p. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe.skipIf(!isRoot || !haveTools)('rootless cutaway (an ordinary user with subordinate ids)', () => {
  let image: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cw-rootless-'));
    chmodSync(work, 0o755);
    user = createUnprivilegedUser();
    home = join(work, 'home');
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, user.uid, user.gid);
    xdgRun = join(work, 'xdg-run');
    mkdirSync(xdgRun, { mode: 0o700 });
    chownSync(xdgRun, user.uid, user.gid);

    // The image, in a registry on 127.0.0.1 (pushed from a root store of the test's).
    registry = await startRegistry();
    const seed = join(work, 'seed');
    await buildBusyboxImage(await OciLayout.create(join(seed, 'images')));
    image = `${registry.host}/cw/busybox:1`;
    for (const args of [['tag', BUSYBOX_REF, image], ['push', '-q', image]]) {
      const out = await runCommand('cutaway', args, { env: { CUTAWAY_ROOT: seed } });
      expect(out.code, out.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    // Whatever a failed test left running goes first, each process by pid (their namespaces and mounts go with them).
    try {
      user?.remove();
    } finally {
      await registry?.stop();
      if (work) await removeTree(work);
    }
  });

  it('pulls into ~/.local/share/cutaway and runs as root of its user namespace, subordinate ids on the host', async () => {
    const pulled = await asUser(['pull', '-q', image]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(existsSync(join(storeDir(), 'images', 'index.json'))).toBe(true);
    expect(statSync(join(storeDir(), 'images', 'index.json')).uid).toBe(user!.uid);

    const out = await asUser(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'id; cat /proc/self/uid_map']);
    expect(out.code, out.stderr).toBe(0);
    const [id, ...map] = out.stdout.trim().split('\n');
    expect(id).toBe('uid=0(root) gid=0(root) groups=0(root)');
    expect(map.map((l) => l.trim().split(/\s+/).map(Number))).toEqual([[0, user!.uid, 1], [1, user!.subuid.start, user!.subuid.count]]);
    // --rm left nothing; no cgroup was asked for (none is delegated to the user).
    expect(readdirSync(join(storeDir(), 'containers')).filter((d) => !d.startsWith('.'))).toEqual([]);
  });

  it('run -d, ps, exec, stop, rm: the host sees the container\'s ids as the user\'s subordinate ids', async () => {
    const id = (await ok(['run', '-d', '--name', 'cwrl-d', '--network', 'none', '-u', '1000', image, 'sleep', '300'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await ok(['ps'])).toMatch(/ Up .* cwrl-d\n$/);
    expect(hostUid(containerPid(id))).toBe(user!.subuid.start + 999);

    // exec joins its namespaces: its PID 1 is the container's; -u 0 as docker exec -u takes it.
    const exec = await asUser(['exec', '-u', '0', 'cwrl-d', 'sh', '-c', 'id -u; cat /proc/1/comm']);
    expect(exec.code, exec.stderr).toBe(0);
    expect(exec.stdout).toBe('0\nsleep\n');

    await ok(['stop', '-t', '1', 'cwrl-d']);
    expect(await ok(['ps', '-a'])).toMatch(/ Exited \(\d+\) .* cwrl-d\n$/);
    await ok(['rm', 'cwrl-d']);
    expect((await ok(['ps', '-a'])).trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(storeDir(), 'containers', id))).toBe(false);
  });

  it('rm -f and restart of a container running as a mapped id (-u 1000): signalled from the user\'s namespace', async () => {
    const id = (await ok(['run', '-d', '--name', 'cwrl-r', '--network', 'none', '-u', '1000', image, 'sleep', '300'])).trim();
    const first = containerPid(id);
    expect(hostUid(first)).toBe(user!.subuid.start + 999);
    expect((await ok(['restart', '-t', '1', 'cwrl-r'])).trim()).toBe('cwrl-r');
    await waitFor('the first PID 1 to end', () => !existsSync(`/proc/${first}`));
    const second = containerPid(id);
    expect(second).not.toBe(first);
    expect(hostUid(second)).toBe(user!.subuid.start + 999);
    expect(await ok(['ps'])).toMatch(/ Up .* cwrl-r\n$/);

    expect((await ok(['rm', '-f', 'cwrl-r'])).trim()).toBe('cwrl-r');
    await waitFor('the second PID 1 to end', () => !existsSync(`/proc/${second}`));
    expect(existsSync(join(storeDir(), 'containers', id))).toBe(false);
    expect((await ok(['ps', '-a'])).trim().split('\n')).toHaveLength(1);
  });

  it('--network none has lo only; --network host is the host\'s network namespace', async () => {
    const none = await ok(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "']);
    expect(none).toBe('lo\n');
    const host = await ok(['run', '--rm', '--network', 'host', image, 'readlink', '/proc/self/ns/net']);
    expect(host.trim()).toBe(execFileSync('readlink', ['/proc/self/ns/net'], { encoding: 'utf8' }).trim());
  });

  it('the default network is slirp4netns (10.0.2.100); -p publishes a port the host fetches from 127.0.0.1', async () => {
    const addr = await ok(['run', '--rm', image, 'sh', '-c', 'ip -4 -o addr show eth0; ip route']);
    expect(addr).toContain('inet 10.0.2.100/24');
    expect(addr).toContain('default via 10.0.2.2');
    // Its DNS is slirp4netns's forwarder, then the host's nameservers but those on its loopback (rootless podman's
    // resolv.conf). Read, not resolved: no name is looked up over the network here.
    const nameservers = (text: string) => text.split('\n').map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1]).filter((n) => n !== undefined);
    const hostServers = nameservers(existsSync('/etc/resolv.conf') ? readFileSync('/etc/resolv.conf', 'utf8') : '').filter((n) => !/^(127\.|::1$)/.test(n));
    expect(nameservers(await ok(['run', '--rm', image, 'cat', '/etc/resolv.conf']))).toEqual(['10.0.2.3', ...hostServers]);

    const port = await freePort();
    await ok(['run', '-d', '--name', 'cwrl-web', '-p', `${port}:80`, image, 'sh', '-c', 'mkdir /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www']);
    let body = '';
    for (let i = 0; i < 50 && body !== 'served\n'; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => '');
      if (body !== 'served\n') await new Promise((r) => setTimeout(r, 100));
    }
    expect(body).toBe('served\n');
    expect(userProcesses().some((p) => p.name === 'slirp4netns')).toBe(true);
    await ok(['rm', '-f', 'cwrl-web']);
    await waitFor('slirp4netns to end', () => !userProcesses().some((p) => p.name === 'slirp4netns'));
    expect(readdirSync(join(runDir(), 'slirp4netns')).filter((f) => f !== '.lock' && f !== 'netns')).toEqual([]);
    expect(readdirSync(join(runDir(), 'slirp4netns', 'netns'))).toEqual([]);
  });

  it('info says rootless, with no cgroup driver and the store in ~/.local/share/cutaway; root\'s does not', async () => {
    const info = await ok(['info']);
    expect(info).toContain('\nSecurity Options:\n seccomp\n  Profile: builtin\n rootless\n cgroupns\n');
    expect(info).toContain('\nCgroup Driver: none\n');
    expect(info).toContain('\n Network: slirp4netns host null\n');
    expect(info).toContain(`\nCutaway Root Dir: ${storeDir()}\n`);
    const root = await runCommand('cutaway', ['info'], { env: { CUTAWAY_ROOT: join(work, 'seed') } });
    expect(root.code, root.stderr).toBe(0);
    expect(root.stdout).toContain('\nSecurity Options:\n seccomp\n  Profile: builtin\n cgroupns\n');
    expect(root.stdout).toContain('\nCgroup Driver: cgroupfs\n');
  });

  it('version stays in the user\'s own namespace (it only reads): no unshare, where a verb that writes the store has one', async () => {
    // unshare(1) as the user's PATH finds it first: a wrapper that notes each call, then runs the real one.
    const shims = join(work, 'shims');
    mkdirSync(shims, { mode: 0o755 });
    writeFileSync(join(shims, 'unshare'), '#!/bin/sh\necho "$*" >> "$HOME/unshare-calls"\nexec /usr/bin/unshare "$@"\n', { mode: 0o755 });
    const calls = join(home, 'unshare-calls');
    const withShims = (args: string) => user!.run(`PATH=${shellWord(shims)}:$PATH; export PATH; exec cutaway ${args}`, { cwd: work, env: { HOME: home, XDG_RUNTIME_DIR: xdgRun } });
    const version = await withShims(`version --format '{{.Server.Rootless}} {{.Client.Version}}'`);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout).toMatch(/^true \d+\.\d+\.\d+\n$/);
    expect((await withShims('version')).stdout).toMatch(/\n  Rootless: +true\n/);
    expect(existsSync(calls)).toBe(false);
    // The wrapper is on the way: a verb that goes into the namespace calls it.
    expect((await withShims('volume ls -q')).code).toBe(0);
    expect(readFileSync(calls, 'utf8')).toMatch(/--user --mount /);
  });

  it('netbridge --dry-run as the user: slirp4netns and nc, and the Debian packages that have them', async () => {
    const out = await user!.run(`exec netbridge up --dry-run cwrl-dry -p ${await freePort()}:80`, { cwd: work, env: { HOME: home, XDG_RUNTIME_DIR: xdgRun } });
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toMatch(/^\s*for command in .*\bslirp4netns\b/m);
    const install = /apt-get install ([^)]*)\)/.exec(out.stdout)?.[1]?.split(' ');
    expect(install).toEqual(expect.arrayContaining(['slirp4netns', 'netcat-openbsd', 'util-linux']));
  });

  it('builds a Dockerfile with RUN and COPY, and runs the image', async () => {
    const context = join(work, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), ['FROM ' + image, 'RUN echo made > /made && mkdir /home/app/data && chown 1000:1000 /home/app/data', 'COPY note.txt /note.txt', 'CMD ["sh", "-c", "cat /made /note.txt; stat -c %u /home/app/data"]', ''].join('\n'));
    writeFileSync(join(context, 'note.txt'), 'copied\n');
    const built = await asUser(['build', '-q', '--network', 'none', '-t', 'cwrl-built', context]);
    expect(built.code, built.stderr).toBe(0);
    expect(await ok(['run', '--rm', '--network', 'none', 'cwrl-built'])).toBe('made\ncopied\n1000\n');
    await ok(['rmi', 'cwrl-built']);
  });

  it('cutaway unshare runs a command in the user namespace, where the store\'s files can be removed', async () => {
    expect((await ok(['unshare', 'id', '-u'])).trim()).toBe('0');
    await ok(['unshare', 'sh', '-c', 'rm -rf "$CUTAWAY_ROOT"']);
    expect(existsSync(storeDir())).toBe(false);
  });

  it('leaves nothing behind: no process of the user\'s ids, no mount of its directories', () => {
    expect(userProcesses()).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work))).toEqual([]);
  });
});
