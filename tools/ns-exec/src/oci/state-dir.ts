/**
 * Where the runtime keeps its containers (runc's `--root`, default /run/ns-exec), one directory per id:
 *
 *   <root>/<id>/state.json   written by `create`/`run` before the plan is handed over: what `state`, `start`,
 *                            `kill` and `delete` need later, when the bundle may be gone (ContainerRecord)
 *   <root>/<id>/pid          the container process's pid as the host sees it, written by ns-exec.c (the plan's
 *                            `pidfile` step) once it waits at the FIFO (`create`) or runs (`run`)
 *   <root>/<id>/exec.fifo    made by ns-exec.c's `create` step; PID 1 writes a byte to it when `start` opens it,
 *                            then execs; `start` removes it (runc's exec.fifo)
 *
 * The status is read from these, as runtime.md "State" defines it, never stored.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError } from '@cutaway/cli';
import type { Hook, Process, Seccomp, State } from './config.ts';
import { freezerState } from './freezer.ts';

export const DEFAULT_ROOT = '/run/ns-exec';

/** What `create` records of a container: the OCI state's fixed part, and what the later verbs act on. */
export interface ContainerRecord {
  ociVersion: string;
  id: string;
  /** Absolute. */
  bundle: string;
  /** Absolute: root.path resolved against the bundle. */
  rootfs: string;
  /** RFC 3339 with nanoseconds, as runc prints it. */
  created: string;
  annotations?: Record<string, string>;
  /** The hooks run by this runtime's later verbs: poststart by `start`, poststop by `delete`. */
  hooks: { poststart?: Hook[]; poststop?: Hook[] };
  /** The cgroup directories the container runs in (one per hierarchy) that it made: `delete` removes them. */
  cgroups: string[];
  /** Whether the container has a pid namespace of its own: if not, `delete` kills every process of its cgroups (runc's destroy). */
  ownPidNamespace: boolean;
  /** The config's process: `exec` without --process starts from it, as runc exec starts from the bundle's config.json. */
  process?: Process;
  /**
   * The config's linux.seccomp, as it was (64-bit argument values as text): `exec` applies it to every process it
   * starts, as runc exec applies the container's own profile. None: the container has no filter.
   */
  seccomp?: Seccomp;
  /** runc's --no-new-keyring: the container's processes, and those `exec` starts, keep the caller's session keyring. */
  noNewKeyring?: boolean;
}

export type Status = State['status'];

/**
 * runc's rule for ids (libcontainer validateID): word characters, `+`, `,`, `-`, `.` (Go's `[\w+-\.]` is the
 * range `+` to `.`), and not `.` or `..`, which would name the root or its parent.
 */
export function checkId(id: string): void {
  if (id === '') throw new ToolError('container id cannot be empty');
  if (!/^[\w+,\-.]+$/.test(id) || id === '.' || id === '..') throw new ToolError('invalid container ID format');
}

export class StateDir {
  constructor(readonly root: string) {}

  dir(id: string): string {
    return posix.join(this.root, id);
  }

  fifo(id: string): string {
    return posix.join(this.dir(id), 'exec.fifo');
  }

  pidFile(id: string): string {
    return posix.join(this.dir(id), 'pid');
  }

  /** Makes `<root>/<id>` (mode 0711, as runc's) and writes its record; an id in use is runc's error. */
  add(record: ContainerRecord): void {
    checkId(record.id);
    mkdirSync(this.root, { recursive: true, mode: 0o711 });
    try {
      mkdirSync(this.dir(record.id), { mode: 0o711 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new ToolError('container with given ID already exists');
      throw e;
    }
    // Temp file + rename: a reader never sees half a record (DESIGN.md, State).
    const file = posix.join(this.dir(record.id), 'state.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }

  /** The record of `id`, or runc's error for a container it does not know. */
  get(id: string): ContainerRecord {
    checkId(id);
    try {
      return JSON.parse(readFileSync(posix.join(this.dir(id), 'state.json'), 'utf8')) as ContainerRecord;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ToolError('container does not exist');
      throw e;
    }
  }

  /** Every container under the root, by id order; a directory without a record (being made, being removed) is left out. */
  all(): ContainerRecord[] {
    if (!existsSync(this.root)) return [];
    return readdirSync(this.root).sort().flatMap((id) => {
      try {
        return [this.get(id)];
      } catch {
        return [];
      }
    });
  }

  /** The container process's pid, once ns-exec.c has written it. */
  pid(id: string): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile(id), 'utf8').trim());
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** The owner of the container's directory, for `list` (runc names the directory's owner). */
  ownerUid(id: string): number {
    return statSync(this.dir(id)).uid;
  }

  /**
   * The status, as runtime.md "State" defines it: no pid yet is `creating`; a live process (not a zombie:
   * proc(5) stat's state field) still waiting at exec.fifo is `created`, else `running` (`paused` while its
   * freezer cgroup is frozen); a process gone is `stopped`.
   */
  status(record: ContainerRecord): { status: Status; pid?: number } {
    const pid = this.pid(record.id);
    if (pid === undefined) return { status: 'creating' };
    if (!alive(pid)) return { status: 'stopped' };
    if (existsSync(this.fifo(record.id))) return { status: 'created', pid };
    return { status: freezerState(record.cgroups) === 'frozen' ? 'paused' : 'running', pid };
  }
}

/** Whether `pid` exists and has not exited: its /proc/PID/stat state (after the `(comm)` field) is not Z or X. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * The state runtime.md defines, with runc's extra fields in runc's order (`state` prints it; hooks read it on
 * stdin): a stopped container's pid is 0, as runc prints it; annotations only when there are some.
 */
export function ociState(record: ContainerRecord, status: Status, pid: number | undefined, owner = ''): State & { rootfs: string; created: string; owner: string } {
  return {
    ociVersion: record.ociVersion, id: record.id, pid: status === 'stopped' ? 0 : (pid ?? 0), status, bundle: record.bundle,
    rootfs: record.rootfs, created: record.created, owner, ...(record.annotations && Object.keys(record.annotations).length ? { annotations: record.annotations } : {}),
  };
}

/** The state as runtime.md defines it, alone: what hooks read on stdin (runc hands them its specs.State). */
export function specState(record: ContainerRecord, status: Status, pid: number | undefined): State {
  return {
    ociVersion: record.ociVersion, id: record.id, status, ...(pid !== undefined && { pid }), bundle: record.bundle,
    ...(record.annotations && Object.keys(record.annotations).length ? { annotations: record.annotations } : {}),
  };
}
