import { spawn, type ChildProcess, type IOType } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { realpathSync, writeFileSync } from 'node:fs';
import type { ProcessOutput } from 'zx/core';
import { CLOSED_OUTPUT_STATUS, rootless, shellCommand, Steps, ToolError } from '@cutaway/cli';

/**
 * cutaway's scripts call the tools as commands, as a user's own script would:
 * by name, from the repository's bin/ (put first on PATH for them), output
 * captured, a failure turned into the tool's own one-line error. The steps of
 * every container's way up and down are the exception (issue 22: a Node start
 * each costs more than their work): overlay-mount's mount and unmount,
 * cg-limit's create and rm, netbridge's up and down, and ns-exec's plan are
 * done by those tools' own code bundled here (inProcess, tryInProcess,
 * planAhead), traced as the same commands; a --dry-run script still runs them
 * as commands.
 */
const BIN = join(dirname(realpathSync(process.argv[1]!)), '..', '..', '..', 'bin');

/**
 * The environment a tool runs with. Each tool's shebang moves NODE_EXTRA_CA_CERTS to CUTAWAY_EXTRA_CA_CERTS
 * (scripts/build.ts), so it is given back here: the next tool's shebang moves it again, and a registry
 * with a private CA works through cutaway as it does for oci-pull alone.
 */
export const toolEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, PATH: `${BIN}:${process.env.PATH ?? ''}` };
  if (env.CUTAWAY_EXTRA_CA_CERTS) env.NODE_EXTRA_CA_CERTS = env.CUTAWAY_EXTRA_CA_CERTS;
  // A trace fd names one of the process it is given to (this one's, as a shim's __teardown): not a tool's. A plan
  // file (planAhead) is for the one ns-exec it is made for, never for one this process inherited it from.
  if (!extra.CUTAWAY_TRACE_FD) delete env.CUTAWAY_TRACE_FD;
  if (!extra.NS_EXEC_PLAN_FILE) delete env.NS_EXEC_PLAN_FILE;
  return env;
};

/** Shown on stderr before each tool runs, with --trace (`+ overlay-mount …`, as set -x). */
let tracing = false;
export function traceTools(on: boolean): void {
  tracing = on;
}

/** With --trace: the command on stderr before it runs. */
export function traceCommand(name: string, args: string[]): void {
  if (tracing) process.stderr.write(`+ ${shellCommand([name, ...args])}\n`);
}

/**
 * With --trace, a tool traces its own steps too, each line labelled with the tool (`+ mount …  # overlay-mount`),
 * shown after its command line: the environment that asks for that, the lines written to fd `fd` (CUTAWAY_TRACE_FD)
 * when given rather than stderr. Nothing without --trace.
 */
export function traceEnv(fd?: number): NodeJS.ProcessEnv {
  return tracing ? { CUTAWAY_TRACE: '1', CUTAWAY_TRACE_LABELS: '1', ...(fd !== undefined && { CUTAWAY_TRACE_FD: String(fd) }) } : {};
}

/** With --trace: the trace lines (`+ …`) of a tool's output shown on stderr, the rest left out. */
export function showTrace(output: string): void {
  if (tracing) process.stderr.write(output.split('\n').filter((l) => l.startsWith('+ ')).map((l) => `${l}\n`).join(''));
}

/**
 * The fd ns-exec traces its steps to under cutaway (CUTAWAY_TRACE_FD): its stderr is the container's, shown and
 * logged, and no place for them. Past stdio and fd 3, which carries ns-exec's plan from its planner.
 */
export const TRACE_FD = 4;

/**
 * ns-exec's plan for `args`, made here rather than by the Node planner ns-exec would start (one Node start fewer
 * on every container's way up: issue 22): written to `file`, and the environment that has ns-exec read it. The
 * same planner, bundled, makes the same plan, encoded with the trace settings traceEnv(TRACE_FD) gives ns-exec
 * (the command line --trace shows is the same too). Rootless cutaway is left to ns-exec's own planning, and so
 * is a failure here, which ns-exec meets and reports as ever: nothing is handed over then.
 */
