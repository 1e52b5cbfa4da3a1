/**
 * ns-exec's planner: everything ns-exec decides, in TypeScript. The ns-exec
 * binary (ns-exec.c) runs this once, reads the plan it writes to fd 3, and
 * carries it out after Node has exited (DESIGN.md: Node's threads and new
 * namespaces do not mix). Help, version, --dry-run, --json and every error
 * are printed from here; the binary exits with this process's status when it
 * writes no plan.
 */
import { runTool } from '@cutaway/cli';
import { commandPlan } from './command-plan.ts';
import { handPlan } from './oci/hand-plan.ts';
import { runRuntime, runtimeCommand } from './oci/runtime-cli.ts';
import { dryRunScript } from './script.ts';
import { spec } from './spec.ts';

function plan(args: string[]): Promise<never> {
  return runTool(spec, async (inv) => {
    const plan = await commandPlan(inv);
    if (inv.steps.mode.dryRun) {
      process.stdout.write(dryRunScript(plan, args));
      return 0;
    }
    if (inv.json) {
      process.stdout.write(`${JSON.stringify({ launcher: plan.launcher(), cloneFlags: plan.cloneFlags, host: plan.host, container: plan.container }, (_, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2)}\n`);
      return 0;
    }
    handPlan(plan, inv.steps);
  }, args);
}

// ns-exec runs `node ns-exec-plan.cjs -- ARGS`: the `--` keeps Node 20 from reading an `--env-file` among
// ARGS as its own option, and stays in argv. A command line of runc's (a runc verb after runc's global
// options) is the OCI runtime's (oci/runtime-cli.ts); any other is ns-exec's own.
const argv = process.argv[2] === '--' ? process.argv.slice(3) : process.argv.slice(2);
const runtime = runtimeCommand(argv);
void (runtime ? runRuntime(runtime) : plan(argv));
