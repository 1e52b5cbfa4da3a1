/*
 * ns-exec: the part of ns-exec that runs without Node.
 *
 * Node is multithreaded, and namespaces do not mix with threads
 * (unshare(CLONE_NEWUSER) fails, CLONE_NEWNS moves one thread, CLONE_NEWPID
 * affects only children: DESIGN.md). So the work is split the way runc splits
 * it between its C nsexec and its Go: this program starts first, runs the
 * TypeScript planner (ns-exec-plan.ts, bundled as dist/ns-exec-plan.cjs) once as a child, and reads from it a
 * plan: a list of steps, each with the shell command that does the same (what
 * --trace prints). Node has exited before any namespace exists. Every decision
 * (which namespaces, which mounts, which user, which capabilities) is the
 * planner's; this file only carries the steps out, in order:
 *
 *   ns-exec ──fork──► node ns-exec-plan.cjs -- ARGS   (writes the plan to fd 3, exits)
 *      │ steps before `clone` (join a netns, a cgroup)
 *      │ clone(CLONE_NEWPID|NEWNS|…) ──► child = PID 1 of the new pid namespace:
 *      │                                 mounts, pivot_root, hostname, identity,
 *      │                                 capabilities, execve(CMD)
 *      │ back to its own cgroups (the container's count the container only)
 *      └ stays as the parent (like `unshare --fork`): writes uid/gid maps for a
 *        user namespace, forwards signals, relays a terminal (-t), and exits
 *        with the command's status (128+N after signal N) — with --exit-file
 *        written to that file first, so that it outlives whoever waited for
 *        ns-exec (a killed keeper, a killed `cutaway run`).
 *
 * With --enter PID (docker exec) the same program joins a running
 * container instead: the steps before the clone join its cgroups and its
 * user and pid namespaces, the clone makes no namespace (a fork), and the
 * child joins the others (setns, the mount namespace last) before identity,
 * capabilities and execve.
 *
 * The plan is a sequence of NUL-terminated strings: an opcode, its trace
 * text, then a fixed number of arguments per opcode (lists carry a count).
 * The opcodes are step_names below; steps.ts declares them for the planner.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/keyctl.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define STATUS_FAILED 125 /* DESIGN.md: ns-exec itself failed */
/* A plan file's first word (plan.ts PLAN_FILE_HEADER, held equal by test/steps.test.ts). */
#define PLAN_FILE_HEADER "ns-exec-plan 2"

static int trace_fd = -1;         /* --trace: a copy of the fd its lines go to (stderr, or CUTAWAY_TRACE_FD's); -1 when off */
static const char *trace_label = ""; /* CUTAWAY_TRACE_LABELS: each step's line ends `  # ns-exec` */
static pid_t planner_pid;  /* Node, exiting while the container is made; reaped once the command runs */
static char *plan;
static size_t plan_len, plan_pos;
/* In the child until execve: failures go to the parent through this pipe (close-on-exec). */
static int error_fd = -1;

static volatile pid_t child_pid;

/* The OCI runtime's steps (runc create/run/exec; steps.ts declares them). */
static pid_t main_pid;             /* ns-exec's own pid: only it removes the state directory */
static pid_t host_pid;             /* PID 1's pid as the host sees it: the `pid` of the hooks' state */
static char **cleanup_args;        /* `cleanup`: the planner's arguments that undo the container (runc's destroy) */
static int create_fifo = -1;       /* `create`: the exec FIFO's directory, O_PATH; PID 1 waits on the FIFO before execve */
static const char *create_fifo_name;
static int detach;                 /* `detach`: the parent exits once the command runs */
static int preserve_fds;           /* `preserve-fds`: the caller's fds 3 … 3+N-1 reach the command */
static const char *console_socket; /* `console-socket`: where the terminal's master goes */
static const char *pid_files[8];   /* `pidfile`s */
static size_t pid_file_count;
/* PID 1 and the parent: 'H' (run your hooks) answered 'h'; 'C' (created: waiting for start). */
static int runtime_sock[2] = {-1, -1};

static void clean_up(void);

/*
 * Reports a failure as `ns-exec: error: WHAT` and ends with `status` (in the
 * parent, taking the child down with it). With `err` (an errno value, not 0)
 * the line is `WHAT: WHY`, WHY the C library's text for err. fail() and
 * fail_errno() are its two faces, as errx(3) and err(3) are (err adds the
 * text for errno). A forked helper that cannot exec ends here too: exit(3)
 * rather than _exit(2) is harmless, as ns-exec leaves no stdio buffered and
 * registers no atexit handler.
 */
static void __attribute__((noreturn)) vfail(int status, int err, const char *fmt, va_list ap) {
  char msg[4096];
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  if (err && n >= 0 && (size_t)n < sizeof msg) n += snprintf(msg + n, sizeof msg - (size_t)n, ": %s", strerror(err));
  if (n < 0 || (size_t)n >= sizeof msg) n = sizeof msg - 1;
  if (error_fd >= 0) {
    unsigned char code = (unsigned char)status;
    if (write(error_fd, &code, 1) == 1 && write(error_fd, msg, (size_t)n) < 0) { /* the parent reads what arrived */ }
    _exit(status);
  }
  if (child_pid > 0) kill(child_pid, SIGKILL);
  dprintf(2, "ns-exec: error: %s\n", msg);
  clean_up();
  exit(status);
}

/* A failure told by WHAT alone: `ns-exec: error: WHAT`. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(status, 0, fmt, ap);
  va_end(ap); /* not reached; va_start's pair (stdarg(3)) */
}

/* A failed call: `ns-exec: error: WHAT: WHY`, WHY from errno. */
static void __attribute__((noreturn, format(printf, 2, 3))) fail_errno(int status, const char *fmt, ...) {
  int err = errno; /* the failed call's, before anything here can change it */
  va_list ap;
  va_start(ap, fmt);
  vfail(status, err, fmt, ap);
  va_end(ap); /* not reached; va_start's pair (stdarg(3)) */
}

/* ---- reading the plan ---------------------------------------------------- */

static const char *next_str(void) {
  if (plan_pos >= plan_len) fail(STATUS_FAILED, "the plan from the planner ended early");
  const char *s = plan + plan_pos;
  plan_pos += strlen(s) + 1;
  return s;
}

static long long next_num(void) {
  const char *s = next_str();
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 0);
  if (errno || *s == '\0' || *end) fail(STATUS_FAILED, "bad number in the plan: %s", s);
  return v;
}

/* A number up to 2^64-1 (RLIM_INFINITY). */
static unsigned long long next_unum(void) {
  const char *s = next_str();
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *s == '\0' || *end) fail(STATUS_FAILED, "bad number in the plan: %s", s);
  return v;
}

/* An empty string stands for NULL (mount(2)'s unused source, type or data). */
static const char *next_opt(void) {
  const char *s = next_str();
  return *s ? s : NULL;
}

/* A counted list, NULL-terminated: argv, envp. */
static char **next_list(void) {
  long long n = next_num();
  char **list = calloc((size_t)n + 1, sizeof *list);
  if (!list) fail(STATUS_FAILED, "out of memory");
  for (long long i = 0; i < n; i++) list[i] = (char *)next_str();
  return list;
}

/*
 * The steps of a plan by name: the planner's StepName (steps.ts), one for
 * one; test/steps.test.ts compares this table with that union. Each step's
 * arguments are read where it is carried out, in the order steps.ts declares.
 * The two switches over a step (main's before the clone, child_steps' after)
 * name every one, so -Wswitch (-Wall) finds a step that neither takes.
 */
enum step {
  /* marks that Plan.encode writes itself */
  STEP_TRACE, STEP_CLONE, STEP_END,
  /* either side of the clone */
  STEP_WRITE, STEP_SETNS, STEP_MKDIR, STEP_HOOK,
  /* before the clone (main) */
  STEP_UIDMAP, STEP_GIDMAP, STEP_PIDFILE, STEP_EXITFILE, STEP_OOM, STEP_TTY, STEP_LEAVE, STEP_CLEAR_GROUPS,
  STEP_SESSION_KEYRING, STEP_CONSOLE_SOCKET, STEP_CREATE, STEP_DETACH, STEP_CLEANUP, STEP_PRESERVE_FDS,
  /* inside the new namespaces (child_steps) */
  STEP_MOUNT, STEP_REMOUNT, STEP_FORBID_DEVICE_NODES, STEP_SECCOMP, STEP_TOUCH, STEP_MKNOD, STEP_SYMLINK, STEP_MASK,
  STEP_LO_UP, STEP_READONLY, STEP_PTY, STEP_PIVOT, STEP_HOSTNAME, STEP_EXEC,
  STEP_PARENT_HOOKS, STEP_START_HOOK, STEP_RLIMIT, STEP_DOMAINNAME, STEP_MOVE_ROOT, STEP_CHROOT,
};

