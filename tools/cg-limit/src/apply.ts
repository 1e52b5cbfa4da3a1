import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ToolError, type Steps } from '@cutaway/cli';
import { attachProgram, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, closeProgram, loadProgram } from '@cutaway/libc';
import { deviceProgram, ruleText, v1DeviceWrites, type DeviceRule } from './devices.ts';
import { makeDirs, type Cgroup, type Controller } from './hierarchy.ts';
import { cpuWeightOfShares, ioWeightOfBlkioWeight, type Limits } from './limits.ts';

/**
 * The writes that set the limits, for each version. v1 files are the kernel's
 * cgroup-v1 names (Documentation/admin-guide/cgroup-v1/*); v2 ones are
 * cgroup-v2.rst's, with the conversions runc and crun make between them.
 */
export function limitWrites(cg: Cgroup, limits: Limits): [Controller, string, string][] {
  const w: [Controller, string, string][] = [];
  const v2 = cg.version === 'v2';
  if (limits.memory !== undefined) w.push(['memory', v2 ? 'memory.max' : 'memory.limit_in_bytes', String(limits.memory)]);
  if (limits.memorySwap !== undefined && limits.memory !== undefined) {
    // v1 limits memory+swap together; v2's memory.swap.max is the swap alone.
    if (v2) w.push(['memory', 'memory.swap.max', limits.memorySwap === -1 ? 'max' : String(limits.memorySwap - limits.memory)]);
    else w.push(['memory', 'memory.memsw.limit_in_bytes', String(limits.memorySwap)]);
  }
  if (limits.memoryReservation !== undefined) w.push(['memory', v2 ? 'memory.low' : 'memory.soft_limit_in_bytes', String(limits.memoryReservation)]);
  if (limits.cpuQuota !== undefined && limits.cpuPeriod !== undefined) {
    if (v2) w.push(['cpu', 'cpu.max', `${limits.cpuQuota} ${limits.cpuPeriod}`]);
    else w.push(['cpu', 'cpu.cfs_period_us', String(limits.cpuPeriod)], ['cpu', 'cpu.cfs_quota_us', String(limits.cpuQuota)]);
  }
  if (limits.cpuShares !== undefined) w.push(v2 ? ['cpu', 'cpu.weight', String(cpuWeightOfShares(limits.cpuShares))] : ['cpu', 'cpu.shares', String(limits.cpuShares)]);
  if (limits.cpusetCpus !== undefined) w.push(['cpuset', 'cpuset.cpus', limits.cpusetCpus]);
  if (limits.cpusetMems !== undefined) w.push(['cpuset', 'cpuset.mems', limits.cpusetMems]);
  if (limits.pidsLimit !== undefined) w.push(['pids', 'pids.max', limits.pidsLimit === -1 ? 'max' : String(limits.pidsLimit)]);
  if (limits.blkioWeight !== undefined) {
    if (v2) w.push(['blkio', 'io.weight', `default ${ioWeightOfBlkioWeight(limits.blkioWeight)}`]);
    // Kernels with BFQ name it blkio.bfq.weight; CFQ's blkio.weight is gone since 5.0. Without the bfq scheduler
    // loaded there is neither, and the write says so (Docker drops the weight with a warning then).
    // (Looked for in the hierarchy's root too: a dry run asks before the cgroup exists.)
    else w.push(['blkio', [cg.dir('blkio'), dirname(cg.dir('blkio'))].some((d) => existsSync(join(d, 'blkio.weight'))) ? 'blkio.weight' : 'blkio.bfq.weight', String(limits.blkioWeight)]);
  }
  for (const [list, v1file, v2key] of [
    [limits.deviceReadBps, 'blkio.throttle.read_bps_device', 'rbps'],
    [limits.deviceWriteBps, 'blkio.throttle.write_bps_device', 'wbps'],
  ] as const) {
    for (const d of list ?? []) w.push(['blkio', v2 ? 'io.max' : v1file, v2 ? `${d.major}:${d.minor} ${v2key}=${d.bytesPerSecond}` : `${d.major}:${d.minor} ${d.bytesPerSecond}`]);
  }
  // v2 has no devices file: its rules are a program (attachDeviceProgram).
  if (limits.devices && !v2) for (const [file, value] of v1DeviceWrites(limits.devices)) w.push(['devices', file, value]);
  return w;
}

/**
 * v2's devices cgroup: the rules as a BPF_PROG_TYPE_CGROUP_DEVICE program, loaded and attached to the
 * cgroup with BPF_F_ALLOW_MULTI (as runc attaches its own: a program of a parent cgroup, and one that a
 * container attaches to a cgroup below, run too, and every one must allow). The cgroup holds the program
 * from then on; removing the cgroup frees it. No classic command loads a program from instructions:
 * bpftool loads compiled objects, so the dry run says in comments what is done.
 */
