import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { runInCgroup2Vm, type Cgroup2VmResult } from '../../../test/vm/cgroup2-vm.ts';
import { cpuWeightOfShares } from '../src/limits.ts';

// cg-limit on a real cgroup-v2-only kernel: this host is hybrid (v1 memory,
// cpu and pids), so the test boots Debian's kernel with only the unified
// hierarchy in a VM (test/vm/cgroup2-vm.ts) and runs the built cg-limit
// there, on the host's files. One boot runs every case; each prints
// `CASE name value` lines that the assertions read.

const BIN = fileURLToPath(new URL('../../../bin/cg-limit', import.meta.url));

const SCRIPT = String.raw`
cg=${BIN}
say() { echo "CASE $1 $2"; }

# 100 MB under -m 32m: OOM-killed, status 137, and the run says so
$cg run -m 32m -- sh -c 'head -c 100M /dev/zero | tail > /dev/null' 2> /tmp/oom.err
say oom-status $?
grep -q 'killed by the OOM killer' /tmp/oom.err && say oom-message yes
$cg run --json -m 32m -- sh -c 'head -c 100M /dev/zero | tail > /dev/null' 2>/dev/null | grep -o '"oomKills":[0-9]*' | sed 's/.*://' | while read n; do say oom-kills $n; done

# create writes the v2 files, after enabling the controllers in the parent
path=$($cg create web -m 64m --cpus 0.5 --pids-limit 20 --cpu-shares 512 --memory-swap 96m --memory-reservation 32m)
say path $path
say subtree "$(cat /sys/fs/cgroup/cgroup.subtree_control | tr ' ' ,)"
say memory.max $(cat $path/memory.max)
say memory.swap.max $(cat $path/memory.swap.max)
say memory.low $(cat $path/memory.low)
say cpu.max "$(cat $path/cpu.max | tr ' ' /)"
say cpu.weight $(cat $path/cpu.weight)
say pids.max $(cat $path/pids.max)
# exec: the command itself is in the cgroup
say exec-cgroup $($cg exec web -- cat /proc/self/cgroup)
$cg rm web
say removed $(test -e $path && echo no || echo yes)

# --pids-limit 10 stops a fork loop
$cg run --json --pids-limit 10 -- sh -c 'for i in $(seq 30); do sleep 3 & done; wait' 2>/dev/null | grep -o '"refusedForks":[0-9]*' | sed 's/.*://' | while read n; do say refused-forks $n; done

# --cpus 0.5 holds a 3-second busy loop near half a CPU, by the cgroup's own counters
$cg run --json --cpus 0.5 -- timeout 3 sh -c 'while :; do :; done' 2>/dev/null > /tmp/cpu.json
usage=$(grep -o '"usageUsec":[0-9]*' /tmp/cpu.json | sed 's/.*://')
say cpu-share $(( usage / 30000 ))
say cpu-throttled $(grep -o '"throttledPeriods":[0-9]*' /tmp/cpu.json | sed 's/.*://')

# rm --force kills what is left; nothing of cutaway remains
$cg create left >/dev/null
$cg exec left -- sleep 60 &
sleep 1
$cg rm left 2>/dev/null; say rm-refused $?
$cg rm --force left; say rm-force $?
say leftovers $(ls -d /sys/fs/cgroup/cw-* 2>/dev/null | wc -l)
`;

let vm: Cgroup2VmResult;
const cases = new Map<string, string>();

beforeAll(async () => {
  vm = await runInCgroup2Vm(SCRIPT, { timeoutMs: 300_000 });
  for (const line of vm.output.split('\n')) {
    const m = /^CASE (\S+) ?(.*)$/.exec(line);
    if (m) cases.set(m[1]!, m[2]!);
  }
}, 360_000);

describe('cg-limit on a cgroup v2 kernel (in a VM)', () => {
  it('OOM-kills 100 MB under -m 32m: status 137, the message, the kill counted', () => {
    expect(cases.get('oom-status'), vm.output).toBe('137');
    expect(cases.get('oom-message')).toBe('yes');
    expect(Number(cases.get('oom-kills'))).toBeGreaterThanOrEqual(1);
  });

  it('writes the v2 files with runc’s conversions, after enabling the controllers in the parent', () => {
    expect(cases.get('path')).toBe('/sys/fs/cgroup/cw-web');
    expect(cases.get('subtree')!.split(',')).toEqual(expect.arrayContaining(['memory', 'cpu', 'pids']));
    expect(cases.get('memory.max')).toBe(String(64 << 20));
    expect(cases.get('memory.swap.max')).toBe(String(32 << 20)); // memory-swap minus memory
    expect(cases.get('memory.low')).toBe(String(32 << 20));
    expect(cases.get('cpu.max')).toBe('50000/100000');
    expect(cases.get('cpu.weight')).toBe(String(cpuWeightOfShares(512)));
    expect(cases.get('pids.max')).toBe('20');
  });

  it('exec puts the command itself in the cgroup; rm removes it', () => {
    expect(cases.get('exec-cgroup')).toBe('0::/cw-web');
    expect(cases.get('removed')).toBe('yes');
  });

  it('stops a fork loop at --pids-limit 10', () => {
    expect(Number(cases.get('refused-forks'))).toBeGreaterThanOrEqual(1);
  });

  it('holds a busy loop near half a CPU with --cpus 0.5', () => {
    // CPU time over the loop's 3 s, in percent of one CPU
    const percent = Number(cases.get('cpu-share'));
    expect(percent).toBeGreaterThan(30);
    expect(percent).toBeLessThan(65);
    expect(Number(cases.get('cpu-throttled'))).toBeGreaterThan(0);
  });

  it('refuses rm while a process is inside, kills it with --force, and leaves nothing', () => {
    expect(cases.get('rm-refused')).toBe('1');
    expect(cases.get('rm-force')).toBe('0');
    expect(cases.get('leftovers')).toBe('0');
  });
});
