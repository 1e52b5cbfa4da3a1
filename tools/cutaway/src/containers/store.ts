import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readMountRecord, ToolError, UsageError } from '@cutaway/cli';
import { withFileLock } from '@cutaway/libc';
import { writeFileAtomic } from '@cutaway/oci';
import { randomName } from './names.ts';

/**
 * containers/<id>/ (DESIGN.md's state layout): config.json (what the container
 * was made with), state.json (running or exited, pid, exit code), hostname,
 * hosts, resolv.conf, log (JSON lines, Docker's json-file format); upper/,
 * work/ and merged/ are overlay-mount's.
 */
export interface ContainerConfigRecord {
  id: string;
  name: string;
  image: string;
  imageDigest: string;
  created: string;
  /** The process: argv as given to ns-exec after `--`. */
  command: string[];
  hostname: string;
  /** ns-exec's options, as decided by `cutaway run` (everything but --rootfs and the command). */
  nsExecOptions: string[];
  /**
   * Its cgroup (cg-limit's NAME, made while it runs, as Docker makes one per container) and cg-limit's limit
   * options. '' when it has none: rootless, where an ordinary user has no cgroup delegated (rootless.ts).
   */
  cgroup: string;
  limits: string[];
  /** What was made for it, to take down again. */
  network?: {
    mode: 'bridge' | 'host' | 'none';
    name?: string;
    endpoint?: string;
    ports: string[];
    /** The host ports published for `ports` (HOST:CTR/PROTO, the host port netbridge's when `ports` names none), while it runs. */
    published?: string[];
    /** The networks `cutaway network connect` added (eth1, …), with their addresses while it runs. */
    connected?: ({ name: string } & EndpointAddress)[];
    /** netbridge's named netns (inspect's SandboxKey), while it runs. */
    netns?: string;
  } & EndpointAddress;
  autoRemove: boolean;
  tty: boolean;
  interactive: boolean;
  /**
   * What inspect shows of what run and create were asked (records made before these lack them): the
   * Entrypoint part of `command` (the rest is Cmd), the image as typed, the labels (the image's, then
   * --label), the -v specs as given, whether run -d detached it (nothing attached), and the variables of
   * --env-file and -e as Docker's CLI resolves them (`K` alone: unset).
   */
  entrypoint?: string[];
  imageRef?: string;
  labels?: Record<string, string>;
  binds?: string[];
  detached?: boolean;
  env?: string[];
  /**
   * What the image asks of the runtime, as run and create resolved it (records made before these lack them):
   * Docker's Config.Healthcheck (the image's, --health-* over it: health.ts) and the image's Shell that a
   * CMD-SHELL check runs in; the signal and seconds of stop (--stop-signal, the image's STOPSIGNAL;
   * --stop-timeout); the anonymous volumes made for it (the image's VOLUMEs, `-v /DST`: anonymous-volumes.ts),
   * which rm -v and --rm remove.
   */
  healthcheck?: Healthcheck;
  shell?: string[];
  stopSignal?: string;
  stopTimeout?: number;
  anonymousVolumes?: string[];
}

/** Docker's HealthConfig: Test ([] inherit, ["NONE"], ["CMD", …], ["CMD-SHELL", cmd]), durations in nanoseconds (0: the default). */
export interface Healthcheck {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

/** An endpoint's address as netbridge up gave it (ip, prefix length, gateway, MAC), recorded while it runs. */
export interface EndpointAddress {
  ip?: string;
  /** A number (a string in a --dry-run script's record, where it is a shell variable). */
  prefix?: number | string;
  gateway?: string;
  mac?: string;
}

export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  pid?: number;
  /** Once exited: PID 1's status (128+N after signal N); undefined with exitUnknown. */
  exitCode?: number;
  /**
   * Exited, and nothing recorded how: PID 1 is gone, and what waited for it (cutaway-shim or `cutaway run`,
   * and ns-exec) was killed before it could write the status. ps, wait and inspect show 255, as Docker shows
   * a container whose task containerd lost (state.ts UNKNOWN_EXIT_CODE), and `error` says why.
   */
  exitUnknown?: boolean;
  /** inspect's State.Error. */
  error?: string;
  startedAt?: string;
  finishedAt?: string;
  /** Set once what the container had while it ran (mounts, cgroup, network endpoint) has been taken down. */
  down?: boolean;
  /** `cutaway pause`: its cgroup frozen (cg-limit freeze) until unpause; meaningful only while it runs (state.ts isPaused). */
  paused?: boolean;
  /** Set once this exit's `die` event is recorded (events.ts recordDie). */
  died?: boolean;
}

