import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { readMountRecord, ToolError, UsageError, type Steps } from '@cutaway/cli';
import { umount2 } from '@cutaway/libc';
import { resolvedPath } from './dirs.ts';
import { mountPoints } from './overlay.ts';

/** A named container's directory under the state root: what overlay-mount records of its mount is there. */
export function containerDir(root: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name)) throw new UsageError(`invalid container name ${JSON.stringify(name)}: letters, digits, "_", "." and "-", as in Docker`);
  return join(root, 'containers', name);
}

/**
 * `--unmount`'s work (not its dry run's): `target` unmounted if it is mounted (unmounting what is not is done),
 * then, given `removeDir` (--rm), the container's directory with its own upper and work.
 */
export async function unmountTarget(target: string, removeDir: string | undefined, steps: Steps): Promise<void> {
  if (mountPoints().has(target)) {
    steps.run(['umount', target]);
    try {
      umount2(target);
    } catch (e) {
      const code = (e as { code?: string }).code;
      throw new ToolError(`umount ${target}: ${code ?? (e as Error).message}`, code === 'EBUSY' ? 'a process still uses it (fuser -vm it)' : undefined);
    }
  }
  if (removeDir) {
    steps.run(['rm', '-rf', removeDir]);
    await rm(removeDir, { recursive: true, force: true });
  }
}

/**
 * `overlay-mount --unmount NAME [--rm]` under the state root `root`, for a program with overlay-mount in it
 * (cutaway's teardown): the same work, no output. A container gone already is done with --rm, as the tool says.
 */
export async function unmountContainer(root: string, name: string, removeDir: boolean, steps: Steps): Promise<void> {
  const dir = containerDir(resolvedPath(root), name);
  const record = readMountRecord(dir);
  if (!record && !existsSync(dir)) {
    if (removeDir) return;
    throw new ToolError(`no container named ${name} in ${join(root, 'containers')}`);
  }
  await unmountTarget(record?.merged ?? join(dir, 'merged'), removeDir ? dir : undefined, steps);
}
