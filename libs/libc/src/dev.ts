/**
 * dev_t and file types (sys/sysmacros.h, inode(7)), kept apart from the
 * koffi bindings so that a tool which only plans device nodes (ns-exec's
 * planner) does not load libc at start.
 */
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
