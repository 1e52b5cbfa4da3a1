import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ToolError, type Steps } from '@cutaway/cli';
import { findImage, OciLayout, writeFileAtomic } from '@cutaway/oci';
import { StagingTree, type Owner, type Staging } from './build/staging.ts';
import { execProcess, type ExecOptions } from './containers/exec.ts';
import { markDown, runProcess, startShim, type ProcessIO } from './containers/lifecycle.ts';
import { eachInParallel } from './containers/parallel.ts';
import { runningPid } from './containers/state.ts';
import { stopContainer } from './containers/stop.ts';
import type { ContainerConfigRecord, ContainerStore } from './containers/store.ts';
import { inProcess, tool, tryInProcess, tryTool } from './tools.ts';

/**
 * How a command's steps are carried out. The same code (lifecycle.ts's prepare and teardown, run, build's
 * steps) runs against one of two runners: the real one does each step now; the script recorder
 * (script-runner.ts) writes each as a line of bash for --dry-run and gives back, for a value only known when
 * the step has run (the merged path overlay-mount prints, the address netbridge gives), a reference to a
 * shell variable that the following steps use in its place — so the steps are written once.
 */
export interface Runner {
  readonly dryRun: boolean;
  /** A tool run as a command: its stdout, trimmed. `as` names the value in a script (unnamed: the output is not used). */
  tool(name: string, args: readonly string[], env: NodeJS.ProcessEnv, as?: string): Promise<string>;
  /** A tool run for its effect on something that may be gone already (teardown): its failure is ignored. */
  tryTool(name: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<void>;
  /**
   * tryTool's step done here, by the tool's own code bundled into cutaway (`work`, given the tool's steps to trace),
   * not by a Node start of its own (issue 22): `--trace` shows the same command line and the same labelled
   * steps; a script runs the tool as a command.
   */
  tryInProcess(name: string, args: readonly string[], env: NodeJS.ProcessEnv, work: (steps: Steps) => Promise<void>): Promise<void>;
  /** tool()'s step done here, as tryInProcess does tryTool's: `work` returns what the tool would print, and a failure is the tool's. */
  inProcess(name: string, args: readonly string[], env: NodeJS.ProcessEnv, as: string | undefined, work: (steps: Steps) => Promise<string>): Promise<string>;
  /**
   * A tool run with --json, done here as inProcess does (`work` returns the object the tool would print): the named
   * fields of that object (the real runner gives all of it; a script, a variable for each field, read with jq).
   */
  inProcessFields<K extends string>(name: string, args: readonly string[], env: NodeJS.ProcessEnv, as: string, fields: readonly K[], work: (steps: Steps) => Promise<string>): Promise<Record<K, string>>;
  /** A file of cutaway's own, written whole or not at all (temp file + rename). */
  writeFile(path: string, content: string): Promise<void>;
  mkdir(path: string): void;
  /** The time now, as toISOString gives it. */
  now(as: string): string;
  /** SHA-256 of a text, in hex. */
  sha256(text: string, as: string): string;
  /**
   * `body`, and `undo` if it fails, before the failure goes on: what was made is taken down. In a script: `undo`
   * becomes a function an EXIT trap calls while `body` runs.
   */
  guarded<T>(body: () => Promise<T>, undo: () => Promise<void>): Promise<T>;
  /** A note on what follows (a comment in a script; nothing when running). */
  note(text: string): void;
  /** A line of the command's own output (stdout). */
  print(line: string): void;
  /** The command's exit status: `code`, a process's status (in a script: the script exits with that process's). */
  status(code: number): number;
  /**
   * A process's status must be 0, else the command fails with it, `message(status)` and the hint `failed` returns;
   * `failed` first does what the command does about it (build keeps a failed RUN's container). Called outside any
   * guard, so that no guard's undo runs then. (In a script: an `if` on the status, `failed`'s lines in it.)
   */
  checkStatus(code: number, message: (status: string) => string, failed?: () => Promise<string | undefined>): Promise<void>;
  /** A new temporary directory, and one removed with all it holds. */
  tempDir(as: string): string;
  removeTree(path: string): void;
  /** In the OCI layout `layoutDir`, `name` points at what `image` (a name there) points at (docker tag). */
  tagImage(layoutDir: string, image: string, name: string): Promise<void>;
  /** The ID (config digest) of an image of the layout `layoutDir`; `short`: its first 12 hex digits, as Docker shows one. */
  imageId(layoutDir: string, image: string, short?: boolean): Promise<string>;
  /** The directory a COPY or ADD layer is made from (build/staging.ts), `image` the parent's rootfs, `mode` --chmod's. */
  staging(root: string, owner: Owner, image?: string, mode?: number): Staging;

  // The container steps whose script is not a tool's command line: the record, the process, the shim.
  /** A new container's record (store.create: directory, state.json, config.json, its name reserved). */
  createContainer(store: ContainerStore, name: string | undefined, configOf: (id: string, name: string) => ContainerConfigRecord): Promise<ContainerConfigRecord>;
  /** A container's directory and its name's reservation, gone (store.remove). */
  removeContainer(store: ContainerStore, id: string, name: string): void;
  /** Once taken down: state.json says so (exited containers), and the keeper's shim.pid goes. */
  markDown(store: ContainerStore, id: string): Promise<void>;
  /** ns-exec in the foreground, its output shown and logged: its status (lifecycle.ts runProcess). */
  runProcess(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[], io: ProcessIO, env: NodeJS.ProcessEnv, signals?: 'pass' | 'kill'): Promise<number>;
  /** A detached container's shim (lifecycle.ts startShim). */
  startShim(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[], root: string): Promise<void>;
  /** A running container's PID 1, as the host sees it (else the command's error: not running). */
  containerPid(store: ContainerStore, id: string): string;
  /** ns-exec --enter …: a process in a running container (exec.ts execProcess): its status. */
  execProcess(args: string[], options: ExecOptions, root: string): Promise<number>;
  /**
   * Its stop signal (or `signal`) to PID 1, SIGKILL after `seconds`, until its shim has taken it down — or, with
   * `claimTeardown`, has ended, leaving that to the caller (stop.ts stopContainer); nothing when it does not run.
   */
  stopContainer(store: ContainerStore, id: string, seconds: number, signal?: number, claimTeardown?: boolean): Promise<void>;
  /** `down` if what the container had is taken down already (state.json's down), else `up`; nothing once its directory is gone. */
  whenDown(store: ContainerStore, id: string, down: () => Promise<void>, up: () => Promise<void>): Promise<void>;
  /** One operation on several containers, each name printed once its operation is done (parallel.ts eachInParallel). */
  each(ids: string[], names: string[], operation: (id: string) => Promise<void>): Promise<void>;
}

/** The real runner: each step now. */
export const realRunner: Runner = {
  dryRun: false,
  tool: (name, args, env) => tool(name, [...args], env),
  tryTool: (name, args, env) => tryTool(name, [...args], env),
  tryInProcess: (name, args, _env, work) => tryInProcess(name, [...args], work),
  inProcess: (name, args, _env, _as, work) => inProcess(name, [...args], work),
  inProcessFields: async (name, args, _env, _as, _fields, work) => JSON.parse(await inProcess(name, [...args], work)),
  writeFile: (path, content) => writeFileAtomic(path, content),
  mkdir: (path) => {
    mkdirSync(path, { recursive: true, mode: 0o755 });
  },
  now: () => new Date().toISOString(),
  sha256: (text) => createHash('sha256').update(text).digest('hex'),
  guarded: async (body, undo) => {
    try {
      return await body();
    } catch (e) {
      await undo();
      throw e;
    }
  },
  note: () => {},
  print: (line) => {
    process.stdout.write(`${line}\n`);
  },
  status: (code) => code,
  checkStatus: async (code, message, failed) => {
    if (code === 0) return;
    const hint = await failed?.();
    throw new ToolError(message(String(code)), hint, code);
  },
  tempDir: () => mkdtempSync(join(tmpdir(), 'cw-')),
  removeTree: (path) => rmSync(path, { recursive: true, force: true }),
  tagImage: async (layoutDir, image, name) => {
    const layout = await OciLayout.open(layoutDir);
    await layout.addRef(name, (await findImage(layout, image)).descriptor);
  },
  imageId: async (layoutDir, image, short) => {
    const id = (await findImage(await OciLayout.open(layoutDir), image)).manifest.config.digest;
    return short ? id.replace(/^sha256:/, '').slice(0, 12) : id;
  },
  staging: (root, owner, image, mode) => new StagingTree(root, owner, image, mode),
  createContainer: (store, name, configOf) => store.create(name, configOf),
  removeContainer: (store, id, name) => store.remove(id, name),
  markDown,
  runProcess,
  startShim,
  containerPid: (store, id) => String(runningPid(store, id)),
  execProcess,
  stopContainer,
  whenDown: (store, id, down, up) => (store.state(id).down ? down() : up()),
  each: eachInParallel,
};
