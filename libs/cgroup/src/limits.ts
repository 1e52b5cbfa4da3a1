import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { v1DeviceWrites, type DeviceRule } from './devices.ts';
import type { Controller, Version } from './hierarchy.ts';

/**
 * A cgroup's limits, as docker run's flags and a config.json's linux.resources
 * (config-linux.md "Control groups") both give them; every field optional.
 */
export interface Limits {
  /** Bytes; -1 for no limit. */
  memory?: number;
  /** memory + swap, bytes; -1 for unlimited swap. */
  memorySwap?: number;
  memoryReservation?: number;
  /** v1 only (memory.kmem.tcp.limit_in_bytes). */
  kernelTCP?: number;
  /** v1 only, 0..100. */
  swappiness?: number;
  /** v1 only: memory.oom_control's oom_kill_disable. */
  disableOOMKiller?: boolean;
  /** CFS quota per period, microseconds; -1 for none. */
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
  /** v1 only, with CONFIG_RT_GROUP_SCHED: real-time runtime per period, microseconds. */
  cpuRtRuntime?: number;
  cpuRtPeriod?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  /** -1 for unlimited. */
  pidsLimit?: number;
  blkioWeight?: number;
  /** v1 only (CFQ's, gone since Linux 5.0). */
  blkioLeafWeight?: number;
  blkioWeightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
  deviceReadBps?: ThrottleDevice[];
  deviceWriteBps?: ThrottleDevice[];
  deviceReadIops?: ThrottleDevice[];
  deviceWriteIops?: ThrottleDevice[];
  /** `pageSize` as the kernel names it in hugetlb's files: 2MB, 1GB, 64KB. */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** v1 only: net_cls.classid and net_prio.ifpriomap. */
  netClassId?: number;
  netPriorities?: { name: string; priority: number }[];
  /** The devices cgroup's allow-list (everything else refused); undefined: no rule, every device. */
  devices?: DeviceRule[];
}

/** A rate for one block device: bytes or operations per second. */
export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

/** The CFS period Docker's --cpus uses, and cgroup-v2.rst's default for cpu.max. */
export const CPU_PERIOD = 100_000;

/**
 * cpu.shares (v1, 2..262144) → cpu.weight (v2, 1..10000), the curve runc and
 * crun use since 2024 (opencontainers/cgroups utils.go ConvertCPUSharesToCgroupV2Value):
 * a quadratic in log2 that maps 2 → 1, 1024 → 100 and 262144 → 10000.
 */
export function cpuWeightOfShares(shares: number): number {
  if (shares <= 2) return 1;
  if (shares >= 262144) return 10000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(10 ** exponent);
}

/** blkio.weight (v1, 10..1000) → io.weight (v2, 1..10000), linear as runc does (ConvertBlkIOToIOWeightValue). */
export function ioWeightOfBlkioWeight(weight: number): number {
  return 1 + Math.floor(((weight - 10) * 9999) / 990);
}

/** A cgroup as the writes need it: its version and the directory of each controller (which throws for one it lacks). */
export interface CgroupDirs {
  readonly version: Version;
  dir(controller: Controller): string;
}

/**
 * The writes that set the limits, for each version. v1 files are the kernel's
 * cgroup-v1 names (Documentation/admin-guide/cgroup-v1/*); v2 ones are
 * cgroup-v2.rst's, with the conversions runc and crun make between them. A
 * limit only v1 has, asked of v2, is an error rather than left out.
 */
