import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { inInitialUserNamespace } from '@cutaway/libc/userns';
import type { OptionSpec } from './tool.ts';

/** An XDG base directory variable, used only when it holds an absolute path (the XDG Base Directory spec ignores others). */
function xdgDir(name: 'XDG_DATA_HOME' | 'XDG_RUNTIME_DIR'): string | undefined {
  const value = process.env[name];
  return value && isAbsolute(value) ? value : undefined;
}

/**
 * DESIGN.md "State": the root is --root, else CUTAWAY_ROOT, else /var/lib/cutaway — for an ordinary user
 * $XDG_DATA_HOME/cutaway (default ~/.local/share/cutaway), where rootless podman keeps its storage.
 */
export function stateRoot(option?: string): string {
  if (option !== undefined) return option;
  if (process.env.CUTAWAY_ROOT !== undefined) return process.env.CUTAWAY_ROOT;
  if (process.getuid?.() === 0) return '/var/lib/cutaway';
  return join(xdgDir('XDG_DATA_HOME') ?? join(homedir(), '.local', 'share'), 'cutaway');
}

/**
 * DESIGN.md "State": the runtime directory, CUTAWAY_RUN, else /run/cutaway. What belongs to the host rather than to
 * one state root (netbridge's networks, address leases and published ports) is recorded here, where every root sees it.
 * For an ordinary user, as rootless podman picks its run directory: $XDG_RUNTIME_DIR/cutaway, else
 * /run/user/UID/cutaway when that directory is the user's, else $TMPDIR/cutaway-run-UID (rootless.ts makes it, 0700).
 */
export function runtimeDir(option?: string): string {
  if (option !== undefined) return option;
  if (process.env.CUTAWAY_RUN) return process.env.CUTAWAY_RUN;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/cutaway';
  const xdg = xdgDir('XDG_RUNTIME_DIR');
  if (xdg) return join(xdg, 'cutaway');
  const session = `/run/user/${uid}`;
  try {
    if (statSync(session).uid === uid) return join(session, 'cutaway');
  } catch {
    // no session directory (no logind): the fallback below
  }
  return join(tmpdir(), `cutaway-run-${uid}`);
}

/**
 * Whether this process runs rootless: as an ordinary user, or as root of a user namespace other than the
 * initial one (rootless cutaway re-executes itself into one, rootless.ts; the tools it runs are there too).
 * Rootless, there is no cgroup to make (none is delegated to an ordinary user here) and no bridge in the
 * host's network namespace.
 */
export function rootless(): boolean {
  return process.getuid?.() !== 0 || !inInitialUserNamespace();
}

/** The one OCI image layout that holds every image: <root>/images. */
export function imageStoreDir(root: string): string {
  return join(root, 'images');
}

/** `--root`, which every tool that touches the state takes. */
export const ROOT_OPTION = { name: 'root', type: 'string', arg: 'DIR', help: 'state root (default $CUTAWAY_ROOT, else /var/lib/cutaway; for a user ~/.local/share/cutaway)' } as const satisfies OptionSpec;

/**
 * What overlay-mount mounted for a container, in ROOT/containers/NAME/overlay.json: what layer-commit commits
 * (the upper, on the image it came from) and what cutaway stacks again when a container starts (the lowers).
 */
export interface MountRecord {
  merged: string;
  upper?: string;
  work?: string;
  lowers: string[];
  image?: string;
  imageDigest?: string;
}

/** The record's file in a container's directory. */
export function mountRecordPath(containerDir: string): string {
  return join(containerDir, 'overlay.json');
}

/** A container's mount record; undefined when it has none (never mounted, or no such container). */
export function readMountRecord(containerDir: string): MountRecord | undefined {
  const path = mountRecordPath(containerDir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as MountRecord) : undefined;
}