export async function planAhead(args: string[], file: string): Promise<NodeJS.ProcessEnv> {
  // A variable named alone (`-e K`, an --env-file's `K` line) is ns-exec's own environment's, which differs from
  // this process's (toolEnv): left to ns-exec.
  const own = (i: number) => (args[i - 1] === '-e' && !args[i]!.includes('=')) || args[i] === '--env-file';
  const end = args.indexOf('--');
  if (rootless() || args.slice(0, end < 0 ? args.length : end).some((_, i) => own(i))) return {};
  try {
    const { encodedCommandPlan } = await import('../../ns-exec/src/command-plan.ts');
    writeFileSync(file, await encodedCommandPlan(args, { mode: { trace: tracing, dryRun: false }, fd: TRACE_FD, label: tracing ? 'ns-exec' : undefined }));
    return { NS_EXEC_PLAN_FILE: file };
  } catch {
    return {};
  }
}

/**
 * ns-exec run in the foreground (run, exec, build's RUN) with stdio `stdio`: its command line first
 * with --trace, and its steps, which it writes to a pipe on TRACE_FD, shown on stderr as they come.
 */
export function spawnNsExec(args: string[], env: NodeJS.ProcessEnv, stdio: [IOType, IOType, IOType]): ChildProcess {
  traceCommand('ns-exec', args);
  const child = spawn('ns-exec', args, { env: toolEnv({ ...env, ...traceEnv(TRACE_FD) }), stdio: [...stdio, ...(tracing ? (['ignore', 'pipe'] as const) : [])] });
  // Ends when ns-exec does: it makes the fd close-on-exec before execve, and the container's processes never hold it.
  child.stdio[TRACE_FD]?.pipe(process.stderr, { end: false });
  return child;
}

