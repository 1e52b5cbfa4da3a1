/**
 * planFromConfig (src/oci/plan.ts) on hand-written config.json documents: the plan's steps, in the shape
 * `ns-exec --json` prints (bigints as 0x hex). Nothing is run: the containers these plans make are run through
 * the runtime verbs (runtime-cli, conformance, podman and containerd tests), and ns-exec's own flags, which
 * become a config.json first (src/oci/from-flags.ts), by the other tests of this directory.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLONE, type Plan } from '../src/plan.ts';
import type { Mount, Spec } from '../src/oci/config.ts';
import { planFromConfig, type PlanContext } from '../src/oci/plan.ts';

interface JsonStep {
  op: string;
  text: string;
  args: unknown[];
}

let bundle: string;
let root: string;

/** The plan as `ns-exec --json` prints it. */
function shape(plan: Plan): { launcher: string[]; cloneFlags: number; host: JsonStep[]; container: JsonStep[] } {
  return JSON.parse(JSON.stringify({ launcher: plan.launcher(), cloneFlags: plan.cloneFlags, host: plan.host, container: plan.container }, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v)));
}

/** The ops, without `oom` (the OOM counter of ns-exec's own memory cgroup, where this host has one). */
const ops = (steps: JsonStep[]) => steps.map((s) => s.op).filter((op) => op !== 'oom');
const at = (path: string) => join(root, path);

/** runc spec's default mounts (runc 1.1 `runc spec`). */
const RUNC_MOUNTS: Mount[] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

/** A config like `runc spec`'s, with the rootfs of this file. */
function runcSpec(): Spec {
  const caps = ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      args: ['sh'],
      env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],
      cwd: '/',
      capabilities: { bounding: caps, effective: caps, inheritable: caps, permitted: caps, ambient: caps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: 'rootfs', readonly: true },
    hostname: 'runc',
    mounts: RUNC_MOUNTS,
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/acpi', '/proc/kcore', '/proc/nosuch', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/sys'],
    },
  };
}

const ctx = (extra: Partial<PlanContext> = {}): PlanContext => ({ bundle, pidFiles: [], ...extra });
const STATE = { ociVersion: '1.0.2', id: 'c1', bundle: '/b', annotations: { a: 'b' } };

beforeAll(() => {
  bundle = mkdtempSync(join(tmpdir(), 'cw-oci-plan-'));
  root = join(bundle, 'rootfs');
  for (const dir of ['proc', 'dev', 'sys', 'etc', 'tmp']) mkdirSync(join(root, dir), { recursive: true });
  writeFileSync(join(root, 'etc/hosts'), '');
});

afterAll(() => {
  rmSync(bundle, { recursive: true, force: true });
});

