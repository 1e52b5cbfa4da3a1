/**
 * The cgroup of a config.json (config-linux.md "Control groups" and "Cgroups path"): made, or joined if it
 * exists, at linux.cgroupsPath in every hierarchy the host has, its linux.resources written, the container's
 * process started in it. All as host steps of the plan (mkdir, write, then the join), each with the shell
 * command that does the same: the planner reads the host, ns-exec changes it.
 *
 * Where, as runc 1.1 (libcontainer/cgroups/fs/paths.go, fs2/defaultpath.go): an absolute path is taken from
 * each hierarchy's mount point; a relative one from ns-exec's own cgroup in that hierarchy (on a v2-only host,
 * from its parent: a cgroup with processes cannot enable controllers for its children, cgroup-v2.rst "No
 * Internal Process Constraint"); none at all is the container's id, relative.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { posix } from 'node:path';
import {
  cgroupVersion, findHierarchies, limitWrites, RUNC_DEVICE_RULES, v1DeviceWrites, v2Controllers,
  type CgroupDirs, type Controller, type DeviceCgroupRule, type Limits, type Version,
} from '@cutaway/cgroup';
import { shellQuote, ToolError } from '@cutaway/cli';
import type { MountEntry } from '@cutaway/libc/mountinfo';
import { joinCgroups } from '../cgroups.ts';
import type { Plan } from '../plan.ts';
import type { DeviceCgroupRule as SpecDeviceRule, Resources } from './config.ts';

/** One mounted hierarchy: its mount, and the controllers it has (none for a named v1 one or a v2 without any). */
interface Hierarchy {
  mount: MountEntry;
  controllers: Set<string>;
}

