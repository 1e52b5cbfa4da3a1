import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { shellQuote, ToolError, UsageError, type Steps } from '@cutaway/cli';
import { cgroupVersion, type Controller, type Hierarchies, type Version } from '@cutaway/cgroup';

/** Re-exported for the tests, which import it from here. */
export type { Controller } from '@cutaway/cgroup';

/** Every cutaway cgroup is a directory `cw-NAME` at the top of its hierarchy, so a leftover is easy to find. */
export const PREFIX = 'cw-';

/** A cutaway cgroup: one directory on v2, one per hierarchy on v1. */
export class Cgroup {
  constructor(
    readonly name: string,
    readonly version: Version,
    /** controller → directory; on v2 every controller maps to the same one. */
    readonly dirs: Map<Controller, string>,
    private readonly steps: Steps,
  ) {}

  /** The directories, each once. */
  get paths(): string[] {
    return [...new Set(this.dirs.values())];
  }

  /** The directory shown to the user (v2: the cgroup; v1: its memory hierarchy's). */
  get path(): string {
    return this.dirs.get('memory') ?? this.paths[0]!;
  }

  dir(controller: Controller): string {
    const dir = this.dirs.get(controller);
    if (!dir) throw new ToolError(`the ${controller} controller is not available on this host`);
    return dir;
  }

  write(controller: Controller, file: string, value: string): void {
    const path = join(this.dir(controller), file);
    this.steps.run(`echo ${shellQuote(value)} > ${path}`);
    if (this.steps.mode.dryRun) return;
    try {
      // r+: a control the kernel lacks is ENOENT, not the EACCES of trying to create a file in cgroupfs.
      writeFileSync(path, value, { flag: 'r+' });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new ToolError(`writing ${value} to ${path}: ${code ?? (e as Error).message}`, code === 'ENOENT' ? 'this kernel does not offer that control' : undefined);
    }
  }

  read(controller: Controller, file: string): string | undefined {
    const dir = this.dirs.get(controller);
    if (!dir) return undefined;
    try {
      return readFileSync(join(dir, file), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** `key value` lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
  readKeyed(controller: Controller, file: string): Map<string, number> {
    const map = new Map<string, number>();
    for (const line of (this.read(controller, file) ?? '').split('\n')) {
      const [k, v] = line.split(/\s+/);
      if (k && v !== undefined && /^-?\d+$/.test(v)) map.set(k, Number(v));
    }
    return map;
  }

  /** Pids in the cgroup (the union over its hierarchies). */
  pids(): number[] {
    const all = new Set<number>();
    for (const dir of this.paths) {
      try {
        for (const p of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (p) all.add(Number(p));
      } catch {
        // a hierarchy whose directory is gone has no processes
      }
    }
    return [...all];
  }

  /**
   * Moves a process in: a write of its pid to every cgroup.procs (v1: each hierarchy). `$$` (a --dry-run
   * only): the pid of the shell that runs the script, which then execs the command.
   */
  attach(pid: number | '$$'): void {
    for (const dir of this.paths) {
      this.steps.run(`echo ${pid} > ${join(dir, 'cgroup.procs')}`);
      if (!this.steps.mode.dryRun) {
        try {
          writeFileSync(join(dir, 'cgroup.procs'), String(pid));
        } catch (e) {
          throw new ToolError(`moving ${pid} into ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
      }
    }
  }

  /** The same cgroup under another name (a --dry-run of `run` names its cgroup after the script's shell: `run-$$`). */
  renamed(name: string): Cgroup {
    return new Cgroup(name, this.version, new Map([...this.dirs].map(([c, dir]) => [c, join(dirname(dir), `${PREFIX}${name}`)])), this.steps);
  }

  exists(): boolean {
    return this.paths.some((p) => existsSync(p));
  }

  /** rmdir of every directory; a cgroup directory goes only when no process is left in it. */
  remove(): void {
    for (const dir of this.paths) {
      if (!existsSync(dir)) continue;
      this.steps.run(`rmdir ${dir}`);
      if (this.steps.mode.dryRun) continue;
      try {
        rmdirSync(dir);
      } catch (e) {
        throw new ToolError(`rmdir ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'processes still in it? cg-limit rm --force kills them first');
      }
    }
  }
}

const CONTROLLERS_USED: Controller[] = ['memory', 'cpu', 'cpuacct', 'pids', 'cpuset', 'blkio', 'devices', 'freezer'];

/** The cgroup called `name` under cutaway's parent, on v2 if the unified hierarchy has memory, cpu and pids, else on v1. */
export function cgroupFor(name: string, h: Hierarchies, steps: Steps): Cgroup {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new UsageError(`invalid cgroup name ${JSON.stringify(name)}: letters, digits, "_", "." and "-"`);
  const dirs = new Map<Controller, string>();
  if (cgroupVersion(h) === 'v2') {
    const dir = join(h.unified!, `${PREFIX}${name}`);
    for (const c of ['memory', 'cpu', 'pids', 'cpuset', 'io'] as Controller[]) if (h.unifiedControllers.has(c)) dirs.set(c, dir);
    // v2 has no cpuacct or blkio: cpu.stat and io serve.
    dirs.set('cpuacct', dir);
    if (dirs.has('io')) dirs.set('blkio', dir);
    // v2's device control is a BPF program attached to the cgroup itself: no controller to enable.
    dirs.set('devices', dir);
    // And its freezer is cgroup.freeze, in every cgroup but the root.
    dirs.set('freezer', dir);
    return new Cgroup(name, 'v2', dirs, steps);
  }
  for (const c of CONTROLLERS_USED) {
    const mount = h.v1.get(c);
    if (mount) dirs.set(c, join(mount, `${PREFIX}${name}`));
  }
  if (!dirs.size) throw new ToolError('no cgroup hierarchy with memory, cpu or pids is mounted here', 'mount -t cgroup2 none /sys/fs/cgroup');
  return new Cgroup(name, 'v1', dirs, steps);
}

/** The names of cutaway's cgroups that exist (in any hierarchy). */
export function listCgroups(h: Hierarchies): string[] {
  const names = new Set<string>();
  for (const mount of [h.unified, ...h.v1.values()]) {
    if (!mount) continue;
    for (const entry of readdirSync(mount, { withFileTypes: true })) if (entry.isDirectory() && entry.name.startsWith(PREFIX)) names.add(entry.name.slice(PREFIX.length));
  }
  return [...names].sort();
}

/** mkdir -p of a cgroup directory; returns the directories it made, for a rollback. */
export function makeDirs(path: string, steps: Steps): string[] {
  const made: string[] = [];
  const parts = path.split('/');
  for (let i = 2; i <= parts.length; i++) {
    const dir = parts.slice(0, i).join('/');
    if (existsSync(dir)) continue;
    steps.run(`mkdir ${dir}`);
    if (!steps.mode.dryRun) mkdirSync(dir);
    made.push(dir);
  }
  return made;
}