describe('a runc-spec-like config', () => {
  it('new namespaces as clone flags and unshare options; hostname, lo, the rootfs, the mounts in order, devices, masks, pivot, exec', async () => {
    const plan = shape(await planFromConfig(runcSpec(), ctx()));
    expect(plan.cloneFlags).toBe(CLONE.NEWPID | CLONE.NEWNET | CLONE.NEWIPC | CLONE.NEWUTS | CLONE.NEWNS);
    expect(plan.launcher).toEqual(['unshare', '--fork', '--pid', '--mount', '--uts', '--ipc', '--net', '--propagation', 'unchanged']);
    expect(ops(plan.host)).toEqual(['session-keyring']);
    const texts = plan.container.map((s) => s.text);
    expect(texts.slice(0, 6)).toEqual([
      'prlimit --pid $$ --nofile=1024:1024', 'hostname runc', 'ip link set lo up', 'mount --make-rprivate /', `mount --rbind ${root} ${root}`, `mount -t proc proc ${at('proc')}`,
    ]);
    // The mounts in the config's order; a mount point inside a fresh tmpfs is made without -p, inside sysfs not at all.
    const mounts = plan.container.filter((s) => s.op === 'mount' && s.args[2]).map((s) => [s.args[2], s.args[1]]);
    expect(mounts.slice(0, 7)).toEqual([
      ['proc', at('proc')], ['tmpfs', at('dev')], ['devpts', at('dev/pts')], ['tmpfs', at('dev/shm')], ['mqueue', at('dev/mqueue')], ['sysfs', at('sys')],
      [expect.stringMatching(/^(cgroup2|tmpfs)$/), at('sys/fs/cgroup')],
    ]);
    expect(texts).toContain(`mkdir ${at('dev/pts')}`);
    expect(texts).toContain(`mount -t devpts devpts ${at('dev/pts')} -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5`);
    // The default devices (config-linux.md "Default Devices") and the /dev symlinks, after the mounts.
    const nodes = plan.container.filter((s) => s.op === 'mknod');
    expect(nodes.map((s) => s.text)).toEqual(['null c 1 3', 'zero c 1 5', 'full c 1 7', 'random c 1 8', 'urandom c 1 9', 'tty c 5 0'].map((n) => {
      const [name, ...rest] = n.split(' ');
      return `mknod -m 666 ${at(`dev/${name}`)} ${rest.join(' ')}`;
    }));
    expect(nodes[0]!.args).toEqual([at('dev/null'), 0o20666, 1, 3, 0, 0]);
    expect(plan.container.filter((s) => s.op === 'symlink' && String(s.args[1]).startsWith(at('dev/'))).map((s) => s.args)).toEqual(expect.arrayContaining([
      ['/proc/self/fd', at('dev/fd')], ['/proc/self/fd/0', at('dev/stdin')], ['pts/ptmx', at('dev/ptmx')],
    ]));
    // Masked and read-only paths as given, without the missing one.
    expect(plan.container.filter((s) => s.op === 'mask').map((s) => s.text)).toEqual([
      `mount -t tmpfs -o ro tmpfs ${at('proc/acpi')}`, `mount --bind ${at('dev/null')} ${at('proc/kcore')}`, `mount -t tmpfs -o ro tmpfs ${at('sys/firmware')}`,
    ].filter((_, i) => existsSync(['/proc/acpi', '/proc/kcore', '/sys/firmware'][i]!)));
    expect(plan.container.filter((s) => s.op === 'readonly').map((s) => s.args[0])).toEqual([at('proc/bus'), at('proc/sys')]);
    // root.readonly: the rootfs' own mount, right before the pivot.
    expect(ops(plan.container).slice(-3)).toEqual(['remount', 'pivot', 'exec']);
    expect(plan.container.at(-3)!.args).toEqual([root, 1]);
    const exec = plan.container.at(-1)!;
    // CAP_KILL 5, CAP_NET_BIND_SERVICE 10, CAP_AUDIT_WRITE 29, in all five sets; no_new_privs; runc's umask 022.
    const mask = `0x${((1n << 5n) | (1n << 10n) | (1n << 29n)).toString(16)}`;
    expect(exec.args).toEqual(['/', 0, 0, 0, mask, mask, mask, mask, mask, 1, 0o022, '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', runcSpec().process!.env, ['sh']]);
    expect(exec.text).toContain('--inh-caps=-all,+kill,+net_bind_service,+audit_write --ambient-caps=-all,+kill,+net_bind_service,+audit_write --no-new-privs -- env -i PATH=');
  });

  it('no tmpfs on /dev: no device nodes and no symlinks there (runc leaves a /dev it does not make alone)', async () => {
    const spec = runcSpec();
    spec.mounts = RUNC_MOUNTS.filter((m) => !m.destination.startsWith('/dev'));
    const plan = shape(await planFromConfig(spec, ctx()));
    expect(ops(plan.container)).not.toContain('mknod');
    expect(plan.container.some((s) => s.op === 'symlink' && String(s.args[1]).startsWith(at('dev')))).toBe(false);
  });

  it('process: user, additionalGids exactly, umask, env as given, cwd made; oomScoreAdj first; terminal; domainname', async () => {
    const spec = runcSpec();
    spec.process = { ...spec.process!, terminal: true, user: { uid: 1000, gid: 1000, additionalGids: [10, 1000], umask: 0o077 }, env: ['A=1'], cwd: '/work', oomScoreAdj: 500, rlimits: [] };
    spec.domainname = 'example.org';
    const plan = shape(await planFromConfig(spec, ctx({ consoleSocket: '/run/console.sock' })));
    expect(plan.container[0]).toEqual({ op: 'write', text: 'echo 500 > /proc/self/oom_score_adj', args: ['/proc/self/oom_score_adj', '500'] });
    expect(plan.container.find((s) => s.op === 'domainname')!.args).toEqual(['example.org']);
    expect(ops(plan.host)).toEqual(['session-keyring', 'tty', 'console-socket']);
    expect(plan.host.at(-1)!.args).toEqual(['/run/console.sock']);
    expect(plan.container.find((s) => s.op === 'pty')!.args).toEqual([at('dev/pts/ptmx'), at('dev/console')]);
    expect(plan.container.map((s) => s.text)).toContain(`mkdir -p ${at('work')}`);
    const exec = plan.container.at(-1)!;
    expect(exec.args.slice(0, 6)).toEqual(['/work', 1000, 1000, 2, 10, 1000]);
    expect(exec.args.slice(-5)).toEqual([1, 0o077, '', ['A=1'], ['sh']]);
  });
});

