/*
 * cutaway-shim: a detached container's shim, the role containerd-shim plays
 * for Docker. It stays while the container runs, so it is small C rather
 * than a Node process (~1 MiB resident against ~40 MiB):
 *
 *   cutaway-shim [-i] [-H MS M CHECK…] DIR N AFTER… RUN…
 *
 * DIR is containers/<id>; RUN (everything after the N words of AFTER) is the
 * container's command line, `ns-exec … -- CMD`. The shim runs it with stdin
 * from /dev/null (-i: a pipe the shim holds open, as Docker keeps a
 * `run -d -i` container's stdin) and its stdout and stderr into DIR/log, one
 * JSON object per line in Docker's json-file format ({"log":…,"stream":…,
 * "time":…}); serves `cutaway attach` on the socket DIR/attach.sock (below);
 * records DIR/state.json as running once ns-exec has written DIR/pid, and as
 * exited with the status when it ends (128+N after signal N); then becomes
 * AFTER (execvp, the same pid), which takes down what the container had —
 * unless DIR/teardown.claim is there: the `rm -f` or `stop` that ended the
 * container takes it down in its own process, and the shim just ends.
 *
 * The shim is a child subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), as
 * containerd-shim is: should ns-exec be killed, PID 1 is re-parented to the
 * shim rather than to init, and the shim still learns how it ended. Only when
 * neither ns-exec (its status, or the exit file it writes) nor PID 1 can tell
 * is the exit recorded as unknown ("exitUnknown", shown as Docker's 255).
 *
 * Fd 3, when open, is the caller's wait for the container to run: the shim
 * closes it once state.json says running (or ends, at the latest), so that
 * `cutaway run -d` and `cutaway start` return then, without polling. The
 * shim learns that ns-exec has written DIR/pid from inotify(7), not by
 * looking every few milliseconds.
 *
 * -H: the container's health check (HEALTHCHECK). MS milliseconds after it
 * runs, and MS after each check has ended, the shim runs CHECK (the M words
 * after M: `cutaway __health ID`, which runs one check and records it) in a
 * process group of its own; when the container ends, a check still running
 * is killed with its group, so nothing of it outlives the container.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static char started_at[40];

/* `cutaway-shim: error: WHAT`, and with `err` (an errno value, not 0) `: WHY`, as err(3) and errx(3) print. */
static void __attribute__((noreturn)) vdie(int status, int err, const char *fmt, va_list ap) {
  fputs("cutaway-shim: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  if (err) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
  exit(status);
}

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdie(125, 0, fmt, ap);
}

/* A failed call: WHAT, then errno's text; `status` is the shim's exit status. */
static void __attribute__((noreturn, format(printf, 2, 3))) die_errno(int status, const char *fmt, ...) {
  int err = errno; /* the failed call's, before anything here can change it */
  va_list ap;
  va_start(ap, fmt);
  vdie(status, err, fmt, ap);
}

/* RFC 3339 with nanoseconds, UTC: what Docker writes in its logs and state. */
static void now(char *out, size_t size) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out + n, size - n, ".%09ldZ", ts.tv_nsec);
}

static void path_in_dir(char *out, const char *name) {
  if (snprintf(out, PATH_MAX, "%s/%s", dir, name) >= PATH_MAX) die("path too long: %s/%s", dir, name);
}

/* state.json replaced as a whole (rename(2) is atomic), as ContainerStore.writeState does; not when DIR is gone (rm). */
static void write_state(const char *json) {
  char path[PATH_MAX], tmp[PATH_MAX + 32];
  path_in_dir(path, "state.json");
  snprintf(tmp, sizeof tmp, "%s.shim%d", path, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  ssize_t len = (ssize_t)strlen(json);
  if (write(fd, json, (size_t)len) != len || close(fd) < 0 || rename(tmp, path) < 0) unlink(tmp);
}

/* ---- the json-file log ------------------------------------------------------ */

static int log_fd;

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it is not one (RFC 3629, section 4). */
static size_t utf8_length(const unsigned char *s, size_t n) {
  size_t len = s[0] < 0x80 ? 1 : s[0] >= 0xc2 && s[0] <= 0xdf ? 2 : s[0] >= 0xe0 && s[0] <= 0xef ? 3 : s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : 0;
  if (!len || len > n) return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  if (len == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0))) return 0; /* overlong, surrogate */
  if (len == 4 && ((s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))) return 0; /* overlong, > U+10FFFF */
  return len;
}

