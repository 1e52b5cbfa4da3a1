/**
 * ns-exec's seccomp profile and session keyring, on this machine's kernel, with a static probe
 * (syscall-probe.c) that makes raw system calls in the container and prints how each one ended.
 *
 * The probe's arguments make every call that gets through fail in the kernel without doing anything (a
 * NULL pointer: EFAULT, an unknown flag: EINVAL, fd -1: EBADF): so EPERM, or ENOSYS for clone3, is the
 * filter's answer, and "the same answer as on the host" means no filter stood in the way.
 *
 * runc.test.ts holds ns-exec's answers against runc's given the same profile in its config.json.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { trackMounts } from '../../../test/fixtures/mounts.ts';
import { busyboxRootfs, debianRootfs } from '../../../test/fixtures/rootfs.ts';
import { shareTools, type SharedTools } from '../../../test/fixtures/unprivileged-user.ts';
import { buildProbe, CUSTOM_PROBES, CUSTOM_PROFILE, CUSTOM_RESULTS, installProbe, parentOf, PROBE, probeResults, REFUSED_BY_DEFAULT } from './probe.ts';

/** Docker's 14 default capabilities, for a probe run on the host with the same set and no filter. */
const DOCKER_BOUNDING = '-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write';
const PODMAN_PROFILE = '/usr/share/containers/seccomp.json';
/** Debian's keyutils. */
const KEYCTL = '/bin/keyctl';

let work: string;
let busybox: string;
let debian: string;
let probe: string;
/** The checkout's tools, where nobody can run them (a checkout under /root is closed to others). */
let shared: SharedTools | undefined;
/** Containers started in the background: ns-exec, and its PID 1 as the host sees it. */
const started: { ns: ChildProcess; pid?: number }[] = [];
const keysAdded: string[] = [];

trackMounts(() => work);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-seccomp-'));
  chmodSync(work, 0o755);
  [busybox, debian, probe] = await Promise.all([busyboxRootfs(work), debianRootfs(work), buildProbe(work)]);
  installProbe(probe, busybox);
  installProbe(probe, debian);
  shared = shareTools();
});

afterEach(async () => {
  for (const { ns: child, pid } of started.splice(0)) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // PID 1 first, while its ns-exec still waits for it (so the pid is still its): ns-exec then exits with 137.
    if (pid !== undefined && parentOf(pid) === child.pid) process.kill(pid, 'SIGKILL');
    else child.kill('SIGKILL');
    await exited;
  }
  for (const key of keysAdded.splice(0)) await runCommand(KEYCTL, ['unlink', key, '@u']);
});

afterAll(async () => {
  shared?.release();
  if (work) await removeTree(work);
});

function ns(args: string[]): Promise<CommandResult> {
  return runCommand('ns-exec', args);
}

/** The probe in a container: `options` for ns-exec, `probes` to run (all by default); its results by name. */
async function probeIn(rootfs: string, options: string[] = [], probes: string[] = []): Promise<Record<string, string>> {
  const out = await ns([...options, '--rootfs', rootfs, '--', PROBE, ...probes]);
  if (out.code !== 0) throw new Error(`ns-exec ${options.join(' ')} exited with ${out.code}: ${out.stderr}`);
  return probeResults(out.stdout);
}

/** The probe on the host, with Docker's capability set and no seccomp filter: what the kernel itself answers. */
async function probeOnHost(probes: string[] = []): Promise<Record<string, string>> {
  const out = await runCommand('/usr/bin/setpriv', [`--bounding-set=${DOCKER_BOUNDING}`, '--inh-caps=-all', '--', probe, ...probes]);
  return probeResults(out.stdout);
}

const pick = (results: Record<string, string>, names: string[]) => Object.fromEntries(names.map((n) => [n, results[n]]));
const seccompLines = (status: string) => status.split('\n').filter((l) => /^Seccomp(_filters)?:/.test(l));