static const char *const step_names[] = {
    [STEP_TRACE] = "trace", [STEP_CLONE] = "clone", [STEP_END] = "end",
    [STEP_WRITE] = "write", [STEP_SETNS] = "setns", [STEP_MKDIR] = "mkdir", [STEP_HOOK] = "hook",
    [STEP_UIDMAP] = "uidmap", [STEP_GIDMAP] = "gidmap", [STEP_PIDFILE] = "pidfile", [STEP_EXITFILE] = "exitfile", [STEP_OOM] = "oom", [STEP_TTY] = "tty",
    [STEP_LEAVE] = "leave", [STEP_CLEAR_GROUPS] = "clear-groups", [STEP_SESSION_KEYRING] = "session-keyring",
    [STEP_CONSOLE_SOCKET] = "console-socket", [STEP_CREATE] = "create", [STEP_DETACH] = "detach", [STEP_CLEANUP] = "cleanup", [STEP_PRESERVE_FDS] = "preserve-fds",
    [STEP_MOUNT] = "mount", [STEP_REMOUNT] = "remount", [STEP_FORBID_DEVICE_NODES] = "forbid-device-nodes",
    [STEP_SECCOMP] = "seccomp",
    [STEP_TOUCH] = "touch", [STEP_MKNOD] = "mknod", [STEP_SYMLINK] = "symlink", [STEP_MASK] = "mask", [STEP_LO_UP] = "lo-up",
    [STEP_READONLY] = "readonly", [STEP_PTY] = "pty", [STEP_PIVOT] = "pivot", [STEP_HOSTNAME] = "hostname", [STEP_EXEC] = "exec",
    [STEP_PARENT_HOOKS] = "parent-hooks", [STEP_START_HOOK] = "start-hook", [STEP_RLIMIT] = "rlimit", [STEP_DOMAINNAME] = "domainname",
    [STEP_MOVE_ROOT] = "move-root", [STEP_CHROOT] = "chroot",
};

static enum step next_step(void) {
  const char *op = next_str();
  for (size_t i = 0; i < sizeof step_names / sizeof *step_names; i++)
    if (step_names[i] && !strcmp(op, step_names[i])) return (enum step)i;
  fail(STATUS_FAILED, "unknown step in the plan: %s", op);
}

/* A step of the other side of the clone (or a stray `end`): told as a name not in the table is. */
static void __attribute__((noreturn)) misplaced(enum step step) {
  fail(STATUS_FAILED, "unknown step in the plan: %s", step_names[step]);
}

static void show(const char *text) {
  if (trace_fd >= 0 && *text) dprintf(trace_fd, "+ %s%s%s\n", text, *trace_label ? "  # " : "", trace_label);
}

/* ---- running the planner ------------------------------------------------- */

/* The planner sits beside this binary: dist/ns-exec and dist/ns-exec-plan.cjs. */
static void planner_path(char *out, size_t size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n < 0) fail_errno(STATUS_FAILED, "readlink /proc/self/exe");
  self[n] = '\0';
  char *slash = strrchr(self, '/');
  if (slash) *slash = '\0';
  if ((size_t)snprintf(out, size, "%s/ns-exec-plan.cjs", self) >= size) fail(STATUS_FAILED, "path too long: %s", self);
}

/* Node may leave the open file descriptions of stdio non-blocking; the command shares them. */
static void stdio_blocking(void) {
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK)) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }
}

/* In a forked child: `node ns-exec-plan.cjs -- ARGS` (NULL-terminated), stdin /dev/null. */
static void __attribute__((noreturn)) run_planner(char **argv) {
  char script[PATH_MAX];
  planner_path(script, sizeof script);
  int null = open("/dev/null", O_RDONLY);
  if (null >= 0) dup2(null, 0);
  /* Parsing NODE_EXTRA_CA_CERTS costs 70-90 ms at Node's start where it names the system bundle; the planner speaks no TLS. */
  unsetenv("NODE_EXTRA_CA_CERTS");
  /* node SCRIPT -- ARGS: Node 20 reads `--env-file` anywhere on its command line, even after the script, unless a `--` comes first. */
  size_t argc = 0;
  while (argv[argc]) argc++;
  char **args = calloc(argc + 4, sizeof *args);
  if (!args) _exit(STATUS_FAILED);
  size_t n = 0;
  args[n++] = "node";
  args[n++] = script;
  args[n++] = "--";
  for (size_t i = 0; i < argc; i++) args[n++] = argv[i];
  execvp("node", args);
  fail_errno(STATUS_FAILED, "cannot run node");
}

/* A complete plan ends with the step `end` (Plan.encode): 1 and `*len` shortened to leave it out, or 0. */
static int complete_plan(const char *text, size_t *len) {
  static const char end_mark[] = "end\0";
  if (*len < sizeof end_mark || memcmp(text + *len - sizeof end_mark, end_mark, sizeof end_mark)) return 0;
  *len -= sizeof end_mark;
  return 1;
}

/*
 * NS_EXEC_PLAN_FILE: the plan made already by a program with ns-exec's planner in it (cutaway: its
 * command-plan.ts, for the same arguments), read instead of starting Node, then removed. 1 when it held a plan
 * of this ns-exec's format (PLAN_FILE_HEADER, then the steps up to `end`); 0 otherwise (gone: a plan is read
 * once; another format, or not a plan: left as it is), and ns-exec plans as ever. Unset either way: nothing
 * below, the container least of all, sees it.
 */
static int read_plan_file(void) {
  const char *name = getenv("NS_EXEC_PLAN_FILE");
  if (!name) return 0;
  char *path = strdup(name);
  unsetenv("NS_EXEC_PLAN_FILE");
  int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  struct stat st;
  char *text = NULL;
  size_t len = 0;
  if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (text = malloc((size_t)st.st_size + 1))) {
    for (ssize_t n = 1; n > 0 && len < (size_t)st.st_size; len += n > 0 ? (size_t)n : 0)
      while ((n = read(fd, text + len, (size_t)st.st_size - len)) < 0 && errno == EINTR) {}
  }
  if (fd >= 0) close(fd);
  static const char header[] = PLAN_FILE_HEADER;
  size_t steps = len - sizeof header;
  int ours = text && len >= sizeof header && !memcmp(text, header, sizeof header) && complete_plan(text + sizeof header, &steps);
  if (ours) {
    unlink(path);
    plan = text + sizeof header;
    plan_len = steps;
  } else free(text);
  free(path);
  return ours;
}

static void read_plan(char **argv) {
  if (read_plan_file()) return;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) fail_errno(STATUS_FAILED, "pipe");
  pid_t pid = fork();
  if (pid < 0) fail_errno(STATUS_FAILED, "fork");
  if (pid == 0) {
    if (dup2(fds[1], 3) < 0) _exit(STATUS_FAILED);
    run_planner(argv + 1);
  }
  close(fds[1]);
  size_t cap = 1 << 16;
  plan = malloc(cap);
  for (;;) {
    if (plan_len == cap && !(plan = realloc(plan, cap *= 2))) fail(STATUS_FAILED, "out of memory");
    ssize_t n = read(fds[0], plan + plan_len, cap - plan_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail_errno(STATUS_FAILED, "reading the plan");
    if (n == 0) break;
    plan_len += (size_t)n;
  }
  close(fds[0]);
  /* A complete plan ends with the step `end`: go on while Node exits (it is reaped once the command runs). */
  if (complete_plan(plan, &plan_len)) {
    planner_pid = pid;
    stdio_blocking();
    return;
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail_errno(STATUS_FAILED, "waitpid");
  stdio_blocking();
  if (!WIFEXITED(status)) fail(STATUS_FAILED, "the planner was killed by signal %d", WTERMSIG(status));
  /* No plan: the planner printed help, a version, a dry-run script or an error itself; its status is ours. */
  if (WEXITSTATUS(status) != 0 || plan_len == 0) exit(WEXITSTATUS(status));
  fail(STATUS_FAILED, "the planner's plan has no end");
}

/* ---- steps ---------------------------------------------------------------- */

static void write_file(const char *path, const char *data) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) fail_errno(STATUS_FAILED, "open %s", path);
  if (write(fd, data, strlen(data)) < 0) fail_errno(STATUS_FAILED, "write %s", path);
  close(fd);
}

static void mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) fail(STATUS_FAILED, "path too long: %s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, mode) < 0 && errno != EEXIST) fail_errno(STATUS_FAILED, "mkdir %s", buf);
      if (!c) break;
      *p = c;
    }
  }
}

static void do_mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data) {
  if (mount(src, target, type, flags, data) < 0)
    fail_errno(STATUS_FAILED, "mount %s on %s%s%s", src ? src : type ? type : "(none)", target, type ? " type " : "", type ? type : "");
}

/*
 * Remounting a bind mount (read-only, nodev) must repeat the flags the kernel
 * locked on it (nosuid, nodev, noexec, atime flags): in a user namespace the
 * remount is refused otherwise (mount(2) EPERM). statvfs(3) reports them.
 */
static void remount(const char *target, unsigned long extra) {
  struct statvfs st;
  if (statvfs(target, &st) < 0) fail_errno(STATUS_FAILED, "statvfs %s", target);
  unsigned long flags = MS_REMOUNT | MS_BIND | extra;
  if (st.f_flag & ST_RDONLY) flags |= MS_RDONLY;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  do_mount(NULL, target, NULL, flags, NULL);
}

