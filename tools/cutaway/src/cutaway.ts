/**
 * cutaway: docker build and docker run (and, later, Docker's other everyday
 * commands), as scripts that compose cutaway's tools. Each subcommand is its
 * own module; this file dispatches.
 */
import { reportError, runTool, splitAtFirstPositional, stateRoot, UsageError, type Invocation } from '@cutaway/cli';
import { build, buildSpec } from './build/build.ts';
import type { Command } from './command.ts';
import { containerCommands } from './containers/commands.ts';
import { execCommand } from './containers/exec.ts';
import { imageCommands } from './images/commands.ts';
import { objectCommands } from './system/object-commands.ts';
import { statsCommand } from './containers/stats.ts';
import { topCommand } from './containers/top.ts';
import { run, runSpec, teardownExited } from './containers/run.ts';
import { traceTools } from './tools.ts';

// `cutaway --trace run …` as well as `cutaway run --trace …`: the verb is the first word that is one.
const commands: Record<string, Command> = { ...containerCommands, exec: execCommand, top: topCommand, stats: statsCommand, ...imageCommands, ...objectCommands };
const argv = process.argv.slice(2);
const at = argv.findIndex((a) => ['build', 'run', '__teardown', ...Object.keys(commands)].includes(a));
const verb = at >= 0 ? argv[at] : argv.find((a) => !a.startsWith('-'));
const args = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 1)] : [];

/** --dry-run and --json come with every tool's options; cutaway's scripts do not have them yet, and must not run anything as if they did. */
function refuseUnsupported(inv: Invocation): void {
  if (inv.steps.mode.dryRun) throw new UsageError(`--dry-run is not supported by cutaway ${verb}: the tools' own --dry-run show each step`);
  if (inv.json) throw new UsageError(`--json is not supported by cutaway ${verb}`);
}

async function main(): Promise<never> {
  switch (verb) {
    case 'run': {
      const { own, rest } = splitAtFirstPositional(runSpec, args);
      return runTool(runSpec, async (inv) => {
        refuseUnsupported(inv);
        traceTools(inv.steps.mode.trace);
        return run(inv, rest);
      }, own);
    }
    case 'build':
      return runTool(buildSpec, async (inv) => {
        refuseUnsupported(inv);
        traceTools(inv.steps.mode.trace);
        return build(inv);
      }, args);
    case '__teardown': {
      const status = await teardownExited(stateRoot(undefined), args[0]!).catch((e: unknown) => reportError('cutaway', e, false));
      process.exit(status);
    }
    default: {
      const command = verb ? commands[verb] : undefined;
      if (command) {
        const { own, rest } = command.takesCommand ? splitAtFirstPositional(command.spec, args) : { own: args, rest: [] };
        return runTool(command.spec, async (inv) => {
          refuseUnsupported(inv);
          traceTools(inv.steps.mode.trace);
          return command.run(inv, rest);
        }, own);
      }
      const verbs = ['build', 'run', ...Object.keys(commands)].join(', ');
      process.exit(reportError('cutaway', new UsageError(verb ? `unknown command ${verb}: ${verbs}` : `cutaway COMMAND …: ${verbs}`), false));
    }
  }
}

void main();