function textFile(name: string, text: string): string {
  const path = join(work, name);
  writeFileSync(path, text);
  return path;
}

const profileFile = (name: string, profile: object) => textFile(name, JSON.stringify(profile));

/** A container that keeps running (sleep), with its PID 1 as the host sees it. */
async function startContainer(rootfs: string, options: string[] = []): Promise<number> {
  const pidFile = join(work, `pid-${started.length}-${Date.now()}`);
  const child = spawn(toolPath('ns-exec'), ['--pid-file', pidFile, ...options, '--rootfs', rootfs, '--', '/bin/sh', '-c', 'exec sleep 300'], { stdio: 'ignore' });
  const container: { ns: ChildProcess; pid?: number } = { ns: child };
  started.push(container);
  await waitFor('the container to start', () => existsSync(pidFile) || child.exitCode !== null);
  if (!existsSync(pidFile)) throw new Error(`ns-exec exited with ${child.exitCode}`);
  container.pid = Number(readFileSync(pidFile, 'utf8'));
  return container.pid;
}

describe("Docker's default profile", () => {
  it('refuses what Docker refuses a container with default capabilities: EPERM, and ENOSYS for clone3 (so that glibc falls back to clone)', async () => {
    const names = Object.keys(REFUSED_BY_DEFAULT);
    const results = await probeIn(debian, [], names);
    expect(results).toEqual(REFUSED_BY_DEFAULT);
    // Without the filter the kernel answers otherwise: each refusal above is the filter's.
    const host = await probeOnHost(names);
    for (const name of names) expect(host[name], name).not.toBe(REFUSED_BY_DEFAULT[name]);
  });

  it('allows the rest: ordinary calls, socket families below 12 and netlink, personality queries, ptrace (kernel ≥ 4.8), fork', async () => {
    const results = await probeIn(debian, [], ['getpid', 'socket-inet', 'socket-netlink', 'personality-query', 'ptrace', 'mknod-fifo']);
    expect(results).toEqual({ getpid: 'ok', 'socket-inet': 'ok', 'socket-netlink': 'ok', 'personality-query': 'ok', ptrace: 'ESRCH', 'mknod-fifo': 'ok' });
  });

  it('covers the i386 and x32 ABIs too: add_key through int 0x80 or with the x32 bit is refused, getpid is not', async (ctx) => {
    if (process.arch !== 'x64') ctx.skip();
    const results = await probeIn(busybox, [], ['i386-getpid', 'i386-add_key', 'i386-mknod-char', 'x32-getpid', 'x32-add_key']);
    const host = await probeOnHost(['x32-getpid']);
    // x32-getpid: whatever the kernel says (ENOSYS where it was built or booted without x32).
    expect(results).toEqual({ 'i386-getpid': 'ok', 'i386-add_key': 'EPERM', 'i386-mknod-char': 'EPERM', 'x32-getpid': host['x32-getpid'], 'x32-add_key': 'EPERM' });
  });

  it('answers ENOSYS, as runc does, for a call newer than the profile or than libseccomp knows (mseal, 462), so the C library falls back', async () => {
    expect(await probeIn(busybox, [], ['mseal'])).toEqual({ mseal: 'ENOSYS' });
  });

  it('runs ordinary workloads: the shell, coreutils, perl, dpkg, tar and gzip in the Debian rootfs', async () => {
    const script = [
      'set -e', 'cd /tmp', 'mkdir -p d/e && echo hello > d/e/f && cp -a d d2 && ls -R d2 | wc -l', 'sort -r /etc/shells | head -1 >/dev/null',
      'stat -c %s d/e/f', 'date -u +%Y >/dev/null', "perl -e 'print join(q(,), map { $_ * 2 } 1..3), qq(\\n)'",
      'dpkg -l | grep -c "^ii" >/dev/null', 'tar czf d.tgz d && tar tzf d.tgz | wc -l', 'timeout 5 sleep 0.1', 'id -u', 'nproc >/dev/null', 'echo done',
    ].join('\n');
    const out = await ns(['--rootfs', debian, '--', '/bin/sh', '-c', script]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('5\n6\n2,4,6\n3\n0\ndone\n');
    expect(out.code).toBe(0);
  });

  it("refuses the issue's `unshare -U` (util-linux, in the Debian rootfs): a user namespace only without the profile", async () => {
    const confined = await ns(['--rootfs', debian, '--', 'unshare', '-U', 'true']);
    expect([confined.code, confined.stderr]).toEqual([1, 'unshare: unshare failed: Operation not permitted\n']);
    const unconfined = await ns(['--security-opt', 'seccomp=unconfined', '--rootfs', debian, '--', 'unshare', '-U', 'true']);
    expect([unconfined.code, unconfined.stderr]).toEqual([0, '']);
  });

  it('runs busybox applets and a non-root user, loading the filter after the identity change (CAP_SYS_ADMIN kept until then)', async () => {
    const out = await ns(['-u', 'app', '--rootfs', busybox, '--', '/bin/sh', '-c', `id -u; ls / >/dev/null; ps >/dev/null; grep -E '^(CapEff|Seccomp):' /proc/self/status; ${PROBE} add_key getpid`]);
    expect(out.stderr).toBe('');
    expect(out.stdout).toBe('1000\nCapEff:\t0000000000000000\nSeccomp:\t2\nadd_key EPERM\ngetpid ok\n');
  });

  it('with no_new_privs loads the filter last, right before execve', async () => {
    const out = await ns(['--security-opt', 'no-new-privileges', '-u', 'app', '--rootfs', busybox, '--', '/bin/sh', '-c', `grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; ${PROBE} keyctl`]);
    expect(out.stdout).toBe('NoNewPrivs:\t1\nSeccomp:\t2\nkeyctl EPERM\n');
  });

  it('follows the capability set: with --cap-add SYS_ADMIN unshare, mount, setns and clone with namespace flags are allowed, clone3 reaches the kernel', async () => {
    const names = ['unshare-user', 'unshare-uts', 'clone-newuts', 'mount', 'setns', 'clone3', 'fanotify_init', 'add_key'];
    const results = await probeIn(debian, ['--cap-add', 'SYS_ADMIN'], names);
    expect(results).toEqual({ 'unshare-user': 'ok', 'unshare-uts': 'ok', 'clone-newuts': 'ok', mount: 'EFAULT', setns: 'EBADF', clone3: 'EINVAL', fanotify_init: 'EINVAL', add_key: 'EPERM' });
    // CAP_SYS_PTRACE lets kcmp through; CAP_SYS_CHROOT dropped takes chroot away with it.
    expect(await probeIn(busybox, ['--cap-add', 'SYS_PTRACE'], ['kcmp'])).toEqual({ kcmp: 'EINVAL' });
  });
});

describe('--security-opt seccomp=', () => {
  it('unconfined: no profile — every call gets the kernel\'s own answer, as on the host; only the device-node rule is left', async () => {
    const results = await probeIn(debian, ['--security-opt', 'seccomp=unconfined']);
    const host = await probeOnHost();
    const devices = ['mknod-char', 'i386-mknod-char'];
    const others = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).filter(([name]) => !devices.includes(name)));
    expect(others(results)).toEqual(others(host));
    expect(pick(results, devices)).toEqual({ 'mknod-char': 'EPERM', 'i386-mknod-char': results['i386-mknod-char'] === undefined ? undefined : 'EPERM' });
    expect(host['mknod-char']).toBe('ok');
    const status = await ns(['--security-opt', 'seccomp=unconfined', '--rootfs', busybox, '--', 'cat', '/proc/self/status']);
    expect(seccompLines(status.stdout)).toEqual(['Seccomp:\t2', 'Seccomp_filters:\t1']);
  });

  it('--privileged is unconfined, whatever seccomp= says: no filter at all', async () => {
    for (const extra of [[], ['--security-opt', `seccomp=${PODMAN_PROFILE}`]]) {
      const status = await ns(['--privileged', ...extra, '--rootfs', busybox, '--', 'cat', '/proc/self/status']);
      expect(seccompLines(status.stdout)).toEqual(['Seccomp:\t0', 'Seccomp_filters:\t0']);
    }
  });

  it("FILE: podman's /usr/share/containers/seccomp.json (Docker's format, ENOSYS by default) is applied as written", async (ctx) => {
    if (!existsSync(PODMAN_PROFILE)) ctx.skip();
    const results = await probeIn(debian, ['--security-opt', `seccomp=${PODMAN_PROFILE}`]);
    // Its default is ENOSYS; it allows keyctl, unshare and clone3; it refuses move_pages with EPERM.
    expect(pick(results, ['add_key', 'keyctl', 'unshare-user', 'clone3', 'move_pages', 'getpid'])).toEqual({ add_key: 'ENOSYS', keyctl: 'EOPNOTSUPP', 'unshare-user': 'ok', clone3: 'EINVAL', move_pages: 'EPERM', getpid: 'ok' });
  });

  it("FILE: actions, errnoRet, argument filters, includes and excludes (caps, arches, minKernel), name and names, as dockerd reads them", async () => {
    const path = profileFile('custom.json', CUSTOM_PROFILE);
    expect(await probeIn(busybox, ['--security-opt', `seccomp=${path}`], CUSTOM_PROBES)).toEqual(CUSTOM_RESULTS);
    // With CAP_SYS_ADMIN the caps rules turn round.
    expect(await probeIn(busybox, ['--cap-add', 'SYS_ADMIN', '--security-opt', `seccomp=${path}`], ['bpf', 'move_pages'])).toEqual({ bpf: 'EPERM', move_pages: 'EINVAL' });
  });

  it('FILE: what ns-exec does after loading the filter is little — a profile refusing setsid, chdir, setgroups, setresuid, umask and close_range still starts the command', async () => {
    const refused = ['setsid', 'chdir', 'setgroups', 'setresuid', 'setresgid', 'umask', 'close_range', 'prctl'];
    const path = profileFile('late.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: refused, action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] });
    for (const user of ['0', 'app']) {
      const out = await ns(['-u', user, '-w', '/tmp', '--security-opt', `seccomp=${path}`, '--rootfs', busybox, '--', PROBE, 'getpid']);
      expect(out.stderr, user).toBe('');
      expect(out.stdout, user).toBe('getpid ok\n');
    }
  });

  it('a profile that cannot be used: one line, exit 125, nothing run', async () => {
    const cases: [string, string, RegExp][] = [
      ['no such file', join(work, 'nope.json'), /seccomp=.*nope\.json: no such file/],
      ['not JSON', textFile('bad.json', '{ nope'), /not a seccomp profile/],
      ['an unknown action', profileFile('action.json', { defaultAction: 'SCMP_ACT_FOO' }), /unknown action "SCMP_ACT_FOO"/],
      ['an unknown operator', profileFile('op.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_SOON' }] }] }), /unknown operator "SCMP_CMP_SOON"/],
      ['name and names', profileFile('names.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ name: 'read', names: ['write'], action: 'SCMP_ACT_ERRNO' }] }), /both "name" and "names"/],
      ['a seccomp agent', profileFile('notify.json', { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }), /SCMP_ACT_NOTIFY needs a seccomp agent/],
      ['architectures and archMap', profileFile('arches.json', { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86_64'], archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: [] }] }), /both "architectures" and "archMap"/],
    ];
    for (const [what, file, message] of cases) {
      const out = await ns(['--security-opt', `seccomp=${file}`, '--rootfs', busybox, '--', 'echo', 'ran']);
      expect(out.code, what).toBe(125);
      expect(out.stdout, what).toBe('');
      expect(out.stderr.trim().split('\n'), what).toHaveLength(1);
      expect(out.stderr, what).toMatch(message);
    }
    const unknown = await ns(['--security-opt', 'apparmor=docker-default', '--rootfs', busybox, '--', 'echo', 'ran']);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([125, expect.stringMatching(/--security-opt apparmor=docker-default: not supported/)]);
  });

  it("an empty profile ({}) means no filter, as dockerd takes it", async () => {
    const status = await ns(['--security-opt', `seccomp=${profileFile('empty.json', {})}`, '--rootfs', busybox, '--', 'cat', '/proc/self/status']);
    expect(seccompLines(status.stdout)).toEqual(['Seccomp:\t2', 'Seccomp_filters:\t1']);
    expect((await probeIn(busybox, ['--security-opt', `seccomp=${join(work, 'empty.json')}`], ['add_key'])).add_key).toBe('EFAULT');
  });
});

