/*
 * syscall-probe: makes raw system calls and prints, one line each, `NAME RESULT`: `ok`, or the errno's name.
 * seccomp.test.ts and runc.test.ts compile it statically (cc -static) and copy it into a rootfs, to see
 * which calls a container's seccomp filter refuses, and how (EPERM, ENOSYS), under ns-exec and under runc.
 *
 * Where it can, a probe passes arguments the kernel rejects before doing anything (a NULL pointer: EFAULT,
 * an unknown flag: EINVAL, fd -1: EBADF), so a call that gets through changes nothing and answers with
 * something other than the filter's EPERM. Each probe runs in a child of its own (fork), so that one that
 * succeeds (unshare, personality) leaves the next ones as they were.
 *
 *   syscall-probe [NAME…]        the probes named, or all of them
 *   syscall-probe keyread ID     read key ID (keyctl KEYCTL_READ): its payload, or the errno's name
 *   syscall-probe keylink-user   link the user keyring (@u) into the session keyring (@s)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

/* A node a probe made is removed again; the probe's result (and its errno) is kept. */
static long removed(const char *path, long rc) {
  int err = errno;
  if (rc == 0) unlink(path);
  errno = err;
  return rc;
}

#if defined(__x86_64__)
/* A call through the i386 ABI (int $0x80: seccomp sees AUDIT_ARCH_I386), as a 32-bit program makes it. */
static long i386_call(long nr, long a, long b, long c) {
  long rc;
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr), "b"(a), "c"(b), "d"(c) : "memory");
  if (rc < 0 && rc > -4096) {
    errno = (int)-rc;
    return -1;
  }
  return rc;
}
#endif

/* A child that makes the call exits 0, or with the errno; a clone that made a child reports ok. */
static long probe(const char *name) {
#if defined(__x86_64__)
  /* i386 numbers: getpid 20, mknod 14, add_key 286. x32 numbers are x86_64's with bit 30 set (ENOSYS where the kernel has no x32). */
  if (!strcmp(name, "i386-getpid")) return i386_call(20, 0, 0, 0);
  if (!strcmp(name, "i386-add_key")) return i386_call(286, 0, 0, 0);
  if (!strcmp(name, "i386-mknod-char")) {
    return removed("/tmp/cw-probe-node", i386_call(14, (long)"/tmp/cw-probe-node", S_IFCHR | 0600, (long)makedev(1, 3)));
  }
  if (!strcmp(name, "x32-getpid")) return syscall(0x40000000 | SYS_getpid);
  if (!strcmp(name, "x32-add_key")) return syscall(0x40000000 | SYS_add_key, 0, 0, 0, 0, 0);
#endif
  if (!strcmp(name, "add_key")) return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
  if (!strcmp(name, "request_key")) return syscall(SYS_request_key, NULL, NULL, NULL, 0);
  if (!strcmp(name, "keyctl")) return syscall(SYS_keyctl, 9999, 0, 0, 0, 0);
  if (!strcmp(name, "perf_event_open")) return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
  if (!strcmp(name, "userfaultfd")) return syscall(SYS_userfaultfd, ~0);
  if (!strcmp(name, "io_uring_setup")) return syscall(SYS_io_uring_setup, 1, NULL);
  /* FAN_CLASS_NOTIF | FAN_REPORT_FID is allowed without CAP_SYS_ADMIN; the event flags then fail: EINVAL. */
  if (!strcmp(name, "fanotify_init")) return syscall(SYS_fanotify_init, 0x00000200, ~0U);
  if (!strcmp(name, "kcmp")) return syscall(SYS_kcmp, getpid(), getpid(), 9999, 0, 0);
  if (!strcmp(name, "move_pages")) return syscall(SYS_move_pages, 0, 1, NULL, NULL, NULL, ~0);
  if (!strcmp(name, "personality-addr-no-randomize")) return syscall(SYS_personality, ADDR_NO_RANDOMIZE);
  if (!strcmp(name, "personality-query")) return syscall(SYS_personality, 0xffffffffUL);
  if (!strcmp(name, "unshare-user")) return syscall(SYS_unshare, CLONE_NEWUSER);
  if (!strcmp(name, "unshare-uts")) return syscall(SYS_unshare, CLONE_NEWUTS);
  if (!strcmp(name, "clone3")) return syscall(SYS_clone3, NULL, 0);
  /* A user namespace needs no capability: only a filter stops clone(CLONE_NEWUSER); CLONE_NEWUTS needs CAP_SYS_ADMIN. */
  if (!strcmp(name, "clone-newuser") || !strcmp(name, "clone-newuts")) {
    long pid = syscall(SYS_clone, (!strcmp(name, "clone-newuser") ? CLONE_NEWUSER : CLONE_NEWUTS) | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid((pid_t)pid, NULL, 0);
    return pid < 0 ? -1 : 0;
  }
  if (!strcmp(name, "mount")) return syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
  if (!strcmp(name, "setns")) return syscall(SYS_setns, -1, 0);
  if (!strcmp(name, "bpf")) return syscall(SYS_bpf, 9999, NULL, 0);
  if (!strcmp(name, "ptrace")) return syscall(SYS_ptrace, 9999, 0, NULL, NULL);
  if (!strcmp(name, "mseal")) return syscall(__NR_mseal, 1, 0, ~0UL);
  if (!strcmp(name, "socket-inet")) return syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
  if (!strcmp(name, "socket-netlink")) return syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
  if (!strcmp(name, "socket-alg")) return syscall(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0);
  if (!strcmp(name, "socket-vsock")) return syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0);
  if (!strcmp(name, "mknod-char")) {
    long rc = syscall(SYS_mknodat, AT_FDCWD, "/tmp/cw-probe-node", S_IFCHR | 0600, makedev(1, 3));
    return removed("/tmp/cw-probe-node", rc);
  }
  if (!strcmp(name, "mknod-fifo")) {
    return removed("/tmp/cw-probe-fifo", syscall(SYS_mknodat, AT_FDCWD, "/tmp/cw-probe-fifo", S_IFIFO | 0600, 0));
  }
  if (!strcmp(name, "getpid")) return syscall(SYS_getpid);
  fprintf(stderr, "syscall-probe: unknown probe %s\n", name);
  exit(2);
}

