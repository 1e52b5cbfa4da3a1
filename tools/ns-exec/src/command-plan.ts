import { runHere, Steps, UsageError } from '@cutaway/cli';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { devicesControlled } from './cgroups.ts';
import { buildEnterPlan } from './enter.ts';
import { configFromFlags } from './oci/from-flags.ts';
import { planFromConfig } from './oci/plan.ts';
import type { Plan } from './plan.ts';
import { spec, type NsExecInvocation } from './spec.ts';

/**
 * A new container from ns-exec's flags: the flags as a config.json (oci/from-flags.ts), planned as any
 * config.json is (oci/plan.ts). The device-node rule stands unless a devices cgroup the command will run in
 * decides which nodes open.
 */
async function containerPlan(inv: NsExecInvocation): Promise<Plan> {
  const { spec: config, ctx } = configFromFlags(inv);
  const hostMounts = readMountinfo();
  return planFromConfig(config, { ...ctx, hostMounts, forbidDeviceNodes: ctx.forbidDeviceNodes ?? !(await devicesControlled(ctx.cgroups ?? [], hostMounts)) });
}

/** The plan of ns-exec's own command line: a new container (--rootfs), or a command in a running one (--enter). */
export function commandPlan(inv: NsExecInvocation): Promise<Plan> {
  return inv.options.enter !== undefined ? buildEnterPlan(inv, inv.options.enter) : containerPlan(inv);
}

/**
 * What `ns-exec ARGS` would hand its binary, made by a program that has ns-exec's planner in it already
 * (cutaway, which runs ns-exec for every container): the same parse, checks and plan, encoded with `trace`
 * as ns-exec's planner encodes it under the environment cutaway gives ns-exec. ns-exec then reads it from
 * NS_EXEC_PLAN_FILE and starts no Node of its own — one Node start fewer for each container (issue 22). Only
 * a plan to carry out: help, a version, --dry-run and --json are refused here. A failure is thrown; the caller
 * then leaves the planning to ns-exec, which reports it as ever.
 */
export async function encodedCommandPlan(args: string[], trace: Pick<Steps, 'mode' | 'fd' | 'label'>): Promise<Buffer> {
  // The planner's own steps are not traced here: `trace` is how the plan has ns-exec trace them as it carries it out.
  const ran = await runHere(spec, args, new Steps({ trace: false, dryRun: false }), async (inv) => {
    if (inv.json) throw new UsageError('only a plan to carry out is made here');
    return (await commandPlan(inv)).encodeFile(trace);
  });
  return ran.value;
}