describe('--enter', () => {
  it("gives the new process the container's profile: made again from the same options, resolved for the container's capabilities", async () => {
    const pid = await startContainer(busybox);
    const enter = (options: string[]) => runCommand('ns-exec', [...options, '--enter', String(pid), '--', PROBE, 'add_key', 'unshare-user', 'getpid']);
    // PID 1 has a filter (Seccomp: 2) and nothing says which: Docker's default.
    expect(probeResults((await enter([])).stdout)).toEqual({ add_key: 'EPERM', 'unshare-user': 'EPERM', getpid: 'ok' });
    // cutaway exec passes the container's own options: the same profile, whatever PID 1 shows.
    expect(probeResults((await enter(['--security-opt', 'seccomp=unconfined'])).stdout)).toEqual({ add_key: 'EFAULT', 'unshare-user': 'ok', getpid: 'ok' });
    // docker exec --privileged keeps the container's profile (runc exec applies the container's): so does ns-exec.
    expect(probeResults((await enter(['--privileged'])).stdout)).toEqual({ add_key: 'EPERM', 'unshare-user': 'EPERM', getpid: 'ok' });
  });

  it('a container with CAP_SYS_ADMIN: the profile follows its bounding set; an unconfined one (--privileged) gives none', async () => {
    const admin = await startContainer(busybox, ['--cap-add', 'SYS_ADMIN']);
    const out = await runCommand('ns-exec', ['--enter', String(admin), '--', PROBE, 'unshare-uts', 'add_key']);
    expect(probeResults(out.stdout)).toEqual({ 'unshare-uts': 'ok', add_key: 'EPERM' });
    const privileged = await startContainer(busybox, ['--privileged']);
    const status = await runCommand('ns-exec', ['--enter', String(privileged), '--', 'cat', '/proc/self/status']);
    expect(seccompLines(status.stdout)).toEqual(['Seccomp:\t0', 'Seccomp_filters:\t0']);
  });
});

