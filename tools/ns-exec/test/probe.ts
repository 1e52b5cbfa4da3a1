/**
 * The system-call probe (syscall-probe.c) for seccomp.test.ts and runc.test.ts: compiled statically with the
 * host's cc, copied into a rootfs, its output read back; and a Docker-format seccomp profile turned into
 * the `linux.seccomp` section of an OCI config.json, as dockerd turns one for runc — written here, apart from
 * ns-exec's own seccomp.ts, so that runc given the result is a check of ns-exec, not of itself. And parentOf,
 * which the tests that start containers ask before they kill a PID 1 by pid.
 */
import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../../test/fixtures/images.ts';

const SOURCE = fileURLToPath(new URL('./syscall-probe.c', import.meta.url));

/**
 * The parent pid (proc(5) stat field 4, after the parenthesized command name), or undefined once the process is
 * gone: a container's PID 1 is killed by pid only while its ns-exec (its parent) still waits for it, so that
 * the pid cannot have been given to another process.
 */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Where the probe sits in a rootfs. */
export const PROBE = '/cw-syscall-probe';

/** cc -static: the probe needs no libc in the rootfs (busybox has none). */
export async function buildProbe(work: string): Promise<string> {
  const binary = join(work, 'syscall-probe');
  if (!existsSync(binary)) await run('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', binary, SOURCE]);
  return binary;
}

export function installProbe(binary: string, rootfs: string): void {
  copyFileSync(binary, join(rootfs, PROBE.slice(1)));
}

/** `NAME RESULT` lines → { NAME: RESULT }. */
export function probeResults(stdout: string): Record<string, string> {
  return Object.fromEntries(stdout.split('\n').filter(Boolean).map((l) => l.split(' ') as [string, string]));
}

/** The probes Docker's default profile refuses to a container with default capabilities, and how. */
export const REFUSED_BY_DEFAULT: Record<string, string> = {
  add_key: 'EPERM', request_key: 'EPERM', keyctl: 'EPERM', perf_event_open: 'EPERM', userfaultfd: 'EPERM', io_uring_setup: 'EPERM',
  fanotify_init: 'EPERM', kcmp: 'EPERM', move_pages: 'EPERM', 'personality-addr-no-randomize': 'EPERM', 'unshare-user': 'EPERM',
  clone3: 'ENOSYS', 'clone-newuser': 'EPERM', mount: 'EPERM', setns: 'EPERM', bpf: 'EPERM', 'socket-alg': 'EPERM', 'socket-vsock': 'EPERM',
};

/**
 * A profile in Docker's format that exercises what a profile can say: actions and errnoRet, argument filters,
 * includes and excludes by capability, architecture and kernel, name and names, a call this libseccomp does
 * not know. With the probe's answers for Docker's default capabilities (and, after them, with CAP_SYS_ADMIN).
 */
export const CUSTOM_PROFILE: DockerProfile = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [
    { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
    { name: 'kcmp', action: 'SCMP_ACT_KILL_PROCESS' },
    { names: ['personality'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 4294967295, op: 'SCMP_CMP_NE' }] },
    { names: ['socket'], action: 'SCMP_ACT_ERRNO', errnoRet: 97, args: [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }] },
    { names: ['bpf'], action: 'SCMP_ACT_ERRNO', includes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['move_pages'], action: 'SCMP_ACT_ERRNO', excludes: { caps: ['CAP_SYS_ADMIN'] } },
    { names: ['userfaultfd'], action: 'SCMP_ACT_ERRNO', includes: { minKernel: '99.0' } },
    { names: ['io_uring_setup'], action: 'SCMP_ACT_ERRNO', errnoRet: 95, includes: { arches: ['amd64', 'arm64'] } },
    { names: ['perf_event_open'], action: 'SCMP_ACT_ERRNO', excludes: { arches: ['amd64', 'arm64'] } },
    { names: ['mseal', 'no_such_call'], action: 'SCMP_ACT_ERRNO' },
  ],
};

export const CUSTOM_PROBES = ['getpid', 'kcmp', 'personality-addr-no-randomize', 'personality-query', 'socket-netlink', 'socket-inet', 'bpf', 'move_pages', 'userfaultfd', 'io_uring_setup', 'perf_event_open', 'mseal'];

export const CUSTOM_RESULTS: Record<string, string> = {
  getpid: 'EACCES', kcmp: 'killed', 'personality-addr-no-randomize': 'EPERM', 'personality-query': 'ok', 'socket-netlink': 'EAFNOSUPPORT', 'socket-inet': 'ok',
  bpf: 'EINVAL', move_pages: 'EPERM', userfaultfd: 'EINVAL', io_uring_setup: 'EOPNOTSUPP', perf_event_open: 'EFAULT',
  // Unknown to this libseccomp: left out, as runc leaves it out; the default (allow) lets it through.
  mseal: 'EINVAL',
};

interface DockerRule {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: { index: number; value: number; valueTwo?: number; op: string }[] | null;
  includes?: { caps?: string[]; arches?: string[]; minKernel?: string };
  excludes?: { caps?: string[]; arches?: string[]; minKernel?: string };
}

export interface DockerProfile {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  syscalls?: DockerRule[];
  flags?: string[];
}

/** OCI runtime-spec's LinuxSeccomp. */
export interface OciSeccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number; valueTwo: number; op: string }[] }[];
}

const atLeast = (min: string) => {
  const [a = 0, b = 0] = release().split('.').map(Number);
  const [c = 0, d = 0] = min.split('.').map(Number);
  return a > c || (a === c && b >= d);
};

/** dockerd's conversion (moby profiles/seccomp setupSeccomp) for an amd64 host and a container whose bounding set is `caps`. */
export function ociSeccomp(profile: DockerProfile, caps: string[]): OciSeccomp {
  const arch = 'amd64';
  const family = profile.archMap?.find((a) => a.architecture === 'SCMP_ARCH_X86_64');
  const syscalls = (profile.syscalls ?? []).filter((r) => {
    if (r.excludes?.arches?.includes(arch) || r.excludes?.caps?.some((c) => caps.includes(c)) || (r.excludes?.minKernel && atLeast(r.excludes.minKernel))) return false;
    if ((r.includes?.arches?.length && !r.includes.arches.includes(arch)) || r.includes?.caps?.some((c) => !caps.includes(c)) || (r.includes?.minKernel && !atLeast(r.includes.minKernel))) return false;
    return true;
  }).map((r) => ({
    names: r.name ? [r.name] : r.names!,
    action: r.action,
    ...(r.errnoRet !== undefined && { errnoRet: r.errnoRet }),
    ...(r.args?.length && { args: r.args.map((a) => ({ index: a.index, value: a.value, valueTwo: a.valueTwo ?? 0, op: a.op })) }),
  }));
  return {
    defaultAction: profile.defaultAction,
    ...(profile.defaultErrnoRet !== undefined && { defaultErrnoRet: profile.defaultErrnoRet }),
    architectures: [...(profile.architectures ?? []), ...(family ? [family.architecture, ...(family.subArchitectures ?? [])] : [])],
    ...(profile.flags && { flags: profile.flags }),
    syscalls,
  };
}
