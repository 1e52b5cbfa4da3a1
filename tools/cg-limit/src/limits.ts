import { availableParallelism } from 'node:os';
import { parseBytes, UsageError, type OptionSpec, type OptionValues } from '@cutaway/cli';
import { CPU_PERIOD, type Limits, type ThrottleDevice } from '@cutaway/cgroup';
import { DEVICE_POLICIES, deviceRules, parseDeviceOption, parseDeviceRule, type DevicePolicy } from './devices.ts';

/**
 * Docker's resource flags, parsed and checked as `docker run` checks them
 * (daemon/daemon_unix.go verifyPlatformContainerResources): units, ranges,
 * and the pairs that must agree. The limits and their files are @cutaway/cgroup's.
 */
export { cpuWeightOfShares, type Limits } from '@cutaway/cgroup';

/** Docker refuses less: "Minimum memory limit allowed is 6MB". */
const MIN_MEMORY = 6 * 1024 * 1024;

function integer(text: string, option: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`${option} ${JSON.stringify(text)}: want a whole number`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`${option} ${n}: out of range (${min} to ${max})`);
  return n;
}

/** `0-3,5`: a list of CPUs or memory nodes, each of which must exist (given as the allowed set). */
function cpuList(text: string, option: string, allowed: Set<number>): string {
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(text)) throw new UsageError(`${option} ${JSON.stringify(text)}: want a list such as 0-2,4`);
  for (const part of text.split(',')) {
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) if (!allowed.has(i)) throw new UsageError(`${option} ${text}: ${i} is not available here (have ${[...allowed].join(',')})`);
    if (b !== undefined && b < a) throw new UsageError(`${option} ${text}: ${part} is backwards`);
  }
  return text;
}

function deviceRate(text: string, option: string, devices: (path: string) => { major: number; minor: number } | undefined): ThrottleDevice {
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new UsageError(`${option} ${JSON.stringify(text)}: want DEVICE:RATE, e.g. /dev/sda:1mb`);
  const path = text.slice(0, colon);
  const dev = devices(path);
  if (!dev) throw new UsageError(`${option} ${path}: not a block device`);
  return { ...dev, rate: parseBytes(text.slice(colon + 1), option) };
}