/*
 * One log entry. The text is a JSON string (RFC 8259, section 7): quote,
 * backslash and control characters escaped; bytes that are not UTF-8 become
 * U+FFFD, as Go's encoding/json writes them for Docker.
 */
static void log_entry(const char *stream, const unsigned char *text, size_t n) {
  size_t cap = n * 6 + 128, len = 0;
  char *out = malloc(cap);
  if (!out) die("out of memory");
  len += (size_t)snprintf(out, cap, "{\"log\":\"");
  for (size_t i = 0; i < n;) {
    unsigned char c = text[i];
    size_t seq = utf8_length(text + i, n - i);
    if (c == '"' || c == '\\') len += (size_t)snprintf(out + len, cap - len, "\\%c", c);
    else if (c == '\n') len += (size_t)snprintf(out + len, cap - len, "\\n");
    else if (c == '\r') len += (size_t)snprintf(out + len, cap - len, "\\r");
    else if (c == '\t') len += (size_t)snprintf(out + len, cap - len, "\\t");
    else if (c < 0x20 || c == 0x7f) len += (size_t)snprintf(out + len, cap - len, "\\u%04x", c);
    else if (!seq) len += (size_t)snprintf(out + len, cap - len, "\xef\xbf\xbd");
    else {
      memcpy(out + len, text + i, seq);
      len += seq;
      i += seq;
      continue;
    }
    i++;
  }
  char time[40];
  now(time, sizeof time);
  len += (size_t)snprintf(out + len, cap - len, "\",\"stream\":\"%s\",\"time\":\"%s\"}\n", stream, time);
  /* O_APPEND: one write per entry, so `cutaway logs -f` never reads half of one. */
  if (write(log_fd, out, len) < 0) { /* a full disk loses log lines, not the container */ }
  free(out);
}

/* What one stream has read and not logged yet: a line is logged when its newline arrives (or at 16 KiB, as Docker splits). */
struct stream {
  const char *name;
  int number; /* 1 stdout, 2 stderr: attach's frame header */
  int fd;
  unsigned char buf[16384];
  size_t len;
};

static void drain(struct stream *s, int final) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++)
    if (s->buf[i] == '\n') {
      log_entry(s->name, s->buf + start, i + 1 - start);
      start = i + 1;
    }
  if (start == 0 && (s->len == sizeof s->buf || (final && s->len))) {
    log_entry(s->name, s->buf, s->len);
    start = s->len;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

static void broadcast(int stream, const unsigned char *data, size_t n);

/* Reads what is there (and passes it on to attached clients); 0 at EOF. */
static int pump(struct stream *s) {
  ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    drain(s, 1);
    close(s->fd);
    s->fd = -1;
    return 0;
  }
  broadcast(s->number, s->buf + s->len, (size_t)n);
  s->len += (size_t)n;
  drain(s, 0);
  return 1;
}

/* ---- attach: DIR/attach.sock ---------------------------------------------------
 *
 * Each client (`cutaway attach`, `cutaway start -a` of a running container)
 * gets the container's output from the moment it connects, as Docker's attach
 * does, framed as Docker's attach stream without a terminal (moby's stdcopy):
 * a header of 8 bytes — the stream (1 stdout, 2 stderr), three zeros, the
 * length as a big-endian uint32 — then the bytes. What a client sends goes to
 * the container's stdin with -i, and is dropped without. A client that closes
 * its sending side (its stdin ended) still gets the output; the container's
 * stdin stays open, as for Docker's `run -d -i` (StdinOnce false). Writes to a
 * client block, as Docker's attach streams do: a client that stops reading
 * holds the output back; one that has gone is dropped (EPIPE).
 */

