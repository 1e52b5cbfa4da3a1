import { join } from 'node:path';
import { ToolError, type Steps } from '@cutaway/cli';
import type { Cgroup } from './hierarchy.ts';

/**
 * The freezer (docker pause / unpause): every process of the cgroup stopped where it is, unaware of it (no
 * SIGSTOP it could see), until thawed. v1: the freezer hierarchy's freezer.state, FROZEN or THAWED, which
 * reads FREEZING until the kernel has stopped every task (cgroup-v1/freezer-subsystem.rst); v2: cgroup.freeze
 * 1 or 0, and cgroup.events says `frozen 1` once it is (cgroup-v2.rst "Core Interface Files").
 */

export type FreezerState = 'FROZEN' | 'THAWED';

/** The file written (in the cgroup's freezer directory), its value for a state, and the file and line that tell the kernel is done. */
function files(cg: Cgroup, state: FreezerState): { file: string; value: string; done: string; line: string } {
  const dir = cg.dir('freezer');
  if (cg.version === 'v2') return { file: 'cgroup.freeze', value: state === 'FROZEN' ? '1' : '0', done: join(dir, 'cgroup.events'), line: `frozen ${state === 'FROZEN' ? 1 : 0}` };
  return { file: 'freezer.state', value: state, done: join(dir, 'freezer.state'), line: state };
}

/** The state the kernel reports now: FROZEN, THAWED, or (v1, on the way) FREEZING. */
export function freezerState(cg: Cgroup): string | undefined {
  if (cg.version === 'v1') return cg.read('freezer', 'freezer.state');
  const events = cg.read('freezer', 'cgroup.events');
  const frozen = /^frozen (\d)$/m.exec(events ?? '')?.[1];
  return frozen === undefined ? undefined : frozen === '1' ? 'FROZEN' : 'THAWED';
}

/** How long the kernel may take to stop every task (runc retries for about as long) before cg-limit gives up. */
const WAIT_MS = 10_000;

/**
 * Writes the state and waits until the kernel reports it. A freeze the kernel cannot finish in time (a task in
 * an uninterruptible sleep) is undone, so the cgroup is left as it was, and said.
 */
export async function setFreezer(cg: Cgroup, state: FreezerState, steps: Steps): Promise<void> {
  const { file, value, done, line } = files(cg, state);
  cg.write('freezer', file, value);
  steps.run(`n=0; until grep -qx '${line}' ${done}; do [ $((n += 1)) -le ${WAIT_MS / 10} ] || { echo "cgroup ${cg.name}: the kernel did not report ${state} in ${WAIT_MS / 1000} s" >&2; exit 1; }; sleep 0.01; done`);
  if (steps.mode.dryRun) return;
  const deadline = Date.now() + WAIT_MS;
  while (freezerState(cg) !== state) {
    if (Date.now() > deadline) {
      if (state === 'FROZEN') cg.write('freezer', file, files(cg, 'THAWED').value);
      throw new ToolError(`cgroup ${cg.name}: the kernel did not report ${state} in ${WAIT_MS / 1000} s (it reads ${freezerState(cg) ?? 'nothing'})`, state === 'FROZEN' ? 'a task in an uninterruptible sleep cannot be frozen; it was thawed again' : undefined);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
