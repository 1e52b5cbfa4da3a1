/**
 * The OCI runtime specification's config.json (opencontainers/runtime-spec v1.0.2, config.md and
 * config-linux.md), the part ns-exec reads: what a bundle's config.json holds, what `ns-exec spec` writes,
 * and what ns-exec's own flags are turned into before a plan is made of it (oci/plan.ts). Optional fields are
 * optional as the spec has them; ns-exec refuses what it does not do rather than leaving it out silently.
 */

export const OCI_VERSION = '1.0.2';

export interface Spec {
  ociVersion: string;
  process?: Process;
  root?: Root;
  hostname?: string;
  /** config-linux.md has no domainname; runtime-spec 1.0.2 config.md does. */
  domainname?: string;
  mounts?: Mount[];
  hooks?: Hooks;
  annotations?: Record<string, string>;
  linux?: Linux;
}

export interface Root {
  /** Relative paths are relative to the bundle. */
  path: string;
  readonly?: boolean;
}

export interface Process {
  terminal?: boolean;
  consoleSize?: { height: number; width: number };
  user: User;
  args?: string[];
  env?: string[];
  cwd: string;
  capabilities?: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges?: boolean;
  apparmorProfile?: string;
  oomScoreAdj?: number;
  selinuxLabel?: string;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

/** Names as capabilities(7) spells them: `CAP_CHOWN`. */
export interface Capabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface Rlimit {
  /** `RLIMIT_NOFILE`, … (getrlimit(2)). */
  type: string;
  soft: number;
  hard: number;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  /** Seconds. */
  timeout?: number;
}

export interface Hooks {
  /** Deprecated in the spec (createRuntime replaces it), still what most engines send. */
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export type NamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';

export interface Namespace {
  type: NamespaceType;
  /** A namespace to join (/proc/PID/ns/TYPE, a bind mount of one) instead of a new one. */
  path?: string;
}

export interface IdMapping {
  containerID: number;
  hostID: number;
  size: number;
}

export interface Device {
  /** `c`, `u`, `b` or `p`. */
  type: string;
  path: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceCgroupRule {
  allow: boolean;
  type?: string;
  major?: number | null;
  minor?: number | null;
  access?: string;
}

/** config-linux.md's linux.resources: the cgroup limits. */
export interface Resources {
  devices?: DeviceCgroupRule[];
  memory?: {
    limit?: number;
    reservation?: number;
    swap?: number;
    kernel?: number;
    kernelTCP?: number;
    swappiness?: number;
    disableOOMKiller?: boolean;
    useHierarchy?: boolean;
  };
  cpu?: {
    shares?: number;
    quota?: number;
    period?: number;
    realtimeRuntime?: number;
    realtimePeriod?: number;
    cpus?: string;
    mems?: string;
  };
  pids?: { limit: number };
  blockIO?: {
    weight?: number;
    leafWeight?: number;
    weightDevice?: { major: number; minor: number; weight?: number; leafWeight?: number }[];
    throttleReadBpsDevice?: ThrottleDevice[];
    throttleWriteBpsDevice?: ThrottleDevice[];
    throttleReadIOPSDevice?: ThrottleDevice[];
    throttleWriteIOPSDevice?: ThrottleDevice[];
  };
  hugepageLimits?: { pageSize: string; limit: number }[];
  network?: { classID?: number; priorities?: { name: string; priority: number }[] };
  unified?: Record<string, string>;
}

export interface ThrottleDevice {
  major: number;
  minor: number;
  rate: number;
}

/** config-linux.md's seccomp: the OCI form (no includes/excludes/archMap, which are Docker's). */
export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  flags?: string[];
  listenerPath?: string;
  /**
   * Argument values are 64-bit: a bigint where a double would round them (seccomp.ts ociProfile makes them so),
   * or their decimal text where JSON was read (seccomp.ts parseWithArgValues).
   */
  syscalls?: { names: string[]; action: string; errnoRet?: number; args?: { index: number; value: number | bigint | string; valueTwo?: number | bigint | string; op: string }[] }[];
}

export interface Linux {
  namespaces?: Namespace[];
  uidMappings?: IdMapping[];
  gidMappings?: IdMapping[];
  devices?: Device[];
  /** Relative to each hierarchy's mount point; relative paths are relative to ns-exec's own cgroup. */
  cgroupsPath?: string;
  resources?: Resources;
  sysctl?: Record<string, string>;
  seccomp?: Seccomp;
  /** `private`, `rprivate`, `slave`, `rslave`, `shared`, `rshared`, `unbindable`, `runbindable`. */
  rootfsPropagation?: string;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  mountLabel?: string;
  personality?: { domain: string; flags?: string[] };
  intelRdt?: unknown;
}

/** The runtime's state of a container (runtime.md "State"), what `ns-exec state ID` prints and hooks read on stdin. */
export interface State {
  ociVersion: string;
  id: string;
  status: 'creating' | 'created' | 'running' | 'stopped' | 'paused';
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}