#define MAX_CLIENTS 32

struct client {
  int fd;
  int sending; /* still reading what it sends */
};

static struct client clients[MAX_CLIENTS];
static int client_count;
static int listen_fd = -1;
static int stdin_fd = -1;           /* the write end of the container's stdin (-i) */
static unsigned char input[4096];   /* read from a client, not yet taken by the container */
static size_t input_len, input_off;

/* DIR/attach.sock through /proc/self/fd: sun_path holds 108 bytes, a state root's path may be longer. */
static void attach_path(struct sockaddr_un *addr, int dir_fd) {
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/attach.sock", dir_fd);
}

static void attach_listen(void) {
  int dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) die_errno(125, "open %s", dir);
  struct sockaddr_un addr;
  attach_path(&addr, dir_fd);
  unlink(addr.sun_path); /* an earlier run's */
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 8) < 0) die_errno(125, "attach socket %s/attach.sock", dir);
  close(dir_fd);
}

static void attach_unlink(void) {
  char path[PATH_MAX];
  path_in_dir(path, "attach.sock");
  unlink(path);
}

static void drop_client(int i) {
  close(clients[i].fd);
  clients[i] = clients[--client_count];
}

static void accept_client(void) {
  int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (client_count == MAX_CLIENTS) {
    close(fd);
    return;
  }
  clients[client_count++] = (struct client){.fd = fd, .sending = 1};
}

/* All of buf to fd, or -1 when the client has gone. */
static int send_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Output of stream 1 (stdout) or 2 (stderr) to every client, as one frame. */
static void broadcast(int stream, const unsigned char *data, size_t n) {
  unsigned char header[8] = {(unsigned char)stream, 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = client_count - 1; i >= 0; i--)
    if (send_all(clients[i].fd, header, sizeof header) < 0 || send_all(clients[i].fd, data, n) < 0) drop_client(i);
}

/* What client i sent: kept for the container's stdin (-i), or dropped. */
static void receive(int i) {
  ssize_t n = read(clients[i].fd, input, sizeof input);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    clients[i].sending = 0;
    return;
  }
  if (stdin_fd >= 0) {
    input_len = (size_t)n;
    input_off = 0;
  }
}

/* As much of the input as the container's stdin takes now; the rest waits for POLLOUT. */
static void feed_stdin(void) {
  ssize_t w = write(stdin_fd, input + input_off, input_len - input_off);
  if (w < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (w < 0) { /* the container closed its stdin: input is dropped from now on */
    close(stdin_fd);
    stdin_fd = -1;
    input_len = input_off = 0;
    return;
  }
  input_off += (size_t)w;
  if (input_off == input_len) input_len = input_off = 0;
}

/* ---- the health check (-H) ------------------------------------------------ */

static long read_number(const char *name);

static long health_ms = -1;        /* no check without -H */
static char **health_check;        /* CHECK, NULL-terminated */
static pid_t health_pid;           /* the check running, 0 when none */
static int health_fd = -1;         /* its pidfd: readable once it has ended */
static struct timespec health_due; /* when the next one starts */

static long ms_until(const struct timespec *t) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long ms = (t->tv_sec - ts.tv_sec) * 1000 + (t->tv_nsec - ts.tv_nsec) / 1000000;
  return ms < 0 ? 0 : ms;
}

static void health_schedule(void) {
  clock_gettime(CLOCK_MONOTONIC, &health_due);
  health_due.tv_sec += health_ms / 1000;
  health_due.tv_nsec += (health_ms % 1000) * 1000000;
  if (health_due.tv_nsec >= 1000000000) {
    health_due.tv_sec++;
    health_due.tv_nsec -= 1000000000;
  }
}

