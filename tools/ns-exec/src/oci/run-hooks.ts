/**
 * The hooks this runtime's own verbs run (the earlier ones are plan steps that ns-exec.c runs): poststart, by
 * `start` once the container's process has been let go, and poststop, by `delete` (runtime.md "Lifecycle",
 * steps 9 and 12; config.md "POSIX-platform Hooks"). Each gets the container's state on stdin, `args[0]` as
 * its argv[0], its `env` (the runtime's own environment when it has none, as runc's exec.Cmd with a nil Env),
 * and is killed after `timeout` seconds. A failing one is a warning and the next still runs: "If any
 * poststart/poststop hook fails, the runtime MUST log a warning, but the remaining hooks and lifecycle
 * continue as if the hook had succeeded" (runtime.md; runc 1.1 instead kills the container for a poststart
 * hook and fails `delete` for a poststop one).
 */
import { spawnSync } from 'node:child_process';
import type { Hook, State } from './config.ts';
import type { RuntimeLog } from './runtime-log.ts';

function runHook(hook: Hook, state: State): string | undefined {
  const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path];
  const env = hook.env ? Object.fromEntries(hook.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)])) : process.env;
  const done = spawnSync(hook.path, args, {
    argv0, env, input: JSON.stringify(state), encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'],
    ...(hook.timeout ? { timeout: hook.timeout * 1000, killSignal: 'SIGKILL' as const } : {}),
  });
  const output = `stdout: ${done.stdout?.trim() ?? ''}, stderr: ${done.stderr?.trim() ?? ''}`;
  if (done.error && (done.error as NodeJS.ErrnoException).code === 'ETIMEDOUT') return `timeout after ${hook.timeout}s, ${output}`;
  // EPIPE: the hook exited without reading its stdin, which is its business; its status says how it went.
  if (done.error && (done.error as NodeJS.ErrnoException).code !== 'EPIPE') return done.error.message;
  if (done.status !== 0) return `${done.signal ? `killed by ${done.signal}` : `exit status ${done.status}`}, ${output}`;
  return undefined;
}

export function runHooks(kind: 'poststart' | 'poststop', hooks: readonly Hook[] | undefined, state: State, log: RuntimeLog): void {
  for (const hook of hooks ?? []) {
    const failure = runHook(hook, state);
    if (failure) log.warn(`${kind} hook ${hook.path}: ${failure}`);
  }
}
