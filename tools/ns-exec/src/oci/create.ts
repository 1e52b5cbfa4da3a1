/**
 * `create` and `run`: a bundle's config.json → the state record → a plan (oci/plan.ts planFromConfig) handed
 * to the ns-exec binary, which makes the container. runtime.md "create": the container's process waits
 * (at exec.fifo) until `start`; `run` is create and start in one, and waits for the process, as runc run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError, UsageError, type OptionValues } from '@cutaway/cli';
import { parseWithArgValues } from '../seccomp.ts';
import { OCI_VERSION, type Spec, type State } from './config.ts';
import { handPlan } from './hand-plan.ts';
import { planFromConfig } from './plan.ts';
import type { RuntimeContext } from './runtime-context.ts';
import { checkId, type ContainerRecord } from './state-dir.ts';

/**
 * The bundle's config.json, with runc's texts for a missing one; a runtime-spec major version other than 1 is
 * refused. Read as a seccomp profile is, so that linux.seccomp's 64-bit argument values survive (as text).
 */
export function readBundleConfig(bundle: string): Spec {
  if (!existsSync(bundle)) throw new ToolError(`chdir ${bundle}: no such file or directory`);
  const file = posix.join(bundle, 'config.json');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ToolError('JSON specification file config.json not found');
    throw e;
  }
  let spec: Spec;
  try {
    spec = parseWithArgValues(text) as Spec;
  } catch (e) {
    throw new ToolError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof spec !== 'object' || spec === null || typeof spec.ociVersion !== 'string') throw new ToolError(`${file}: no ociVersion`);
  if (!/^1\.\d+\.\d+/.test(spec.ociVersion)) throw new ToolError(`${file}: ociVersion ${spec.ociVersion} is not supported: ns-exec runs runtime-spec 1.x (${OCI_VERSION})`);
  if (!spec.process) throw new ToolError('process property must not be empty'); // runc's text
  if (!spec.root?.path) throw new ToolError('root must be specified'); // config.md: required on Linux
  return spec;
}

/** Go's time.RFC3339Nano, as runc's `created`: nanoseconds, trailing zeros dropped. */
function rfc3339Nano(): string {
  const ns = process.hrtime.bigint() % 1_000_000n; // below the millisecond Date gives
  const now = new Date();
  const fraction = `${String(now.getUTCMilliseconds()).padStart(3, '0')}${String(ns).padStart(6, '0')}`.replace(/0+$/, '');
  return `${now.toISOString().slice(0, 19)}${fraction ? `.${fraction}` : ''}Z`;
}

/**
 * runc's `--preserve-fds N`: the caller's fds 3…3+N-1 go to the container's process. The planner's own fd 3 is
 * the plan's pipe, but ns-exec.c, which gets the step, has the caller's fds (it gives the planner the pipe as 3).
 */
export function preserveFds(o: OptionValues): number {
  const word = (o['preserve-fds'] as string | undefined) ?? '0';
  if (!/^\d+$/.test(word)) throw new UsageError(`--preserve-fds ${word}: expected a number`);
  return Number(word);
}

export async function create(ctx: RuntimeContext, mode: 'create' | 'run', id: string, o: OptionValues): Promise<never> {
  // runc's order: the bundle's config first, then the id.
  const bundle = posix.resolve((o.bundle as string | undefined) ?? '.');
  const spec = readBundleConfig(bundle);
  checkId(id);
  if (existsSync(ctx.state.dir(id))) throw new ToolError('container with given ID already exists');
  const created = rfc3339Nano();
  // What hooks read on stdin (runtime.md "State"): the status is set per hook, ns-exec.c adds the pid.
  const hookState: Omit<State, 'pid' | 'status'> = { ociVersion: spec.ociVersion, id, bundle, ...(spec.annotations && { annotations: spec.annotations }) };
  const consoleSocket = o['console-socket'] as string | undefined;
  const plan = await planFromConfig(spec, {
    bundle, state: hookState, noPivot: o['no-pivot'] as boolean, noNewKeyring: o['no-new-keyring'] as boolean,
    pidFiles: [ctx.state.pidFile(id), ...(o['pid-file'] as string[]).map((f) => posix.resolve(f))],
    ...(mode === 'create' && { create: { fifo: ctx.state.fifo(id) } }),
    ...(consoleSocket !== undefined && { consoleSocket: posix.resolve(consoleSocket) }),
  });
  const record: ContainerRecord = {
    ociVersion: spec.ociVersion, id, bundle, rootfs: posix.resolve(bundle, spec.root!.path), created,
    ...(spec.annotations && { annotations: spec.annotations }),
    hooks: { ...(spec.hooks?.poststart && { poststart: spec.hooks.poststart }), ...(spec.hooks?.poststop && { poststop: spec.hooks.poststop }) },
    cgroups: plan.cgroups ?? [],
    ownPidNamespace: !!spec.linux?.namespaces?.some((ns) => ns.type === 'pid' && !ns.path),
    process: spec.process!,
    ...(spec.linux?.seccomp && { seccomp: spec.linux.seccomp }),
    ...(o['no-new-keyring'] && { noNewKeyring: true }),
  };
  ctx.state.add(record);
  // runc's destroy, by ns-exec.c if the container fails before it waits or runs, and after a `run`'s command ends;
  // first, so that a failing host step (a cgroup limit) is undone too.
  const cleanup = ['--root', ctx.state.root, ...ctx.log.globalOptions(), 'delete', '--force', id];
  plan.host.unshift({ op: 'cleanup', text: '', args: [cleanup] });
  if (mode === 'run' && o.detach) plan.hostStep('detach', '');
  const fds = preserveFds(o);
  if (fds) plan.hostStep('preserve-fds', '', fds);
  return handPlan(plan);
}