export function limitWrites(cg: CgroupDirs, limits: Limits): [Controller, string, string][] {
  const w: [Controller, string, string][] = [];
  const v2 = cg.version === 'v2';
  const v1Only = (what: string, set: boolean) => {
    if (set && v2) throw new ToolError(`${what} is a cgroup v1 control: cgroup v2 has none`);
    return set;
  };
  if (limits.memory !== undefined) w.push(['memory', v2 ? 'memory.max' : 'memory.limit_in_bytes', v2 && limits.memory === -1 ? 'max' : String(limits.memory)]);
  if (limits.memorySwap !== undefined) {
    // v1 limits memory+swap together; v2's memory.swap.max is the swap alone.
    if (v2 && limits.memory === undefined) throw new ToolError('a swap limit on cgroup v2 needs a memory limit too (memory.swap.max counts swap alone: the limit less the memory)');
    if (v2) w.push(['memory', 'memory.swap.max', limits.memorySwap === -1 ? 'max' : String(limits.memorySwap - limits.memory!)]);
    else w.push(['memory', 'memory.memsw.limit_in_bytes', String(limits.memorySwap)]);
  }
  if (limits.memoryReservation !== undefined) w.push(['memory', v2 ? 'memory.low' : 'memory.soft_limit_in_bytes', String(limits.memoryReservation)]);
  if (v1Only('memory.kmem.tcp.limit_in_bytes (kernelTCP)', limits.kernelTCP !== undefined)) w.push(['memory', 'memory.kmem.tcp.limit_in_bytes', String(limits.kernelTCP)]);
  if (v1Only('memory.swappiness', limits.swappiness !== undefined)) w.push(['memory', 'memory.swappiness', String(limits.swappiness)]);
  if (v1Only('memory.oom_control (disableOOMKiller)', limits.disableOOMKiller === true)) w.push(['memory', 'memory.oom_control', '1']);
  if (limits.cpuQuota !== undefined || limits.cpuPeriod !== undefined) {
    const { cpuQuota: quota, cpuPeriod: period } = limits;
    if (v2) w.push(['cpu', 'cpu.max', `${quota === undefined || quota < 0 ? 'max' : quota} ${period ?? CPU_PERIOD}`]);
    else {
      if (period !== undefined) w.push(['cpu', 'cpu.cfs_period_us', String(period)]);
      if (quota !== undefined) w.push(['cpu', 'cpu.cfs_quota_us', String(quota)]);
    }
  }
  if (limits.cpuShares !== undefined) w.push(v2 ? ['cpu', 'cpu.weight', String(cpuWeightOfShares(limits.cpuShares))] : ['cpu', 'cpu.shares', String(limits.cpuShares)]);
  // The period first: the kernel checks runtime against the period already set (sched-rt-group.rst).
  if (v1Only('cpu.rt_period_us (realtimePeriod)', limits.cpuRtPeriod !== undefined)) w.push(['cpu', 'cpu.rt_period_us', String(limits.cpuRtPeriod)]);
  if (v1Only('cpu.rt_runtime_us (realtimeRuntime)', limits.cpuRtRuntime !== undefined)) w.push(['cpu', 'cpu.rt_runtime_us', String(limits.cpuRtRuntime)]);
  if (limits.cpusetCpus !== undefined) w.push(['cpuset', 'cpuset.cpus', limits.cpusetCpus]);
  if (limits.cpusetMems !== undefined) w.push(['cpuset', 'cpuset.mems', limits.cpusetMems]);
  if (limits.pidsLimit !== undefined) w.push(['pids', 'pids.max', limits.pidsLimit === -1 ? 'max' : String(limits.pidsLimit)]);
  w.push(...blkioWrites(cg, limits));
  for (const { pageSize, limit } of limits.hugepageLimits ?? []) w.push(['hugetlb', v2 ? `hugetlb.${pageSize}.max` : `hugetlb.${pageSize}.limit_in_bytes`, String(limit)]);
  if (v1Only('net_cls.classid', limits.netClassId !== undefined)) w.push(['net_cls', 'net_cls.classid', String(limits.netClassId)]);
  // One write per interface: the kernel reads one `NAME PRIORITY` pair at a time (cgroup-v1/net_prio.rst).
  for (const p of limits.netPriorities ?? []) if (v1Only('net_prio.ifpriomap', true)) w.push(['net_prio', 'net_prio.ifpriomap', `${p.name} ${p.priority}`]);
  // v2 has no devices file: its rules are a program (cg-limit's attachDeviceProgram).
  if (limits.devices && !v2) for (const [file, value] of v1DeviceWrites(limits.devices)) w.push(['devices', file, value]);
  return w;
}

