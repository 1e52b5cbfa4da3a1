import { closeSync, openSync } from 'node:fs';
import type { IKoffiCType } from 'koffi';
import { check, koffi, lazily, libcFunction, SystemCallError } from './libc.ts';

// bpf(2): load a program and attach it to a cgroup (linux/bpf.h, union bpf_attr). glibc has no wrapper:
// the system call goes through syscall(2), as mount.ts's new mount API does.

const syscall = libcFunction<number | bigint>('long syscall(long number, ...)');

/** __NR_bpf: x86_64 and arm64 differ (arch/x86/entry/syscalls/syscall_64.tbl, include/uapi/asm-generic/unistd.h). */
const SYS_BPF = ({ x64: 321, arm64: 280 } as Record<string, number>)[process.arch];

/** enum bpf_cmd. */
const BPF_PROG_LOAD = 5;
const BPF_PROG_ATTACH = 8;
const BPF_PROG_QUERY = 16;
/** BPF_PROG_QUERY's query_flags: the programs that run for the cgroup, its ancestors' included. */
const BPF_F_QUERY_EFFECTIVE = 1;
/** enum bpf_prog_type, enum bpf_attach_type. */
export const BPF_PROG_TYPE_CGROUP_DEVICE = 15;
export const BPF_CGROUP_DEVICE = 6;
/** Attach flags: with ALLOW_MULTI the programs of every ancestor cgroup run too, and all must allow. */
export const BPF_F_ALLOW_MULTI = 2;

/**
 * The BPF_PROG_LOAD part of union bpf_attr, up to expected_attach_type; the kernel takes a shorter attr as zero-filled.
 * koffi types, as these, are made at their first use: koffi is loaded then (libc.ts).
 */
const ProgLoadAttr = lazily(() => koffi().struct('cw_bpf_prog_load_attr', {
  prog_type: 'uint32',
  insn_cnt: 'uint32',
  insns: 'void *',
  license: 'void *',
  log_level: 'uint32',
  log_size: 'uint32',
  log_buf: 'void *',
  kern_version: 'uint32',
  prog_flags: 'uint32',
  prog_name: koffi().array('char', 16),
  prog_ifindex: 'uint32',
  expected_attach_type: 'uint32',
}));

/** The BPF_PROG_ATTACH part of union bpf_attr. */
const ProgAttachAttr = lazily(() => koffi().struct('cw_bpf_prog_attach_attr', {
  target_fd: 'uint32',
  attach_bpf_fd: 'uint32',
  attach_type: 'uint32',
  attach_flags: 'uint32',
  replace_bpf_fd: 'uint32',
}));

function bpf(cmd: number, type: IKoffiCType, attr: object): number {
  if (SYS_BPF === undefined) throw new SystemCallError('bpf', 38 /* ENOSYS */);
  return Number(syscall(SYS_BPF, 'int', cmd, koffi().pointer(type), attr, 'uint', koffi().sizeof(type)));
}

/**
 * Loads a program of raw instructions (struct bpf_insn, 8 bytes each) and returns its fd. A program the
 * verifier refuses is loaded a second time with the verifier's log, which the error then carries.
 * `name`: letters, digits, `_` and `.`, at most 15 (the kernel refuses others with EINVAL).
 */
export function loadProgram(type: number, instructions: Buffer, name: string, license = 'GPL'): number {
  const attr = (log?: Buffer) => ({
    prog_type: type,
    insn_cnt: instructions.length / 8,
    insns: instructions,
    license: Buffer.from(`${license}\0`),
    log_level: log ? 1 : 0,
    log_size: log?.length ?? 0,
    log_buf: log ?? null,
    kern_version: 0,
    prog_flags: 0,
    prog_name: name.slice(0, 15),
    prog_ifindex: 0,
    expected_attach_type: 0,
  });
  const fd = bpf(BPF_PROG_LOAD, ProgLoadAttr(), attr());
  if (fd >= 0) return fd;
  const errno = koffi().errno();
  if (errno === 22 /* EINVAL */ || errno === 13 /* EACCES */) {
    const log = Buffer.alloc(16384);
    const again = bpf(BPF_PROG_LOAD, ProgLoadAttr(), attr(log));
    if (again >= 0) return again;
    const text = log.toString('utf8', 0, Math.max(0, log.indexOf(0))).trim();
    if (text) {
      const e = new SystemCallError('bpf(BPF_PROG_LOAD)', errno);
      e.message = `${e.message}: the verifier says: ${text.split('\n').slice(-3).join('; ')}`;
      throw e;
    }
  }
  throw new SystemCallError('bpf(BPF_PROG_LOAD)', errno);
}

/** Attaches a loaded program to a cgroup v2 directory (bpf(BPF_PROG_ATTACH)); the cgroup keeps it until the cgroup is removed. */
export function attachProgram(cgroupDir: string, programFd: number, attachType: number, flags: number): void {
  const dirFd = openSync(cgroupDir, 'r');
  try {
    check(bpf(BPF_PROG_ATTACH, ProgAttachAttr(), { target_fd: dirFd, attach_bpf_fd: programFd, attach_type: attachType, attach_flags: flags, replace_bpf_fd: 0 }), 'bpf(BPF_PROG_ATTACH)', cgroupDir);
  } finally {
    closeSync(dirFd);
  }
}

/**
 * How many programs of `attachType` run for a cgroup v2 directory, its ancestors' included (bpf(BPF_PROG_QUERY)
 * with BPF_F_QUERY_EFFECTIVE; the kernel asks CAP_NET_ADMIN of the caller). The query part of union bpf_attr:
 * target_fd, attach_type, query_flags, attach_flags (u32 each), prog_ids (u64, no buffer here), prog_cnt (u32),
 * which the kernel fills in.
 */
export function attachedPrograms(cgroupDir: string, attachType: number): number {
  if (SYS_BPF === undefined) throw new SystemCallError('bpf', 38 /* ENOSYS */);
  const attr = Buffer.alloc(40);
  const dirFd = openSync(cgroupDir, 'r');
  try {
    attr.writeUInt32LE(dirFd, 0);
    attr.writeUInt32LE(attachType, 4);
    attr.writeUInt32LE(BPF_F_QUERY_EFFECTIVE, 8);
    check(Number(syscall(SYS_BPF, 'int', BPF_PROG_QUERY, 'void *', attr, 'uint', attr.length)), 'bpf(BPF_PROG_QUERY)', cgroupDir);
    return attr.readUInt32LE(24);
  } finally {
    closeSync(dirFd);
  }
}

/** Closes a program's fd (once attached, the cgroup holds its own reference). */
export function closeProgram(fd: number): void {
  closeSync(fd);
}