function attachDeviceProgram(cg: Cgroup, rules: readonly DeviceRule[], steps: Steps): void {
  const dir = cg.dir('devices');
  steps.note(`devices (cgroup v2): a BPF_PROG_TYPE_CGROUP_DEVICE program that allows ${rules.length ? rules.map(ruleText).join(', ') : 'nothing'} and refuses every other device`);
  steps.note(`bpf(BPF_PROG_LOAD) it, then bpf(BPF_PROG_ATTACH, ${dir}, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI); bpftool cgroup show ${dir} lists it`);
  if (steps.mode.dryRun) return;
  let fd: number;
  try {
    fd = loadProgram(BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram(rules), `cw_devices`);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new ToolError(`loading the device program for ${dir}: ${(e as Error).message}`, code === 'EPERM' ? 'loading a cgroup device program takes CAP_SYS_ADMIN (or CAP_BPF): run as root' : undefined);
  }
  try {
    attachProgram(dir, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
  } catch (e) {
    throw new ToolError(`attaching the device program to ${dir}: ${(e as Error).message}`);
  } finally {
    closeProgram(fd);
  }
}

/** The controllers a cgroup needs in v2's subtree_control: the limited ones, and memory, cpu and pids for stats. */
export function v2Controllers(limits: Limits): string[] {
  const wanted = new Set(['memory', 'cpu', 'pids']);
  if (limits.cpusetCpus || limits.cpusetMems) wanted.add('cpuset');
  if (limits.blkioWeight !== undefined || limits.deviceReadBps || limits.deviceWriteBps) wanted.add('io');
  return [...wanted];
}

/**
 * Creates the cgroup with its limits. On v2 the controllers are enabled in
 * the parent's cgroup.subtree_control first (cgroup-v2.rst "Enabling and
 * Disabling"); on v1 a cpuset cgroup starts with empty cpus and mems, and
 * takes no task until they are set, so it inherits its parent's. Any failure
 * removes what was made.
 */
export function createCgroup(cg: Cgroup, limits: Limits, steps: Steps): void {
  // A dry run's script checks that itself, when it runs (script.ts checkNew): it does not depend on the host now.
  if (!steps.mode.dryRun && cg.exists()) throw new ToolError(`cgroup ${cg.name} exists already (${cg.path})`, `cg-limit rm ${cg.name}, or choose another name`);
  if (limits.devices && !cg.dirs.has('devices'))
    throw new ToolError('cannot restrict devices: no devices cgroup here (no v1 devices hierarchy is mounted)', 'mount -t cgroup -o devices devices /sys/fs/cgroup/devices, or leave out --devices and --device');
  const made: string[] = [];
  try {
    if (cg.version === 'v2') {
      const dir = cg.path;
      const line = v2Controllers(limits).map((c) => `+${c}`).join(' ');
      steps.run(`echo '${line}' > ${join(dirname(dir), 'cgroup.subtree_control')}`);
      if (!steps.mode.dryRun) writeFileSync(join(dirname(dir), 'cgroup.subtree_control'), line);
      made.push(...makeDirs(dir, steps));
    } else {
      for (const path of cg.paths) made.push(...makeDirs(path, steps));
      const cpuset = cg.dirs.get('cpuset');
      if (cpuset) {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          steps.run(`cat ${join(dirname(cpuset), file)} > ${join(cpuset, file)}`);
          if (!steps.mode.dryRun) writeFileSync(join(cpuset, file), readFileSync(join(dirname(cpuset), file), 'utf8').trim());
        }
      }
    }
    for (const [controller, file, value] of limitWrites(cg, limits)) cg.write(controller, file, value);
    if (limits.devices && cg.version === 'v2') attachDeviceProgram(cg, limits.devices, steps);
  } catch (e) {
    if (!steps.mode.dryRun) for (const dir of made.reverse()) rmdirSync(dir);
    throw e;
  }
}

/**
 * New limits on a cgroup that exists (docker update): the controllers they need enabled on v2 (as create does),
 * then the writes. On v1 a larger memory limit than the memory+swap one is refused by the kernel, so when both
 * rise memory.memsw goes first, as runc orders them. Returns the writes.
 */
export function updateCgroup(cg: Cgroup, limits: Limits, steps: Steps): [Controller, string, string][] {
  const writes = limitWrites(cg, limits);
  if (cg.version === 'v2') {
    const line = v2Controllers(limits).map((c) => `+${c}`).join(' ');
    const control = join(dirname(cg.path), 'cgroup.subtree_control');
    steps.run(`echo '${line}' > ${control}`);
    if (!steps.mode.dryRun) writeFileSync(control, line);
  } else {
    const swap = writes.findIndex(([, file]) => file === 'memory.memsw.limit_in_bytes');
    const current = Number(cg.read('memory', 'memory.limit_in_bytes'));
    if (swap > 0 && limits.memory !== undefined && !steps.mode.dryRun && limits.memory > current) writes.unshift(...writes.splice(swap, 1));
  }
  for (const [controller, file, value] of writes) cg.write(controller, file, value);
  return writes;
}
