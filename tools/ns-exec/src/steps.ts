/**
 * The steps of a plan, by name, with the arguments ns-exec.c reads for each, in its order (plan.ts encodes
 * them: a string as it is, '' for mount(2)'s NULL, a number in decimal, a bigint in 0x hex, a list as its
 * length then its items). ns-exec.c's `step_names` names the same steps as StepName, one for one;
 * test/steps.test.ts compares the two.
 */

/** The steps ns-exec takes before the clone (ns-exec.c main), still in the caller's namespaces. */
export interface HostSteps {
  /** write(2) `data` to a file: join a cgroup (its cgroup.procs), set a limit. */
  write: [path: string, data: string];
  /** mkdir -p with `mode` (a cgroup of a config's cgroupsPath; in the container, a mount point). */
  mkdir: [path: string, mode: number];
  /** setns(2) by path; `nstype` a CLONE_NEW* flag. */
  setns: [path: string, nstype: number];
  /**
   * The maps of the new user namespace, written by the parent: `how` is `file` (setgroups "deny" first, as an
   * unprivileged writer must), `proc` (root writing a config.json's maps: setgroups left allowed) or
   * newuidmap(1)/newgidmap(1).
   */
  uidmap: [how: string, map: string];
  gidmap: [how: string, map: string];
  /** The command's pid as the host sees it, written once it runs (or, with `create`, once it waits): repeatable. */
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
  /**
   * runc's --console-socket: with `tty`, the terminal's master is sent to the unix socket at `path`
   * (SCM_RIGHTS, as runc's utils.SendFd) instead of being relayed; the engine holds it.
   */
  'console-socket': [path: string];
  /**
   * runc create: PID 1 waits before execve until `ns-exec start` opens the FIFO `path` (opened O_PATH here,
   * before the clone, as runc's exec.fifo) and reads the byte it writes; the parent exits 0 as soon as PID 1
   * waits there (after the pid files are written), leaving it to whoever reaps orphans (conmon, the shim).
   */
  create: [fifo: string];
  /**
   * runc run --detach, runc exec --detach: the parent exits 0 as soon as the command runs (after the pid files
   * are written) instead of waiting for it.
   */
  detach: [];
  /**
   * What undoes a runtime container (runc's destroy): ns-exec runs its planner again with `args` (`--root R
   * delete --force ID`: the cgroups, the poststop hooks, the state directory) when the container fails before
   * it runs or waits, and, for a container not made by `create` nor detached (runc run), once its command has
   * ended. First among the host steps, so that a later one's failure is undone too.
   */
  cleanup: [args: readonly string[]];
  /** runc --preserve-fds N: the caller's fds 3 … 3+N-1 stay open in the command (every other fd above 2 closes at execve). */
  'preserve-fds': [count: number];
  /**
   * A hook the parent runs, in ns-exec's own namespaces, when PID 1 reaches its `parent-hooks` step (prestart
   * and createRuntime: after the mounts, before pivot_root). `state` is the runtime state JSON without its pid,
   * which ns-exec.c adds (`{"pid":N,` + the rest after `{`) and writes to the hook's stdin; `timeout` in
   * seconds, 0 for none. A hook that fails or times out fails the container.
   */
  hook: [path: string, args: readonly string[], env: readonly string[], timeout: number, state: string];
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
  /** PID 1 asks the parent to run its `hook`s now and waits until they have (after the mounts, before the pivot). */
  'parent-hooks': [];
  /** createContainer: run now, in the container's namespaces, before pivot_root (see the host step `hook`). */
  hook: [path: string, args: readonly string[], env: readonly string[], timeout: number, state: string];
  /** startContainer: kept and run by the exec step after `start` (the `create` FIFO), right before execve. */
  'start-hook': [path: string, args: readonly string[], env: readonly string[], timeout: number, state: string];
  /** setrlimit(2): the resource's number (RLIMIT_*), soft and hard; RLIM_INFINITY is 2^64-1. */
  rlimit: [resource: number, soft: bigint, hard: bigint];
  domainname: [name: string];
  /** runc --no-pivot: the rootfs moved onto / (MS_MOVE) and chroot(2) into it, for a root on a ramfs where pivot_root(2) fails. */
  'move-root': [root: string];
  /** chroot(2) and chdir("/"): a container without a mount namespace of its own, where nothing is mounted. */
  chroot: [root: string];
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
  /**
   * The supplementary groups go as their count then each gid; caps are bit masks (capabilities(7) numbers);
   * the inheritable and ambient sets as a config.json's process.capabilities gives them (0 for Docker's);
   * umask as process.user.umask (runc's default 022).
   */
  exec: [
    workdir: string, uid: number, gid: number, groupCount: number, ...groups: number[],
    bounding: bigint, effective: bigint, permitted: bigint, inheritable: bigint, ambient: bigint, noNewPrivileges: 0 | 1, umask: number,
    path: string, env: readonly string[], argv: readonly string[],
  ];
}

export type HostStepName = keyof HostSteps;
export type ContainerStepName = keyof ContainerSteps;

/**
 * Every name a plan holds: the steps of both sides, and the marks Plan.encode writes itself: `trace` first
 * (--trace; then the fd its lines go to and their label), `clone` between the sides (its text the launcher, then the clone flags), `end` last.
 */
export type StepName = HostStepName | ContainerStepName | 'trace' | 'clone' | 'end';
