import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMountRecord, ToolError } from '@cutaway/cli';
import { writeFileAtomic } from '@cutaway/oci';

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
  /** Its cgroup (cg-limit's NAME, made while it runs, as Docker makes one per container) and cg-limit's limit options. */
  cgroup: string;
  limits: string[];
  /** What was made for it, to take down again. */
  network?: {
    mode: 'bridge' | 'host' | 'none';
    name?: string;
    endpoint?: string;
    ip?: string;
    ports: string[];
    /** The networks `cutaway network connect` added (eth1, …), with their addresses while it runs. */
    connected?: { name: string; ip?: string }[];
  };
  autoRemove: boolean;
  tty: boolean;
  interactive: boolean;
}

export interface ContainerState {
  status: 'created' | 'running' | 'exited';
  pid?: number;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** Set once what the container had while it ran (mounts, cgroup, network endpoint) has been taken down. */
  down?: boolean;
}

export class ContainerStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = join(root, 'containers');
  }

  path(id: string, file = ''): string {
    return join(this.dir, id, file);
  }

  /** A new container's id (64 hex digits) and its directory. */
  create(): string {
    const id = randomBytes(32).toString('hex');
    mkdirSync(this.path(id), { recursive: true });
    return id;
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
    await writeFileAtomic(this.path(config.id, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  }

  state(id: string): ContainerState {
    const path = this.path(id, 'state.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as ContainerState) : { status: 'created' };
  }

  async writeState(id: string, state: ContainerState): Promise<void> {
    await writeFileAtomic(this.path(id, 'state.json'), `${JSON.stringify(state)}\n`);
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

/** The unpacked layers a container's overlay stacks, as overlay-mount recorded them (undefined: never mounted). */
export function overlayLowers(containerDir: string): string[] | undefined {
  return readMountRecord(containerDir)?.lowers;
}
