/**
 * Rootless cutaway end to end, as an ordinary user with /etc/subuid and /etc/subgid ranges: pull from a
 * registry, run (--rm, -d, --network none, host, and the default slirp4netns network with -p), ps, exec,
 * stop, rm, build; the state in the user's XDG directories; and nothing left behind (processes of the
 * user's ids, slirp4netns, mounts).
 *
 * The test runs as root: it makes the user (cw-prefixed, home in a temp dir) and its ranges, runs each
 * command through runuser(1), and removes the user, its ranges and everything it made afterwards, also
 * on failure. The user must reach the built tools: a checkout under /root (mode 700) or elsewhere is made
 * traversable (o+x on the path's directories) for the test's time, and their modes restored.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { BIN_DIR, runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { startRegistry, type TestRegistry } from '../../../test/fixtures/registry.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

const isRoot = process.getuid?.() === 0;
const haveTools = ['runuser', 'useradd', 'userdel', 'newuidmap', 'slirp4netns'].every((c) => {
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
let user: string;
let uid: number;
let subuid: { start: number; count: number };
let registry: TestRegistry | undefined;
/** What the test changed on the host, undone in afterAll in reverse: chmods, the user, subuid/subgid lines. */
const undo: (() => void)[] = [];

/** A cutaway command as the user, with the environment a login would give (HOME, XDG_RUNTIME_DIR). */
function asUser(args: string[], input?: string): Promise<CommandResult> {
  const env = [`HOME=${home}`, `XDG_RUNTIME_DIR=${xdgRun}`, `USER=${user}`, `LOGNAME=${user}`, `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`];
  return runCommand('/usr/sbin/runuser', ['-u', user, '--', 'env', '-i', ...env, toolPath('cutaway'), ...args], { cwd: work, ...(input !== undefined && { input }) });
}

async function ok(args: string[]): Promise<string> {
  const out = await asUser(args);
  expect(out.code, `cutaway ${args.join(' ')}: ${out.stderr}`).toBe(0);
  return out.stdout;
}

/** The user's store and runtime directory, as rootless cutaway picks them. */
const storeDir = () => join(home, '.local', 'share', 'cutaway');
const runDir = () => join(xdgRun, 'cutaway');

/** The host's processes whose real uid is the user's or one of its subordinate ids. */
function userProcesses(): { pid: number; uid: number; name: string }[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const status = readFileSync(`/proc/${d}/status`, 'utf8');
        const id = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
        const name = /^Name:\s+(.*)$/m.exec(status)![1]!;
        return id === uid || (id >= subuid.start && id < subuid.start + subuid.count) ? [{ pid: Number(d), uid: id, name }] : [];
      } catch {
        return [];
      }
    });
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

/** The user's first range in a subordinate id file. */
function rangeOf(file: string): { start: number; count: number } | undefined {
  const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  if (!line) return undefined;
  const [, start, count] = line.split(':');
  return { start: Number(start), count: Number(count) };
}

/** A range of 65536 ids that no line of /etc/subuid or /etc/subgid overlaps. */
function freeRange(): { start: number; count: number } {
  const ends = ['/etc/subuid', '/etc/subgid'].flatMap((f) => (existsSync(f) ? readFileSync(f, 'utf8').split('\n') : []).map((l) => l.split(':')).filter((p) => p.length === 3).map((p) => Number(p[1]) + Number(p[2])));
  const start = Math.ceil(Math.max(1_000_000, ...ends) / 65536) * 65536;
  return { start, count: 65536 };
}

/** Removes the user's lines from a subordinate id file (userdel does too; whatever is left goes here). */
function dropLines(file: string): void {
  if (!existsSync(file)) return;
  const lines = readFileSync(file, 'utf8').split('\n');
  const kept = lines.filter((l) => !l.startsWith(`${user}:`));
  if (kept.length !== lines.length) writeFileSync(file, kept.join('\n'));
}

