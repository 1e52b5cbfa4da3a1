import { toolSpec, type Invocation } from '@cutaway/cli';
import pkg from '../package.json' with { type: 'json' };

/** ns-exec's command line: its options, help and exit statuses, which both planners (a new container, --enter) read. */
export const spec = toolSpec({
  name: 'ns-exec',
  version: pkg.version,
  synopsis: ['[options] --rootfs DIR -- CMD [ARG…]', '[-e K=V] [-w DIR] [-u USER] [-t] --enter PID -- CMD [ARG…]'],
  description: [
    'Runs a command in a container made from a rootfs directory, as docker run does after the image is',
    'mounted: new pid, mount, uts, ipc, net and cgroup namespaces (and a user namespace when run by a',
    'non-root user), pivot_root into the rootfs, /proc, /sys (read-only), /dev as a tmpfs with the usual',
    "nodes, devpts, shm and mqueue, Docker's masked and read-only paths, the hostname, the user, Docker's",
    'default capabilities, then execve. The command is PID 1 of its pid namespace; ns-exec waits for it,',
    "forwards the signals it gets, and exits with the command's status (125: ns-exec failed; 126: cannot be",
    'executed; 127: not found; 128+N: killed by signal N). With --enter PID it runs a command in the running',
    "container of that process instead, as docker exec does: its namespaces, cgroups, capabilities, environment.",
  ].join('\n'),
  command: true,
  errorStatus: 125,
  options: [
    { name: 'rootfs', type: 'string', arg: 'DIR', help: 'the container\'s root directory (overlay-mount\'s merged dir, an unpacked tarball, …)' },
    { name: 'enter', type: 'string', arg: 'PID', help: 'run the command in the container of this process (its namespaces, cgroups, capabilities, environment, cwd, user)' },
    { name: 'hostname', type: 'string', arg: 'NAME', help: 'hostname inside (default: 12 random hex digits, like a container id)' },
    { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'set a variable; -e K copies K from here (repeat)' },
    { name: 'env-file', type: 'list', arg: 'FILE', help: 'read K=V lines from a file (repeat)' },
    { name: 'workdir', short: 'w', type: 'string', arg: 'DIR', help: 'working directory inside, created if missing (default /)' },
    { name: 'user', short: 'u', type: 'string', arg: 'USER[:GROUP]', help: 'user and group, names from the rootfs\' /etc/passwd and /etc/group' },
    { name: 'volume', short: 'v', type: 'list', arg: 'SRC:DST[:ro]', help: 'bind-mount a host path (repeat)' },
    { name: 'tmpfs', type: 'list', arg: 'DST[:OPTS]', help: 'mount a tmpfs (default noexec,nosuid,nodev) (repeat)' },
    { name: 'read-only', type: 'boolean', help: 'mount the rootfs read-only' },
    { name: 'net', type: 'string', arg: 'none|host', help: 'none (default): a network namespace with lo only; host: the host\'s' },
    { name: 'netns', type: 'string', arg: 'PATH', help: 'join a network namespace, e.g. /run/netns/NAME from netbridge up' },
    { name: 'cgroup', type: 'list', arg: 'PATH|NAME', help: 'join a cgroup directory, or every hierarchy\'s cw-NAME made by cg-limit, before the command starts (repeat)' },
    { name: 'cap-add', type: 'list', arg: 'CAP', help: 'add a capability to Docker\'s default set (ALL for all) (repeat)' },
    { name: 'cap-drop', type: 'list', arg: 'CAP', help: 'drop a capability (ALL for all) (repeat)' },
    { name: 'privileged', type: 'boolean', help: 'all capabilities, the host\'s devices, no masked or read-only paths' },
    { name: 'security-opt', type: 'list', arg: 'OPT', help: 'no-new-privileges: set no_new_privs, so setuid binaries gain nothing' },
    { name: 'pid-file', type: 'string', arg: 'FILE', help: 'write the command\'s pid (as the host sees it) to FILE' },
    { name: 'tty', short: 't', type: 'boolean', help: 'give the command a terminal (a pty of its own devpts); stdin is relayed' },
  ],
  examples: [
    'ns-exec --rootfs ./rootfs -- /bin/sh -c "echo \\$\\$; ps"                         # 1, and only the container\'s processes',
    'ns-exec -t --rootfs "$(overlay-mount busybox)" --hostname box -- sh               # an interactive container',
    'ns-exec --rootfs R -u nobody -w /tmp -e GREETING=hi --read-only --tmpfs /tmp -- env',
    'ns-exec --rootfs R --netns "$(netbridge up web -p 8080:80)" -- httpd -f -p 80',
    'cg-limit exec web -- ns-exec --rootfs R -- sh -c "cat /sys/fs/cgroup/memory/memory.limit_in_bytes"',
    'ns-exec --dry-run --rootfs R -- /bin/true                                           # the unshare/mount/pivot_root script',
    'ns-exec --enter "$(cat web.pid)" -t -- sh                                           # a shell in the running container',
  ],
  classic: [
    'unshare --fork --pid --mount --uts --ipc --net --cgroup sh -c \'…\'',
    'mount --make-rprivate /; mount --rbind R R; mount -t proc proc R/proc -o nosuid,noexec,nodev',
    'mount -t tmpfs tmpfs R/dev -o nosuid,strictatime,mode=755; mknod -m 666 R/dev/null c 1 3',
    'cd R && pivot_root . . && umount -l .',
    'hostname NAME',
    'setpriv --reuid U --regid G --bounding-set -all,+chown,… -- env -i PATH=… CMD',
    'nsenter --target PID --pid --mount --uts --ipc --net --cgroup CMD   (--enter)',
  ],
});

export type NsExecInvocation = Invocation<typeof spec.options>;