static const char *const ALL[] = {
    "add_key", "request_key", "keyctl", "perf_event_open", "userfaultfd", "io_uring_setup", "fanotify_init", "kcmp",
    "move_pages", "personality-addr-no-randomize", "personality-query", "unshare-user", "unshare-uts", "clone3",
    "clone-newuser", "clone-newuts", "mount", "setns", "bpf", "ptrace", "mseal", "socket-inet", "socket-netlink", "socket-alg",
    "socket-vsock", "mknod-char", "mknod-fifo", "getpid",
#if defined(__x86_64__)
    "i386-getpid", "i386-add_key", "i386-mknod-char", "x32-getpid", "x32-add_key",
#endif
    NULL,
};

static void run(const char *name) {
  int fds[2];
  if (pipe(fds) < 0) exit(3);
  pid_t pid = fork();
  if (pid < 0) exit(3);
  if (pid == 0) {
    close(fds[0]);
    errno = 0;
    long rc = probe(name);
    int err = rc < 0 ? errno : 0;
    if (write(fds[1], &err, sizeof err) != sizeof err) _exit(3);
    _exit(0);
  }
  close(fds[1]);
  int err = -1, status;
  ssize_t got = read(fds[0], &err, sizeof err);
  close(fds[0]);
  waitpid(pid, &status, 0);
  if (got != sizeof err) printf("%s killed\n", name);
  else if (!err) printf("%s ok\n", name);
  else printf("%s %s\n", name, strerrorname_np(err) ? strerrorname_np(err) : "?");
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 3 && !strcmp(argv[1], "keyread")) {
    char buf[256];
    long n = syscall(SYS_keyctl, KEYCTL_READ, strtol(argv[2], NULL, 0), buf, sizeof buf - 1, 0);
    if (n < 0) printf("%s\n", strerrorname_np(errno));
    else printf("read %.*s\n", (int)(n < (long)sizeof buf ? n : (long)sizeof buf - 1), buf);
    return 0;
  }
  if (argc == 2 && !strcmp(argv[1], "keylink-user")) {
    long rc = syscall(SYS_keyctl, KEYCTL_LINK, KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING, 0, 0);
    printf("%s\n", rc < 0 ? strerrorname_np(errno) : "ok");
    return 0;
  }
  if (argc > 1)
    for (int i = 1; i < argc; i++) run(argv[i]);
  else
    for (const char *const *p = ALL; *p; p++) run(*p);
  return 0;
}
