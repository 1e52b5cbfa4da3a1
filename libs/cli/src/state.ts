import { join } from 'node:path';
import type { OptionSpec } from './tool.ts';

/** DESIGN.md "State": the root is --root, else CUTAWAY_ROOT, else /var/lib/cutaway. */
export function stateRoot(option?: string | boolean | string[]): string {
  return typeof option === 'string' ? option : (process.env.CUTAWAY_ROOT ?? '/var/lib/cutaway');
}

/** The one OCI image layout that holds every image: <root>/images. */
export function imageStoreDir(root: string): string {
  return join(root, 'images');
}

/** `--root`, which every tool that touches the state takes. */
export const ROOT_OPTION: OptionSpec = { name: 'root', type: 'string', arg: 'DIR', help: 'state root (default $CUTAWAY_ROOT or /var/lib/cutaway)' };
