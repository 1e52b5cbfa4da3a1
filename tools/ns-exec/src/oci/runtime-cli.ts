/**
 * ns-exec speaking runc's command line (runtime.md "Operations", runc 1.1's `runc [global options] VERB …`), so
 * that an engine takes `ns-exec` for its OCI runtime: podman through conmon, containerd through
 * containerd-shim-runc-v2, the runtime-tools conformance suite. The planner's entry (ns-exec-plan.ts) sends
 * here every command line whose first word after runc's global options is a runc verb; the rest is ns-exec's
 * own command line.
 *
 * `create`, `run` and `exec` end by handing a plan to the ns-exec binary (fd 3), as ns-exec's own command
 * line does; the other verbs need no new process and are done here, and the binary exits with this status.
 */
import { formatHelp, parseInvocation, checkOperands, toolSpec, ToolError, UsageError, type OptionSpec, type OperandSpec, type OptionValues } from '@cutaway/cli';
import { spec as nsExecSpec } from '../spec.ts';
import { create } from './create.ts';
import { writeDefaultSpec } from './default-spec.ts';
import { exec } from './exec.ts';
import { features } from './features.ts';
import { kill, pause, remove, start } from './lifecycle.ts';
import { list, ps, state } from './query.ts';
import type { RuntimeContext } from './runtime-context.ts';
import { RuntimeLog } from './runtime-log.ts';
import { parseSignal } from './signals.ts';
import { DEFAULT_ROOT, StateDir } from './state-dir.ts';

/** runc 1.1's global options (main.go): those with a value, and the switches. */
const GLOBAL_VALUES = ['root', 'log', 'log-format', 'criu'] as const;
const GLOBAL_SWITCHES = ['debug', 'systemd-cgroup'] as const;

export interface Globals {
  root: string;
  log?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
  systemdCgroup: boolean;
  version: boolean;
}

const BUNDLE: OptionSpec = { name: 'bundle', short: 'b', type: 'string', arg: 'DIR', help: 'the bundle: config.json and, by default, rootfs/ (default: the current directory)' };
const PID_FILE: OptionSpec = { name: 'pid-file', type: 'list', arg: 'FILE', help: "write the container process's pid (as the host sees it) to FILE" };
const CONSOLE_SOCKET: OptionSpec = { name: 'console-socket', type: 'string', arg: 'PATH', help: "a unix socket the terminal's master is sent to (SCM_RIGHTS), with process.terminal" };
const PRESERVE_FDS: OptionSpec = { name: 'preserve-fds', type: 'string', arg: 'N', help: 'pass N more fds (from 3) to the process' };
const CREATE_OPTIONS: OptionSpec[] = [
  BUNDLE, PID_FILE, CONSOLE_SOCKET, PRESERVE_FDS,
  { name: 'no-pivot', type: 'boolean', help: 'move the rootfs onto / and chroot instead of pivot_root (a root on a ramfs)' },
  { name: 'no-new-keyring', type: 'boolean', help: "keep the caller's session keyring instead of a new one" },
];
const FORMAT: OptionSpec = { name: 'format', short: 'f', type: 'string', arg: 'table|json', help: 'table (default) or json' };

interface Verb {
  synopsis: string;
  help: string;
  options?: OptionSpec[];
  operands: OperandSpec;
  /** runc's `SkipArgReorder`: options only before the id, what follows it is the command's (exec, ps). */
  interspersed?: false;
  run: (ctx: RuntimeContext, options: OptionValues, operands: string[], globals: Globals) => Promise<number | void> | number | void;
}

const ID: OperandSpec = { min: 1, max: 1, names: '<container-id>' };

function unsupported(verb: string, why: string): Verb {
  return { synopsis: '…', help: `not supported by ns-exec: ${why}`, operands: { min: 0, names: '' }, run: () => { throw new ToolError(`${verb} is not supported by ns-exec: ${why}`); } };
}

