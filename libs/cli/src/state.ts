import { join } from 'node:path';

/** DESIGN.md "State": the root is --root, else CUTAWAY_ROOT, else /var/lib/cutaway. */
export function stateRoot(option?: string | boolean | string[]): string {
  return typeof option === 'string' ? option : (process.env.CUTAWAY_ROOT ?? '/var/lib/cutaway');
}

/** The one OCI image layout that holds every image: <root>/images. */
export function imageStoreDir(root: string): string {
  return join(root, 'images');
}