/* ---- seccomp -------------------------------------------------------------- */

/*
 * The command's seccomp filter. A profile's rules (the `seccomp` step: Docker's
 * format, resolved by the planner for this container, seccomp.ts) are compiled
 * by libseccomp, as runc compiles them, one program per architecture of the
 * profile (libseccomp 2.5 takes ~14 ms to compile x86_64, i386 and x32 into one
 * program, ~5 ms for the three apart; each is what the joint program holds for
 * its architecture). In front, a few instructions of ns-exec's own (the stub)
 * send each call to its architecture's program, and state two rules that
 * libseccomp cannot:
 *
 * - the device-node rule (the `forbid-device-nodes` step): mknod(2) and
 *   mknodat(2) of a character or block device fail with EPERM. Docker keeps a
 *   container from the host's devices with a devices cgroup; without one,
 *   ns-exec mounts the rootfs nodev and refuses new nodes (FIFOs, sockets and
 *   files are still made). It holds without a profile too (seccomp=unconfined):
 *   every call it does not refuse is then allowed.
 * - runc's ENOSYS rule: a system call numbered above every one the profile
 *   names (newer than the profile, or than this libseccomp, which cannot add a
 *   rule for a call it does not know) fails with ENOSYS instead of the default
 *   EPERM, so that the C library falls back to an older call as it does on an
 *   older kernel. Only where the default action refuses (not ALLOW, LOG, TRACE).
 *
 * A call of an architecture the profile does not name is killed, as libseccomp's
 * filters kill it. One filter in all, as runc loads one; built when the steps
 * are read, loaded by run_command as late as possible: right before execve
 * under no_new_privs, else while CAP_SYS_ADMIN is still effective (seccomp(2)
 * takes one of the two).
 */
static int have_profile;
static uint32_t profile_default;
static unsigned int profile_flags; /* SECCOMP_FILTER_FLAG_* */
static int forbid_devices;
static struct sock_filter *filter; /* the stub and the programs, once built */
static size_t filter_len;

/* An architecture of the filter: what the stub compares for it, and its program. */
struct filter_arch {
  uint32_t token;              /* libseccomp's SCMP_ARCH_* */
  uint32_t audit;              /* the kernel's AUDIT_ARCH_* in seccomp_data.arch (x32 shares x86_64's) */
  int x32;                     /* 1: x86_64 (the x32 bit of the number clear); 2: x32 (set); 0: no such test */
  int mknod, mknodat, last;    /* its numbers for them; `last` the largest the profile names, -1 none */
  scmp_filter_ctx ctx;         /* the profile's rules for this architecture alone */
  struct sock_filter *program; /* libseccomp's program for it; without a profile, "allow" */
  size_t program_len;
};
static struct filter_arch filter_arches[8];
static size_t filter_arch_count;
static char unknown_calls[1024]; /* a profile's calls this libseccomp does not know: told by --trace */

#define X32_SYSCALL_BIT 0x40000000U

static void add_filter_arch(uint32_t token) {
  for (size_t i = 0; i < filter_arch_count; i++)
    if (filter_arches[i].token == token) return;
  if (filter_arch_count == sizeof filter_arches / sizeof *filter_arches) fail(STATUS_FAILED, "seccomp: too many architectures");
  struct filter_arch *a = &filter_arches[filter_arch_count++];
  a->token = token;
  a->audit = token == SCMP_ARCH_X32 ? AUDIT_ARCH_X86_64 : token;
  a->x32 = token == SCMP_ARCH_X32 ? 2 : token == SCMP_ARCH_X86_64 ? 1 : 0;
  a->mknod = seccomp_syscall_resolve_name_arch(token, "mknod");
  a->mknodat = seccomp_syscall_resolve_name_arch(token, "mknodat");
  a->last = -1;
  if (!have_profile) return;
  /* A context holds the native architecture from seccomp_init: another one's replaces it. */
  uint32_t native = seccomp_arch_native();
  int rc = (a->ctx = seccomp_init(profile_default)) ? 0 : -EINVAL;
  if (!rc && token != native && !(rc = seccomp_arch_add(a->ctx, token))) rc = seccomp_arch_remove(a->ctx, native);
  if (rc < 0) {
    errno = -rc;
    fail_errno(STATUS_FAILED, "seccomp: a filter for the architecture 0x%x (default action 0x%x)", token, profile_default);
  }
}

/* One rule as seccomp.ts encodeRule writes it: `NAME ACTION [INDEX OP VALUE VALUETWO]…`. */
static void add_rule(const char *text) {
  char *copy = strdup(text), *save = NULL;
  if (!copy) fail(STATUS_FAILED, "out of memory");
  const char *name = strtok_r(copy, " ", &save), *word = strtok_r(NULL, " ", &save);
  if (!name || !word) fail(STATUS_FAILED, "seccomp: bad rule in the plan: %s", text);
  uint32_t action = (uint32_t)strtoul(word, NULL, 0);
  struct scmp_arg_cmp args[6];
  unsigned int count = 0;
  while ((word = strtok_r(NULL, " ", &save))) {
    const char *op = strtok_r(NULL, " ", &save), *a = strtok_r(NULL, " ", &save), *b = strtok_r(NULL, " ", &save);
    if (!b || count == 6) fail(STATUS_FAILED, "seccomp: bad rule in the plan: %s", text);
    args[count++] = (struct scmp_arg_cmp){.arg = (unsigned int)strtoul(word, NULL, 0), .op = (enum scmp_compare)strtoul(op, NULL, 0),
                                          .datum_a = strtoull(a, NULL, 0), .datum_b = strtoull(b, NULL, 0)};
  }
  /* libseccomp takes the native number (or its pseudo number for a call only other architectures have) and translates it. */
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) {
    /* As runc: a call libseccomp does not know cannot be added; the ENOSYS rule covers the newer ones. */
    char needle[64]; /* " name ": the list with a space appended holds it if it is there already */
    snprintf(needle, sizeof needle, " %s ", name);
    size_t len = strlen(unknown_calls);
    if (len + strlen(needle) < sizeof unknown_calls) {
      strcat(unknown_calls, " ");
      if (strstr(unknown_calls, needle)) unknown_calls[len] = '\0';
      else strcat(unknown_calls, name);
    }
  }
  for (size_t i = 0; i < filter_arch_count; i++) {
    struct filter_arch *a = &filter_arches[i];
    /* The largest number the profile names, for the ENOSYS rule: every rule counts, as in runc. */
    int own = seccomp_syscall_resolve_name_arch(a->token, name);
    if (own > a->last) a->last = own;
    /* A rule doing what the default does is left out, as runc leaves it (libseccomp refuses it). */
    if (nr == __NR_SCMP_ERROR || action == profile_default) continue;
    int rc = seccomp_rule_add_array(a->ctx, action, nr, count, args);
    if (rc < 0) {
      errno = -rc;
      fail_errno(STATUS_FAILED, "seccomp: the rule %s", text);
    }
  }
  free(copy);
}

/* libseccomp's program for one architecture, exported as raw BPF through a memfd (libseccomp 2.5 has no export to memory). */
static void export_program(struct filter_arch *a) {
  int fd = memfd_create("seccomp", MFD_CLOEXEC);
  int rc = fd < 0 ? -errno : seccomp_export_bpf(a->ctx, fd);
  struct stat st;
  if (rc < 0 || fstat(fd, &st) < 0) {
    if (rc < 0) errno = -rc;
    fail_errno(STATUS_FAILED, "seccomp: export the filter");
  }
  a->program_len = (size_t)st.st_size / sizeof *a->program;
  a->program = malloc((size_t)st.st_size);
  if (!a->program || pread(fd, a->program, (size_t)st.st_size, 0) != st.st_size) fail_errno(STATUS_FAILED, "seccomp: read the filter");
  close(fd);
  seccomp_release(a->ctx);
  a->ctx = NULL;
}

/* The `seccomp` step: default action, flags, architectures, rules (steps.ts). */
static void seccomp_step(void) {
  have_profile = 1;
  profile_default = (uint32_t)next_num();
  profile_flags = (unsigned int)next_num();
  char **arches = next_list(), **rules = next_list();
  add_filter_arch(seccomp_arch_native());
  for (char **name = arches; *name; name++) {
    uint32_t arch = seccomp_arch_resolve_name(*name);
    if (!arch) fail(STATUS_FAILED, "seccomp: libseccomp does not know the architecture %s", *name);
    add_filter_arch(arch);
  }
  for (char **rule = rules; *rule; rule++) add_rule(*rule);
  for (size_t i = 0; i < filter_arch_count; i++) export_program(&filter_arches[i]);
  if (trace_fd >= 0 && *unknown_calls)
    dprintf(trace_fd, "+ # seccomp: left out, unknown to libseccomp %u.%u.%u (those numbered above the profile's last known call get ENOSYS):%s\n",
            seccomp_version()->major, seccomp_version()->minor, seccomp_version()->micro, unknown_calls);
  free(arches);
  free(rules);
}

