/**
 * Docker's default seccomp profile, as data of our own: which system calls a container may make, by
 * capability and architecture, with the few argument filters. It states what moby's profile states
 * (moby/profiles seccomp/default.json, the revision that lists socket families one by one and no longer
 * allows io_uring), in tables that say why; dockerDefaultProfile() writes it in Docker's JSON model, so that
 * the default and a `--security-opt seccomp=FILE` are read and resolved by the same code (seccomp.ts).
 *
 * Everything not listed is refused with EPERM (defaultErrnoRet 1) — among others add_key, request_key,
 * keyctl (keyrings are not namespaced), userfaultfd, io_uring_*, move_pages, kexec_*, swapon, pivot_root.
 */
import type { ProfileDocument, SyscallRuleDocument } from './seccomp.ts';

const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);

/** Allowed to every container, whatever its capabilities. */
const EVERYONE = words(`
  accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
  clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep
  clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2
  execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark
  fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
  fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64
  futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
  getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
  getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32
  getrlimit get_robust_list getrusage getsid getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32
  getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch
  io_cancel ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
  ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
  listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
  madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
  mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
  mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
  name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
  pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease
  pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
  recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat renameat2
  restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn
  rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
  sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min sched_getscheduler
  sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler
  sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64
  send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
  setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32
  setreuid setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
  setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
  socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync sync_file_range
  syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
  timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
  times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64
  utimes vfork vmsplice wait4 waitid waitpid write writev
`);

/** Allowed without CAP_SYS_PTRACE from kernel 4.8 on: before it, ptrace could be used to get round seccomp. */
const FROM_KERNEL_4_8 = ['process_vm_readv', 'process_vm_writev', 'ptrace'];

/**
 * socket(2) address families (its first argument) a container may open: every family numbered below 12
 * (AF_UNIX, AF_INET, AF_INET6, …) and these (AF_NETLINK 16, AF_PACKET 17, AF_CAN 29, AF_BLUETOOTH 31, AF_XDP 44,
 * …). The rest are refused: AF_DECnet 12, AF_ECONET 19, AF_ATMSVC 20, AF_IRDA 23, AF_WANPIPE 25, AF_ISDN 34,
 * AF_CAIF 37, AF_ALG 38, AF_VSOCK 40, and families newer than AF_MCTP 45.
 */
const SOCKET_FAMILIES_BELOW = 12;
const SOCKET_FAMILIES = [13, 14, 15, 16, 17, 18, 21, 22, 24, 26, 27, 28, 29, 30, 31, 32, 33, 35, 36, 39, 41, 42, 43, 44, 45];

/**
 * personality(2) personas allowed: PER_LINUX 0, PER_LINUX32 8, UNAME26 0x20000, UNAME26|PER_LINUX32, and
 * 0xffffffff (a query). Others — ADDR_NO_RANDOMIZE among them, which turns ASLR off — are refused.
 */
const PERSONAS = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

/** Calls only some architectures have, by the architecture names a profile's includes use (Go's GOARCH, and a few more). */
const BY_ARCH: [arches: string[], names: string[]][] = [
  [['ppc64le'], ['sync_file_range2', 'swapcontext']],
  [['arm', 'arm64'], ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']],
  [['amd64', 'x32'], ['arch_prctl']],
  [['amd64', 'x32', 'x86'], ['modify_ldt']],
  [['s390', 's390x'], ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr']],
  [['riscv64'], ['riscv_flush_icache']],
];

/** Calls allowed only when the container's bounding set holds a capability: what the capability guards anyway. */
const BY_CAPABILITY: [cap: string, names: string[]][] = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_ADMIN', words(`
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr lsm_list_modules
    lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
    sethostname setns syslog umount umount2 unshare
  `)],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev', 'ptrace']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

/**
 * clone(2)'s namespace flags: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET. Without
 * CAP_SYS_ADMIN a container may clone only with none of them (its flags masked with these equal 0) — so no
 * new user namespace, the first step of many exploits — and clone3(2), whose flags sit in memory where a
 * filter cannot read them, fails with ENOSYS, so that the C library falls back to clone.
 */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const ENOSYS = 38;

/** Each architecture family's own and the others its CPU runs (x86_64 runs i386 and x32 code). */
const ARCH_FAMILIES: [arch: string, others: string[]][] = [
  ['X86_64', ['X86', 'X32']],
  ['AARCH64', ['ARM']],
  ['MIPS64', ['MIPS', 'MIPS64N32']],
  ['MIPS64N32', ['MIPS', 'MIPS64']],
  ['MIPSEL64', ['MIPSEL', 'MIPSEL64N32']],
  ['MIPSEL64N32', ['MIPSEL', 'MIPSEL64']],
  ['S390X', ['S390']],
  ['RISCV64', []],
  ['LOONGARCH64', []],
];

const allow = (names: string[], more: Omit<SyscallRuleDocument, 'names' | 'action'> = {}): SyscallRuleDocument => ({ names, action: 'SCMP_ACT_ALLOW', ...more });
const equals = (value: number) => [{ index: 0, value, op: 'SCMP_CMP_EQ' }];

/** Docker's default profile in Docker's JSON model (what `docker run` applies without --security-opt seccomp=…). */
export function dockerDefaultProfile(): ProfileDocument {
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: 1,
    archMap: ARCH_FAMILIES.map(([arch, others]) => ({ architecture: `SCMP_ARCH_${arch}`, subArchitectures: others.map((a) => `SCMP_ARCH_${a}`) })),
    syscalls: [
      allow(EVERYONE),
      allow(FROM_KERNEL_4_8, { includes: { minKernel: '4.8' } }),
      allow(['socket'], { args: [{ index: 0, value: SOCKET_FAMILIES_BELOW, op: 'SCMP_CMP_LT' }] }),
      ...SOCKET_FAMILIES.map((family) => allow(['socket'], { args: equals(family) })),
      ...PERSONAS.map((persona) => allow(['personality'], { args: equals(persona) })),
      ...BY_ARCH.map(([arches, names]) => allow(names, { includes: { arches } })),
      ...BY_CAPABILITY.map(([cap, names]) => allow(names, { includes: { caps: [cap] } })),
      // s390 passes clone's flags second.
      allow(['clone'], { args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }], excludes: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } }),
      allow(['clone'], { args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, op: 'SCMP_CMP_MASKED_EQ' }], includes: { arches: ['s390', 's390x'] }, excludes: { caps: ['CAP_SYS_ADMIN'] } }),
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS, excludes: { caps: ['CAP_SYS_ADMIN'] } },
    ],
  };
}