/** Makes every directory from / to `dir` traversable by others (o+x) for the test's time: a checkout under /root is 700. */
function traversable(dir: string): void {
  for (let d = dir; ; d = dirname(d)) {
    const mode = statSync(d).mode & 0o7777;
    if (!(mode & 0o001)) {
      chmodSync(d, mode | 0o001);
      undo.push(() => chmodSync(d, mode));
    }
    if (d === dirname(d)) break;
  }
}

describe.skipIf(!isRoot || !haveTools)('rootless cutaway (an ordinary user with subordinate ids)', () => {
  let image: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cw-rootless-'));
    chmodSync(work, 0o755);
    traversable(work);
    // The tools the user runs: bin/ links into tools/*/dist, which load node_modules (koffi); all under the checkout.
    traversable(BIN_DIR.replace(/\/$/, ''));
    home = join(work, 'home');
    user = `cwrl${process.pid}`.slice(0, 30);
    execFileSync('/usr/sbin/useradd', ['-M', '-d', home, '-s', '/bin/sh', user]);
    undo.push(() => {
      try {
        execFileSync('/usr/sbin/userdel', [user], { stdio: 'ignore' });
      } catch {
        // gone already
      }
      dropLines('/etc/subuid');
      dropLines('/etc/subgid');
    });
    uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, gid);
    xdgRun = join(work, 'xdg-run');
    mkdirSync(xdgRun, { mode: 0o700 });
    chownSync(xdgRun, uid, gid);
    // useradd gives a new user ranges by itself where /etc/subuid exists (login.defs SUB_UID_MIN…); else one is added.
    const given = rangeOf('/etc/subuid');
    if (!given || !rangeOf('/etc/subgid')) {
      const range = freeRange();
      for (const file of ['/etc/subuid', '/etc/subgid']) {
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        writeFileSync(file, `${text}${text && !text.endsWith('\n') ? '\n' : ''}${user}:${range.start}:${range.count}\n`);
      }
    }
    subuid = rangeOf('/etc/subuid')!;

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
    // Whatever a failed test left running: the user's processes, each by pid (their namespaces and mounts go with them).
    if (uid !== undefined && subuid) {
      for (const p of userProcesses()) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      await waitFor('the user\'s processes to end', () => userProcesses().length === 0, 5000).catch(() => {});
    }
    await registry?.stop();
    if (work) await removeTree(work);
    for (const step of undo.reverse()) step();
  });

  it('pulls into ~/.local/share/cutaway and runs as root of its user namespace, subordinate ids on the host', async () => {
    const pulled = await asUser(['pull', '-q', image]);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(existsSync(join(storeDir(), 'images', 'index.json'))).toBe(true);
    expect(statSync(join(storeDir(), 'images', 'index.json')).uid).toBe(uid);

    const out = await asUser(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'id; cat /proc/self/uid_map']);
    expect(out.code, out.stderr).toBe(0);
    const [id, ...map] = out.stdout.trim().split('\n');
    expect(id).toBe('uid=0(root) gid=0(root) groups=0(root)');
    expect(map.map((l) => l.trim().split(/\s+/).map(Number))).toEqual([[0, uid, 1], [1, subuid.start, subuid.count]]);
    // --rm left nothing; no cgroup was asked for (none is delegated to the user).
    expect(readdirSync(join(storeDir(), 'containers')).filter((d) => !d.startsWith('.'))).toEqual([]);
  });

  it('run -d, ps, exec, stop, rm: the host sees the container\'s ids as the user\'s subordinate ids', async () => {
    const id = (await ok(['run', '-d', '--name', 'cwrl-d', '--network', 'none', '-u', '1000', image, 'sleep', '300'])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await ok(['ps'])).toMatch(/ Up .* cwrl-d\n$/);
    const pid = Number(readFileSync(join(storeDir(), 'containers', id, 'pid'), 'utf8'));
    const hostUid = Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
    expect(hostUid).toBe(subuid.start + 999);

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