/* The stub, assembled with forward jumps to labels, resolved once it and the programs are laid out. */
#define STUB_MAX 160
static struct sock_filter stub[STUB_MAX];
static int stub_jt[STUB_MAX], stub_jf[STUB_MAX]; /* labels; -1: the next instruction. BPF_JA's target is its jt */
static size_t stub_len;
static size_t label_at[64];
enum { L_EPERM, L_ENOSYS, L_OTHER, L_ARCH };
/* Architecture i's labels: its group's number load, its checks, its mknod and mknodat loads, its type check, its program. */
#define L_GROUP(i) (L_ARCH + 6 * (int)(i))
#define L_ENTRY(i) (L_GROUP(i) + 1)
#define L_MKNOD(i) (L_GROUP(i) + 2)
#define L_MKNODAT(i) (L_GROUP(i) + 3)
#define L_TYPE(i) (L_GROUP(i) + 4)
#define L_PROGRAM(i) (L_GROUP(i) + 5)

static void emit(uint16_t code, uint32_t k, int jt, int jf) {
  if (stub_len == STUB_MAX) fail(STATUS_FAILED, "seccomp: the stub is too long");
  stub[stub_len] = (struct sock_filter){.code = code, .k = k};
  stub_jt[stub_len] = jt;
  stub_jf[stub_len++] = jf;
}

static void place(int label) { label_at[label] = stub_len; }

#define ARG_LOW(n) (offsetof(struct seccomp_data, args[n]) + (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? 4 : 0))

/*
 *   ld arch; jeq AUDIT_ARCH_… → its group (one per AUDIT_ARCH); other → kill (allow without a profile)
 *   group: ld nr [x86_64: jset x32 bit → x32's checks, else x86_64's]
 *   checks: jeq mknod → load the mode; jeq mknodat → load the mode; jgt last → ENOSYS; ja → its program
 *   mode: and S_IFMT; jeq S_IFCHR → EPERM; jeq S_IFBLK → EPERM; ja → its program
 */
static void build_stub(int enosys) {
  size_t n = filter_arch_count;
  int first[8]; /* the architecture whose group label stands for its AUDIT_ARCH */
  emit(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), -1, -1);
  for (size_t i = 0; i < n; i++) {
    first[i] = (int)i;
    for (size_t j = 0; j < i; j++)
      if (filter_arches[j].audit == filter_arches[i].audit && first[i] == (int)i) first[i] = (int)j;
    if (first[i] == (int)i) emit(BPF_JMP | BPF_JEQ | BPF_K, filter_arches[i].audit, L_GROUP(i), -1);
  }
  emit(BPF_JMP | BPF_JA, 0, L_OTHER, -1);
  for (size_t i = 0; i < n; i++) {
    struct filter_arch *a = &filter_arches[i];
    if (first[i] == (int)i) {
      place(L_GROUP(i));
      emit(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), -1, -1);
      if (a->audit == AUDIT_ARCH_X86_64) {
        /* The x32 bit sends a call to x32's checks; one of an ABI not in the filter is another architecture's. */
        int plain = L_OTHER, x32 = L_OTHER;
        for (size_t j = 0; j < n; j++)
          if (filter_arches[j].audit == AUDIT_ARCH_X86_64) *(filter_arches[j].x32 == 2 ? &x32 : &plain) = L_ENTRY(j);
        emit(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, x32, plain);
      }
    }
    place(L_ENTRY(i));
    int mknod = forbid_devices && a->mknod >= 0, mknodat = forbid_devices && a->mknodat >= 0;
    if (mknod) emit(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)a->mknod, L_MKNOD(i), -1);
    if (mknodat) emit(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)a->mknodat, L_MKNODAT(i), -1);
    if (enosys && a->last >= 0) emit(BPF_JMP | BPF_JGT | BPF_K, (uint32_t)a->last, L_ENOSYS, -1);
    emit(BPF_JMP | BPF_JA, 0, L_PROGRAM(i), -1);
    if (!mknod && !mknodat) continue;
    /* The mode is mknod's second argument and mknodat's third; the file type is in its low word. */
    if (mknod) {
      place(L_MKNOD(i));
      emit(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(1), -1, -1);
      emit(BPF_JMP | BPF_JA, 0, L_TYPE(i), -1);
    }
    if (mknodat) {
      place(L_MKNODAT(i));
      emit(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2), -1, -1);
    }
    place(L_TYPE(i));
    emit(BPF_ALU | BPF_AND | BPF_K, S_IFMT, -1, -1);
    emit(BPF_JMP | BPF_JEQ | BPF_K, S_IFCHR, L_EPERM, -1);
    emit(BPF_JMP | BPF_JEQ | BPF_K, S_IFBLK, L_EPERM, -1);
    emit(BPF_JMP | BPF_JA, 0, L_PROGRAM(i), -1);
  }
  place(L_OTHER);
  emit(BPF_RET | BPF_K, have_profile ? SECCOMP_RET_KILL_THREAD : SECCOMP_RET_ALLOW, -1, -1);
  place(L_EPERM);
  emit(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM, -1, -1);
  place(L_ENOSYS);
  emit(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS, -1, -1);
  /* The programs follow the stub, one after the other. */
  size_t at = stub_len;
  for (size_t i = 0; i < n; i++) {
    label_at[L_PROGRAM(i)] = at;
    at += filter_arches[i].program_len;
  }
  for (size_t i = 0; i < stub_len; i++) {
    if (stub[i].code == (BPF_JMP | BPF_JA)) {
      stub[i].k = (uint32_t)(label_at[stub_jt[i]] - i - 1);
      continue;
    }
    size_t jt = stub_jt[i] < 0 ? i + 1 : label_at[stub_jt[i]], jf = stub_jf[i] < 0 ? i + 1 : label_at[stub_jf[i]];
    if (jt - i - 1 > 255 || jf - i - 1 > 255) fail(STATUS_FAILED, "seccomp: a jump of the stub is too long");
    stub[i].jt = (uint8_t)(jt - i - 1);
    stub[i].jf = (uint8_t)(jf - i - 1);
  }
}

/* The architectures the device-node rule covers without a profile: this CPU's (x86_64 runs i386 and x32 code too). */
static void native_arches(void) {
  uint32_t native = seccomp_arch_native();
  add_filter_arch(native);
  if (native == SCMP_ARCH_X86_64) {
    add_filter_arch(SCMP_ARCH_X86);
    add_filter_arch(SCMP_ARCH_X32);
  } else if (native == SCMP_ARCH_AARCH64) add_filter_arch(SCMP_ARCH_ARM);
}

/* The stub and each architecture's program (with no profile: "allow"), in one program for seccomp(2). */
static void build_filter(void) {
  static struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
  if (!have_profile && !forbid_devices) return;
  if (!have_profile) {
    native_arches();
    for (size_t i = 0; i < filter_arch_count; i++) {
      filter_arches[i].program = allow;
      filter_arches[i].program_len = 1;
    }
  }
  /* ENOSYS only where the default refuses; ERRNO(ENOSYS) as the default says it already. */
  uint32_t kind = profile_default & SECCOMP_RET_ACTION_FULL;
  int enosys = have_profile && kind != SECCOMP_RET_ALLOW && kind != SECCOMP_RET_LOG && kind != SECCOMP_RET_TRACE &&
               profile_default != (SECCOMP_RET_ERRNO | ENOSYS);
  build_stub(enosys);
  filter_len = stub_len;
  for (size_t i = 0; i < filter_arch_count; i++) filter_len += filter_arches[i].program_len;
  if (filter_len > BPF_MAXINSNS) fail(STATUS_FAILED, "seccomp: the filter has %zu instructions, more than the kernel takes (%d)", filter_len, BPF_MAXINSNS);
  filter = malloc(filter_len * sizeof *filter);
  if (!filter) fail(STATUS_FAILED, "out of memory");
  memcpy(filter, stub, stub_len * sizeof *filter);
  size_t at = stub_len;
  for (size_t i = 0; i < filter_arch_count; i++) {
    memcpy(filter + at, filter_arches[i].program, filter_arches[i].program_len * sizeof *filter);
    at += filter_arches[i].program_len;
  }
}

static void load_filter(void) {
  if (!filter) return;
  struct sock_fprog prog = {.len = (unsigned short)filter_len, .filter = filter};
  /* seccomp(2) for flags (LOG, SPEC_ALLOW); prctl(2) otherwise, as runc. */
  long rc = profile_flags ? syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, profile_flags, &prog) : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0);
  if (rc < 0) fail_errno(STATUS_FAILED, "seccomp: load the filter");
}

/*
 * runc's private keyring, done by ns-exec before the clone: a new anonymous
 * session keyring (keyctl(2) KEYCTL_JOIN_SESSION_KEYRING with no name), which
 * the command inherits, so that no key of the caller's session is reachable
 * from it. The user keyring (@u) is the uid's in its user namespace: see the
 * README. A kernel without keys (ENOSYS) is no error, as for runc.
 */
