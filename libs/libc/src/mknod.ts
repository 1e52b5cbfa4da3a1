import { check, libcFunction } from './libc.ts';
import { makedev } from './dev.ts';

// Node's fs cannot make device nodes or fifos: mknod(2) through libc.
const mknodFn = libcFunction('int mknod(const char *path, uint32_t mode, uint64_t dev)');

export { deviceNumbers, makedev, S_IFBLK, S_IFCHR, S_IFIFO } from './dev.ts';

export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  check(mknodFn(path, mode, makedev(major, minor)), 'mknod', path);
}
