import { readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ToolError, type Steps } from '@cutaway/cli';
import { attachProgram, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, closeProgram, loadProgram } from '@cutaway/libc';
import { limitWrites, ruleText, v2Controllers, type Controller, type DeviceRule, type Limits } from '@cutaway/cgroup';
import { deviceProgram } from './devices.ts';
import { makeDirs, type Cgroup } from './hierarchy.ts';

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
