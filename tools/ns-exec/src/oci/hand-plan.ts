import { closeSync, writeSync } from 'node:fs';
import { Steps, ToolError } from '@cutaway/cli';
import type { Plan } from '../plan.ts';

/** CUTAWAY_TRACE set and not 0: the runtime verbs have no --trace of their own (runc's command line), an engine sets the variable. */
function traceFromEnv(): Steps {
  const v = process.env.CUTAWAY_TRACE;
  const flag = (name: string) => process.env[name] !== undefined && process.env[name] !== '' && process.env[name] !== '0';
  return new Steps({ trace: v !== undefined && v !== '' && v !== '0', dryRun: false }, undefined, flag('CUTAWAY_TRACE_LABELS') ? 'ns-exec' : undefined);
}

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
