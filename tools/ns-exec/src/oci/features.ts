/**
 * `features`: what this runtime supports, in runtime-spec's features.md form (what `runc features` prints,
 * four-space JSON), stating ns-exec's own support rather than runc's: no systemd cgroup driver, no AppArmor,
 * no SELinux, no seccomp agent (SCMP_ACT_NOTIFY).
 */
import { capabilityNames } from '../caps.ts';
import { OCI_VERSION } from './config.ts';

/** The mount options a config.json's mounts may carry (mount(8)'s words; the propagation ones; runc's tmpcopyup is not done). */
const MOUNT_OPTIONS = [
  'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'iversion', 'lazytime', 'loud', 'mand',
  'noatime', 'nodev', 'nodiratime', 'noexec', 'noiversion', 'nolazytime', 'nomand', 'norelatime', 'nostrictatime', 'nosuid',
  'nosymfollow', 'private', 'rbind', 'relatime', 'remount', 'ro', 'rprivate', 'rshared', 'rslave', 'runbindable', 'rw',
  'shared', 'silent', 'slave', 'strictatime', 'suid', 'symfollow', 'sync', 'unbindable',
];

export function features(): string {
  return JSON.stringify({
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'],
    mountOptions: MOUNT_OPTIONS,
    linux: {
      namespaces: ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts'],
      capabilities: capabilityNames((1n << 64n) - 1n),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
      seccomp: {
        enabled: true,
        // seccomp.ts's actions and operators; the architectures libseccomp 2.5 knows, which ns-exec.c hands to it.
        actions: ['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO', 'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE', 'SCMP_ACT_TRAP'],
        operators: ['SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_LE', 'SCMP_CMP_LT', 'SCMP_CMP_MASKED_EQ', 'SCMP_CMP_NE'],
        archs: [
          'SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
          'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X',
          'SCMP_ARCH_X32', 'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64',
        ],
      },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
  }, null, 4) + '\n';
}