static void join_session_keyring(void) {
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS) fail_errno(STATUS_FAILED, "join a new session keyring");
}

/* pivot_root(2)'s documented sequence: the old root is stacked under the new one, then detached. */
static void pivot(const char *root) {
  if (chdir(root) < 0) fail_errno(STATUS_FAILED, "chdir %s", root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) fail_errno(STATUS_FAILED, "pivot_root %s", root);
  /* Keep unmount events of the old root from propagating anywhere (runc does the same). */
  do_mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL);
  if (umount2(".", MNT_DETACH) < 0) fail_errno(STATUS_FAILED, "umount the old root");
  if (chdir("/") < 0) fail_errno(STATUS_FAILED, "chdir /");
}

/* A new network namespace has only `lo`, and it is down; runc and Docker bring it up (SIOCSIFFLAGS, netdevice(7)). */
static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) fail_errno(STATUS_FAILED, "read the flags of lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) fail_errno(STATUS_FAILED, "bring lo up");
  close(fd);
}

/* A path masked as Docker masks it: an empty read-only tmpfs over a directory, /dev/null over a file. */
static void mask(const char *path, const char *dev_null) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT) return;
    fail_errno(STATUS_FAILED, "stat %s", path);
  }
  if (S_ISDIR(st.st_mode)) do_mount("tmpfs", path, "tmpfs", MS_RDONLY, NULL);
  else do_mount(dev_null, path, NULL, MS_BIND, NULL);
}

static void readonly_path(const char *path) {
  if (access(path, F_OK) < 0) {
    if (errno == ENOENT) return;
    fail_errno(STATUS_FAILED, "access %s", path);
  }
  do_mount(path, path, NULL, MS_BIND | MS_REC, NULL);
  remount(path, MS_RDONLY);
}

static void touch(const char *path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 && errno != EISDIR) fail_errno(STATUS_FAILED, "create %s", path);
  if (fd >= 0) close(fd);
}

/* setns(2) by path: /proc/PID/ns/TYPE or a bind mount of one (/run/netns/NAME). */
static void join_namespace(void) {
  const char *path = next_str();
  int type = (int)next_num();
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0 || setns(fd, type) < 0) fail_errno(STATUS_FAILED, "join the namespace %s", path);
  close(fd);
}

/* ---- terminal (-t) -------------------------------------------------------- */

static int tty_socket[2] = {-1, -1};

/* Sends `fd` over the unix socket `sock` (SCM_RIGHTS, unix(7)) with `payload` as the message. */
static void send_fd(int sock, int fd, const char *payload, size_t len, const char *what) {
  struct iovec iov = {.iov_base = (void *)payload, .iov_len = len};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  if (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0) fail_errno(STATUS_FAILED, "send %s", what);
}

/*
 * The child opens a terminal in the container's own devpts instance, makes it
 * the controlling terminal of a new session, binds it to /dev/console (as
 * runc does) and sends the master to the parent (SCM_RIGHTS), which relays it.
 */
static void setup_pty(const char *ptmx, const char *console) { /* console NULL: none bound (an entered container has its own) */
  int master = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) fail_errno(STATUS_FAILED, "open %s", ptmx);
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) fail_errno(STATUS_FAILED, "unlock the terminal");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) fail_errno(STATUS_FAILED, "open the terminal's peer");
  char proc_path[64];
  snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", slave);
  if (console) {
    touch(console);
    do_mount(proc_path, console, NULL, MS_BIND, NULL);
  }
  if (setsid() < 0) fail_errno(STATUS_FAILED, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) < 0) fail_errno(STATUS_FAILED, "make the terminal controlling");
  for (int fd = 0; fd <= 2; fd++)
    if (dup2(slave, fd) < 0) fail_errno(STATUS_FAILED, "dup2");
  if (slave > 2) close(slave);
  send_fd(tty_socket[1], master, "", 1, "the terminal");
  close(master);
  close(tty_socket[1]);
}

static int receive_pty(void) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } control;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  while ((n = recvmsg(tty_socket[0], &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  struct cmsghdr *cmsg = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL;
  if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

/*
 * runc's --console-socket: the terminal's master goes to the engine's unix socket (conmon, the containerd
 * shim), with the terminal's name as the message (runc's utils.SendFd), instead of being relayed here.
 */
static void send_console(int master) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(console_socket) >= sizeof addr.sun_path) fail(STATUS_FAILED, "the console socket's path is too long: %s", console_socket);
  strcpy(addr.sun_path, console_socket);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) fail_errno(STATUS_FAILED, "connect to the console socket %s", console_socket);
  char name[32] = "/dev/ptmx";
  unsigned int n;
  if (ioctl(master, TIOCGPTN, &n) == 0) snprintf(name, sizeof name, "/dev/pts/%u", n);
  send_fd(fd, master, name, strlen(name), "the terminal to the console socket");
  close(fd);
}

/* ---- the OCI runtime: create's FIFO, hooks, the state directory ----------- */

/* A hook of config.json (runtime-spec config.md "POSIX-platform Hooks"), as the `hook` steps carry it. */
struct hook {
  const char *path;
  char **args;
  char **env;
  long long timeout; /* seconds; 0: none */
  const char *state; /* the state JSON without its pid */
};
static struct hook parent_hooks[32], start_hooks[32];
static size_t parent_hook_count, start_hook_count;

static void add_hook(struct hook *list, size_t *count) {
  if (*count == 32) fail(STATUS_FAILED, "too many hooks");
  struct hook *h = &list[(*count)++];
  h->path = next_str();
  h->args = next_list();
  h->env = next_list();
  h->timeout = next_num();
  h->state = next_str();
}

/*
 * Runs a hook and waits for it: the container's state on its stdin with `pid` added (runtime-spec
 * config.md: "the state of the container MUST be passed to hooks over stdin"), killed after its timeout.
 * A hook that fails, or is killed, fails the container (runc: "error running hook").
 */
static void run_hook(const struct hook *h, pid_t pid) {
  int io[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, io) < 0) fail_errno(STATUS_FAILED, "hook %s: socketpair", h->path);
  pid_t hook = fork();
  if (hook < 0) fail_errno(STATUS_FAILED, "hook %s: fork", h->path);
  if (hook == 0) {
    char *none[] = {(char *)h->path, NULL};
    if (dup2(io[1], 0) < 0) _exit(STATUS_FAILED);
    execve(h->path, h->args[0] ? h->args : none, h->env);
    dprintf(2, "ns-exec: error: hook %s: %s\n", h->path, strerror(errno));
    _exit(127);
  }
  close(io[1]);
  char head[40];
  int n = snprintf(head, sizeof head, "{\"pid\":%d%s", pid, h->state[0] == '{' && h->state[1] != '}' ? "," : "");
  const char *rest = h->state[0] == '{' ? h->state + 1 : "}";
  /* MSG_NOSIGNAL: a hook that does not read its stdin is no error (no SIGPIPE for us). */
  if (send(io[0], head, (size_t)n, MSG_NOSIGNAL) == n) send(io[0], rest, strlen(rest), MSG_NOSIGNAL);
  close(io[0]);
  struct timespec start, now, pause = {.tv_nsec = 2000000};
  clock_gettime(CLOCK_MONOTONIC, &start);
  int status;
  for (;;) {
    pid_t r = waitpid(hook, &status, WNOHANG);
    if (r == hook) break;
    if (r < 0 && errno != EINTR) fail_errno(STATUS_FAILED, "hook %s: waitpid", h->path);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (h->timeout > 0 && now.tv_sec - start.tv_sec >= h->timeout) {
      kill(hook, SIGKILL);
      while (waitpid(hook, &status, 0) < 0 && errno == EINTR) {}
      fail(STATUS_FAILED, "hook %s: timed out after %lld s", h->path, h->timeout);
    }
    nanosleep(&pause, NULL);
  }
  if (WIFSIGNALED(status)) fail(STATUS_FAILED, "hook %s: killed by signal %d", h->path, WTERMSIG(status));
  if (WEXITSTATUS(status)) fail(STATUS_FAILED, "hook %s: exit status %d", h->path, WEXITSTATUS(status));
}

/*
 * The `cleanup` step's: the planner run again (`--root R delete --force ID`), by ns-exec itself only (not PID
 * 1, not a forked helper), once: it removes the cgroups, runs the poststop hooks and removes the state.
 */
static void clean_up(void) {
  if (!cleanup_args || getpid() != main_pid) return;
  char **args = cleanup_args;
  cleanup_args = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    child_pid = 0;
    run_planner(args);
  }
  if (pid > 0) while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
}

/*
 * runc create's exec FIFO: made here (mode 0622, so that PID 1 opens it for writing as any user). PID 1
 * inherits its directory as an O_PATH descriptor and opens the FIFO relative to it (openat(2)) once
 * everything but execve is done: that works after pivot_root or chroot, and without a /proc of its own.
 */