const VERBS: Record<string, Verb> = {
  create: {
    synopsis: '[--bundle DIR] [--pid-file F] [--console-socket S] [--no-pivot] <container-id>', help: "create a container from a bundle's config.json; its process waits for `start`",
    options: CREATE_OPTIONS, operands: ID, run: (ctx, o, [id]) => create(ctx, 'create', id!, o),
  },
  run: {
    synopsis: '[--bundle DIR] [--pid-file F] [--console-socket S] [--detach] <container-id>', help: 'create and start a container; exit with its status (--detach: once it runs)',
    options: [...CREATE_OPTIONS, { name: 'detach', short: 'd', type: 'boolean', help: 'return once the process runs' }, { name: 'keep', type: 'boolean', help: 'ignored (runc: keep the container after it exits)' }, { name: 'no-subreaper', type: 'boolean', help: 'ignored: ns-exec waits for its own child' }],
    operands: ID, run: (ctx, o, [id]) => create(ctx, 'run', id!, o),
  },
  start: { synopsis: '<container-id>', help: 'let the created container\'s process run', operands: ID, run: (ctx, _, [id]) => start(ctx, id!) },
  state: { synopsis: '<container-id>', help: 'print the container\'s state (runtime.md "State")', operands: ID, run: (ctx, _, [id]) => void process.stdout.write(state(ctx, id!)) },
  kill: {
    synopsis: '[--all] <container-id> [SIGNAL]', help: 'send a signal (default SIGTERM; a name or a number) to the container\'s process',
    options: [{ name: 'all', short: 'a', type: 'boolean', help: 'to every process of the container\'s cgroups' }],
    operands: { min: 1, max: 2, names: '<container-id> [SIGNAL]' }, run: (ctx, o, [id, sig]) => kill(ctx, id!, parseSignal(sig ?? 'SIGTERM'), o.all as boolean),
  },
  delete: {
    synopsis: '[--force] <container-id>', help: 'delete a stopped (or created) container: its cgroups and state, then the poststop hooks',
    options: [{ name: 'force', short: 'f', type: 'boolean', help: 'kill (SIGKILL) a running container first' }], operands: ID, run: (ctx, o, [id]) => remove(ctx, id!, o.force as boolean),
  },
  exec: {
    synopsis: '[options] <container-id> [COMMAND [ARG…]]', help: 'run a process in a running container, from --process or the container\'s own process with these changes',
    options: [
      { name: 'process', short: 'p', type: 'string', arg: 'FILE', help: 'a process.json (config.md "process") instead of the command and the options below' },
      { name: 'detach', short: 'd', type: 'boolean', help: 'return once the process runs' },
      PID_FILE, CONSOLE_SOCKET, PRESERVE_FDS,
      { name: 'tty', short: 't', type: 'boolean', help: 'a terminal' },
      { name: 'cwd', type: 'string', arg: 'DIR', help: 'working directory' },
      { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'add a variable (repeat)' },
      { name: 'user', short: 'u', type: 'string', arg: 'UID[:GID]', help: 'user and group ids' },
      { name: 'additional-gids', short: 'g', type: 'list', arg: 'GID', help: 'a supplementary group (repeat)' },
      { name: 'cap', short: 'c', type: 'list', arg: 'CAP', help: 'add a capability (repeat)' },
      { name: 'no-new-privs', type: 'boolean', help: 'set no_new_privs' },
      { name: 'ignore-paused', type: 'boolean', help: 'exec even in a paused container' },
    ],
    operands: { min: 1, names: '<container-id> [COMMAND [ARG…]]' }, interspersed: false, run: (ctx, o, operands) => exec(ctx, operands[0]!, operands.slice(1), o),
  },
  list: {
    synopsis: '[--format table|json] [-q]', help: 'list the containers under --root', options: [FORMAT],
    operands: { min: 0, max: 0, names: '' }, run: (ctx, o) => void process.stdout.write(list(ctx, (o.format as string | undefined) ?? 'table', o.quiet as boolean)),
  },
  ps: {
    synopsis: '[--format table|json] <container-id> [PS_ARGS…]', help: "the container's processes (ps -ef, or the pids as json)", options: [FORMAT],
    operands: { min: 1, names: '<container-id> [PS_ARGS…]' }, interspersed: false, run: (ctx, o, [id, ...args]) => void process.stdout.write(ps(ctx, id!, (o.format as string | undefined) ?? 'table', args)),
  },
  pause: { synopsis: '<container-id>', help: 'freeze every process of the container (its freezer cgroup)', operands: ID, run: (ctx, _, [id]) => pause(ctx, id!, true) },
  resume: { synopsis: '<container-id>', help: 'thaw a paused container', operands: ID, run: (ctx, _, [id]) => pause(ctx, id!, false) },
  spec: {
    synopsis: '[--bundle DIR] [--rootless]', help: "write a config.json with Docker's defaults (as runc spec writes its own)",
    options: [BUNDLE, { name: 'rootless', type: 'boolean', help: 'for a container run by an ordinary user: a user namespace mapping that user to root' }],
    operands: { min: 0, max: 0, names: '' }, run: (_, o) => writeDefaultSpec((o.bundle as string | undefined) ?? '.', o.rootless as boolean),
  },
  features: { synopsis: '', help: 'what this runtime supports (runtime-spec features.md), as JSON', operands: { min: 0, max: 0, names: '' }, run: () => void process.stdout.write(features()) },
  events: unsupported('events', 'no event stream (containerd asks only for --stats, and polls state instead)'),
  update: unsupported('update', "a running container's resources cannot be changed (recreate it)"),
  checkpoint: unsupported('checkpoint', 'no CRIU'),
  restore: unsupported('restore', 'no CRIU'),
};

