import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError } from '@cutaway/cli';
import type { readMountinfo } from '@cutaway/libc/mountinfo';
import type { Plan } from './plan.ts';

/** `--cgroup PATH|NAME` → cgroup directories: a path as given, a name as cg-limit's cw-NAME in every hierarchy that has it. */
export function cgroupDirs(values: string[], mounts: ReturnType<typeof readMountinfo>): string[] {
  return values.flatMap((value) => {
    if (value.includes('/')) {
      if (!existsSync(posix.join(value, 'cgroup.procs'))) throw new ToolError(`--cgroup ${value}: not a cgroup directory (no cgroup.procs)`);
      return [posix.resolve(value)];
    }
    const dirs = mounts.filter((m) => m.fstype === 'cgroup' || m.fstype === 'cgroup2').map((m) => posix.join(m.mountPoint, `cw-${value}`)).filter((d) => existsSync(d));
    if (!dirs.length) throw new ToolError(`--cgroup ${value}: no such cgroup`, `cg-limit create ${value} makes one`);
    return dirs;
  });
}

/**
 * Where the kernel counts OOM kills of the command's memory cgroup (v2
 * memory.events, v1 memory.oom_control), so that a SIGKILL can be reported as
 * one: the joined cgroup, else the one ns-exec runs in.
 */
export function oomCounter(joined: string[], mounts: ReturnType<typeof readMountinfo>): string | undefined {
  const memory = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('memory'));
  const unified = mounts.find((m) => m.fstype === 'cgroup2');
  const candidates = joined.length
    ? joined.flatMap((d) => [posix.join(d, 'memory.events'), posix.join(d, 'memory.oom_control')])
    : readFileSync('/proc/self/cgroup', 'utf8').split('\n').flatMap((line) => {
        const [, controllers, path] = line.split(':');
        if (path === undefined) return [];
        if (controllers === '' && unified) return [posix.join(unified.mountPoint, path, 'memory.events')];
        if (controllers?.split(',').includes('memory') && memory) return [posix.join(memory.mountPoint, path, 'memory.oom_control')];
        return [];
      });
  return candidates.find((f) => existsSync(f));
}

/**
 * The cgroup directories the target is in, one per hierarchy (/proc/PID/cgroup, cgroups(7): `ID:CONTROLLERS:PATH`,
 * ID 0 with no controllers for v2; a named v1 hierarchy shows `name=…`), found under the host's cgroup mounts.
 */
export function cgroupsOf(pid: number | 'self', mounts: ReturnType<typeof readMountinfo>): string[] {
  return readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').flatMap((line) => {
    const [, controllers, path] = line.split(':');
    if (path === undefined) return [];
    const mount = controllers === ''
      ? mounts.find((m) => m.fstype === 'cgroup2')
      : mounts.find((m) => m.fstype === 'cgroup' && controllers!.split(',').every((c) => m.superOptions.includes(c)));
    const dir = mount && posix.join(mount.mountPoint, path);
    return dir && existsSync(posix.join(dir, 'cgroup.procs')) ? [dir] : [];
  });
}

/** The hierarchy (mount point) a cgroup directory belongs to. */
function hierarchyOf(dir: string, mounts: ReturnType<typeof readMountinfo>): string | undefined {
  return mounts.filter((m) => (m.fstype === 'cgroup' || m.fstype === 'cgroup2') && (dir === m.mountPoint || dir.startsWith(`${m.mountPoint}/`))).map((m) => m.mountPoint).sort((a, b) => b.length - a.length)[0];
}

/**
 * ns-exec joins the cgroups before the clone, so that the command starts in them and its cgroup namespace
 * is rooted there (cgroup_namespaces(7): the root is the cgroup of the process that makes the namespace);
 * right after the clone ns-exec goes back where it was, so that the container's counters (pids, memory) hold
 * only the container, as runc's do.
 */
export function joinCgroups(plan: Plan, dirs: string[], mounts: ReturnType<typeof readMountinfo>): void {
  const own = cgroupsOf('self', mounts);
  const joined = dirs.filter((d) => !own.includes(d));
  for (const dir of joined) plan.hostStep('write', `echo $$ > ${posix.join(dir, 'cgroup.procs')}`, posix.join(dir, 'cgroup.procs'), '0');
  const hierarchies = new Set(joined.map((d) => hierarchyOf(d, mounts)));
  const back = own.filter((d) => hierarchies.has(hierarchyOf(d, mounts))).map((d) => posix.join(d, 'cgroup.procs'));
  if (back.length) plan.hostStep('leave', '', back);
}

/**
 * Whether the devices cgroup the command will run in decides which device nodes it may use: on v1, the devices
 * hierarchy's cgroup (the joined one, else ns-exec's own) lists less than `a *:* rwm` (devices.list, cgroups v1
 * devices.txt); on v2, a BPF device program runs for the cgroup (BPF_PROG_QUERY, effective: its ancestors' count).
 * Then mknod is the cgroup's to allow, as under Docker; without one, seccomp refuses mknod of devices instead.
 */
export async function devicesControlled(joined: string[], mounts: ReturnType<typeof readMountinfo>): Promise<boolean> {
  const own = cgroupsOf('self', mounts);
  const effective = (mountPoint: string) => {
    const inHierarchy = (d: string) => hierarchyOf(d, mounts) === mountPoint;
    return joined.find(inHierarchy) ?? own.find(inHierarchy);
  };
  const v1 = mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes('devices'));
  if (v1) {
    const dir = effective(v1.mountPoint);
    return dir !== undefined && readFileSync(posix.join(dir, 'devices.list'), 'utf8').trim() !== 'a *:* rwm';
  }
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  const dir = v2 && effective(v2.mountPoint);
  if (!dir) return false;
  // Loaded only here, on a host whose devices are v2's: the planner otherwise starts without koffi.
  const { attachedPrograms, BPF_CGROUP_DEVICE } = await import('@cutaway/libc');
  try {
    return attachedPrograms(dir, BPF_CGROUP_DEVICE) > 0;
  } catch {
    return false; // not allowed to ask (CAP_NET_ADMIN): the seccomp rule stays
  }
}
