/**
 * The cgroup-v2-only guest that cg-limit's tests run in (test/vm/cgroup2-vm.ts):
 * it boots Debian's kernel with only the unified hierarchy, runs the host's
 * node on the host's (read-only) root, returns exit statuses, enforces a real
 * memory limit, and is killed when it overruns its time.
 *
 * Each test boots a guest: ~2 s under KVM, 10–20 s under TCG (on the cutaway
 * machines /dev/kvm is PVM, which cannot run a stock kernel, so TCG).
 */
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { chooseAccel, Cgroup2VmTimeoutError, prepareCgroup2Vm, runInCgroup2Vm, type GuestImage } from './cgroup2-vm.ts';

const BOOT_TEST_TIMEOUT_MS = 240_000;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');

describe('runInCgroup2Vm', () => {
  let image: GuestImage;

  beforeAll(() => {
    const t0 = performance.now();
    image = prepareCgroup2Vm();
    const { accel, reason } = chooseAccel();
    console.log(
      `cgroup2 VM: kernel ${image.kernelFile}, initramfs ${image.initramfs} (${image.modules.join(' ')}), ` +
        `ready in ${Math.round(performance.now() - t0)} ms; accel ${accel}: ${reason}`,
    );
  });

  it(
    'boots a kernel whose only cgroup hierarchy is v2, with memory, cpu and pids, and runs node from the host',
    async () => {
      const result = await runInCgroup2Vm(
        [
          'echo "kernel=$(uname -r)"',
          'echo "controllers=$(cat /sys/fs/cgroup/cgroup.controllers)"',
          'echo "fstype=$(stat -fc %T /sys/fs/cgroup)"',
          `echo "cgroup1-mounts=$(awk '$3 == "cgroup"' /proc/mounts | wc -l)"`,
          `echo "cgroup2-mounts=$(awk '$3 == "cgroup2" { print $2 }' /proc/mounts)"`,
          'echo "cmdline=$(cat /proc/cmdline)"',
          "echo \"node=$(node -e 'console.log(process.version)')\"",
          'echo "cwd=$(pwd)"',
          'touch /tmp/scratch && echo "tmp=writable"',
          'touch ./cgroup2-vm-probe 2>/dev/null || echo "repo=read-only"',
        ].join('\n'),
      );
      console.log(`boot + script: ${result.durationMs} ms (${result.accel})`);
      expect(result.code).toBe(0);
      const lines = Object.fromEntries(
        result.output
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(lines.kernel).toBe(image.kernel.version);
      expect(lines.controllers?.split(' ')).toEqual(expect.arrayContaining(['memory', 'cpu', 'pids']));
      expect(lines.fstype).toBe('cgroup2fs');
      expect(lines['cgroup1-mounts']).toBe('0');
      expect(lines['cgroup2-mounts']).toBe('/sys/fs/cgroup');
      expect(lines.cmdline).toContain('cgroup_no_v1=all');
      expect(lines.node).toBe(process.version);
      expect(lines.cwd).toBe(REPO_ROOT);
      expect(lines.tmp).toBe('writable');
      expect(lines.repo).toBe('read-only');
    },
    BOOT_TEST_TIMEOUT_MS,
  );

  it(
    "returns the script's exit status and its output, stdout and stderr",
    async () => {
      const result = await runInCgroup2Vm('echo out; echo err >&2; printf "no newline"; exit 3');
      expect(result).toMatchObject({ code: 3, output: 'out\nerr\nno newline' });
    },
    BOOT_TEST_TIMEOUT_MS,
  );

  it(
    'enforces a cgroup v2 memory limit: 100 MB in a 32 MiB cgroup is OOM-killed',
    async () => {
      const result = await runInCgroup2Vm(`
set -e
cd /sys/fs/cgroup
echo +memory > cgroup.subtree_control
mkdir cwtest
echo 32M > cwtest/memory.max
echo "limit=$(cat cwtest/memory.max)"
# tail keeps the last 10 lines; /dev/zero has no newline, so it holds all 100 MB.
sh -c 'echo $$ > /sys/fs/cgroup/cwtest/cgroup.procs; exec sh -c "head -c 100M /dev/zero | tail >/dev/null"' || echo "status=$?"
sed 's/ /=/' cwtest/memory.events
rmdir cwtest
echo removed=yes
`);
      expect(result.code, result.output).toBe(0);
      const values = Object.fromEntries(
        result.output
          .split('\n')
          .filter((l) => /^[a-z_]+=/.test(l))
          .map((l) => l.split('=') as [string, string]),
      );
      expect(values.limit).toBe(String(32 * 1024 * 1024));
      expect(Number(values.oom_kill)).toBeGreaterThanOrEqual(1);
      expect(values.status).toBe('137'); // the shell of the pipeline reports tail's SIGKILL
      expect(values.removed).toBe('yes');
    },
    BOOT_TEST_TIMEOUT_MS,
  );

  it(
    'kills qemu by its pid when the script overruns its time, and says so',
    async () => {
      const started = performance.now();
      const error = await runInCgroup2Vm('sleep 600', { timeoutMs: 5_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Cgroup2VmTimeoutError);
      const timeout = error as Cgroup2VmTimeoutError;
      expect(timeout.message).toMatch(/timed out after 5000 ms; killed qemu \(pid \d+\) with SIGKILL/);
      expect(performance.now() - started).toBeLessThan(30_000);
      expect(timeout.pid).toBeTypeOf('number');
      expect(() => process.kill(timeout.pid as number, 0)).toThrow(/ESRCH/);
    },
    BOOT_TEST_TIMEOUT_MS,
  );
});
