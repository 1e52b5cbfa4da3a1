import { constants as osConstants } from 'node:os';
import koffi from 'koffi';

/** glibc, loaded once; every binding in this lib goes through it. */
export const libc = koffi.load('libc.so.6');

const errnoNames = new Map(Object.entries(osConstants.errno).map(([name, no]) => [no, name]));

/** An errno from a libc call, worded like Node's own fs errors: `flock /x: EBADF (9)`. */
export class SystemCallError extends Error {
  override name = 'SystemCallError';
  readonly code: string;
  constructor(readonly syscall: string, readonly errno: number, readonly path?: string) {
    const code = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${syscall}${path ? ` ${path}` : ''}: ${code} (${errno})`);
    this.code = code;
  }
}

/** Throws SystemCallError when a libc call returned -1. */
export function check(result: number, syscall: string, path?: string): number {
  if (result === -1) throw new SystemCallError(syscall, koffi.errno(), path);
  return result;
}