describe('namespaces', () => {
  it('joined: user, pid and network by the host before the clone; ipc, uts, cgroup and mount by PID 1 first; no id maps for a joined user namespace', async () => {
    const path = (name: string) => {
      const file = join(bundle, `ns-${name}`);
      writeFileSync(file, '');
      return file;
    };
    const spec = runcSpec();
    delete spec.hostname;
    spec.linux!.namespaces = [{ type: 'mount', path: path('mnt') }, { type: 'network', path: path('net') }, { type: 'user', path: path('user') }, { type: 'pid', path: path('pid') },
      { type: 'ipc', path: path('ipc') }, { type: 'uts', path: path('uts') }, { type: 'cgroup', path: path('cgroup') }];
    const plan = shape(await planFromConfig(spec, ctx()));
    expect(plan.host.filter((s) => s.op === 'setns').map((s) => s.args)).toEqual([[path('user'), CLONE.NEWUSER], [path('pid'), CLONE.NEWPID], [path('net'), CLONE.NEWNET]]);
    expect(ops(plan.host)).not.toContain('uidmap');
    expect(plan.cloneFlags).toBe(0);
    expect(plan.container.slice(1, 5).map((s) => [s.op, ...s.args])).toEqual([
      ['setns', path('ipc'), CLONE.NEWIPC], ['setns', path('uts'), CLONE.NEWUTS], ['setns', path('cgroup'), CLONE.NEWCGROUP], ['setns', path('mnt'), CLONE.NEWNS],
    ]);
    expect(plan.launcher).toEqual(['unshare', '--fork', '--propagation', 'unchanged']);
    expect(ops(plan.container)).not.toContain('lo-up');
  });

  it('a new user namespace with the maps of config.json, written by root as they are (setgroups left allowed)', async () => {
    const spec = runcSpec();
    spec.linux!.namespaces!.push({ type: 'user' });
    spec.linux!.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
    spec.linux!.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 70000, hostID: 5, size: 1 }];
    const plan = shape(await planFromConfig(spec, ctx()));
    expect(plan.cloneFlags & CLONE.NEWUSER).toBe(CLONE.NEWUSER);
    expect(plan.host.filter((s) => s.op.endsWith('map'))).toEqual([
      { op: 'uidmap', text: "echo '0 100000 65536' > /proc/$PID/uid_map", args: ['proc', '0 100000 65536\n'] },
      { op: 'gidmap', text: "echo '0 100000 65536\n70000 5 1' > /proc/$PID/gid_map", args: ['proc', '0 100000 65536\n70000 5 1\n'] },
    ]);
    expect(plan.launcher).toContain('--map-users=100000,0,65536');
    // In a user namespace the device nodes are the host's, bound.
    expect(ops(plan.container)).not.toContain('mknod');
    expect(plan.container.map((s) => s.text)).toContain(`touch ${at('dev/null')} && mount --bind /dev/null ${at('dev/null')}`);
  });

  it('without a mount namespace mounts nothing and chroots (the suite\'s linux_ns_itype, as runc runs it)', async () => {
    const spec = runcSpec();
    spec.linux!.namespaces = [{ type: 'pid' }, { type: 'uts' }];
    delete spec.linux!.sysctl;
    const plan = await planFromConfig(spec, ctx());
    expect(plan.cloneFlags & CLONE.NEWNS).toBe(0);
    expect(ops(plan.container)).not.toContain('mount');
    expect(ops(plan.container)).not.toContain('pivot');
    expect(plan.container.filter((s) => s.op === 'chroot').map((s) => s.text)).toEqual([`chroot ${at('')}`.replace(/\/$/, '')]);
  });

  it('refuses what a container cannot be: sysctls without a mount namespace, a namespace twice, hostname without a UTS namespace, net sysctls in the host\'s network', async () => {
    const cases: [(s: Spec) => void, RegExp][] = [
      [(s) => { s.linux!.namespaces = [{ type: 'pid' }, { type: 'uts' }, { type: 'network' }]; s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' }; }, /need a mount namespace/],
      [(s) => s.linux!.namespaces!.push({ type: 'pid' }), /pid is given twice/],
      [(s) => (s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'uts')), /UTS namespace of its own/],
      [(s) => { s.linux!.namespaces = s.linux!.namespaces!.filter((n) => n.type !== 'network'); s.linux!.sysctl = { 'net.ipv4.ip_forward': '1' }; }, /net\.ipv4\.ip_forward: not allowed in the host's network namespace/],
      [(s) => (s.linux!.intelRdt = { closID: 'x' }), /intelRdt/],
      [(s) => (s.linux!.personality = { domain: 'LINUX32' }), /personality/],
      [(s) => (s.process!.rlimits = [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }]), /unknown type "RLIMIT_NOPE"/],
      [(s) => (s.process!.capabilities = { bounding: ['CAP_NOPE'] }), /unknown capability: "CAP_NOPE"/],
      [(s) => (s.hooks = { prestart: [{ path: '/bin/true' }] }), /runtime state/],
    ];
    for (const [edit, message] of cases) {
      const spec = runcSpec();
      edit(spec);
      await expect(planFromConfig(spec, ctx())).rejects.toThrow(message);
    }
  });
});