/** docker run's resource options, as create and run take them. */
export const LIMIT_OPTIONS = [
  { name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit, e.g. 256m (at least 6m)' },
  { name: 'memory-swap', type: 'string', arg: 'BYTES', help: 'memory plus swap; -1 for unlimited swap' },
  { name: 'memory-reservation', type: 'string', arg: 'BYTES', help: 'soft limit (v1 soft_limit_in_bytes, v2 memory.low)' },
  { name: 'cpus', type: 'string', arg: 'N', help: 'CPUs, e.g. 1.5 (CFS quota over a 100 ms period)' },
  { name: 'cpu-shares', type: 'string', arg: 'N', help: 'relative weight, 2-262144 (v2: converted to cpu.weight)' },
  { name: 'cpuset-cpus', type: 'string', arg: 'LIST', help: 'CPUs allowed, e.g. 0-1' },
  { name: 'cpuset-mems', type: 'string', arg: 'LIST', help: 'memory nodes allowed' },
  { name: 'pids-limit', type: 'string', arg: 'N', help: 'most processes at once (-1 or 0: no limit)' },
  { name: 'blkio-weight', type: 'string', arg: 'N', help: 'block I/O weight, 10-1000 (v2: io.weight)' },
  { name: 'device-read-bps', type: 'list', arg: 'DEV:RATE', help: 'read rate limit for a device, e.g. /dev/vda:1mb (repeat)' },
  { name: 'device-write-bps', type: 'list', arg: 'DEV:RATE', help: 'write rate limit for a device (repeat)' },
  { name: 'devices', type: 'string', arg: 'default|none|all', help: "device nodes it may use: Docker's default list, none, or all (the default, unless --device or --device-cgroup-rule: then default)" },
  { name: 'device', type: 'list', arg: 'HOST[:CTR][:rwm]', help: 'also allow this host device node, for r, w and m as given (default rwm), as docker run --device (repeat)' },
  { name: 'device-cgroup-rule', type: 'list', arg: 'RULE', help: "also allow 'c|b MAJOR:MINOR rwm' (* for any number), as docker run --device-cgroup-rule (repeat)" },
] as const satisfies readonly OptionSpec[];

/** The limit options' values as parsed: a string option's value or undefined, a list option's values. */
export type LimitOptions = Pick<OptionValues<typeof LIMIT_OPTIONS>, (typeof LIMIT_OPTIONS)[number]['name']>;

export interface Machine {
  cpus: Set<number>;
  mems: Set<number>;
  blockDevice: (path: string) => { major: number; minor: number } | undefined;
  /** A character or block device node's type and numbers (stat, following symlinks). */
  deviceNode: (path: string) => { type: 'c' | 'b'; major: number; minor: number } | undefined;
}

/** Everything checked before anything is created: a bad value changes nothing. */
export function parseLimits(o: LimitOptions, machine: Machine): Limits {
  const limits: Limits = {};
  if (o.memory !== undefined) {
    limits.memory = parseBytes(o.memory, '--memory');
    if (limits.memory < MIN_MEMORY) throw new UsageError(`--memory ${o.memory}: the minimum is 6m (Docker's too)`);
  }
  if (o['memory-swap'] !== undefined) {
    limits.memorySwap = o['memory-swap'].trim() === '-1' ? -1 : parseBytes(o['memory-swap'], '--memory-swap');
    if (limits.memory === undefined) throw new UsageError('--memory-swap needs --memory as well (it is memory plus swap)');
    if (limits.memorySwap !== -1 && limits.memorySwap < limits.memory) throw new UsageError(`--memory-swap ${o['memory-swap']} is less than --memory: it counts memory plus swap`);
  }
  if (o['memory-reservation'] !== undefined) {
    limits.memoryReservation = parseBytes(o['memory-reservation'], '--memory-reservation');
    if (limits.memory !== undefined && limits.memoryReservation > limits.memory) throw new UsageError('--memory-reservation must be less than --memory');
  }
  if (o.cpus !== undefined) {
    const cpus = Number(o.cpus);
    const max = availableParallelism();
    if (!/^\d*\.?\d+$/.test(o.cpus) || !(cpus > 0)) throw new UsageError(`--cpus ${JSON.stringify(o.cpus)}: want a positive number such as 0.5 or 1.5`);
    if (cpus > max) throw new UsageError(`--cpus ${o.cpus}: this machine has ${max}`);
    limits.cpuPeriod = CPU_PERIOD;
    limits.cpuQuota = Math.round(cpus * CPU_PERIOD);
    // The kernel's smallest quota is 1 ms.
    if (limits.cpuQuota < 1000) throw new UsageError(`--cpus ${o.cpus}: the least is 0.01`);
  }
  if (o['cpu-shares'] !== undefined) limits.cpuShares = integer(o['cpu-shares'], '--cpu-shares', 2, 262144);
  if (o['cpuset-cpus'] !== undefined) limits.cpusetCpus = cpuList(o['cpuset-cpus'], '--cpuset-cpus', machine.cpus);
  if (o['cpuset-mems'] !== undefined) limits.cpusetMems = cpuList(o['cpuset-mems'], '--cpuset-mems', machine.mems);
  if (o['pids-limit'] !== undefined) {
    const n = integer(o['pids-limit'], '--pids-limit', -1, 4194304);
    // Docker: 0 and -1 both mean no limit.
    limits.pidsLimit = n <= 0 ? -1 : n;
  }
  if (o['blkio-weight'] !== undefined) limits.blkioWeight = integer(o['blkio-weight'], '--blkio-weight', 10, 1000);
  if (o['device-read-bps']?.length) limits.deviceReadBps = o['device-read-bps'].map((t) => deviceRate(t, '--device-read-bps', machine.blockDevice));
  if (o['device-write-bps']?.length) limits.deviceWriteBps = o['device-write-bps'].map((t) => deviceRate(t, '--device-write-bps', machine.blockDevice));
  const given = [...(o.device ?? []).map((t) => parseDeviceOption(t, machine.deviceNode)), ...(o['device-cgroup-rule'] ?? []).map(parseDeviceRule)];
  if (o.devices !== undefined && !(DEVICE_POLICIES as readonly string[]).includes(o.devices)) throw new UsageError(`--devices ${JSON.stringify(o.devices)}: want default, none or all`);
  const policy = (o.devices ?? (given.length ? 'default' : 'all')) as DevicePolicy;
  if (policy === 'all' && given.length) throw new UsageError('--devices all allows every device already: --device and --device-cgroup-rule add to default or none');
  if (policy !== 'all') limits.devices = deviceRules(policy, given);
  return limits;
}