/** Runs a tool (`input` its stdin), returns its stdout trimmed; its error line becomes ours. */
export async function tool(name: string, args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<string> {
  traceCommand(name, args);
  // Loaded here, not at start: most commands never start a tool, and zx with what it loads costs ~4 ms a start.
  const { $ } = await import('zx/core');
  const out: ProcessOutput = await $({ env: toolEnv({ ...env, ...traceEnv() }), quiet: true, nothrow: true, ...(input !== undefined && { input }) })`${name} ${args}`;
  showTrace(out.stderr);
  if (out.exitCode !== 0) throw toolFailure(name, out.stderr);
  return out.stdout.trim();
}

/** A tool's failure as ours: its error line (the last, but a usage hint), `TOOL: WHY`. */
function toolFailure(name: string, stderr: string): ToolError {
  const message = stderr.trim().split('\n').filter((l) => l && !l.startsWith('Try ') && !l.startsWith('+ ')).at(-1) ?? `${name} failed`;
  return new ToolError(message.replace(new RegExp(`^${name}: error: `), `${name}: `));
}

/** The steps of a tool done in this process, traced as the tool traces them under cutaway --trace (labelled with its name). */
function toolSteps(name: string): Steps {
  return new Steps({ trace: tracing, dryRun: false }, undefined, tracing ? name : undefined);
}

/**
 * A tool's step done by its own code in this process (Runner.inProcess): its command line traced as tool() traces
 * it; what it would print, trimmed; its failure the one-line error tool() makes of the tool's (`TOOL: WHY`).
 */
export async function inProcess(name: string, args: string[], work: (steps: Steps) => Promise<string>): Promise<string> {
  traceCommand(name, args);
  try {
    return (await work(toolSteps(name))).trim();
  } catch (e) {
    const hint = e instanceof ToolError && e.hint ? ` (hint: ${e.hint})` : '';
    throw new ToolError(`${name}: ${(e as Error).message}${hint}`);
  }
}

/**
 * A tool's step done by its own code in this process (Runner.tryInProcess): its command line traced as tool()
 * traces it, its steps labelled with its name as the tool labels them under cutaway --trace; a failure ignored.
 */
export async function tryInProcess(name: string, args: string[], work: (steps: Steps) => Promise<void>): Promise<void> {
  traceCommand(name, args);
  try {
    await work(toolSteps(name));
  } catch {
    // already gone
  }
}

/** A tool run for its effect on something that may be gone already (teardown): its failure is ignored. */
export async function tryTool(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<void> {
  try {
    await tool(name, args, env);
  } catch {
    // already gone
  }
}

/**
 * A tool whose stdin or stdout is a stream of data (a tar: export, cp, import `-`): `stdin` and `stdout` given to
 * it as they are (this process's own, 'inherit'; 'ignore'), its stderr kept for its error line, which becomes ours.
 */
export async function streamTool(name: string, args: string[], env: NodeJS.ProcessEnv, stdin: 'inherit' | 'ignore', stdout: 'inherit' | 'ignore'): Promise<void> {
  traceCommand(name, args);
  const child = spawn(name, args, { env: toolEnv({ ...env, ...traceEnv() }), stdio: [stdin, stdout, 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', (e) => reject(new ToolError(`${name}: ${e.message}`)));
    // Its stdout's reader went away (`cutaway export c | head`: SIGPIPE, or our tools' 141): ours has too; runTool
    // ends us quietly, 141, as on an EPIPE of our own.
    child.on('close', (status, signal) =>
      stdout === 'inherit' && (signal === 'SIGPIPE' || status === CLOSED_OUTPUT_STATUS) ? reject(Object.assign(new Error(`${name}: output closed`), { code: 'EPIPE' })) : resolve(status ?? 1),
    );
  });
  showTrace(stderr);
  if (code !== 0) throw toolFailure(name, stderr);
}

/** The signals docker run's CLI passes on to the container (--sig-proxy, its default). */
export const PROXIED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

let holding = false;
/** The command being waited for, and what a signal does to it: passed on (the default), or the caller's own action. */
let waitedFor: { child: ChildProcess; onSignal: (signal: NodeJS.Signals) => void } | undefined;
let received: NodeJS.Signals | undefined;

/**
 * From now until this process exits, the signals docker run passes on no longer end it (Node's default, which
 * would leave behind whatever was half made): each goes to the command being waited for (waitPassingSignals),
 * and the first is kept for signalled() — so that the caller takes down what it made, then exits 128+N.
 */
export function holdSignals(): void {
  if (holding) return;
  holding = true;
  for (const s of PROXIED_SIGNALS)
    process.on(s, (signal: NodeJS.Signals) => {
      received ??= signal;
      if (waitedFor && waitedFor.child.exitCode === null && waitedFor.child.signalCode === null) waitedFor.onSignal(signal);
    });
}

/** The first signal held since holdSignals (undefined: none). */
export function signalled(): NodeJS.Signals | undefined {
  return received;
}

/** The exit status after signal `signal`, as a shell reports it: 128+N. */
export function signalStatus(signal: NodeJS.Signals): number {
  return 128 + osConstants.signals[signal];
}

/** A step that must not begin once a signal has been held: the caller's cleanup runs, and the command exits 128+N. */
export function stopIfSignalled(): void {
  if (received) throw new ToolError(`interrupted by ${received}`, undefined, signalStatus(received));
}

/**
 * Waits for a command run in the foreground (ns-exec for run, exec, build's RUN), passing on the signals this
 * process gets (kill, docker stop's SIGTERM, Ctrl-C) — or, given `onSignal`, doing that instead: its status,
 * 128+N after signal N, as a shell reports it.
 */
export async function waitPassingSignals(child: ChildProcess, name: string, onSignal: (signal: NodeJS.Signals) => void = (signal) => child.kill(signal)): Promise<number> {
  holdSignals();
  waitedFor = { child, onSignal };
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new ToolError(`${name}: ${e.message}`)));
      child.on('close', (status, signal) => resolve(status ?? (signal ? signalStatus(signal) : 128)));
    });
  } finally {
    waitedFor = undefined;
  }
}