/**
 * runc's global options and the verb after them, or undefined for a command line that is ns-exec's own: one
 * whose first word is neither a runc global option nor a verb. `-v`/`--version` alone is ns-exec's version.
 */
export function runtimeCommand(argv: readonly string[]): { globals: Globals; verb: string; rest: string[] } | undefined {
  const globals: Globals = { root: DEFAULT_ROOT, logFormat: 'text', debug: false, systemdCgroup: false, version: false };
  const values: Record<string, string> = {};
  let i = 0;
  for (; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '-v' || word === '--version') {
      globals.version = true;
      continue;
    }
    if (!word.startsWith('--')) break;
    const eq = word.indexOf('=');
    const name = word.slice(2, eq < 0 ? undefined : eq);
    if ((GLOBAL_VALUES as readonly string[]).includes(name)) {
      const value = eq < 0 ? argv[++i] : word.slice(eq + 1);
      if (value === undefined) return undefined;
      values[name] = value;
    } else if ((GLOBAL_SWITCHES as readonly string[]).includes(name)) {
      if (name === 'debug') globals.debug = true;
      else globals.systemdCgroup = eq < 0 || word.slice(eq + 1) === 'true';
    } else if (name === 'rootless') {
      // runc's --rootless takes true|false|auto; ns-exec decides by its own uid, as runc's auto does.
      if (eq < 0 && ['true', 'false', 'auto'].includes(argv[i + 1] ?? '')) i++;
    } else return undefined;
  }
  const verb = argv[i];
  if (verb === undefined || !(verb in VERBS)) return globals.version && verb === undefined ? { globals, verb: 'version', rest: [] } : undefined;
  if (values['log-format'] !== undefined && values['log-format'] !== 'text' && values['log-format'] !== 'json') return undefined;
  globals.root = values.root ?? DEFAULT_ROOT;
  if (values.log !== undefined) globals.log = values.log;
  globals.logFormat = values['log-format'] === 'json' ? 'json' : 'text';
  return { globals, verb, rest: argv.slice(i + 1) };
}

function verbSpec(name: string, verb: Verb) {
  return toolSpec({
    name: `ns-exec ${name}`, version: nsExecSpec.version, synopsis: [verb.synopsis], description: verb.help, options: verb.options ?? [],
    operands: verb.operands, ...(verb.interspersed === false ? { interspersed: false as const } : {}), examples: [], classic: [],
  });
}

/**
 * Runs one verb and exits. Every failure exits 1 with runc's message, usage errors too (runc's checkArgs
 * does), but for `exec`, whose own failures are runc's 255 (its 1 could be the command's); the message also
 * goes to --log.
 */
export async function runRuntime({ globals, verb, rest }: { globals: Globals; verb: string; rest: string[] }): Promise<never> {
  const log = new RuntimeLog(globals.log, globals.logFormat);
  let status = 0;
  try {
    if (verb === 'version') {
      process.stdout.write(`${nsExecSpec.name} ${nsExecSpec.version}\n`);
    } else {
      const v = VERBS[verb]!;
      const spec = verbSpec(verb, v);
      const { options, positionals } = parseInvocation(spec, rest);
      if (options.help) process.stdout.write(formatHelp(spec));
      else {
        checkOperands(spec, positionals);
        if (globals.systemdCgroup && (verb === 'create' || verb === 'run'))
          throw new ToolError('--systemd-cgroup is not supported: ns-exec writes cgroups itself (cgroupfs), and this host has no systemd cgroup driver', "leave the engine's cgroup manager at cgroupfs");
        status = (await v.run({ state: new StateDir(globals.root), log }, options, positionals, globals)) ?? 0;
      }
    }
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    log.error(err.message, err instanceof ToolError ? err.hint : undefined);
    if (globals.debug && !(err instanceof ToolError || err instanceof UsageError)) process.stderr.write(`${err.stack}\n`);
    status = verb === 'exec' ? 255 : 1;
  }
  // Let stdout drain before exiting: engines read it through a pipe.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(status);
}
