/**
 * `pause` and `resume`: the freezer of the container's cgroups, as runc's (libcontainer/cgroups/fs/freezer.go,
 * fs2/freezer.go). v1: the freezer hierarchy's `freezer.state` (FROZEN, THAWED; FREEZING while it works,
 * cgroups v1 freezer-subsystem.txt); v2: `cgroup.freeze` (1, 0) and `frozen 1` in `cgroup.events` once done
 * (cgroup-v2.rst). A container's directories are one per hierarchy: whichever has a freezer decides.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError } from '@cutaway/cli';

interface Freezer {
  /** The file written, and the word that freezes or thaws. */
  file: string;
  frozen: () => boolean;
  write: (freeze: boolean) => void;
}

function freezerOf(dirs: readonly string[]): Freezer | undefined {
  for (const dir of dirs) {
    const v1 = posix.join(dir, 'freezer.state');
    if (existsSync(v1)) return { file: v1, frozen: () => readFileSync(v1, 'utf8').trim() === 'FROZEN', write: (f) => writeFileSync(v1, f ? 'FROZEN' : 'THAWED') };
    const v2 = posix.join(dir, 'cgroup.freeze');
    const events = posix.join(dir, 'cgroup.events');
    if (existsSync(v2)) return { file: v2, frozen: () => /^frozen 1$/m.test(readFileSync(events, 'utf8')), write: (f) => writeFileSync(v2, f ? '1' : '0') };
  }
  return undefined;
}

/** `frozen`, `thawed`, or `none` for a container without a freezer cgroup (it cannot be paused). */
export function freezerState(dirs: readonly string[]): 'frozen' | 'thawed' | 'none' {
  const freezer = freezerOf(dirs);
  if (!freezer) return 'none';
  try {
    return freezer.frozen() ? 'frozen' : 'thawed';
  } catch {
    return 'none'; // the cgroup is being removed
  }
}

/** Freezes or thaws, and waits until the kernel has (a v1 freeze passes through FREEZING; runc retries the same way). */
export function setFrozen(dirs: readonly string[], freeze: boolean): void {
  const freezer = freezerOf(dirs);
  if (!freezer) throw new ToolError(`cannot ${freeze ? 'pause' : 'resume'}: the container has no freezer cgroup`, 'ns-exec pauses through the cgroup the config\'s linux.cgroupsPath names');
  const tick = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 1000; i++) {
    freezer.write(freeze);
    if (freezer.frozen() === freeze) return;
    Atomics.wait(tick, 0, 0, 10);
  }
  throw new ToolError(`cannot ${freeze ? 'pause' : 'resume'}: ${freezer.file} did not change in 10 s`);
}