describe('the session keyring', () => {
  /** A user key the host adds to root's user keyring (@u), removed after the test. */
  async function hostUserKey(): Promise<string> {
    const added = await runCommand(KEYCTL, ['add', 'user', `cw-seccomp-${process.pid}`, 's3cret', '@u']);
    expect(added.code).toBe(0);
    const id = added.stdout.trim();
    keysAdded.push(id);
    return id;
  }

  it("is a new one: a key of the caller's session keyring is out of reach, even with no filter (keyctl refused by the profile anyway)", async () => {
    // keyctl session -: a session keyring of its own for the caller, the key in it, and ns-exec run from there.
    const script = `k=$(keyctl add user cw-session s3cret @s); keyctl print $k; ${toolPath('ns-exec')} --security-opt seccomp=unconfined --rootfs ${busybox} -- ${PROBE} keyread $k; ${toolPath('ns-exec')} --rootfs ${busybox} -- ${PROBE} keyread $k`;
    const out = await runCommand(KEYCTL, ['session', '-', '/bin/sh', '-c', script]);
    expect(out.stdout.split('\n').filter((l) => !l.startsWith('Joined'))).toEqual(['s3cret', 'EACCES', 'EPERM', '']);
  });

  it("does not make root's user keyring (@u) private: uid 0 of the host's user namespace can link it into its own session and read its keys (runc's limit too)", async () => {
    const id = await hostUserKey();
    const out = await ns(['--security-opt', 'seccomp=unconfined', '--rootfs', busybox, '--', '/bin/sh', '-c', `${PROBE} keyread ${id}; ${PROBE} keylink-user; ${PROBE} keyread ${id}`]);
    expect(out.stdout).toBe('EACCES\nok\nread s3cret\n');
    // What keeps it from a container is Docker's profile (keyctl, add_key, request_key refused) ...
    expect((await ns(['--rootfs', busybox, '--', PROBE, 'keyread', id])).stdout).toBe('EPERM\n');
  });

  it('... or a user namespace: a rootless container has user keyrings of its own', async () => {
    const id = await hostUserKey();
    const rootless = join(work, 'rootless-rootfs');
    if (!existsSync(rootless)) await runCommand('/bin/cp', ['-a', busybox, rootless]);
    chmodSync(rootless, 0o755);
    await runCommand('/bin/chown', ['65534:65534', rootless]);
    const out = await runCommand('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', join(shared!.bin, 'ns-exec'), '--security-opt', 'seccomp=unconfined', '--rootfs', rootless, '--', '/bin/sh', '-c', `${PROBE} keylink-user; ${PROBE} keyread ${id}`]);
    expect(out.stderr).toBe('');
    expect(out.stdout.split('\n')[0]).toBe('ok');
    expect(out.stdout.split('\n')[1]).toBe('EACCES');
  });
});