/* CHECK started in a process group of its own, stdin and stdout /dev/null, its errors on the shim's stderr. */
static void health_start(void) {
  pid_t pid = fork();
  if (pid < 0) {
    health_schedule(); /* tried again at the next interval */
    return;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) _exit(125);
    execvp(health_check[0], health_check);
    _exit(127);
  }
  setpgid(pid, pid); /* here too: the group exists before the shim may kill it */
  health_pid = pid;
  health_fd = (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The check has ended (its pidfd said so): reaped, with what it left in its group, and the next one scheduled. */
static void health_done(void) {
  waitpid(health_pid, NULL, 0);
  while (waitpid(-health_pid, NULL, WNOHANG) > 0) {}
  close(health_fd);
  health_fd = -1;
  health_pid = 0;
  health_schedule();
}

/*
 * What a check leaves to the shim, a subreaper: the process it started in the container when that outlived its
 * ns-exec (killed at the check's timeout). Such a zombie is reaped while the container runs, or its PID 1 could
 * never finish exiting (it waits for every process of its pid namespace to be reaped). ns-exec, PID 1 and the
 * check itself are left to whoever waits for them; the first of those found ends the round.
 */
static void reap_orphans(pid_t child) {
  long pid1 = read_number("pid");
  for (;;) {
    siginfo_t info = {0};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 || info.si_pid == 0) return;
    if (info.si_pid == child || info.si_pid == pid1 || info.si_pid == health_pid) return;
    waitpid(info.si_pid, NULL, 0);
  }
}

/* The container has ended: a check still running goes, with its process group. */
static void health_stop(void) {
  if (!health_pid) return;
  kill(-health_pid, SIGKILL);
  waitpid(health_pid, NULL, 0);
  while (waitpid(-health_pid, NULL, WNOHANG) > 0) {}
  if (health_fd >= 0) close(health_fd);
  health_fd = -1;
  health_pid = 0;
}

/* ---- running the container ----------------------------------------------- */