/** Docker's container names (daemon/names.go, RestrictedNamePattern), at most 128 characters as overlay-mount's. */
export function checkContainerName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw new UsageError(`Invalid container name (${JSON.stringify(name).slice(1, -1)}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (name.length > 128) throw new UsageError(`Invalid container name (${JSON.stringify(name.slice(0, 20)).slice(1, -1)}…): at most 128 characters`);
}

/** The bind mounts ns-exec gets (its `-v SOURCE:DESTINATION[:OPTIONS]` options): binds, named and anonymous volumes. */
export function bindMounts(config: ContainerConfigRecord): { source: string; destination: string }[] {
  return config.nsExecOptions.flatMap((option, i) => {
    if (option !== '-v') return [];
    const [source = '', destination = ''] = config.nsExecOptions[i + 1]!.split(':');
    return [{ source, destination }];
  });
}

export class ContainerStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'containers');
  }

  path(id: string, file = ''): string {
    return join(this.dir, id, file);
  }

  /**
   * A new container: a 64-hex id, its directory, state.json (created) and config.json (from `configOf(id,
   * name)`). Its name is reserved first by creating names/NAME exclusively (O_EXCL), so that of several `run
   * --name same` at once exactly one wins and the others get Docker's conflict error. `name` undefined: a
   * random one that is free.
   */
  async create(name: string | undefined, configOf: (id: string, name: string) => ContainerConfigRecord): Promise<ContainerConfigRecord> {
    if (name !== undefined) checkContainerName(name);
    const id = randomBytes(32).toString('hex');
    mkdirSync(this.path(id), { recursive: true });
    // Recorded before the name is reserved: a run killed from here on leaves a container that ps -a lists and
    // prune removes (one killed before the record is whole leaves a directory that prune sweeps: incomplete()).
    const write = async (chosen: string) => {
      const config = configOf(id, chosen);
      await this.writeState(id, { status: 'created' });
      await this.writeConfig(config);
      return config;
    };
    let config = await write(name ?? randomName(this.names()));
    while (!(await this.reserveName(config.name, id))) {
      if (name !== undefined) {
        rmSync(this.path(id), { recursive: true, force: true });
        throw new ToolError(nameConflict(name, this.nameHolder(name) ?? 'another'));
      }
      config = await write(randomName(this.names()));
    }
    return config;
  }

  /**
   * Directories of containers whose record was never made whole (a run killed in store.create). Safe to remove
   * under prune's exclusive lock: a command that creates a container holds the store shared (store-lock.ts).
   */
  incomplete(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir).filter((d) => /^[0-9a-f]{64}$/.test(d) && !existsSync(this.path(d, 'config.json'))) : [];
  }

  /** The reservation of a name: .names/NAME, holding the id (a file of the container's, counted in its size). */
  namePath(name: string): string {
    return join(this.dir, '.names', name);
  }

  /** The id that holds a name (its names/NAME file), if a container still has it. */
  private nameHolder(name: string): string | undefined {
    try {
      const id = readFileSync(this.namePath(name), 'utf8');
      return /^[0-9a-f]{64}$/.test(id) && existsSync(this.path(id)) ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * .names/NAME made for `id`, unless another container whose directory is there holds it; a reservation
   * whose container is gone (removed by hand, or never finished) is taken over. Under .names/.lock: taking a
   * stale reservation over is check-then-replace, which two racers must not interleave.
   */
  private async reserveName(name: string, id: string): Promise<boolean> {
    mkdirSync(join(this.dir, '.names'), { recursive: true });
    return withFileLock(join(this.dir, '.names', '.lock'), async () => {
      if (this.nameHolder(name)) return false;
      await writeFileAtomic(this.namePath(name), id);
      return true;
    });
  }

  /**
   * `cutaway rename`: the reservation moved to `name` and config.json's name changed, under .names/.lock (as
   * reserveName), so a rename and a run --name of the same name at once never both win; the old name is free
   * once config.json has the new one.
   */
  async rename(id: string, name: string): Promise<void> {
    checkContainerName(name);
    const config = this.config(id);
    mkdirSync(join(this.dir, '.names'), { recursive: true });
    await withFileLock(join(this.dir, '.names', '.lock'), async () => {
      const holder = this.nameHolder(name);
      if (holder !== undefined) throw new ToolError(nameConflict(name, holder));
      await writeFileAtomic(this.namePath(name), id);
      await this.writeConfig({ ...this.config(id), name });
      if (this.nameHolder(config.name) === id) rmSync(this.namePath(config.name), { force: true });
    });
  }

  /**
   * A container's directory and its name's reservation, gone. `name`: its name, when its config.json may be
   * gone already (overlay-mount --unmount --rm removes the directory it shares with the store).
   */
  remove(id: string, name = existsSync(this.path(id, 'config.json')) ? this.config(id).name : undefined): void {
    rmSync(this.path(id), { recursive: true, force: true });
    if (name !== undefined && this.nameHolder(name) === undefined) rmSync(this.namePath(name), { force: true });
  }

  ids(): string[] {
    return existsSync(this.dir) ? readdirSync(this.dir).filter((d) => /^[0-9a-f]{64}$/.test(d) && existsSync(this.path(d, 'config.json'))) : [];
  }

  config(id: string): ContainerConfigRecord {
    return JSON.parse(readFileSync(this.path(id, 'config.json'), 'utf8')) as ContainerConfigRecord;
  }

  names(): Set<string> {
    return new Set(this.ids().map((id) => this.config(id).name));
  }

  async writeConfig(config: ContainerConfigRecord): Promise<void> {
    await writeFileAtomic(this.path(config.id, 'config.json'), configText(config));
  }

  state(id: string): ContainerState {
    const path = this.path(id, 'state.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ContainerState) : { status: 'created' };
  }

  async writeState(id: string, state: ContainerState): Promise<void> {
    await writeFileAtomic(this.path(id, 'state.json'), stateText(state));
  }

  /** A container by name, full id or unique id prefix, as docker's commands take them. */
  find(nameOrId: string): string {
    const ids = this.ids();
    const byName = ids.find((id) => this.config(id).name === nameOrId);
    if (byName) return byName;
    const matches = ids.filter((id) => id.startsWith(nameOrId));
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new ToolError(`multiple IDs found with provided prefix: ${nameOrId}`);
    throw new ToolError(`No such container: ${nameOrId}`);
  }
}

/** Docker's error for a name another container has (moby daemon/names.go). */
const nameConflict = (name: string, holder: string): string =>
  `Conflict. The container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`;

/** config.json's text, and state.json's: as the store writes them (and a --dry-run script, script-runner.ts). */
export const configText = (config: ContainerConfigRecord): string => `${JSON.stringify(config, null, 2)}\n`;
export const stateText = (state: ContainerState): string => `${JSON.stringify(state)}\n`;

/** The unpacked layers a container's overlay stacks, as overlay-mount recorded them (undefined: never mounted). */
export function overlayLowers(containerDir: string): string[] | undefined {
  return readMountRecord(containerDir)?.lowers;
}
