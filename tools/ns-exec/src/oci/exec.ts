/**
 * `exec [options] ID [COMMAND [ARG…]]`: runc exec, as `ns-exec --enter PID` does it (enter.ts) — the
 * container's process is the one entered. The process is a process.json (`--process`, config.md "process"), or
 * the container's own config process with runc's changes: the command, `--cwd`, `--env` added, `--user`,
 * `--additional-gids`, `--cap` added, `--no-new-privs`, `--tty` (runc exec's getProcess). What runc takes from the
 * container rather than the process: the seccomp profile (create's record of linux.seccomp) and the session
 * keyring (a new one unless created with --no-new-keyring).
 */
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError, UsageError, type OptionValues } from '@cutaway/cli';
import { capabilityMask, ownBoundingSet } from '../caps.ts';
import { enterPlan } from '../enter.ts';
import type { CapabilitySets } from '../exec-step.ts';
import type { Capabilities, Process } from './config.ts';
import { preserveFds } from './create.ts';
import { handPlan } from './hand-plan.ts';
import type { RuntimeContext } from './runtime-context.ts';

/** runc exec's flags over the container's config process (runc's exec.go getProcess). */
function processFromFlags(base: Process | undefined, args: string[], o: OptionValues): Process {
  if (!args.length) throw new UsageError('exec needs a command: ns-exec exec ID COMMAND [ARG…], or --process FILE');
  const p: Process = structuredClone(base ?? { user: { uid: 0, gid: 0 }, cwd: '/' });
  p.args = args;
  if (o.cwd !== undefined) p.cwd = o.cwd as string;
  p.env = [...(p.env ?? []), ...(o.env as string[])];
  p.terminal = o.tty as boolean;
  if (o['no-new-privs']) p.noNewPrivileges = true;
  if (o.user !== undefined) {
    const [uid, gid] = (o.user as string).split(':', 2);
    if (!/^\d+$/.test(uid ?? '') || (gid !== undefined && !/^\d+$/.test(gid))) throw new UsageError(`--user ${o.user as string}: expected UID[:GID], numbers`);
    p.user = { uid: Number(uid), gid: gid === undefined ? 0 : Number(gid) };
  }
  const gids = (o['additional-gids'] as string[]).map(Number);
  if (gids.some((g) => !Number.isInteger(g) || g < 0)) throw new UsageError('--additional-gids: expected numbers');
  if (gids.length) p.user.additionalGids = [...(p.user.additionalGids ?? []), ...gids];
  const caps = o.cap as string[];
  if (caps.length) {
    const c = (p.capabilities ??= {});
    for (const set of ['bounding', 'effective', 'permitted'] as const) c[set] = [...(c[set] ?? []), ...caps];
  }
  return p;
}

/**
 * The five sets, as runc 1.1 gives them (finalizeNamespace): the process's; without any, the container's config
 * process's; a set not named is empty. A capability ns-exec does not hold itself is left out, as planFromConfig
 * leaves it out of the container's.
 */
function capabilitySets(c: Capabilities | undefined): { capabilities: bigint; sets: CapabilitySets } {
  const own = ownBoundingSet();
  const mask = (names: string[] | undefined) => capabilityMask(names ?? []) & own;
  return { capabilities: mask(c?.bounding), sets: { effective: mask(c?.effective), permitted: mask(c?.permitted), inheritable: mask(c?.inheritable), ambient: mask(c?.ambient) } };
}

function readProcessFile(file: string): Process {
  let p: Process;
  try {
    p = JSON.parse(readFileSync(file, 'utf8')) as Process;
  } catch (e) {
    throw new ToolError(`--process ${file}: ${(e as Error).message}`);
  }
  if (!p.args?.length) throw new ToolError('args must not be empty');
  if (!p.cwd) throw new ToolError('Cwd property must not be empty');
  return p;
}

export async function exec(ctx: RuntimeContext, id: string, args: string[], o: OptionValues): Promise<never> {
  const record = ctx.state.get(id);
  const { status, pid } = ctx.state.status(record);
  // runc 1.1's texts; a `created` container can be entered, as under runc.
  if (status === 'stopped' || pid === undefined) throw new ToolError('cannot exec in a stopped container');
  if (status === 'paused' && !o['ignore-paused']) throw new ToolError('cannot exec in a paused container (use --ignore-paused to override)');
  const p = o.process !== undefined ? readProcessFile(o.process as string) : processFromFlags(record.process, args, o);
  if (!posix.isAbsolute(p.cwd)) throw new ToolError(`cwd ${JSON.stringify(p.cwd)} is not an absolute path`);
  const plan = await enterPlan({
    pid, args: p.args!, env: p.env ?? [], cwd: p.cwd, user: { uid: p.user.uid, gid: p.user.gid, additionalGids: p.user.additionalGids ?? [] },
    ...capabilitySets(p.capabilities ?? record.process?.capabilities), privileged: false,
    // runc's: the process's no_new_privs (false when not given, whatever the container's), not the target's.
    noNewPrivileges: p.noNewPrivileges ?? false,
    seccomp: { kind: 'config', ...(record.seccomp && { profile: record.seccomp }) },
    // The process's umask; without one the caller's, as runc 1.1's exec leaves it (it never sets one there).
    umask: p.user.umask ?? process.umask(),
    ...(record.noNewKeyring && { keepSessionKeyring: true }),
    terminal: p.terminal ?? false, pidFiles: (o['pid-file'] as string[]).map((f) => posix.resolve(f)),
  });
  if (o['console-socket'] !== undefined) plan.hostStep('console-socket', '', posix.resolve(o['console-socket'] as string));
  if (o.detach) plan.hostStep('detach', '');
  const fds = preserveFds(o);
  if (fds) plan.hostStep('preserve-fds', '', fds);
  return handPlan(plan);
}