describe('rlimits, sysctls, propagation, devices', () => {
  it('rlimit steps by RLIMIT_* number, 2^64-1 as unlimited; sysctls written into the container\'s /proc/sys', async () => {
    const spec = runcSpec();
    spec.process!.rlimits = [{ type: 'RLIMIT_CORE', soft: 0, hard: 18446744073709551615 }, { type: 'RLIMIT_NPROC', soft: 100, hard: 200 }];
    spec.linux!.sysctl = { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '65536' };
    const plan = shape(await planFromConfig(spec, ctx()));
    expect(plan.container.filter((s) => s.op === 'rlimit')).toEqual([
      { op: 'rlimit', text: 'prlimit --pid $$ --core=0:unlimited', args: [4, '0x0', '0xffffffffffffffff'] },
      { op: 'rlimit', text: 'prlimit --pid $$ --nproc=100:200', args: [6, '0x64', '0xc8'] },
    ]);
    expect(plan.container.filter((s) => s.op === 'write').map((s) => s.args)).toEqual([[at('proc/sys/net/ipv4/ip_forward'), '1'], [at('proc/sys/kernel/shmmax'), '65536']]);
  });

  it('linux.devices (c, b, p) with mode and owner in place of a default; rootfsPropagation after the pivot; --no-pivot', async () => {
    const spec = runcSpec();
    spec.linux!.devices = [
      { type: 'c', path: '/dev/tty', major: 5, minor: 0, fileMode: 0o620, uid: 0, gid: 5 },
      { type: 'b', path: '/dev/disk/xvda', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
      { type: 'p', path: '/dev/fifo', fileMode: 0o600 },
    ];
    spec.linux!.rootfsPropagation = 'rslave';
    const plan = shape(await planFromConfig(spec, ctx({ noPivot: true })));
    const nodes = plan.container.filter((s) => s.op === 'mknod');
    expect(nodes.map((s) => s.text).slice(-3)).toEqual([
      `mknod -m 620 ${at('dev/tty')} c 5 0 && chown 0:5 ${at('dev/tty')}`,
      `mknod -m 660 ${at('dev/disk/xvda')} b 8 0 && chown 0:6 ${at('dev/disk/xvda')}`,
      `mknod -m 600 ${at('dev/fifo')} p`,
    ]);
    expect(nodes.filter((s) => s.args[0] === at('dev/tty'))).toHaveLength(1);
    expect(nodes.at(-2)!.args).toEqual([at('dev/disk/xvda'), 0o60660, 8, 0, 0, 6]);
    expect(nodes.at(-1)!.args).toEqual([at('dev/fifo'), 0o10600, 0, 0, 0, 0]);
    const i = plan.container.findIndex((s) => s.op === 'move-root');
    expect(plan.container[i]!.text).toBe(`cd ${root} && mount --move . / && chroot .`);
    expect(plan.container[i + 1]).toEqual({ op: 'mount', text: 'mount --make-rslave /', args: ['', '/', '', 0x80000 | 0x4000, ''] });
  });

  it('bind mounts: rbind, then a remount for the flags, and the propagation apart; a file bound over a touched file', async () => {
    const spec = runcSpec();
    writeFileSync(join(bundle, 'hosts'), '');
    spec.mounts = [...RUNC_MOUNTS,
      { destination: '/data', type: 'bind', source: bundle, options: ['rbind', 'nosuid', 'ro', 'rprivate'] },
      { destination: '/etc/hosts', type: 'none', source: join(bundle, 'hosts'), options: ['bind'] },
      { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nodev', 'size=1m', 'shared'] },
    ];
    const texts = shape(await planFromConfig(spec, ctx())).container.map((s) => s.text);
    const from = texts.indexOf(`mkdir -p ${at('data')}`);
    expect(texts.slice(from, from + 9)).toEqual([
      `mkdir -p ${at('data')}`, `mount --rbind ${bundle} ${at('data')}`, `mount -o remount,bind,nosuid,ro ${at('data')}`, `mount --make-rprivate ${at('data')}`,
      `mount --bind ${join(bundle, 'hosts')} ${at('etc/hosts')}`,
      `mkdir -p ${at('run')}`, `mount -t tmpfs tmpfs ${at('run')} -o nodev,size=1m`, `mount --make-shared ${at('run')}`,
      expect.stringMatching(/^mknod /),
    ]);
  });
});

describe('hooks', () => {
  it('prestart and createRuntime run by the parent at parent-hooks, createContainer right after, startContainer after the pivot; the state without pid', async () => {
    const spec = runcSpec();
    spec.hooks = {
      prestart: [{ path: '/usr/bin/pre', args: ['pre', '-x'], env: ['A=1'], timeout: 5 }],
      createRuntime: [{ path: '/usr/bin/rt' }],
      createContainer: [{ path: '/usr/bin/cc' }],
      startContainer: [{ path: '/usr/bin/sc' }],
      poststart: [{ path: '/usr/bin/ignored-here' }],
    };
    const plan = shape(await planFromConfig(spec, ctx({ state: STATE, create: { fifo: '/run/c1/exec.fifo' }, pidFiles: ['/run/c1/pid', 'p'] })));
    const creating = JSON.stringify({ ...STATE, status: 'creating' });
    expect(plan.host.filter((s) => s.op === 'hook')).toEqual([
      { op: 'hook', text: `env -i A=1 /usr/bin/pre -x <<< '${creating}'`, args: ['/usr/bin/pre', ['pre', '-x'], ['A=1'], 5, creating] },
      { op: 'hook', text: `/usr/bin/rt <<< '${creating}'`, args: ['/usr/bin/rt', ['/usr/bin/rt'], [], 0, creating] },
    ]);
    expect(plan.host.filter((s) => s.op === 'pidfile').map((s) => s.args[0])).toEqual(['/run/c1/pid', join(process.cwd(), 'p')]);
    expect(plan.host.find((s) => s.op === 'create')!.args).toEqual(['/run/c1/exec.fifo']);
    const o = ops(plan.container);
    expect(o.indexOf('parent-hooks')).toBeGreaterThan(o.lastIndexOf('readonly'));
    expect(o.slice(o.indexOf('parent-hooks'), o.indexOf('parent-hooks') + 4)).toEqual(['parent-hooks', 'hook', 'remount', 'pivot']);
    const start = plan.container.find((s) => s.op === 'start-hook')!;
    expect(o.indexOf('start-hook')).toBe(o.indexOf('pivot') + 1);
    expect(JSON.parse(start.args[4] as string)).toEqual({ ...STATE, status: 'created' });
    expect(JSON.stringify(plan)).not.toContain('ignored-here');
  });
});

describe('seccomp in the OCI form', () => {
  it('the default action, architectures, flags and rules with errnoRet and argument comparisons', async () => {
    const spec = runcSpec();
    spec.linux!.seccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
      flags: ['SECCOMP_FILTER_FLAG_LOG'],
      syscalls: [
        { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
        { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }] },
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
      ],
    };
    const plan = shape(await planFromConfig(spec, ctx({ seccompSource: 'the bundle\'s profile' })));
    const step = plan.container.find((s) => s.op === 'seccomp')!;
    expect(step.text).toMatch(/^# seccomp: the bundle's profile, 5 rules for x86_64\/x86, /);
    expect(step.args).toEqual([0x50026, 2, ['x86_64', 'x86'], ['read 0x7fff0000', 'write 0x7fff0000', 'personality 0x7fff0000 0 4 0xffffffff 0x0', 'mkdir 0x5000d', 'clone 0x7fff0000 0 7 0x7e020000 0x0']]);
    expect(ops(plan.container).slice(-2)).toEqual(['seccomp', 'exec']);
    spec.linux!.seccomp.syscalls = [{ names: ['read'], action: 'SCMP_ACT_SOMETIMES' }];
    await expect(planFromConfig(spec, ctx())).rejects.toThrow(/unknown action "SCMP_ACT_SOMETIMES"/);
  });

  it('the device-node rule where the context asks for it, before the profile', async () => {
    const plan = shape(await planFromConfig(runcSpec(), ctx({ forbidDeviceNodes: true })));
    expect(ops(plan.container).slice(-2)).toEqual(['forbid-device-nodes', 'exec']);
  });
});