static void make_fifo(const char *path) {
  if (mkfifo(path, 0622) < 0) fail_errno(STATUS_FAILED, "mkfifo %s", path);
  if (chmod(path, 0622) < 0) fail_errno(STATUS_FAILED, "chmod %s", path);
  const char *slash = strrchr(path, '/');
  char *dir = strndup(path, slash ? (size_t)(slash - path) + 1 : 1);
  if (!dir) fail(STATUS_FAILED, "out of memory");
  if (!slash) strcpy(dir, ".");
  if ((create_fifo = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) fail_errno(STATUS_FAILED, "open %s", dir);
  create_fifo_name = slash ? slash + 1 : path;
  free(dir);
}

/* PID 1: a request to the parent, and its answer when one is expected. */
static void ask_parent(char request, char answer) {
  if (write(runtime_sock[1], &request, 1) != 1) fail_errno(STATUS_FAILED, "ask the parent");
  char got;
  if (answer && (read(runtime_sock[1], &got, 1) != 1 || got != answer)) fail(STATUS_FAILED, "the parent did not run its hooks");
}

/*
 * PID 1 under `create`: tells the parent it is created (the parent writes the pid files and exits), then waits
 * until `ns-exec start` opens the FIFO for reading, and writes it a byte. From here no parent reads the error
 * pipe: a failure is told on the container's stderr, with the status as ever.
 */
static void wait_for_start(void) {
  ask_parent('C', 0);
  error_fd = -1;
  int fd;
  while ((fd = openat(create_fifo, create_fifo_name, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR) {}
  if (fd < 0) fail_errno(STATUS_FAILED, "open the exec FIFO");
  if (write(fd, "0", 1) != 1) fail_errno(STATUS_FAILED, "write the exec FIFO");
  close(fd);
  close(create_fifo);
}

/* ---- the command ---------------------------------------------------------- */

/* Dropping from the bounding set takes CAP_SETPCAP: it happens while still root, before the identity changes. */
static void drop_bounding(uint64_t bounding) {
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
    if (!(bounding >> cap & 1) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      fail_errno(STATUS_FAILED, "drop capability %d from the bounding set", cap);
}

static void set_capabilities(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {
      {.effective = (uint32_t)effective, .permitted = (uint32_t)permitted, .inheritable = (uint32_t)inheritable},
      {.effective = (uint32_t)(effective >> 32), .permitted = (uint32_t)(permitted >> 32), .inheritable = (uint32_t)(inheritable >> 32)},
  };
  if (syscall(SYS_capset, &header, data) < 0) fail_errno(STATUS_FAILED, "capset");
}

static void reset_signals(void) {
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * execve with the container's PATH (execvp would search ns-exec's own), with
 * docker run's statuses and messages: 127 not found, 126 not executable.
 */
static void __attribute__((noreturn)) exec_command(char **argv, char **envp, const char *path) {
  const char *file = argv[0];
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    fail_errno(errno == ENOENT || errno == ENOTDIR ? 127 : 126, "exec: \"%s\"", file);
  }
  int denied = 0;
  for (const char *dir = path;; ) {
    const char *end = strchrnul(dir, ':');
    char candidate[PATH_MAX];
    int len = (int)(end - dir);
    snprintf(candidate, sizeof candidate, "%.*s%s%s", len, len ? dir : ".", "/", file);
    execve(candidate, argv, envp);
    if (errno == EACCES) denied = 1;
    else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG)
      fail_errno(126, "exec: \"%s\"", candidate);
    if (!*end) break;
    dir = end + 1;
  }
  if (denied) fail(126, "exec: \"%s\": permission denied", file);
  fail(127, "exec: \"%s\": executable file not found in $PATH", file);
}

/*
 * runc's order (standard_init_linux.go): no_new_privs, bounding set, keep caps across setuid, identity, final
 * caps, and the seccomp filter as late as it can be, so that the profile need allow little of ns-exec's own
 * work: with no_new_privs right before execve; without, seccomp(2) takes CAP_SYS_ADMIN, which is kept effective
 * (from the permitted set setuid left) until the filter is in, and the final capset and execve follow it.
 */
static void __attribute__((noreturn)) run_command(void) {
  const char *cwd = next_str();
  uid_t uid = (uid_t)next_num();
  gid_t gid = (gid_t)next_num();
  long long ngroups = next_num();
  gid_t *groups = calloc((size_t)ngroups + 1, sizeof *groups);
  for (long long i = 0; i < ngroups; i++) groups[i] = (gid_t)next_num();
  uint64_t bounding = next_unum(), effective = next_unum(), permitted = next_unum(), inheritable = next_unum(), ambient = next_unum();
  int no_new_privs = (int)next_num();
  mode_t mask = (mode_t)next_num();
  const char *path = next_str();
  char **envp = next_list();
  char **argv = next_list();

  build_filter();
  if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) fail_errno(STATUS_FAILED, "no_new_privs");
  drop_bounding(bounding);
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) fail_errno(STATUS_FAILED, "keepcaps");
  /* A user namespace with setgroups denied (a rootless single-id map) refuses even an empty list. */
  if (setgroups((size_t)ngroups, groups) < 0 && !(errno == EPERM && ngroups == 0))
    fail_errno(STATUS_FAILED, "setgroups");
  if (setresgid(gid, gid, gid) < 0) fail_errno(STATUS_FAILED, "setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0) fail_errno(STATUS_FAILED, "setuid %u", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) fail_errno(STATUS_FAILED, "keepcaps");
  uint64_t admin = filter && !no_new_privs && !(effective >> CAP_SYS_ADMIN & 1) ? 1ULL << CAP_SYS_ADMIN : 0;
  set_capabilities(effective | admin, permitted | admin, inheritable);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    fail_errno(STATUS_FAILED, "clear ambient capabilities");
  /*
   * process.capabilities.ambient: each must be permitted and inheritable already (capabilities(7)); one that is
   * not (EPERM: `runc spec`'s own config lists ambient capabilities and no inheritable ones) is left out, as runc
   * leaves it with a warning.
   */
  for (int cap = 0; cap < 64; cap++)
    if (ambient >> cap & 1 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0 && errno != EPERM)
      fail_errno(STATUS_FAILED, "raise the ambient capability %d", cap);
  if (chdir(cwd) < 0) fail_errno(STATUS_FAILED, "chdir to the working directory %s", cwd);
  /* What runc does for every container: a umask (process.user.umask, runc's default 022), and a session of its own (-t made one already). */
  umask(mask);
  if (getsid(0) != getpid() && setsid() < 0) fail_errno(STATUS_FAILED, "setsid");
  reset_signals();
  /* Node shared these open file descriptions while it planned, and may have left them non-blocking. */
  stdio_blocking();
  /* runc create: everything is ready; execve waits for `start`. Then the startContainer hooks (runc's order). */
  if (create_fifo >= 0) wait_for_start();
  for (size_t i = 0; i < start_hook_count; i++) run_hook(&start_hooks[i], host_pid);
  /* Only stdio reaches the command, as under docker run (and runc's --preserve-fds): every other inherited fd closes at execve. */
  syscall(SYS_close_range, 3U + (unsigned)preserve_fds, ~0U, CLOSE_RANGE_CLOEXEC);
  load_filter();
  if (admin) set_capabilities(effective, permitted, inheritable);
  exec_command(argv, envp, path);
}

static void child_steps(void) {
  for (;;) {
    enum step step = next_step();
    show(next_str());
    switch (step) {
    case STEP_MOUNT: {
      const char *src = next_opt(), *target = next_str(), *type = next_opt();
      unsigned long flags = (unsigned long)next_num();
      do_mount(src, target, type, flags, next_opt());
      break;
    }
    case STEP_REMOUNT: {
      const char *target = next_str();
      remount(target, (unsigned long)next_num());
      break;
    }
    case STEP_FORBID_DEVICE_NODES: forbid_devices = 1; break;
    case STEP_SECCOMP: seccomp_step(); break;
    case STEP_MKDIR: {
      const char *path = next_str();
      mkdir_p(path, (mode_t)next_num());
      break;
    }
    case STEP_TOUCH: touch(next_str()); break;
    case STEP_MKNOD: {
      const char *path = next_str();
      mode_t mode = (mode_t)next_num();
      unsigned major = (unsigned)next_num(), minor = (unsigned)next_num();
      uid_t uid = (uid_t)next_num();
      gid_t gid = (gid_t)next_num();
      if (mknod(path, mode, makedev(major, minor)) < 0) fail_errno(STATUS_FAILED, "mknod %s", path);
      /* The host node's owner, as runc's createDeviceNode chowns after mknod (moby reads it from the host node). */
      if (lchown(path, uid, gid) < 0) fail_errno(STATUS_FAILED, "chown %s", path);
      /* mknod(2) applies the umask; the mode is meant exactly (after the chown, which may clear set-id bits). */
      if (chmod(path, mode & 07777) < 0) fail_errno(STATUS_FAILED, "chmod %s", path);
      break;
    }
    case STEP_SYMLINK: {
      const char *target = next_str(), *path = next_str();
      if (symlink(target, path) < 0 && errno != EEXIST) fail_errno(STATUS_FAILED, "symlink %s", path);
      break;
    }
    case STEP_MASK: {
      const char *path = next_str();
      mask(path, next_str());
      break;
    }
    case STEP_WRITE: {
      const char *path = next_str();
      write_file(path, next_str());
      break;
    }
    case STEP_LO_UP: loopback_up(); break;
    case STEP_READONLY: readonly_path(next_str()); break;
    case STEP_PTY: {
      const char *ptmx = next_str();
      setup_pty(ptmx, next_opt());
      break;
    }
    case STEP_PIVOT: pivot(next_str()); break;
    case STEP_SETNS: join_namespace(); break;
    case STEP_HOSTNAME: {
      const char *name = next_str();
      if (sethostname(name, strlen(name)) < 0) fail_errno(STATUS_FAILED, "sethostname %s", name);
      break;
    }
    case STEP_PARENT_HOOKS: ask_parent('H', 'h'); break;
    case STEP_HOOK: {
      struct hook h[1];
      size_t one = 0;
      add_hook(h, &one);
      run_hook(h, host_pid);
      break;
    }
    case STEP_START_HOOK: add_hook(start_hooks, &start_hook_count); break;
    case STEP_RLIMIT: {
      int resource = (int)next_num();
      struct rlimit limit;
      limit.rlim_cur = next_unum();
      limit.rlim_max = next_unum();
      if (setrlimit(resource, &limit) < 0) fail_errno(STATUS_FAILED, "setrlimit %d", resource);
      break;
    }
    case STEP_DOMAINNAME: {
      const char *name = next_str();
      if (setdomainname(name, strlen(name)) < 0) fail_errno(STATUS_FAILED, "setdomainname %s", name);
      break;
    }
    case STEP_MOVE_ROOT: {
      /* runc --no-pivot: the rootfs moved over / and chroot(2) into it (the old root stays below, unreachable by path). */
      const char *root = next_str();
      if (chdir(root) < 0) fail_errno(STATUS_FAILED, "chdir %s", root);
      do_mount(root, "/", NULL, MS_MOVE, NULL);
      if (chroot(".") < 0 || chdir("/") < 0) fail_errno(STATUS_FAILED, "chroot %s", root);
      break;
    }
    case STEP_CHROOT: {
      const char *root = next_str();
      if (chroot(root) < 0 || chdir("/") < 0) fail_errno(STATUS_FAILED, "chroot %s", root);
      break;
    }
    case STEP_EXEC: run_command();
    case STEP_TRACE: case STEP_CLONE: case STEP_END:
    case STEP_UIDMAP: case STEP_GIDMAP: case STEP_PIDFILE: case STEP_EXITFILE: case STEP_OOM: case STEP_TTY: case STEP_LEAVE:
    case STEP_CLEAR_GROUPS: case STEP_SESSION_KEYRING: case STEP_CONSOLE_SOCKET: case STEP_CREATE: case STEP_DETACH: case STEP_CLEANUP: case STEP_PRESERVE_FDS:
      misplaced(step);
    }
  }
}

/* ---- the parent ----------------------------------------------------------- */

static volatile sig_atomic_t winch;

/*
 * Forwards what is sent to ns-exec (kill, docker stop's SIGTERM, a terminal's
 * ^C) to the command, which leads a session of its own and so gets nothing
 * from ns-exec's terminal directly. SIGWINCH resizes the relayed terminal.
 */
static void forward(int sig) {
  if (sig == SIGWINCH) winch = 1;
  else if (child_pid > 0) kill(child_pid, sig);
}

static void write_map(pid_t pid, const char *kind, const char *how, const char *data) {
  char path[64];
  if (!strcmp(how, "file") || !strcmp(how, "proc")) {
    /* `file`: an unprivileged writer's map, which the kernel takes only with setgroups denied (user_namespaces(7)). */
    if (!strcmp(how, "file") && !strcmp(kind, "gid_map")) {
      snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
      write_file(path, "deny");
    }
    snprintf(path, sizeof path, "/proc/%d/%s", pid, kind);
    write_file(path, data);
    return;
  }
  /* newuidmap/newgidmap PID INSIDE OUTSIDE COUNT…: the setuid helpers that grant /etc/subuid ranges. */
  char *words[64];
  int n = 0;
  char pidstr[16];
  snprintf(pidstr, sizeof pidstr, "%d", pid);
  words[n++] = (char *)how;
  words[n++] = pidstr;
  char *copy = strdup(data);
  for (char *w = strtok(copy, " "); w && n < 63; w = strtok(NULL, " ")) words[n++] = w;
  words[n] = NULL;
  pid_t helper = fork();
  if (helper < 0) fail_errno(STATUS_FAILED, "fork for %s", how);
  if (helper == 0) {
    child_pid = 0; /* the container is the parent's to take down, not this copy's */
    execvp(how, words);
    fail_errno(127, "%s", how);
  }
  int status;
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail(STATUS_FAILED, "%s %s failed", how, data);
  free(copy);
}

/* `text` into `path` as a whole: a temp file beside it, renamed over it (rename(2) is atomic); 0, or -1 with errno set. */
static int replace_file(const char *path, const char *text) {
  char tmp[PATH_MAX];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%d", path, getpid()) >= sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  ssize_t n = (ssize_t)strlen(text);
  if (write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
    int err = errno;
    unlink(tmp);
    errno = err;
    return -1;
  }
  return 0;
}

static void write_pid_file(const char *path, pid_t pid) {
  char text[32];
  snprintf(text, sizeof text, "%d", pid);
  if (replace_file(path, text) < 0) fail_errno(STATUS_FAILED, "write the pid file %s", path);
}

/*
 * --exit-file: the status ns-exec is about to exit with, as a decimal line, written while PID 1 is still a
 * zombie (not yet reaped): whoever finds PID 1 gone finds the file. A failure to write it is told, and the
 * status is still ns-exec's own (the one who waited for ns-exec has it even so).
 */
static void write_exit_file(const char *path, int status) {
  if (!*path) return;
  char text[16];
  snprintf(text, sizeof text, "%d\n", status);
  if (replace_file(path, text) < 0) dprintf(2, "ns-exec: error: write the exit file %s: %s\n", path, strerror(errno));
}

/* Docker's status for a process that ended: its exit code, or 128+N after signal N (waitid(2)'s siginfo). */
static int status_of(const siginfo_t *info) {
  return info->si_code == CLD_EXITED ? info->si_status : 128 + info->si_status;
}

/* The oom_kill counter of memory.events (v2) or memory.oom_control (v1); -1 when unknown. */
static long long oom_kills(const char *file) {
  if (!*file) return -1;
  FILE *f = fopen(file, "re");
  if (!f) return -1;
  char line[256];
  long long count = -1;
  while (fgets(line, sizeof line, f))
    if (!strncmp(line, "oom_kill ", 9)) count = strtoll(line + 9, NULL, 10);
  fclose(f);
  return count;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

static int write_all(int fd, const char *buf, ssize_t n) {
  while (n > 0) {
    ssize_t w = write(fd, buf, (size_t)n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    buf += w;
    n -= w;
  }
  return 0;
}

/* docker run -t: the terminal in raw mode, bytes both ways until the command's side hangs up. */
static void relay_terminal(int master) {
  struct termios saved;
  int raw = isatty(0) && tcgetattr(0, &saved) == 0;
  if (raw) {
    struct termios t = saved;
    cfmakeraw(&t);
    tcsetattr(0, TCSANOW, &t);
  }
  copy_winsize(master);
  struct pollfd fds[2] = {{.fd = master, .events = POLLIN}, {.fd = 0, .events = POLLIN}};
  char buf[16384];
  for (;;) {
    if (winch) {
      winch = 0;
      copy_winsize(master);
    }
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || write_all(1, buf, n) < 0) break; /* EIO: every slave fd closed */
    }
    if (fds[1].revents) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n <= 0) fds[1].fd = -1; /* stdin ended: stop reading it, keep relaying output */
      else if (write_all(master, buf, n) < 0) break;
    }
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
}

