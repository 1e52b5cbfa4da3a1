import { readFileSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';

/** capabilities(7), in bit order (linux/capability.h). */
const NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid', 'setpcap',
  'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
  'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
];

/** Docker's default set (moby daemon/pkg/oci/caps/defaults.go): 0xa80425fb. */
const DOCKER_DEFAULT = [
  'chown', 'dac_override', 'fsetid', 'fowner', 'mknod', 'net_raw', 'setgid', 'setuid', 'setfcap', 'setpcap',
  'net_bind_service', 'sys_chroot', 'kill', 'audit_write',
];

function bit(name: string): bigint {
  return 1n << BigInt(NAMES.indexOf(name));
}

function maskOf(names: readonly string[]): bigint {
  return names.reduce((m, n) => m | bit(n), 0n);
}

/** `CAP_NET_ADMIN`, `net_admin` and `NET_ADMIN` are the same; `ALL` stands for all. */
function capName(word: string): string {
  const name = word.toLowerCase().replace(/^cap_/, '');
  if (name !== 'all' && !NAMES.includes(name)) throw new ToolError(`unknown capability: ${JSON.stringify(word)}`, 'names as in capabilities(7): NET_ADMIN, SYS_PTRACE, …');
  return name;
}

/** A config.json's capability list (`CAP_CHOWN`, …; config.md "capabilities") as a bit mask. */
export function capabilityMask(names: readonly string[]): bigint {
  return maskOf(names.map((n) => {
    const name = capName(n);
    if (name === 'all') throw new ToolError(`unknown capability: ${JSON.stringify(n)}`, 'a config.json names each capability');
    return name;
  }));
}

/** What this process may hand on: its own bounding set (root here lacks CAP_SYS_RESOURCE, for one). */
export function ownBoundingSet(): bigint {
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return line ? BigInt(`0x${line[1]}`) : maskOf(NAMES);
}

/**
 * The command's capability set, as Docker computes it (moby caps.TweakCapabilities):
 * --privileged is every capability; otherwise the default set, where `--cap-add ALL`
 * starts from every capability and `--cap-drop ALL` from none, then the others apply.
 */
export function capabilitySet(add: string[], drop: string[], privileged: boolean, own: bigint): bigint {
  const all = maskOf(NAMES) & own;
  if (privileged) return all;
  const adds = add.map(capName);
  const drops = drop.map(capName);
  let set = adds.includes('all') ? maskOf(NAMES) : drops.includes('all') ? 0n : maskOf(DOCKER_DEFAULT);
  for (const d of drops) if (d !== 'all') set &= ~bit(d);
  for (const a of adds) if (a !== 'all') set |= bit(a);
  const missing = NAMES.filter((n) => set & bit(n) & ~own);
  if (adds.some((a) => a !== 'all' && missing.includes(a)))
    throw new ToolError(`cannot grant ${missing.filter((m) => adds.includes(m)).map((m) => `CAP_${m.toUpperCase()}`).join(', ')}: ns-exec does not hold it itself`);
  return set & own;
}

/** setpriv(1)'s spelling of a set: `-all,+chown,+kill`. */
export function setprivCaps(set: bigint): string {
  return ['-all', ...NAMES.filter((n) => set & bit(n)).map((n) => `+${n}`)].join(',');
}

/** A set by the names seccomp profiles test in includes/excludes (and OCI's capabilities lists): `CAP_SYS_ADMIN`, … */
export function capabilityNames(set: bigint): string[] {
  return NAMES.filter((n) => set & bit(n)).map((n) => `CAP_${n.toUpperCase()}`);
}
