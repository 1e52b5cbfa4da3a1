export { SystemCallError, check, libc } from './libc.ts';
export { lockFile, tryLockFile, withFileLock, type FileLock } from './flock.ts';
export { getXattr, listXattrs, setXattr } from './xattr.ts';
export { deviceNumbers, makedev, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from './mknod.ts';
export { parseDeviceSpec, type DeviceSpec } from './dev.ts';
export { MNT_DETACH, mount, mountWithFsconfig, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE, umount2 } from './mount.ts';
export { execvp, preloadExecvp } from './exec.ts';
export { attachedPrograms, attachProgram, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, closeProgram, loadProgram } from './bpf.ts';