/** The controllers a v1 hierarchy can carry; any other super option (rw, name=systemd, xattr, …) is not one. */
const V1_CONTROLLERS = ['cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'net_cls', 'net_prio', 'perf_event', 'rdma', 'misc'];

/** v2's name of a controller cutaway's writes name as v1 does. */
const V2_NAME: Partial<Record<Controller, string>> = { blkio: 'io', cpuacct: 'cpu' };

/**
 * The hierarchies the container's cgroup has a directory in: on v1 every cgroup mount (each hierarchy once, the
 * v2 one of a hybrid host last, as runc joins it too), on a v2-only host the unified one.
 */
function hierarchies(mounts: readonly MountEntry[], version: Version): Hierarchy[] {
  const seen = new Set<string>();
  const found: Hierarchy[] = [];
  for (const mount of mounts) {
    if (mount.fstype !== 'cgroup' && mount.fstype !== 'cgroup2') continue;
    if (version === 'v2' && mount.fstype !== 'cgroup2') continue;
    // A hierarchy mounted twice has the same super options (its controllers, its name) both times.
    const key = `${mount.fstype} ${mount.superOptions.filter((o) => o !== 'rw' && o !== 'ro').sort().join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    // A hybrid host's v2 hierarchy is joined but not limited through (runc 1.1 does the same): a controller
    // there (hugetlb, on some) would want v2's files where the rest are v1's.
    const controllers = mount.fstype === 'cgroup' ? new Set(mount.superOptions.filter((o) => V1_CONTROLLERS.includes(o))) : version === 'v2' ? findHierarchies([mount]).unifiedControllers : new Set<string>();
    found.push({ mount, controllers });
  }
  return found.sort((a, b) => Number(a.mount.fstype === 'cgroup2') - Number(b.mount.fstype === 'cgroup2'));
}

/** ns-exec's own cgroup in a hierarchy (/proc/self/cgroup, cgroups(7)), relative to the hierarchy's mount. */
function ownCgroup(h: Hierarchy): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, list, path] = line.split(':');
    if (path === undefined) continue;
    const names = list ? list.split(',') : [];
    const matches = h.mount.fstype === 'cgroup2' ? names.length === 0 : names.length > 0 && names.every((n) => h.mount.superOptions.includes(n));
    // A mount of a subtree (a container's /sys/fs/cgroup) shows the cgroup from the hierarchy's root: its root comes off.
    if (matches) return h.mount.root !== '/' && path.startsWith(h.mount.root) ? path.slice(h.mount.root.length) || '/' : path;
  }
  return '/';
}

/** The container's directory in a hierarchy. `..` cannot climb out of the mount nor, when relative, out of the own cgroup. */
function cgroupDir(h: Hierarchy, cgroupsPath: string, version: Version): string {
  const clean = posix.join('/', cgroupsPath);
  if (cgroupsPath.startsWith('/')) return posix.join(h.mount.mountPoint, clean);
  const own = ownCgroup(h);
  return posix.join(h.mount.mountPoint, version === 'v2' ? posix.dirname(own) : own, clean);
}

/** The directories from the nearest one that exists (exclusive) down to `dir`: those the mkdir makes. */
function missing(dir: string, mountPoint: string): string[] {
  const made: string[] = [];
  for (let d = dir; d !== mountPoint && d !== '/' && !existsSync(d); d = posix.dirname(d)) made.unshift(d);
  return made;
}

/** The sizes of hugetlb's files (`2MB`, `1GB`), from /sys/kernel/mm/hugepages/hugepages-<N>kB. */
function hugepageSizes(): string[] {
  const units = ['KB', 'MB', 'GB', 'TB'];
  return (existsSync('/sys/kernel/mm/hugepages') ? readdirSync('/sys/kernel/mm/hugepages') : []).flatMap((name) => {
    let size = Number(/^hugepages-(\d+)kB$/.exec(name)?.[1]);
    if (!size) return [];
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) [size, unit] = [size / 1024, unit + 1];
    return [`${size}${units[unit]}`];
  });
}

/**
 * linux.resources → the limits to write. A zero is "not set" (runc reads the config into Go values whose zero
 * means unset, and skips them); memory.kernel is left out as runc 1.1 leaves it: the kernel ignores
 * memory.kmem.limit_in_bytes since 5.16 (cgroup-v1/memory.rst, "deprecated").
 */
function limitsOf(r: Resources): Limits {
  const set = (n: number | undefined) => (n ? n : undefined);
  const { memory: m, cpu: c, blockIO: b, network: n } = r;
  if (m?.swappiness !== undefined && m.swappiness > 100) throw new ToolError(`linux.resources.memory.swappiness ${m.swappiness}: the range is 0 to 100`);
  const sizes = r.hugepageLimits?.length ? hugepageSizes() : [];
  for (const { pageSize } of r.hugepageLimits ?? []) if (!sizes.includes(pageSize)) throw new ToolError(`linux.resources.hugepageLimits: no huge page size ${pageSize} on this host (it has ${sizes.join(', ') || 'none'})`);
  const limits: Limits = {
    memory: set(m?.limit), memorySwap: set(m?.swap), memoryReservation: set(m?.reservation), kernelTCP: set(m?.kernelTCP), swappiness: m?.swappiness,
    disableOOMKiller: m?.disableOOMKiller || undefined,
    cpuShares: set(c?.shares), cpuQuota: set(c?.quota), cpuPeriod: set(c?.period), cpuRtRuntime: set(c?.realtimeRuntime), cpuRtPeriod: set(c?.realtimePeriod),
    cpusetCpus: c?.cpus || undefined, cpusetMems: c?.mems || undefined,
    // pids: 0 unset, below 0 no limit (runc's fs/pids.go).
    pidsLimit: r.pids?.limit ? Math.max(r.pids.limit, -1) : undefined,
    blkioWeight: set(b?.weight), blkioLeafWeight: set(b?.leafWeight),
    blkioWeightDevice: b?.weightDevice?.map((d) => ({ major: d.major, minor: d.minor, weight: set(d.weight), leafWeight: set(d.leafWeight) })),
    deviceReadBps: b?.throttleReadBpsDevice, deviceWriteBps: b?.throttleWriteBpsDevice, deviceReadIops: b?.throttleReadIOPSDevice, deviceWriteIops: b?.throttleWriteIOPSDevice,
    hugepageLimits: r.hugepageLimits,
    netClassId: set(n?.classID), netPriorities: n?.priorities,
  };
  return Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) as Limits;
}

/** A config's device rule in the kernel's terms: type `a` and `*` numbers where the config leaves them out, access `rwm`. */
function deviceRule(r: SpecDeviceRule): DeviceCgroupRule {
  const type = r.type ?? 'a';
  const access = r.access ?? 'rwm';
  if (!['a', 'c', 'b'].includes(type) || !/^[rwm]{1,3}$/.test(access)) throw new ToolError(`linux.resources.devices: ${JSON.stringify(r)}: want type a, c or b and access of r, w and m`);
  return { allow: r.allow, type: type as DeviceCgroupRule['type'], major: r.major ?? '*', minor: r.minor ?? '*', access };
}

/**
 * The device rules in order (config-linux.md "Device allowlist": "applied in order"), after a deny of every
 * device, and then runc's own allowed devices, which every container gets (specconv.CreateCgroupConfig). A
 * deny-all the config starts with is the deny already written, so it is not written twice.
 */
function deviceWrites(rules: readonly SpecDeviceRule[]): [string, string][] {
  const own = rules.map(deviceRule);
  while (own[0] && !own[0].allow && own[0].type === 'a') own.shift();
  return v1DeviceWrites([...own, ...RUNC_DEVICE_RULES]);
}

/**
 * v2: each controller the limits need, enabled in the subtree_control of every level above the cgroup, top
 * down (cgroup-v2.rst "Enabling and Disabling": a controller is enabled in a parent before its child); a
 * level that has it already is left alone, as a level with processes refuses the write (EBUSY).
 */
function subtreeSteps(h: Hierarchy, dir: string, wanted: readonly string[]): [string, string][] {
  const levels: string[] = [];
  for (let d = posix.dirname(dir); d.startsWith(h.mount.mountPoint); d = posix.dirname(d)) {
    levels.unshift(d);
    if (d === h.mount.mountPoint) break;
  }
  return levels.flatMap((level): [string, string][] => {
    const file = posix.join(level, 'cgroup.subtree_control');
    const has = existsSync(file) ? readFileSync(file, 'utf8').trim().split(/\s+/) : [];
    const add = wanted.filter((c) => h.controllers.has(c) && !has.includes(c));
    return add.length ? [[file, add.map((c) => `+${c}`).join(' ')]] : [];
  });
}

/**
 * Adds the steps that make the container's cgroup (mkdir), set its limits (write) and put the command in it
 * (the join of ../cgroups.ts); returns its directories, one per hierarchy, for `delete` and `kill --all`.
 */
export function cgroupSteps(plan: Plan, cgroupsPath: string | undefined, resources: Resources | undefined, mounts: MountEntry[], id: string): string[] {
  const version = cgroupVersion(findHierarchies(mounts));
  const found = hierarchies(mounts, version);
  if (!found.length) throw new ToolError('no cgroup hierarchy is mounted here', 'mount -t cgroup2 none /sys/fs/cgroup');
  const dirOf = new Map(found.map((h) => [h, cgroupDir(h, cgroupsPath || id, version)]));
  const r = resources ?? {};
  const limits = limitsOf(r);
  const cg: CgroupDirs = {
    version,
    dir(controller) {
      const name = version === 'v2' ? (V2_NAME[controller] ?? controller) : controller;
      const h = found.find((x) => x.controllers.has(name));
      // runc 1.1 refuses the same (fs.go Set: "cannot set hugetlb limit: container could not join or create cgroup").
      if (!h) throw new ToolError(`cannot set the config's ${controller} limits: this host has no ${controller} cgroup ${version === 'v2' ? 'controller' : 'hierarchy'}`, 'leave them out of linux.resources, or mount the controller');
      return dirOf.get(h)!;
    },
  };
  const writes = limitWrites(cg, limits).map(([c, file, value]): [string, string] => [posix.join(cg.dir(c), file), value]);
  const unified = Object.entries(r.unified ?? {});
  if (version === 'v1') {
    // Never left open: a missing devices hierarchy is fatal to runc too (fs/paths.go initPaths).
    for (const [file, value] of deviceWrites(r.devices ?? [])) writes.push([posix.join(cg.dir('devices'), file), value]);
    if (unified.length) throw new ToolError('linux.resources.unified sets cgroup v2 files: this host\'s cgroups are v1');
  } else {
    // cgroup-v2.rst "Device controller": a BPF program, which no step of the plan loads yet (cg-limit loads its own).
    if (r.devices?.length) throw new ToolError('linux.resources.devices on cgroup v2 is a BPF program attached to the cgroup, which ns-exec does not load yet', 'run it where the devices controller is a v1 hierarchy');
    for (const [key, value] of unified) {
      // config-linux.md "Unified": a file of the cgroup's own directory.
      if (key.includes('/') || !key.includes('.')) throw new ToolError(`linux.resources.unified: ${JSON.stringify(key)} is not a cgroup file name`);
      writes.push([posix.join(dirOf.get(found[0]!)!, key), value]);
    }
  }

  // What must be in place before the limits: v1 cpusets filled, v2 controllers enabled; top down, in order.
  const prepare: [string, string][] = [];
  for (const [h, dir] of dirOf) {
    const made = missing(dir, h.mount.mountPoint);
    if (made.length) plan.hostStep('mkdir', `mkdir -p ${dir}`, dir, 0o755);
    // A new v1 cpuset cgroup has no CPUs nor memory nodes and takes no process (cgroup-v1/cpusets.rst): each level
    // made gets its parent's, which are what the nearest existing level has now (runc's cpuset.go ensureParent).
    if (version === 'v1' && h.controllers.has('cpuset') && made.length) {
      for (const file of ['cpuset.cpus', 'cpuset.mems']) {
        const value = readFileSync(posix.join(posix.dirname(made[0]!), file), 'utf8').trim();
        for (const d of made) prepare.push([posix.join(d, file), value]);
      }
    }
    if (version === 'v2') {
      const wanted = [...v2Controllers(limits), ...unified.map(([key]) => key.split('.')[0]!)];
      prepare.push(...subtreeSteps(h, dir, [...new Set(wanted)]));
    }
  }
  for (const [path, value] of [...prepare, ...writes]) plan.hostStep('write', `echo ${shellQuote(value)} > ${path}`, path, value);
  const dirs = [...dirOf.values()];
  joinCgroups(plan, dirs, mounts);
  return dirs;
}

/** A cgroup directory and the cgroups below it (the container may make its own), deepest first. */
function tree(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return [...entries.filter((e) => e.isDirectory()).flatMap((e) => tree(posix.join(dir, e.name))), dir];
}

/** The pids in a container's cgroups and the cgroups below them (cgroup.procs), each once: `kill --all`, `ps`. */
export function cgroupPids(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs.flatMap(tree)) {
    try {
      for (const line of readFileSync(posix.join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
    } catch {
      // removed meanwhile: no processes
    }
  }
  return [...pids];
}

/**
 * rmdir of a container's cgroups, those below them first (runc's RemovePath); once its processes are gone. One
 * already gone is fine; EBUSY is retried for a while, as runc does: the last process may still be exiting.
 */
export function removeCgroups(dirs: readonly string[]): void {
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (const dir of dirs.flatMap(tree)) {
    for (let attempt = 0; ; attempt++) {
      try {
        rmdirSync(dir);
        break;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt === 50) throw new ToolError(`rmdir ${dir}: ${code ?? (e as Error).message}`, code === 'EBUSY' ? 'processes are still in it' : undefined);
        Atomics.wait(tick, 0, 0, 10);
      }
    }
  }
}
