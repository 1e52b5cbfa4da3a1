export { SystemCallError, check, libc } from './libc.ts';
export { lockFile, withFileLock, type FileLock } from './flock.ts';
export { getXattr, listXattrs, setXattr } from './xattr.ts';