static void __attribute__((noreturn)) supervise(pid_t pid, int errors, int sync_fd, const char *uid_how, const char *uid_map,
                                                const char *gid_how, const char *gid_map,
                                                const char *exit_file, int tty, const char *oom_file) {
  child_pid = pid;
  if (*uid_how) {
    write_map(pid, "uid_map", uid_how, uid_map);
    write_map(pid, "gid_map", gid_how, gid_map);
  }
  if (sync_fd >= 0) {
    if (write(sync_fd, "", 1) != 1) fail_errno(STATUS_FAILED, "release the container");
    close(sync_fd);
  }
  /*
   * Until the command runs (the error pipe closes at execve: EOF alone means it started), PID 1 fails (a
   * report on that pipe), or, under `create`, waits for `start` ('C'): its terminal, and its requests to run
   * the parent's hooks ('H'), as they come.
   */
  int master = -1, created = 0;
  unsigned char report[4097];
  ssize_t got = 0;
  struct pollfd fds[3] = {{.fd = errors, .events = POLLIN}, {.fd = runtime_sock[0], .events = POLLIN}, {.fd = tty ? tty_socket[0] : -1, .events = POLLIN}};
  while (!created && (size_t)got < sizeof report - 1) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      fail_errno(STATUS_FAILED, "poll");
    }
    if (fds[2].revents) {
      fds[2].fd = -1;
      master = receive_pty();
      if (master >= 0 && console_socket) {
        send_console(master);
        close(master);
        master = -1;
      }
    }
    if (fds[1].revents) {
      char request;
      ssize_t n = read(runtime_sock[0], &request, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fds[1].fd = -1;
      else if (request == 'C') created = 1;
      else if (request == 'H') {
        for (size_t i = 0; i < parent_hook_count; i++) run_hook(&parent_hooks[i], pid);
        if (write(runtime_sock[0], "h", 1) != 1) fail_errno(STATUS_FAILED, "release the container after its hooks");
      }
      continue;
    }
    if (fds[0].revents) {
      ssize_t n = read(errors, report + got, sizeof report - 1 - (size_t)got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += n;
    }
  }
  close(errors);
  if (planner_pid > 0) while (waitpid(planner_pid, NULL, 0) < 0 && errno == EINTR) {}
  long long ooms_before = oom_kills(oom_file);
  int status;
  if (got > 0) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    report[got] = '\0';
    dprintf(2, "ns-exec: error: %s\n", (char *)report + 1);
    write_exit_file(exit_file, report[0]);
    clean_up();
    exit(report[0]);
  }
  for (size_t i = 0; i < pid_file_count; i++) write_pid_file(pid_files[i], pid);
  /* create: PID 1 waits for `start`, and whoever reaps orphans (conmon, the shim) is its parent from here. */
  if (created || detach) exit(0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (master >= 0) relay_terminal(master);
  /* WNOWAIT: PID 1 stays a zombie, its pid taken, until the exit file is written; then it is reaped. */
  siginfo_t info;
  for (;;) {
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOWAIT) == 0) break;
    if (errno != EINTR) fail_errno(STATUS_FAILED, "waitid");
  }
  int code = status_of(&info);
  write_exit_file(exit_file, code);
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) fail_errno(STATUS_FAILED, "waitpid");
  clean_up();
  if (info.si_code == CLD_EXITED) exit(code);
  long long ooms_after = oom_kills(oom_file);
  if (info.si_status == SIGKILL && ooms_before >= 0 && ooms_after > ooms_before)
    dprintf(2, "ns-exec: the command was killed by the kernel's OOM killer: its cgroup reached its memory limit\n");
  exit(code);
}

