import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { command } from '../command.ts';
import { planAhead, spawnNsExec, toolEnv, traceCommand, waitPassingSignals } from '../tools.ts';
import { recordContainerEvent } from './events.ts';
import { PROCESS_OPTIONS } from './process-options.ts';
import { ContainerStore, type ContainerConfigRecord } from './store.ts';

/** How an exec'd process is run: left running (-d), or waited for with stdin attached (-i) or not. */
export interface ExecOptions {
  detach: boolean;
  interactive: boolean;
}

/** ns-exec with `args` (--enter PID …), detached or waited for (signals passed on): its status. */
export async function execProcess(args: string[], o: ExecOptions, root: string): Promise<number> {
  // Rootless too, ns-exec alone: run from the user's own namespace, it joins the container's (rootless.ts).
  if (o.detach) {
    traceCommand('ns-exec', args);
    spawn('ns-exec', args, { env: toolEnv({ CUTAWAY_ROOT: root }), detached: true, stdio: 'ignore' }).unref();
    return 0;
  }
  // The plan made here (planAhead: a Node start fewer); gone once ns-exec has read it, or here if it never did.
  const planFile = join(tmpdir(), `cw-ns-exec-plan-${process.pid}-${randomBytes(4).toString('hex')}`);
  const planned = await planAhead(args, planFile);
  const child = spawnNsExec(args, { CUTAWAY_ROOT: root, ...planned }, [o.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit']);
  try {
    return await waitPassingSignals(child, 'ns-exec');
  } finally {
    rmSync(planFile, { force: true });
  }
}

/** What an exec'd process is given beyond the container's own: docker exec's -t, --privileged, --env-file, -e, -w, -u. */
export interface EnterOptions {
  tty?: boolean;
  privileged?: boolean;
  envFiles?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  /** ns-exec options of the caller's own (--pid-file FILE), before the command. */
  extra?: string[];
}

/**
 * ns-exec's arguments for a new process in a running container (PID 1 `pid`): the working directory and user are
 * the container's own (what run gave ns-exec) unless given, and so is its seccomp profile (the seccomp= it was run
 * with, none for a --privileged container; a running one's filter cannot be copied) — as docker exec keeps them.
 */
export function enterArgs(config: ContainerConfigRecord, pid: string, o: EnterOptions, argv: string[]): string[] {
  // The container's own -w and -u, from the options run gave ns-exec (the last one counts, as there).
  const ownOption = (flag: string) => config.nsExecOptions.filter((_, i, all) => all[i - 1] === flag).at(-1);
  const workdir = o.workdir ?? ownOption('-w') ?? '/';
  const user = o.user ?? ownOption('-u');
  const seccomp = config.nsExecOptions.includes('--privileged')
    ? ['seccomp=unconfined']
    : config.nsExecOptions.filter((opt, i, all) => all[i - 1] === '--security-opt' && /^seccomp[:=]/.test(opt));
  return [
    '--enter', pid, ...(o.tty ? ['-t'] : []), ...(o.privileged ? ['--privileged'] : []),
    ...seccomp.flatMap((s) => ['--security-opt', s]),
    ...(o.envFiles ?? []).flatMap((f) => ['--env-file', f]), ...(o.env ?? []).flatMap((e) => ['-e', e]),
    '-w', workdir, ...(user ? ['-u', user] : []), ...(o.extra ?? []), '--', ...argv,
  ];
}

/**
 * docker exec: `ns-exec --enter PID`, PID the container's PID 1. The new
 * process joins its namespaces and cgroup and takes on its capabilities and
 * environment; the working directory and user are the container's own
 * (what run gave ns-exec) unless -w or -u say otherwise, and its seccomp
 * profile (run's --security-opt seccomp=…, given to ns-exec again).
 */
export const exec = command(
  {
    name: 'exec',
    summary: 'Run a command in a running container',
    synopsis: ['[-d] [-i] [-t] [-e K=V] [-w DIR] [-u USER] CONTAINER COMMAND [ARG…]'],
    description: "Run a command in a running container, as docker exec: its namespaces, cgroup, capabilities and environment. Exits with the command's status.",
    errorStatus: 125,
    interspersed: false,
    operands: { min: 2, names: 'CONTAINER COMMAND [ARG…]' },
    options: [
      PROCESS_OPTIONS.detach,
      PROCESS_OPTIONS.interactive,
      PROCESS_OPTIONS.tty,
      PROCESS_OPTIONS.env,
      PROCESS_OPTIONS.envFile,
      { ...PROCESS_OPTIONS.workdir, help: "working directory (default: the container's)" },
      { ...PROCESS_OPTIONS.user, help: "user (default: the container's)" },
      { name: 'privileged', type: 'boolean', help: 'every capability' },
    ],
    dryRun: true,
    examples: ['cutaway exec web ps', 'cutaway exec --dry-run web ps   # ns-exec --enter PID1 …, as a script', 'cutaway exec -it web sh', 'cutaway exec -u nobody -w /tmp -e X=1 web env'],
    classic: ['docker exec', 'podman exec', 'nsenter --target PID --all'],
  },
  async (inv, root, r) => {
    const o = inv.options;
    const [name, ...argv] = inv.positionals as [string, ...string[]];
    const store = new ContainerStore(root);
    const id = store.find(name);
    // (A --dry-run script reads it when it runs.)
    const pid = r.containerPid(store, id);
    const config = store.config(id);
    const args = enterArgs(config, pid, { tty: o.tty, privileged: o.privileged, envFiles: o['env-file'], env: o.env, workdir: o.workdir, user: o.user }, argv);
    if (r.dryRun) return r.execProcess(args, { detach: o.detach, interactive: o.interactive }, root);
    // Docker's exec events (moby daemon/exec.go): the command in the action's name, the exec's id in its attributes.
    const execID = randomBytes(32).toString('hex');
    const [cmd, ...cmdArgs] = argv;
    for (const stage of ['exec_create', 'exec_start']) recordContainerEvent(store, config, `${stage}: ${cmd} ${cmdArgs.join(' ')}`, { execID });
    const code = await r.execProcess(args, { detach: o.detach, interactive: o.interactive }, root);
    if (!o.detach) recordContainerEvent(store, config, 'exec_die', { execID, exitCode: String(code) });
    return code;
  },
);
