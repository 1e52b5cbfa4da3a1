export { SystemCallError, check, libc } from './libc.ts';
export { lockFile, withFileLock, type FileLock } from './flock.ts';
export { getXattr, listXattrs, setXattr } from './xattr.ts';
export { deviceNumbers, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './mknod.ts';
export { MNT_DETACH, mount, mountWithFsconfig, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE, umount2 } from './mount.ts';
export { execvp } from './exec.ts';
