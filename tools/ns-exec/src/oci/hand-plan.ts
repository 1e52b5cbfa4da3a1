import { closeSync, writeSync } from 'node:fs';
import { ToolError, toolSteps, type Steps } from '@cutaway/cli';
import type { Plan } from '../plan.ts';

/** The runtime verbs have no --trace of their own (runc's command line): CUTAWAY_TRACE, set by whoever runs them, decides. */
const traceFromEnv = (): Steps => toolSteps('ns-exec', { trace: false, dryRun: false });

/**
 * The planner's last act: the plan to fd 3, where the ns-exec binary reads it, and exit. ns-exec goes on as
 * soon as fd 3 closes, while Node tears itself down (~7 ms): nothing more may touch stdio.
 */
export function handPlan(plan: Plan, steps: Pick<Steps, 'mode' | 'fd' | 'label'> = traceFromEnv()): never {
  try {
    writeSync(3, plan.encode(steps));
    closeSync(3);
  } catch (e) {
    throw new ToolError(`cannot hand the plan to ns-exec: ${(e as Error).message}`, 'run the ns-exec binary, not its planner');
  }
  process.exit(0);
}
