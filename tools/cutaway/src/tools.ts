import type { ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { realpathSync } from 'node:fs';
import { $, type ProcessOutput } from 'zx/core';
import { shellCommand, ToolError } from '@cutaway/cli';

/**
 * cutaway's scripts call the tools as commands, as a user's own script would:
 * by name, from the repository's bin/ (put first on PATH for them), output
 * captured, a failure turned into the tool's own one-line error.
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

/** Runs a tool, returns its stdout trimmed; its error line becomes ours. */
export async function tool(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  traceCommand(name, args);
  const out: ProcessOutput = await $({ env: toolEnv(env), quiet: true, nothrow: true })`${name} ${args}`;
  if (out.exitCode !== 0) {
    const message = out.stderr.trim().split('\n').filter((l) => !l.startsWith('Try ')).at(-1) ?? `${name} failed`;
    throw new ToolError(message.replace(new RegExp(`^${name}: error: `), `${name}: `));
  }
  return out.stdout.trim();
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
 * Waits for a command run in the foreground (ns-exec for run, exec), passing on the signals this process gets
 * (kill, docker stop's SIGTERM): its status, 128+N after signal N, as a shell reports it.
 */
export async function waitPassingSignals(child: ChildProcess, name: string): Promise<number> {
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
  for (const s of signals) process.on(s, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', (e) => reject(new ToolError(`${name}: ${e.message}`)));
      child.on('close', (status, signal) => resolve(status ?? 128 + (signal ? osConstants.signals[signal] : 0)));
    });
  } finally {
    for (const s of signals) process.off(s, forward);
  }
}
