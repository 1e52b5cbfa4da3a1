import { check, libcFunction } from './libc.ts';

// mount(2), umount2(2), and the new mount API (fsopen(2), fsconfig(2),
// fsmount(2), move_mount(2)), which takes overlay lower layers one at a time
// ("lowerdir+", kernel 6.8) instead of in one option string that mount(2)
// truncates at a page.

const mountFn = libcFunction('int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)');
const umount2Fn = libcFunction('int umount2(const char *target, int flags)');
const syscall = libcFunction<number | bigint>('long syscall(long number, ...)');
const closeFn = libcFunction('int close(int fd)');


export { MNT_DETACH, MS_BIND, MS_MOVE, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT, MS_SLAVE } from './mount-flags.ts';

/** Syscall numbers of the new mount API: the same on x86_64 and arm64 (they postdate the 5.1 unification). */
const SYS = { move_mount: 429, fsopen: 430, fsconfig: 431, fsmount: 432 } as const;
const FSOPEN_CLOEXEC = 0x1;
const FSCONFIG_SET_FLAG = 0;
const FSCONFIG_SET_STRING = 1;
const FSCONFIG_CMD_CREATE = 6;
const FSMOUNT_CLOEXEC = 0x1;
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const AT_FDCWD = -100;

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void {
  check(mountFn(source, target, fstype, flags, data), 'mount', target);
}

export function umount2(target: string, flags = 0): void {
  check(umount2Fn(target, flags), 'umount2', target);
}

function sys(name: keyof typeof SYS, ...args: unknown[]): number {
  return Number(syscall(SYS[name], ...args));
}

/**
 * Mounts a filesystem through fsopen/fsconfig/fsmount/move_mount: each
 * option is its own fsconfig call, so there is no length limit on the whole.
 * `options` are [key, value] pairs (value null for a flag); keys may repeat.
 */
export function mountWithFsconfig(fstype: string, target: string, options: [string, string | null][]): void {
  const fs = check(sys('fsopen', 'str', fstype, 'uint', FSOPEN_CLOEXEC), 'fsopen', fstype);
  try {
    for (const [key, value] of options) {
      const result =
        value === null
          ? sys('fsconfig', 'int', fs, 'uint', FSCONFIG_SET_FLAG, 'str', key, 'void *', null, 'int', 0)
          : sys('fsconfig', 'int', fs, 'uint', FSCONFIG_SET_STRING, 'str', key, 'str', value, 'int', 0);
      check(result, `fsconfig ${key}${value === null ? '' : `=${value}`}`, target);
    }
    check(sys('fsconfig', 'int', fs, 'uint', FSCONFIG_CMD_CREATE, 'void *', null, 'void *', null, 'int', 0), 'fsconfig create', target);
    const mnt = check(sys('fsmount', 'int', fs, 'uint', FSMOUNT_CLOEXEC, 'uint', 0), 'fsmount', target);
    try {
      check(sys('move_mount', 'int', mnt, 'str', '', 'int', AT_FDCWD, 'str', target, 'uint', MOVE_MOUNT_F_EMPTY_PATH), 'move_mount', target);
    } finally {
      closeFn(mnt);
    }
  } finally {
    closeFn(fs);
  }
}
