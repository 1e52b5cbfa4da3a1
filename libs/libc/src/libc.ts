import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import type * as Koffi from 'koffi';

/** `make`'s value, made at the first call and kept. */
export function lazily<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/**
 * koffi, loaded at the first libc call rather than when a tool starts: most commands make no libc call
 * (`cutaway ps`, any --help). createRequire: an `import` would load it at start, and `await import()` would
 * make every call here asynchronous.
 *
 * Its native addon for this machine is loaded directly (~2 ms). koffi's index.js (~9 ms, on the way of every
 * `cutaway run`: the store's lock is a flock) loads https, crypto and zlib for its installer, looks for the
 * addon in several places and only adds deprecated aliases to it (koffi 2.16, src/koffi/src/init.js). Where
 * there is no such file (a platform it builds elsewhere, musl), koffi's own loader finds it.
 */
export const koffi = lazily((): typeof Koffi => {
  const load = createRequire(import.meta.url);
  try {
    return load(`koffi/build/koffi/${process.platform}_${process.arch}/koffi.node`) as typeof Koffi;
  } catch {
    return load('koffi') as typeof Koffi;
  }
});

/** glibc, loaded once at the first call; every binding in this lib goes through it. */
export const libc = lazily(() => koffi().load('libc.so.6'));

/**
 * A libc function by its C prototype, as koffi's `func` takes it, bound at its first call. `R`: what koffi
 * returns for the prototype's result type (a number for an int, bigint too for a long that may not fit one).
 */
export function libcFunction<R = number>(prototype: string): (...args: unknown[]) => R {
  const bound = lazily(() => libc().func(prototype));
  return (...args) => bound()(...args) as R;
}

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
  if (result === -1) throw new SystemCallError(syscall, koffi().errno(), path);
  return result;
}
