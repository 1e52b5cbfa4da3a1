import { check, libc } from './libc.ts';

// Node's fs cannot make device nodes or fifos: mknod(2) through libc.
const mknodFn = libc.func('int mknod(const char *path, uint32_t mode, uint64_t dev)');

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** glibc's makedev() for Linux's dev_t encoding (sys/sysmacros.h). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** glibc's major()/minor(): the two numbers of a dev_t (a stat's rdev). */
export function deviceNumbers(rdev: number | bigint): { major: number; minor: number } {
  const dev = BigInt(rdev);
  return { major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)), minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)) };
}

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(mknodFn(path, mode, makedev(major, minor)), 'mknod', path);
}
