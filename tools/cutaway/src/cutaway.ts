/**
 * cutaway: Docker's everyday commands as scripts that compose cutaway's tools. One file per verb, laid out
 * by Docker's objects (docker/cli's cli/command/…); this file is the table verb → command.
 */
import { reportError, UsageError } from '@cutaway/cli';
import { build } from './build/build.ts';
import type { Command } from './command.ts';
import { exec } from './containers/exec.ts';
import { inspect } from './containers/inspect.ts';
import { kill } from './containers/kill.ts';
import { logs } from './containers/logs.ts';
import { port } from './containers/port.ts';
import { ps } from './containers/ps.ts';
import { restart } from './containers/restart.ts';
import { rm } from './containers/rm.ts';
import { run } from './containers/run.ts';
import { start } from './containers/start.ts';
import { stats } from './containers/stats.ts';
import { stop } from './containers/stop.ts';
import { teardown } from './containers/teardown.ts';
import { top } from './containers/top.ts';
import { wait } from './containers/wait.ts';
import { history } from './images/history.ts';
import { images } from './images/images.ts';
import { image } from './images/index.ts';
import { load } from './images/load.ts';
import { pull } from './images/pull.ts';
import { push } from './images/push.ts';
import { rmi } from './images/rmi.ts';
import { save } from './images/save.ts';
import { tag } from './images/tag.ts';
import { network } from './networks/index.ts';
import { system } from './system/index.ts';
import { info } from './system/info.ts';
import { unshare } from './system/unshare.ts';
import { needsUserNamespace, reexecInUserNamespace } from './rootless.ts';
import { volume } from './volumes/index.ts';

/** A management command (`cutaway network create …`): its verbs, in the order help lists them. */
type Group = Record<string, Command>;

const COMMANDS: Record<string, Command | Group> = {
  build,
  run, exec, ps, logs, inspect, wait, port, kill, stop, start, restart, rm, top, stats,
  images, pull, push, tag, rmi, history, save, load,
  image, network, volume, system, info,
  // podman's: a shell (or CMD) in the rootless user namespace, to look at or remove the store's files.
  unshare,
  // What cutaway-shim becomes when a detached container exits; not a command of Docker's.
  __teardown: teardown,
};

/** The options that may come before the verb (`cutaway --root DIR ps`, `cutaway --trace run …`); each goes to the verb's command. */
const GLOBAL_OPTIONS: Record<string, 'switch' | 'value'> = { '--root': 'value', '--trace': 'switch', '--debug': 'switch', '--quiet': 'switch', '-q': 'switch' };

/** The words before the verb that are global options, and the rest. */
function splitGlobalOptions(argv: string[]): { global: string[]; rest: string[] } {
  let i = 0;
  while (i < argv.length) {
    const name = argv[i]!.split('=')[0]!;
    const kind = GLOBAL_OPTIONS[name];
    if (!kind) break;
    i += kind === 'value' && !argv[i]!.includes('=') ? 2 : 1;
  }
  return { global: argv.slice(0, i), rest: argv.slice(i) };
}

/** "a, b or c", as the usage errors list the verbs. */
function listed(verbs: string[]): string {
  return verbs.length > 1 ? `${verbs.slice(0, -1).join(', ')} or ${verbs.at(-1)}` : (verbs[0] ?? '');
}

const isCommand = (entry: Command | Group): entry is Command => 'start' in entry && typeof entry.start === 'function';

function usage(message: string): never {
  process.exit(reportError('cutaway', new UsageError(message), false));
}

const { global, rest } = splitGlobalOptions(process.argv.slice(2));
const [verb, ...args] = rest;
const entry = verb !== undefined ? COMMANDS[verb] : undefined;
const visible = Object.keys(COMMANDS).filter((v) => !v.startsWith('__'));
if (!entry) usage(verb !== undefined ? `unknown command ${verb}: ${visible.join(', ')}` : `cutaway COMMAND …: ${visible.join(', ')}`);
// An ordinary user's command runs in its user namespace (rootless.ts), started anew from the same arguments.
if (needsUserNamespace(verb!)) void reexecInUserNamespace(process.argv.slice(2)).catch((e: unknown) => process.exit(reportError('cutaway', e, false)));
else if (isCommand(entry)) void entry.start([...global, ...args]);
else {
  const [sub, ...subArgs] = args;
  const command = sub !== undefined ? entry[sub] : undefined;
  if (!command) usage(`cutaway ${verb} ${sub !== undefined ? `${sub}: no such command` : 'COMMAND'}: ${listed(Object.keys(entry))}`);
  void command.start([...global, ...subArgs]);
}