/** The block I/O writes: weights and throttles (cgroup-v1/blkio-controller.rst; cgroup-v2.rst "IO"). */
function blkioWrites(cg: CgroupDirs, limits: Limits): [Controller, string, string][] {
  const w: [Controller, string, string][] = [];
  const v2 = cg.version === 'v2';
  const weighted = limits.blkioWeight !== undefined || limits.blkioWeightDevice?.some((d) => d.weight !== undefined);
  // Kernels with BFQ name it blkio.bfq.weight; CFQ's blkio.weight is gone since 5.0. Without the bfq scheduler
  // loaded there is neither, and the write says so (Docker drops the weight with a warning then).
  // (Looked for in the hierarchy's root too: a dry run asks before the cgroup exists.)
  const bfq = !v2 && weighted && ![cg.dir('blkio'), dirname(cg.dir('blkio'))].some((d) => existsSync(join(d, 'blkio.weight')));
  if (limits.blkioWeight !== undefined) {
    if (v2) w.push(['blkio', 'io.weight', `default ${ioWeightOfBlkioWeight(limits.blkioWeight)}`]);
    else w.push(['blkio', bfq ? 'blkio.bfq.weight' : 'blkio.weight', String(limits.blkioWeight)]);
  }
  if (limits.blkioLeafWeight !== undefined && !v2) w.push(['blkio', 'blkio.leaf_weight', String(limits.blkioLeafWeight)]);
  for (const d of limits.blkioWeightDevice ?? []) {
    const device = `${d.major}:${d.minor}`;
    if (d.weight !== undefined) w.push(v2 ? ['blkio', 'io.weight', `${device} ${ioWeightOfBlkioWeight(d.weight)}`] : ['blkio', bfq ? 'blkio.bfq.weight_device' : 'blkio.weight_device', `${device} ${d.weight}`]);
    if (d.leafWeight !== undefined && !v2) w.push(['blkio', 'blkio.leaf_weight_device', `${device} ${d.leafWeight}`]);
  }
  if (v2 && (limits.blkioLeafWeight !== undefined || limits.blkioWeightDevice?.some((d) => d.leafWeight !== undefined))) throw new ToolError('blkio leaf weights are a cgroup v1 control: cgroup v2 has none');
  for (const [list, v1file, v2key] of [
    [limits.deviceReadBps, 'blkio.throttle.read_bps_device', 'rbps'],
    [limits.deviceWriteBps, 'blkio.throttle.write_bps_device', 'wbps'],
    [limits.deviceReadIops, 'blkio.throttle.read_iops_device', 'riops'],
    [limits.deviceWriteIops, 'blkio.throttle.write_iops_device', 'wiops'],
  ] as const) {
    for (const d of list ?? []) w.push(['blkio', v2 ? 'io.max' : v1file, v2 ? `${d.major}:${d.minor} ${v2key}=${d.rate}` : `${d.major}:${d.minor} ${d.rate}`]);
  }
  return w;
}

/** The controllers a cgroup needs in v2's subtree_control: the limited ones, and memory, cpu and pids for stats. */
export function v2Controllers(limits: Limits): string[] {
  const wanted = new Set(['memory', 'cpu', 'pids']);
  if (limits.cpusetCpus || limits.cpusetMems) wanted.add('cpuset');
  if (limits.blkioWeight !== undefined || limits.blkioWeightDevice || limits.deviceReadBps || limits.deviceWriteBps || limits.deviceReadIops || limits.deviceWriteIops) wanted.add('io');
  if (limits.hugepageLimits?.length) wanted.add('hugetlb');
  return [...wanted];
}
