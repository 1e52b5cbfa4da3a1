import { koffi, libc, libcFunction, SystemCallError } from './libc.ts';

// execvp(3): replace this process — Node, its threads and all — with the
// command, looked up in PATH, with the current environment (Node's
// process.env writes through to it). What `nice`, `chroot` and `env` do last.
const execvpFn = libcFunction('int execvp(const char *file, const char **argv)');
const fcntl = libcFunction('int fcntl(int fd, int cmd, int arg)');
const signalFn = libcFunction<unknown>('void *signal(int signum, void *handler)');
const sigprocmask = libcFunction('int sigprocmask(int how, const void *set, void *oldset)');

const F_GETFD = 1;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;
const SIG_SETMASK = 2;
const SIGKILL = 9;
const SIGSTOP = 19;

/**
 * Undoes what Node did to the process that the command would inherit:
 * libuv marks stdio close-on-exec (the command would find fds 0-2 closed)
 * and non-blocking (a command writing to a full pipe would get EAGAIN and
 * fail), and Node ignores SIGPIPE (ignored signals stay ignored
 * across execve(2), so `yes | head -1` would never end). Every signal goes
 * back to its default and none stays blocked, as a shell's child gets them.
 */
function resetInheritedState(): void {
  for (const fd of [0, 1, 2]) {
    const fdFlags = fcntl(fd, F_GETFD, 0);
    if (fdFlags !== -1 && fdFlags & FD_CLOEXEC) fcntl(fd, F_SETFD, fdFlags & ~FD_CLOEXEC);
    const flags = fcntl(fd, F_GETFL, 0);
    if (flags !== -1 && flags & O_NONBLOCK) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
  for (let sig = 1; sig < 32; sig++) if (sig !== SIGKILL && sig !== SIGSTOP) signalFn(sig, null);
  sigprocmask(SIG_SETMASK, Buffer.alloc(128), null);
}

/** Never returns on success; throws SystemCallError (ENOENT, EACCES, …) when the command cannot be executed. */
export function execvp(file: string, args: readonly string[]): never {
  resetInheritedState();
  execvpFn(file, [...args, null]);
  throw new SystemCallError('execvp', koffi().errno(), file);
}

/**
 * Loads now what execvp loads at its first call (koffi and libc, ~2 MB): for a process that joins a cgroup before
 * it becomes the command (cg-limit exec), so that they are charged where it was, not to the new cgroup's limit.
 */
export function preloadExecvp(): void {
  libc();
}
