import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptionSpec } from './tool.ts';

/** DESIGN.md "State": the root is --root, else CUTAWAY_ROOT, else /var/lib/cutaway. */
export function stateRoot(option?: string): string {
  return option ?? process.env.CUTAWAY_ROOT ?? '/var/lib/cutaway';
}

/**
 * DESIGN.md "State": the runtime directory, CUTAWAY_RUN, else /run/cutaway. What belongs to the host rather than to
 * one state root (netbridge's networks, address leases and published ports) is recorded here, where every root sees it.
 */
export function runtimeDir(option?: string): string {
  return option ?? (process.env.CUTAWAY_RUN || '/run/cutaway');
}

/** The one OCI image layout that holds every image: <root>/images. */
export function imageStoreDir(root: string): string {
  return join(root, 'images');
}

/** `--root`, which every tool that touches the state takes. */
export const ROOT_OPTION = { name: 'root', type: 'string', arg: 'DIR', help: 'state root (default $CUTAWAY_ROOT or /var/lib/cutaway)' } as const satisfies OptionSpec;

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
