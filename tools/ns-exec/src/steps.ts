/**
 * The steps of a plan, by name, with the arguments ns-exec.c reads for each, in its order (plan.ts encodes
 * them: a string as it is, '' for mount(2)'s NULL, a number in decimal, a bigint in 0x hex, a list as its
 * length then its items). ns-exec.c's `step_names` names the same steps as StepName, one for one;
 * test/steps.test.ts compares the two.
 */

/** The steps ns-exec takes before the clone (ns-exec.c main), still in the caller's namespaces. */
export interface HostSteps {
  /** write(2) `data` to a file: join a cgroup (its cgroup.procs). */
  write: [path: string, data: string];
  /** setns(2) by path; `nstype` a CLONE_NEW* flag. */
  setns: [path: string, nstype: number];
  /** The maps of the new user namespace, written by the parent: `how` is `file` or newuidmap(1)/newgidmap(1). */
  uidmap: [how: string, map: string];
  gidmap: [how: string, map: string];
  pidfile: [path: string];
  /**
   * --exit-file: removed before the clone (a file from an earlier run must not speak for this one); once the
   * command has ended, the parent writes the status it will exit with there (temp file + rename) before it reaps
   * PID 1 and exits, so the status outlives whoever waited for ns-exec.
   */
  exitfile: [path: string];
  /** memory.events or memory.oom_control, read before and after the command to tell an OOM kill. */
  oom: [file: string];
  /** docker run -t: the parent relays the terminal that the child's `pty` step opens. */
  tty: [];
  /** The cgroup.procs files ns-exec writes itself back into once the child is made. */
  leave: [cgroupProcs: readonly string[]];
  'clear-groups': [];
  /**
   * keyctl(KEYCTL_JOIN_SESSION_KEYRING, NULL): ns-exec joins a new anonymous session keyring, which the
   * command inherits (as runc gives each container one): the caller's session keyring is not reachable from it.
   */
  'session-keyring': [];
}

/** The steps PID 1 takes inside the new namespaces (ns-exec.c child_steps), up to execve. */
export interface ContainerSteps {
  mount: [source: string, target: string, type: string, flags: number, data: string];
  /** A bind remount adding `flags` to those the mount has (statvfs(3)). */
  remount: [target: string, flags: number];
  /** The exec step's filter also refuses mknod(2)/mknodat(2) of character and block devices (EPERM). */
  'forbid-device-nodes': [];
  /**
   * A seccomp profile, resolved (seccomp.ts): libseccomp's default action, SECCOMP_FILTER_FLAG_* bits, the
   * architectures by libseccomp's names, and one rule per string (seccomp.ts encodeRule). ns-exec.c builds the
   * filter here and loads it in the exec step, right before execve.
   */
  seccomp: [defaultAction: number, flags: number, arches: readonly string[], rules: readonly string[]];
  mkdir: [path: string, mode: number];
  touch: [path: string];
  /** mknod(2), then chmod(2) to the exact mode (past the umask) and lchown(2) to the owner, as runc's createDeviceNode. */
  mknod: [path: string, mode: number, major: number, minor: number, uid: number, gid: number];
  symlink: [target: string, path: string];
  mask: [path: string, devNull: string];
  write: [path: string, data: string];
  'lo-up': [];
  readonly: [path: string];
  /** `console` '': no /dev/console bound (an entered container has its own). */
  pty: [ptmx: string, console: string];
  pivot: [root: string];
  setns: [path: string, nstype: number];
  hostname: [name: string];
  /** The supplementary groups go as their count then each gid; caps are bit masks (capabilities(7) numbers). */
  exec: [
    workdir: string, uid: number, gid: number, groupCount: number, ...groups: number[],
    bounding: bigint, effective: bigint, permitted: bigint, noNewPrivileges: 0 | 1, path: string, env: readonly string[], argv: readonly string[],
  ];
}

export type HostStepName = keyof HostSteps;
export type ContainerStepName = keyof ContainerSteps;

/**
 * Every name a plan holds: the steps of both sides, and the marks Plan.encode writes itself: `trace` first
 * (--trace; then the fd its lines go to and their label), `clone` between the sides (its text the launcher, then the clone flags), `end` last.
 */
export type StepName = HostStepName | ContainerStepName | 'trace' | 'clone' | 'end';