describe('--dry-run, --trace and --json', () => {
  it('the script says what no classic command does (the profile) and joins a new session keyring with keyctl', async () => {
    const out = await ns(['--dry-run', '--rootfs', busybox, '--', 'true']);
    expect(out.stdout).toContain('\nkeyctl new_session >/dev/null\n');
    expect(out.stdout).toMatch(/\n# seccomp: Docker's default profile, \d+ rules for x86_64\/x86\/x32, loaded right before execve \(no classic command loads a profile/);
    const unconfined = await ns(['--dry-run', '--security-opt', 'seccomp=unconfined', '--rootfs', busybox, '--', 'true']);
    expect(unconfined.stdout).not.toContain("# seccomp: Docker's");
  });

  it('--trace tells the calls this libseccomp does not know (left out, as runc leaves them)', async () => {
    const out = await ns(['--trace', '--rootfs', busybox, '--', 'true']);
    expect(out.stderr).toMatch(/\n\+ # seccomp: left out, unknown to libseccomp [\d.]+ \(those numbered above the profile's last known call get ENOSYS\):( \w+)+\n/);
  });

  it('--json shows the rules: one per call, the capability rules resolved', async () => {
    const plan = JSON.parse((await ns(['--json', '--rootfs', busybox, '--', 'true'])).stdout) as { container: { op: string; args: unknown[] }[] };
    const step = plan.container.find((s) => s.op === 'seccomp')!;
    const [defaultAction, flags, arches, rules] = step.args as [number, number, string[], string[]];
    expect([defaultAction, flags, arches]).toEqual([0x50001, 0, ['x86_64', 'x86', 'x32']]);
    expect(rules).toContain('read 0x7fff0000');
    expect(rules).toContain('clone 0x7fff0000 0 7 0x7e020000 0x0');
    expect(rules).toContain('clone3 0x50026');
    expect(rules.some((r) => r.startsWith('mount '))).toBe(false);
  });
});
