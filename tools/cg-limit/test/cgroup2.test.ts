import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { shellWord } from '../../../test/fixtures/commands.ts';
import { runInCgroup2Vm, type Cgroup2VmResult } from '../../../test/vm/cgroup2-vm.ts';
import { cpuWeightOfShares } from '../src/limits.ts';

// cg-limit on a real cgroup-v2-only kernel: this host is hybrid (v1 memory,
// cpu and pids), so the test boots Debian's kernel with only the unified
// hierarchy in a VM (test/vm/cgroup2-vm.ts) and runs the built cg-limit
// there, on the host's files. One boot runs every case; each prints
// `CASE name value` lines that the assertions read.

const BIN = fileURLToPath(new URL('../../../bin/cg-limit', import.meta.url));

const SCRIPT = String.raw`
CG=${shellWord(BIN)}
cg() { "$CG" "$@"; }
say() { echo "CASE $1 $2"; }

# 100 MB under -m 32m: OOM-killed, status 137, and the run says so
cg run -m 32m -- sh -c 'head -c 100M /dev/zero | tail > /dev/null' 2> /tmp/oom.err
say oom-status $?
grep -q 'killed by the OOM killer' /tmp/oom.err && say oom-message yes
cg run --json -m 32m -- sh -c 'head -c 100M /dev/zero | tail > /dev/null' 2>/dev/null | grep -o '"oomKills":[0-9]*' | sed 's/.*://' | while read n; do say oom-kills $n; done

# create writes the v2 files, after enabling the controllers in the parent
lim='-m 64m --cpus 0.5 --pids-limit 20 --cpu-shares 512 --memory-swap 96m --memory-reservation 32m'
path=$(cg create web $lim)
say path $path
say subtree "$(cat /sys/fs/cgroup/cgroup.subtree_control | tr ' ' ,)"
say memory.max $(cat $path/memory.max)
say memory.swap.max $(cat $path/memory.swap.max)
say memory.low $(cat $path/memory.low)
say cpu.max "$(cat $path/cpu.max | tr ' ' /)"
say cpu.weight $(cat $path/cpu.weight)
say pids.max $(cat $path/pids.max)
# its --dry-run script, run by bash, leaves the same settings (every file that reads and writes); rm --force's
# script kills what is inside (cgroup.kill) and removes it
cg --dry-run create dry $lim > /tmp/dry.sh && bash -e /tmp/dry.sh; say dry-create $?
settings() { find /sys/fs/cgroup/cw-$1 -maxdepth 1 -type f -perm -600 ! -name cgroup.procs ! -name cgroup.threads ! -name '*.peak' | sort | xargs grep -H . | sed "s|/cw-$1/|/cw-X/|"; }
settings web > /tmp/sa; settings dry > /tmp/sb
if cmp -s /tmp/sa /tmp/sb; then say dry-create-same "$(wc -l < /tmp/sa)"; else say dry-create-same no; diff /tmp/sa /tmp/sb; fi
sh -c 'echo $$ > /sys/fs/cgroup/cw-dry/cgroup.procs; exec sleep 60' & sleep 0.2
cg --dry-run rm --force dry > /tmp/dry-rm.sh && bash -e /tmp/dry-rm.sh; say dry-rm-force "$? $(ls -d /sys/fs/cgroup/cw-dry 2>/dev/null | wc -l)"
# exec: the command itself is in the cgroup
say exec-cgroup $(cg exec web -- cat /proc/self/cgroup)
cg rm web
say removed $(test -e $path && echo no || echo yes)

# --pids-limit 10 stops a fork loop
cg run --json --pids-limit 10 -- sh -c 'for i in $(seq 30); do sleep 3 & done; wait' 2>/dev/null | grep -o '"refusedForks":[0-9]*' | sed 's/.*://' | while read n; do say refused-forks $n; done

# --cpus 0.5 holds a 3-second busy loop near half a CPU, by the cgroup's own counters
cg run --json --cpus 0.5 -- timeout 3 sh -c 'while :; do :; done' 2>/dev/null > /tmp/cpu.json
usage=$(grep -o '"usageUsec":[0-9]*' /tmp/cpu.json | sed 's/.*://')
say cpu-share $(( usage / 30000 ))
say cpu-throttled $(grep -o '"throttledPeriods":[0-9]*' /tmp/cpu.json | sed 's/.*://')

# The devices cgroup, which v2 answers with a BPF device program. /tmp/blk is a block node whose major (240, for
# local use) no driver has: opening it fails with ENXIO where the cgroup lets the open through, EPERM where not.
mknod /tmp/blk b 240 0
cat > /tmp/probe.sh <<'PROBE'
probe() {
  if r=$( { if [ "$2" = r ]; then exec 3< "$1"; else exec 3> "$1"; fi; } 2>&1 ); then echo ok
  else case "$r" in *"not permitted"*) echo EPERM;; *"No such device"*) echo ENXIO;; *) echo other;; esac; fi
}
for p in "/tmp/blk r" "/dev/null r" "/dev/null w" "/dev/zero r" "/dev/urandom r" "/dev/kmsg r" "/dev/kmsg w"; do printf '%s ' "$(echo $p | tr ' ' :)=$(probe $p)"; done
PROBE
cg create devs --devices default > /dev/null; say devices-default-create $?
say devices-default "$(cg exec devs -- sh /tmp/probe.sh)"
cg rm devs
cg create devs --device /tmp/blk:/dev/xvda:r --device-cgroup-rule 'c 1:11 w' > /dev/null; say devices-given-create $?
say devices-given "$(cg exec devs -- sh /tmp/probe.sh)"
cg rm devs
cg create devs > /dev/null
say devices-all "$(cg exec devs -- sh /tmp/probe.sh)"
cg rm devs
say devices-none "$(cg run --devices none -- sh /tmp/probe.sh 2>/dev/null)"
cg --dry-run create devs --device /tmp/blk:r > /tmp/devs.sh
say devices-dry-run "$(grep -c 'BPF_PROG_TYPE_CGROUP_DEVICE program that allows .*b 240:0 r' /tmp/devs.sh)"
# no classic command loads the program: the script says so and stops before it changes anything
bash -e /tmp/devs.sh 2> /tmp/devs.err; say devices-dry-run-script "$? $(grep -c 'cannot restrict devices on cgroup v2' /tmp/devs.err) $(ls -d /sys/fs/cgroup/cw-devs 2>/dev/null | wc -l)"

# rm --force kills what is left; nothing of cutaway remains
cg create left >/dev/null
cg exec left -- sleep 60 &
sleep 1
cg rm left 2>/dev/null; say rm-refused $?
cg rm --force left; say rm-force $?
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

  it("the devices cgroup is a BPF device program: Docker's list by default, --device and --device-cgroup-rule add to it", () => {
    const verdicts = (name: string) => Object.fromEntries(cases.get(name)!.trim().split(' ').map((v) => v.split('=') as [string, string]));
    expect(cases.get('devices-default-create'), vm.output).toBe('0');
    expect(cases.get('devices-given-create')).toBe('0');
    const fixed = { '/dev/null:r': 'ok', '/dev/null:w': 'ok', '/dev/zero:r': 'ok', '/dev/urandom:r': 'ok' };
    expect(verdicts('devices-default')).toEqual({ '/tmp/blk:r': 'EPERM', ...fixed, '/dev/kmsg:r': 'EPERM', '/dev/kmsg:w': 'EPERM' });
    expect(verdicts('devices-given')).toEqual({ '/tmp/blk:r': 'ENXIO', ...fixed, '/dev/kmsg:r': 'EPERM', '/dev/kmsg:w': 'ok' });
    // No device option: no program, every device as on the host.
    expect(verdicts('devices-all')).toEqual({ '/tmp/blk:r': 'ENXIO', ...fixed, '/dev/kmsg:r': 'ok', '/dev/kmsg:w': 'ok' });
    expect(Object.values(verdicts('devices-none'))).toEqual(Array(7).fill('EPERM'));
    expect(cases.get('devices-dry-run')).toBe('1');
  });

  it('the --dry-run scripts of create and rm --force leave what the tool leaves; with device rules the script stops first', () => {
    expect(cases.get('dry-create'), vm.output).toBe('0');
    expect(Number(cases.get('dry-create-same')), vm.output).toBeGreaterThan(10);
    expect(cases.get('dry-rm-force')).toBe('0 0');
    // exit 1, saying why, and no cgroup made
    expect(cases.get('devices-dry-run-script')).toBe('1 1 0');
  });

  it('refuses rm while a process is inside, kills it with --force, and leaves nothing', () => {
    expect(cases.get('rm-refused')).toBe('1');
    expect(cases.get('rm-force')).toBe('0');
    expect(cases.get('leftovers')).toBe('0');
  });
});
