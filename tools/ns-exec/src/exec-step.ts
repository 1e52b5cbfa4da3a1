import { shellCommand, UsageError } from '@cutaway/cli';
import { setprivCaps } from './caps.ts';
import { envValue } from './env.ts';
import type { Plan } from './plan.ts';
import type { Identity } from './user.ts';

export function securityOptions(values: string[]): { noNewPrivileges: boolean } {
  let noNewPrivileges = false;
  for (const v of values) {
    const m = /^no-new-privileges(?:[:=](true|false))?$/.exec(v);
    if (!m) throw new UsageError(`--security-opt ${v}: not supported (only no-new-privileges)`);
    noNewPrivileges = m[1] !== 'false';
  }
  return { noNewPrivileges };
}

/**
 * The last steps of every plan, in the command's process: the device-node filter (when asked), then identity,
 * capabilities, working directory and execve (ns-exec.c run_command), shown as the setpriv(1) line that does the same.
 */
export function addExecStep(plan: Plan, p: { workdir: string; identity: Identity; caps: bigint; noNewPrivileges: boolean; env: string[]; command: string[]; forbidDeviceNodes: boolean }): void {
  const { identity, caps } = p;
  const effective = identity.uid === 0 ? caps : 0n; // moby SetCapabilities: a non-root user gets the bounding set only
  const groups = identity.groups.join(',');
  const exec = [
    'setpriv', `--reuid=${identity.uid}`, `--regid=${identity.gid}`, groups ? `--groups=${groups}` : '--clear-groups',
    `--bounding-set=${setprivCaps(caps)}`, '--inh-caps=-all', ...(p.noNewPrivileges ? ['--no-new-privs'] : []), '--', 'env', '-i', ...p.env, ...p.command,
  ];
  if (p.forbidDeviceNodes) plan.step('forbid-device-nodes', '# seccomp: mknod of a character or block device fails with EPERM (what Docker\'s devices cgroup keeps from use)');
  plan.step('exec', `cd ${shellCommand([p.workdir])} && exec ${shellCommand(exec)}`,
    p.workdir, identity.uid, identity.gid, identity.groups.length, ...identity.groups, caps, effective, effective, p.noNewPrivileges ? 1 : 0, envValue(p.env, 'PATH') ?? '', p.env, p.command);
}