/* A small file of DIR holding a decimal number (pid, exit): the number, or -1 when it is not there. */
static long read_number(const char *name) {
  char path[PATH_MAX], text[32];
  path_in_dir(path, name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = '\0';
  char *end;
  long value = strtol(text, &end, 10);
  return end == text || value < 0 ? -1 : value;
}

/* Once ns-exec has written the pid file, its command runs: the state says so, with the pid. */
static int record_running(void) {
  char state[256];
  long pid = read_number("pid");
  if (pid <= 0) return 0;
  snprintf(state, sizeof state, "{\"status\":\"running\",\"pid\":%ld,\"startedAt\":\"%s\"}\n", pid, started_at);
  write_state(state);
  return 1;
}

/* Reads what is waiting on a non-blocking fd (inotify's events, which say only that DIR changed). */
static void discard_events(int fd) {
  char buf[4096];
  while (read(fd, buf, sizeof buf) > 0) {}
}

/* Docker's status for a process that ended: its exit code, or 128+N after signal N. */
static int status_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * The container's status once ns-exec has ended, -1 when nothing can tell it. ns-exec's own status is the
 * command's unless ns-exec was killed; then the exit file it writes before reaping PID 1, or PID 1's status
 * as its subreaper: every orphan left (PID 1, a planner) is reaped here, PID 1 perhaps still running.
 */
static int container_status(int ns_exec_status) {
  if (WIFEXITED(ns_exec_status)) return WEXITSTATUS(ns_exec_status);
  int code = -1, status;
  long pid1 = read_number("pid");
  pid_t pid;
  while ((pid = waitpid(-1, &status, 0)) != 0) {
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break; /* ECHILD: no orphan left */
    if (pid == pid1) code = status_code(status);
  }
  long recorded = read_number("exit");
  return recorded >= 0 && recorded <= 255 ? (int)recorded : code;
}

int main(int argc, char **argv) {
  int interactive = argc > 1 && strcmp(argv[1], "-i") == 0;
  argc -= interactive;
  argv += interactive;
  if (argc > 3 && strcmp(argv[1], "-H") == 0) {
    health_ms = atol(argv[2]);
    int check_count = atoi(argv[3]);
    if (health_ms < 1 || check_count < 1 || 4 + check_count >= argc) die("usage: cutaway-shim [-i] [-H MS M CHECK…] DIR N AFTER… RUN…");
    health_check = calloc((size_t)check_count + 1, sizeof *health_check);
    if (!health_check) die("out of memory");
    memcpy(health_check, argv + 4, (size_t)check_count * sizeof *health_check);
    argv += 3 + check_count;
    argc -= 3 + check_count;
  }
  if (argc < 4) die("usage: cutaway-shim [-i] [-H MS M CHECK…] DIR N AFTER… RUN…");
  dir = argv[1];
  int after_count = atoi(argv[2]);
  if (after_count < 1 || 3 + after_count >= argc) die("usage: cutaway-shim [-i] [-H MS M CHECK…] DIR N AFTER… RUN…");
  char **after = argv + 3, **run = argv + 3 + after_count;

  char path[PATH_MAX];
  path_in_dir(path, "log");
  log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) die_errno(125, "open %s", path);
  /* The pid and exit files of an earlier run (a start after an exit or a reboot) tell of a process that is gone. */
  path_in_dir(path, "pid");
  unlink(path);
  path_in_dir(path, "exit");
  unlink(path);
  /* A claim on an earlier run's teardown (below) by a stop that never came to take it. */
  path_in_dir(path, "teardown.claim");
  unlink(path);
  /* PID 1 comes to the shim, not to init, if ns-exec is killed: its status is still known here. */
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die_errno(125, "prctl PR_SET_CHILD_SUBREAPER");

  int out[2], err[2], in[2] = {-1, -1};
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die_errno(125, "pipe");
  if (interactive && pipe2(in, O_CLOEXEC) < 0) die_errno(125, "pipe");
  attach_listen();
  /* The caller's end of the wait (above) is for this process alone: ns-exec and the container never hold it. */
  int ready_fd = fcntl(3, F_SETFD, FD_CLOEXEC) == 0 ? 3 : -1;
  /* ns-exec renames its pid file into DIR (and writes it): before the fork, so that no such event is missed. */
  int watch_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watch_fd >= 0 && inotify_add_watch(watch_fd, dir, IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
    close(watch_fd);
    watch_fd = -1;
  }
  now(started_at, sizeof started_at);
  pid_t child = fork();
  if (child < 0) die_errno(125, "fork");
  if (child == 0) {
    int input_end = interactive ? in[0] : open("/dev/null", O_RDONLY);
    if (input_end < 0 || dup2(input_end, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(125);
    execvp(run[0], run);
    die_errno(errno == ENOENT ? 127 : 126, "%s", run[0]);
  }
  close(out[1]);
  close(err[1]);
  if (interactive) {
    close(in[0]);
    stdin_fd = in[1];
    fcntl(stdin_fd, F_SETFL, O_NONBLOCK); /* a container not reading its stdin must not hold the shim */
  }
  /* A signal sent to the shim (kill, a stop of the whole session) reaches the container's PID 1 through ns-exec. */
  struct sigaction sa = {.sa_handler = SIG_IGN};
  sigaction(SIGHUP, &sa, NULL);
  sigaction(SIGPIPE, &sa, NULL);

  static struct stream streams[2] = {{.name = "stdout", .number = 1}, {.name = "stderr", .number = 2}};
  streams[0].fd = out[0];
  streams[1].fd = err[0];
  int running = 0;
  while (streams[0].fd >= 0 || streams[1].fd >= 0) {
    /* The output, new clients, the container's stdin while input waits for it, and the clients otherwise. */
    struct pollfd fds[6 + MAX_CLIENTS] = {
        {.fd = streams[0].fd, .events = POLLIN},
        {.fd = streams[1].fd, .events = POLLIN},
        {.fd = listen_fd, .events = POLLIN},
        {.fd = input_len ? stdin_fd : -1, .events = POLLOUT},
    };
    int count = client_count;
    for (int i = 0; i < count; i++) fds[4 + i] = (struct pollfd){.fd = clients[i].fd, .events = clients[i].sending && !input_len ? POLLIN : 0};
    /* The health check's pidfd, last: readable once the check has ended. */
    fds[4 + count] = (struct pollfd){.fd = health_fd, .events = POLLIN};
    /* Until the pid file appears: what happens in DIR (inotify; closed, -1, once it runs). */
    fds[5 + count] = (struct pollfd){.fd = watch_fd, .events = POLLIN};
    /* Until the pid file appears, look for it at each change in DIR (every 10 ms without inotify); then wait for what comes (or the next health check). */
    int timeout = !running ? (watch_fd >= 0 ? -1 : 10) : health_ms > 0 && !health_pid ? (int)ms_until(&health_due) : -1;
    /* With checks, awake at least every 200 ms to reap what they leave (reap_orphans). */
    if (health_ms > 0 && (timeout < 0 || timeout > 200)) timeout = 200;
    int ready = poll(fds, (nfds_t)(6 + count), timeout);
    if (ready < 0 && errno != EINTR) die_errno(125, "poll");
    if (fds[5 + count].revents) discard_events(watch_fd);
    if (!running && (running = record_running())) {
      if (ready_fd >= 0) close(ready_fd); /* the caller's wait is over */
      ready_fd = -1;
      if (watch_fd >= 0) close(watch_fd);
      watch_fd = -1;
      if (health_ms > 0) health_schedule();
    }
    if (health_ms > 0) reap_orphans(child);
    if (running && health_ms > 0 && !health_pid && ms_until(&health_due) == 0) health_start();
    if (ready <= 0) continue;
    if (fds[4 + count].revents) health_done();
    for (int i = 0; i < 2; i++)
      if (fds[i].revents) pump(&streams[i]);
    if (fds[3].revents) feed_stdin();
    /* From the last, so that dropping one (moving the last into its place) skips none: the clients polled are the first `count`. */
    for (int i = count - 1; i >= 0; i--) {
      if (i >= client_count || clients[i].fd != fds[4 + i].fd) continue; /* dropped by a broadcast above */
      if (fds[4 + i].revents & POLLIN) receive(i);
      else if (fds[4 + i].revents & (POLLHUP | POLLERR)) drop_client(i);
    }
    if (fds[2].revents) accept_client();
  }
  /* The output has ended: clients see the end of the stream (their sockets close at the execvp below) and then read the state. */
  attach_unlink();
  health_stop();
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) die_errno(125, "waitpid");
  int code = container_status(status);
  char finished_at[40], state[512];
  now(finished_at, sizeof finished_at);
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (code >= 0)
      snprintf(state, sizeof state, "{\"status\":\"exited\",\"exitCode\":%d,\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}\n", code, started_at, finished_at);
    else
      snprintf(state, sizeof state,
               "{\"status\":\"exited\",\"exitUnknown\":true,\"error\":\"ns-exec was killed (signal %d) and left no exit status of the container's process\","
               "\"startedAt\":\"%s\",\"finishedAt\":\"%s\"}\n",
               WTERMSIG(status), started_at, finished_at);
    write_state(state);
  }
  /* AFTER (Node, running tools) is no reaper of orphans: whatever is left is reaped now, and the role ends here. */
  while (waitpid(-1, NULL, WNOHANG) > 0) {}
  prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
  /* The process that stopped the container (rm -f, stop) takes it down itself, in its own process: its claim
     was written before its signal, so it is there by now if it was made for this exit (stop.ts TEARDOWN_CLAIM). */
  path_in_dir(path, "teardown.claim");
  if (access(path, F_OK) == 0) exit(0);
  after[after_count] = NULL;
  execvp(after[0], after);
  die_errno(125, "%s", after[0]);
}
