import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findHierarchies } from '@cutaway/cgroup';
import { ToolError, type Steps } from '@cutaway/cli';
import { freezerState, setFreezer } from './freezer.ts';
import { cgroupFor, type Cgroup } from './hierarchy.ts';

/**
 * Kills everything in the cgroup: cgroup.kill where the kernel has it (5.14+, v2), else SIGKILL to each pid
 * until none is left. Not in a dry run: its script has the same loop (script.ts defineKillAll).
 */
export async function killAll(cg: Cgroup, steps: Steps): Promise<void> {
  if (steps.mode.dryRun) return;
  // A frozen task dies of SIGKILL only once thawed on v1 (v2 lets a fatal signal through): thawed first.
  if (cg.version === 'v1' && cg.dirs.has('freezer') && ![undefined, 'THAWED'].includes(freezerState(cg))) await setFreezer(cg, 'THAWED', steps);
  const killFile = join(cg.path, 'cgroup.kill');
  if (cg.version === 'v2' && existsSync(killFile)) cg.write('memory', 'cgroup.kill', '1');
  for (let round = 0; round < 100; round++) {
    const pids = cg.pids();
    if (!pids.length) return;
    for (const pid of pids) {
      steps.run(['kill', '-KILL', String(pid)]);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new ToolError(`cgroup ${cg.name}: processes keep appearing; cannot empty it`);
}

/**
 * `cg-limit rm [--force] NAME`'s work (not its dry run, whose script decides when it runs): the cgroup's directory
 * in every hierarchy, its processes killed first with `force`. What is gone already is done: teardown is
 * idempotent. Also what a program with cg-limit in it does for that command (cutaway's teardown).
 */
export async function removeCgroup(cg: Cgroup, force: boolean, steps: Steps): Promise<void> {
  if (!cg.exists()) return;
  const left = cg.pids();
  if (left.length && !force) throw new ToolError(`cgroup ${cg.name} still has ${left.length} process${left.length > 1 ? 'es' : ''} (${left.slice(0, 5).join(' ')})`, `cg-limit rm --force ${cg.name} kills them`);
  if (force) await killAll(cg, steps);
  cg.remove();
}

/** `cg-limit rm --force NAME`, by name. */
export function removeCgroupNamed(name: string, steps: Steps): Promise<void> {
  return removeCgroup(cgroupFor(name, findHierarchies(), steps), true, steps);
}