int main(int argc, char **argv) {
  main_pid = getpid();
  (void)argc;
  read_plan(argv);
  const char *uid_how = "", *uid_map = "", *gid_how = "", *gid_map = "", *exit_file = "", *oom_file = "";
  int tty = 0;
  char **leave = NULL;
  enum step step;
  do {
    step = next_step();
    const char *text = next_str();
    if (step != STEP_TRACE) show(text);
    switch (step) {
    case STEP_TRACE: {
      /*
       * A copy, so that the child's trace still reaches stderr once its own is a terminal (-t). Close-on-exec,
       * as the fd it copies becomes before execve (run_command's close_range): the command sees neither.
       */
      int fd = (int)next_num();
      trace_label = next_str();
      if ((trace_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) fail_errno(STATUS_FAILED, "the trace's file descriptor %d (CUTAWAY_TRACE_FD)", fd);
      break;
    }
    case STEP_CLONE: break; /* its argument, the flags, is read below */
    case STEP_WRITE: {
      const char *path = next_str();
      write_file(path, next_str());
      break;
    }
    case STEP_SETNS: join_namespace(); break;
    case STEP_UIDMAP:
      uid_how = next_str();
      uid_map = next_str();
      break;
    case STEP_GIDMAP:
      gid_how = next_str();
      gid_map = next_str();
      break;
    case STEP_PIDFILE:
      if (pid_file_count == sizeof pid_files / sizeof *pid_files) fail(STATUS_FAILED, "too many pid files");
      pid_files[pid_file_count++] = next_str();
      break;
    case STEP_MKDIR: {
      const char *path = next_str();
      mkdir_p(path, (mode_t)next_num());
      break;
    }
    case STEP_HOOK: add_hook(parent_hooks, &parent_hook_count); break;
    case STEP_CONSOLE_SOCKET: console_socket = next_str(); break;
    case STEP_CREATE: make_fifo(next_str()); break;
    case STEP_DETACH: detach = 1; break;
    case STEP_CLEANUP: cleanup_args = next_list(); break;
    case STEP_PRESERVE_FDS: preserve_fds = (int)next_num(); break;
    case STEP_EXITFILE:
      exit_file = next_str();
      if (unlink(exit_file) < 0 && errno != ENOENT) fail_errno(STATUS_FAILED, "remove the exit file of an earlier run, %s", exit_file);
      break;
    case STEP_OOM: oom_file = next_str(); break;
    case STEP_TTY: tty = 1; break;
    case STEP_LEAVE: leave = next_list(); break;
    case STEP_CLEAR_GROUPS:
      /* EPERM: an unprivileged owner entering its own container, whose PID 1 has the same groups anyway. */
      if (setgroups(0, NULL) < 0 && errno != EPERM) fail_errno(STATUS_FAILED, "setgroups");
      break;
    case STEP_SESSION_KEYRING: join_session_keyring(); break;
    case STEP_END:
    case STEP_MOUNT: case STEP_REMOUNT: case STEP_FORBID_DEVICE_NODES: case STEP_SECCOMP: case STEP_TOUCH: case STEP_MKNOD: case STEP_SYMLINK:
    case STEP_MASK: case STEP_LO_UP: case STEP_READONLY: case STEP_PTY: case STEP_PIVOT: case STEP_HOSTNAME: case STEP_EXEC:
    case STEP_PARENT_HOOKS: case STEP_START_HOOK: case STEP_RLIMIT: case STEP_DOMAINNAME: case STEP_MOVE_ROOT: case STEP_CHROOT:
      misplaced(step);
    }
  } while (step != STEP_CLONE);
  unsigned long flags = (unsigned long)next_num();

  int errors[2], sync[2] = {-1, -1};
  if (pipe2(errors, O_CLOEXEC) < 0) fail_errno(STATUS_FAILED, "pipe");
  if (*uid_how && pipe2(sync, O_CLOEXEC) < 0) fail_errno(STATUS_FAILED, "pipe");
  if (tty && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, tty_socket) < 0) fail_errno(STATUS_FAILED, "socketpair");
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, runtime_sock) < 0) fail_errno(STATUS_FAILED, "socketpair");

  /* Signals wait until the child's pid is known; the handlers are in place before anything can be sent. */
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  struct sigaction sa = {.sa_handler = forward};
  sigfillset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD) sigaction(sig, &sa, NULL);

  /* A fork-like clone: the child continues here on a copy of our stack, as PID 1 of the new pid namespace. */
  pid_t pid = (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) fail_errno(STATUS_FAILED, "clone (new namespaces)");
  if (pid == 0) {
    error_fd = errors[1];
    close(errors[0]);
    close(runtime_sock[0]);
    if (tty) close(tty_socket[0]);
    /* The host's /proc is still this mount namespace's: its `self` is this process's pid out there. */
    char self[24];
    ssize_t len = readlink("/proc/self", self, sizeof self - 1);
    host_pid = len > 0 ? (self[len] = '\0', (pid_t)atoi(self)) : getpid();
    if (sync[0] >= 0) {
      close(sync[1]);
      char byte;
      /* Until the parent has written the uid and gid maps, this process has no identity in its namespace. */
      if (read(sync[0], &byte, 1) != 1) fail(STATUS_FAILED, "the parent did not map the user namespace");
      close(sync[0]);
      /*
       * The ids it had are the host's still (unmapped unless the map gives them, as a rootless one does): become
       * the namespace's root, as runc's nsexec does once the maps are written, so that what PID 1 creates (the
       * /dev tmpfs' nodes, mount points) is owned by a mapped id. Where 0 is not mapped (EINVAL), nothing changes.
       */
      if ((setresgid(0, 0, 0) < 0 && errno != EINVAL) || (setresuid(0, 0, 0) < 0 && errno != EINVAL))
        fail_errno(STATUS_FAILED, "become root in the user namespace");
    }
    reset_signals();
    child_steps();
  }
  /* Back to ns-exec's own cgroups: the container's hold the command only. A failure leaves ns-exec counted there, no worse. */
  for (char **path = leave; path && *path; path++) {
    int fd = open(*path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      if (write(fd, "0", 1) < 0) { /* stays counted in the container's cgroup */ }
      close(fd);
    }
  }
  close(errors[1]);
  if (sync[0] >= 0) close(sync[0]);
  if (tty) close(tty_socket[1]);
  close(runtime_sock[1]);
  supervise(pid, errors[0], sync[1], uid_how, uid_map, gid_how, gid_map, exit_file, tty, oom_file);
}
