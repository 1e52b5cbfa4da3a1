import { join } from 'node:path';
import type { Controller } from '@cutaway/cgroup';
import type { Cgroup } from './hierarchy.ts';

/** What a cgroup used, read from its own counters, the same fields on v1 and v2. */
export interface CgroupStats {
  name: string;
  version: 'v1' | 'v2';
  path: string;
  memory: { currentBytes?: number; peakBytes?: number; limitBytes?: number; oomKills?: number };
  cpu: { usageUsec?: number; userUsec?: number; systemUsec?: number; periods?: number; throttledPeriods?: number; throttledUsec?: number };
  pids: { current?: number; limit?: number; refusedForks?: number };
  /** Bytes read from and written to block devices (docker stats' BLOCK I/O). */
  io: { readBytes?: number; writeBytes?: number };
}

const num = (text: string | undefined): number | undefined => (text === undefined || text === 'max' || text === '' || !/^\d+$/.test(text) ? undefined : Number(text));

/** v1's "no limit" is the largest page-aligned value; show it as no limit. */
const limitOrNone = (value: number | undefined) => (value !== undefined && value >= 2 ** 62 ? undefined : value);

/** USER_HZ, the unit of cpuacct.stat (sysconf(_SC_CLK_TCK) is 100 on Linux). */
const TICK_USEC = 10_000;

/**
 * Block I/O summed over devices: v2 io.stat lines `MAJ:MIN rbytes=N wbytes=N …` (cgroup-v2.rst, "IO Interface
 * Files"); v1 blkio.throttle.io_service_bytes lines `MAJ:MIN Read N` (blkio-controller.rst), counted at the
 * throttling layer, so for every device whatever its scheduler.
 */
function ioBytes(cg: Cgroup): CgroupStats['io'] {
  const text = cg.version === 'v2' ? cg.read('io', 'io.stat') : cg.read('blkio', 'blkio.throttle.io_service_bytes');
  if (text === undefined) return {};
  let readBytes = 0;
  let writeBytes = 0;
  for (const line of text.split('\n')) {
    const v2 = /\brbytes=(\d+) wbytes=(\d+)/.exec(line);
    const v1 = /^\d+:\d+ (Read|Write) (\d+)$/.exec(line);
    if (v2) [readBytes, writeBytes] = [readBytes + Number(v2[1]), writeBytes + Number(v2[2])];
    else if (v1?.[1] === 'Read') readBytes += Number(v1[2]);
    else if (v1) writeBytes += Number(v1[2]);
  }
  return { readBytes, writeBytes };
}

/** The files readStats reads, as paths (a --dry-run of stats and run shows them with grep). */
export function counterFiles(cg: Cgroup): string[] {
  const files: [Controller, string][] =
    cg.version === 'v2'
      ? [['memory', 'memory.current'], ['memory', 'memory.peak'], ['memory', 'memory.max'], ['memory', 'memory.events'], ['cpu', 'cpu.stat'], ['pids', 'pids.current'], ['pids', 'pids.max'], ['pids', 'pids.events'], ['io', 'io.stat']]
      : [
          ['memory', 'memory.usage_in_bytes'], ['memory', 'memory.max_usage_in_bytes'], ['memory', 'memory.limit_in_bytes'], ['memory', 'memory.oom_control'],
          ['cpuacct', 'cpuacct.usage'], ['cpuacct', 'cpuacct.stat'], ['cpu', 'cpu.stat'], ['pids', 'pids.current'], ['pids', 'pids.max'], ['pids', 'pids.events'],
          ['blkio', 'blkio.throttle.io_service_bytes'],
        ];
  return files.filter(([c]) => cg.dirs.has(c)).map(([c, f]) => join(cg.dirs.get(c)!, f));
}

export function readStats(cg: Cgroup): CgroupStats {
  const base = { name: cg.name, version: cg.version, path: cg.path };
  if (cg.version === 'v2') {
    const cpu = cg.readKeyed('cpu', 'cpu.stat');
    const events = cg.readKeyed('memory', 'memory.events');
    return {
      ...base,
      memory: { currentBytes: num(cg.read('memory', 'memory.current')), peakBytes: num(cg.read('memory', 'memory.peak')), limitBytes: num(cg.read('memory', 'memory.max')), oomKills: events.get('oom_kill') },
      cpu: { usageUsec: cpu.get('usage_usec'), userUsec: cpu.get('user_usec'), systemUsec: cpu.get('system_usec'), periods: cpu.get('nr_periods'), throttledPeriods: cpu.get('nr_throttled'), throttledUsec: cpu.get('throttled_usec') },
      pids: { current: num(cg.read('pids', 'pids.current')), limit: num(cg.read('pids', 'pids.max')), refusedForks: cg.readKeyed('pids', 'pids.events').get('max') },
      io: ioBytes(cg),
    };
  }
  const cpu = cg.readKeyed('cpu', 'cpu.stat');
  const acct = cg.readKeyed('cpuacct', 'cpuacct.stat');
  const usageNs = num(cg.read('cpuacct', 'cpuacct.usage'));
  const throttledNs = cpu.get('throttled_time');
  return {
    ...base,
    memory: {
      currentBytes: num(cg.read('memory', 'memory.usage_in_bytes')),
      peakBytes: num(cg.read('memory', 'memory.max_usage_in_bytes')),
      limitBytes: limitOrNone(num(cg.read('memory', 'memory.limit_in_bytes'))),
      oomKills: cg.readKeyed('memory', 'memory.oom_control').get('oom_kill'),
    },
    cpu: {
      ...(usageNs !== undefined && { usageUsec: Math.round(usageNs / 1000) }),
      ...(acct.has('user') && { userUsec: acct.get('user')! * TICK_USEC }),
      ...(acct.has('system') && { systemUsec: acct.get('system')! * TICK_USEC }),
      periods: cpu.get('nr_periods'),
      throttledPeriods: cpu.get('nr_throttled'),
      ...(throttledNs !== undefined && { throttledUsec: Math.round(throttledNs / 1000) }),
    },
    pids: { current: num(cg.read('pids', 'pids.current')), limit: num(cg.read('pids', 'pids.max')), refusedForks: cg.readKeyed('pids', 'pids.events').get('max') },
    io: ioBytes(cg),
  };
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function seconds(usec: number | undefined): string {
  return usec === undefined ? '-' : `${(usec / 1e6).toFixed(2)} s`;
}

/** The report `cg-limit run` and `cg-limit stats` print, like /usr/bin/time -v for a cgroup. */
export function formatStats(s: CgroupStats): string {
  const lines = [
    `cgroup ${s.name} (${s.version}, ${s.path})`,
    `  memory: peak ${mib(s.memory.peakBytes)}, now ${mib(s.memory.currentBytes)}, limit ${s.memory.limitBytes === undefined ? 'none' : mib(s.memory.limitBytes)}, OOM kills ${s.memory.oomKills ?? '-'}`,
    `  cpu: ${seconds(s.cpu.usageUsec)} (user ${seconds(s.cpu.userUsec)}, system ${seconds(s.cpu.systemUsec)}), throttled ${s.cpu.throttledPeriods ?? '-'} of ${s.cpu.periods ?? '-'} periods for ${seconds(s.cpu.throttledUsec)}`,
    `  pids: now ${s.pids.current ?? '-'}, limit ${s.pids.limit ?? 'none'}, forks refused ${s.pids.refusedForks ?? '-'}`,
    `  block I/O: read ${mib(s.io.readBytes)}, written ${mib(s.io.writeBytes)}`,
  ];
  return `${lines.join('\n')}\n`;
}
