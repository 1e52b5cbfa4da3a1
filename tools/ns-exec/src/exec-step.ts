import { posix } from 'node:path';
import { shellCommand, UsageError } from '@cutaway/cli';
import { setprivCaps } from './caps.ts';
import { envValue } from './env.ts';
import type { Plan } from './plan.ts';
import { encodeRule, type ResolvedProfile, type SeccompChoice } from './seccomp.ts';
import type { Identity } from './user.ts';

/**
 * --security-opt, Docker's spellings: `no-new-privileges[=true|false]`; `seccomp=unconfined` (no filter),
 * `seccomp=builtin` (Docker's default profile, also what no seccomp= gives) or `seccomp=FILE` (a profile in
 * Docker's JSON format; `seccomp:FILE` is the older spelling). The last one of a kind counts.
 */
export function securityOptions(values: string[]): { noNewPrivileges: boolean; seccomp: SeccompChoice; seccompGiven: boolean } {
  let noNewPrivileges = false;
  let seccomp: SeccompChoice = { kind: 'default' };
  let seccompGiven = false;
  for (const v of values) {
    const nnp = /^no-new-privileges(?:[:=](true|false))?$/.exec(v);
    const sc = /^seccomp[:=](.*)$/.exec(v);
    if (nnp) noNewPrivileges = nnp[1] !== 'false';
    else if (sc) {
      const value = sc[1]!;
      if (!value) throw new UsageError(`--security-opt ${v}: expected seccomp=unconfined, seccomp=builtin or seccomp=FILE`);
      seccomp = value === 'unconfined' ? { kind: 'unconfined' } : value === 'builtin' ? { kind: 'default' } : { kind: 'file', path: posix.resolve(value) };
      seccompGiven = true;
    } else throw new UsageError(`--security-opt ${v}: not supported (only no-new-privileges and seccomp=unconfined|builtin|FILE)`);
  }
  return { noNewPrivileges, seccomp, seccompGiven };
}

/**
 * The `seccomp` step: the profile's rules, built into a filter there and loaded by the exec step. The script
 * cannot do it: no classic command loads a seccomp profile and then runs a command (setpriv, unshare and
 * nsenter have no option for it), so its line is a comment.
 */
function addSeccompStep(plan: Plan, profile: ResolvedProfile): void {
  const text = `# seccomp: ${profile.source}, ${profile.rules.length} rules for ${profile.arches.join('/') || 'this architecture'}, loaded right before execve (no classic command loads a profile; ns-exec --json shows the rules)`;
  plan.step('seccomp', text, profile.defaultAction, profile.flags, profile.arches, profile.rules.map(encodeRule));
}

/** The capability sets besides the bounding set, as bit masks (capabilities(7)). */
export interface CapabilitySets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
  ambient: bigint;
}

/** What the command is started with: the exec step's arguments, kept whole for the --dry-run script (script.ts). */
export interface ExecSpec {
  workdir: string;
  identity: Pick<Identity, 'uid' | 'gid' | 'groups'>;
  /** The capability bounding set. */
  caps: bigint;
  /**
   * The other sets, as a config.json's process.capabilities gives them; without them Docker's (moby
   * SetCapabilities): root's effective and permitted sets are the bounding set, any other user's empty; no
   * inheritable or ambient capabilities.
   */
  sets?: CapabilitySets;
  noNewPrivileges: boolean;
  /** setgroups(2) is refused (a user namespace whose setgroups is "deny"): the groups are left as they are. */
  setgroupsDenied: boolean;
  /** process.user.umask; runc's default 022 without one. */
  umask?: number;
  env: string[];
  command: string[];
}

/** runc's umask when process.user has none. */
const DEFAULT_UMASK = 0o022;

function capabilitySets(p: Pick<ExecSpec, 'identity' | 'caps' | 'sets'>): CapabilitySets {
  if (p.sets) return p.sets;
  const granted = p.identity.uid === 0 ? p.caps : 0n;
  return { effective: granted, permitted: granted, inheritable: 0n, ambient: 0n };
}

/** The umask the command starts with, as the script's `umask` spells it (three octal digits). */
export function umaskText(p: Pick<ExecSpec, 'umask'>): string {
  return (p.umask ?? DEFAULT_UMASK).toString(8).padStart(3, '0');
}

/**
 * setpriv(1)'s options for the command's identity and capabilities, up to its `--`: the bounding set, the
 * inheritable and ambient sets (setpriv leaves the effective set to execve(2): root's is its bounding set, any
 * other user's empty, as ns-exec sets them by default). `uid: false` leaves the uid to a later step (the
 * --enter script's inner nsenter, which needs root's CAP_SYS_CHROOT until then).
 */
export function setprivWords(p: ExecSpec, { uid }: { uid: boolean }): string[] {
  const groups = p.identity.groups.join(',');
  const { inheritable, ambient } = capabilitySets(p);
  return [
    'setpriv', ...(uid ? [`--reuid=${p.identity.uid}`] : []), `--regid=${p.identity.gid}`,
    p.setgroupsDenied ? '--keep-groups' : groups ? `--groups=${groups}` : '--clear-groups',
    `--bounding-set=${setprivCaps(p.caps)}`, `--inh-caps=${setprivCaps(inheritable)}`, ...(ambient ? [`--ambient-caps=${setprivCaps(ambient)}`] : []),
    ...(p.noNewPrivileges ? ['--no-new-privs'] : []), '--',
  ];
}

/**
 * The last steps of every plan, in the command's process: the device-node rule (when asked) and the seccomp
 * profile (unless unconfined), then identity, capabilities, umask, working directory, the filter, and execve
 * (ns-exec.c run_command), traced as the setpriv(1) line that does the same but for the filter. The --dry-run
 * script starts the command otherwise (script.ts): setpriv and env are the host's, not the rootfs'.
 */
export function addExecStep(plan: Plan, p: Omit<ExecSpec, 'setgroupsDenied'> & { setgroupsDenied?: boolean; forbidDeviceNodes: boolean; seccomp?: ResolvedProfile | undefined }): void {
  const spec: ExecSpec = {
    workdir: p.workdir, identity: p.identity, caps: p.caps, ...(p.sets ? { sets: p.sets } : {}), noNewPrivileges: p.noNewPrivileges,
    setgroupsDenied: p.setgroupsDenied ?? false, ...(p.umask !== undefined ? { umask: p.umask } : {}), env: p.env, command: p.command,
  };
  const { identity, caps } = spec;
  const sets = capabilitySets(spec);
  const exec = [...setprivWords(spec, { uid: true }), 'env', '-i', ...p.env, ...p.command];
  if (p.forbidDeviceNodes) plan.step('forbid-device-nodes', '# seccomp: mknod of a character or block device fails with EPERM (what Docker\'s devices cgroup keeps from use)');
  if (p.seccomp) addSeccompStep(plan, p.seccomp);
  plan.step('exec', `cd ${shellCommand([p.workdir])} && exec ${shellCommand(exec)}`,
    p.workdir, identity.uid, identity.gid, identity.groups.length, ...identity.groups, caps, sets.effective, sets.permitted, sets.inheritable, sets.ambient,
    p.noNewPrivileges ? 1 : 0, p.umask ?? DEFAULT_UMASK, envValue(p.env, 'PATH') ?? '', p.env, p.command);
  plan.exec = spec;
}
