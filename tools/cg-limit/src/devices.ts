import { UsageError } from '@cutaway/cli';
import { parseDeviceSpec } from '@cutaway/libc';
import { RUNC_DEVICE_RULES, type DeviceRule } from '@cutaway/cgroup';

/**
 * The devices cgroup as docker run's flags set it (--devices, --device, --device-cgroup-rule), and v2's
 * BPF program for it; the rules and v1's files are @cutaway/cgroup's.
 */
export { ruleText, v1DeviceWrites, type DeviceRule } from '@cutaway/cgroup';

/** /dev/console: Docker's default spec allows it, runc's list does not; it goes after the tty. */
const CONSOLE: DeviceRule = { type: 'c', major: 5, minor: 1, access: 'rwm' };

/**
 * What a Docker container may use by default: moby's default spec allows c 1:5, 1:3, 1:9, 1:8, 5:0 and 5:1
 * rwm on a deny-all base (daemon/pkg/oci/defaults.go, DefaultLinuxSpec's Resources.Devices; its "deny c
 * 10:229" removes nothing from a deny-all list), and runc appends its AllowedDevices to every container's
 * rules (RUNC_DEVICE_RULES).
 */
export const DEFAULT_DEVICE_RULES: readonly DeviceRule[] = RUNC_DEVICE_RULES.flatMap((r) => (r.major === 5 && r.minor === 0 ? [r, CONSOLE] : [r]));

/** `--devices`: where the rules start from. `all` is no devices cgroup rule at all, the kernel's default. */
export const DEVICE_POLICIES = ['default', 'none', 'all'] as const;
export type DevicePolicy = (typeof DEVICE_POLICIES)[number];

/** `--device-cgroup-rule 'c 42:* rmw'`: docker run's syntax (its regexp, daemon/pkg/oci/oci.go), types c and b. */
export function parseDeviceRule(text: string): DeviceRule {
  const m = /^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(text.trim());
  if (!m || new Set(m[4]).size !== m[4]!.length) throw new UsageError(`--device-cgroup-rule ${JSON.stringify(text)}: want TYPE MAJOR:MINOR ACCESS, e.g. 'c 1:3 rwm' or 'b 8:* r'`);
  if (m[1] === 'a') throw new UsageError(`--device-cgroup-rule ${JSON.stringify(text)}: type a (every device) is --devices all`);
  const num = (v: string) => (v === '*' ? '*' : Number(v));
  return { type: m[1] as 'c' | 'b', major: num(m[2]!), minor: num(m[3]!), access: ['r', 'w', 'm'].filter((c) => m[4]!.includes(c)).join('') };
}

/** `--device HOST[:CTR][:rwm]`: the rule for the host's node (CTR is ns-exec's business; cg-limit reads past it). */
export function parseDeviceOption(text: string, node: (path: string) => { type: 'c' | 'b'; major: number; minor: number } | undefined): DeviceRule {
  let spec;
  try {
    spec = parseDeviceSpec(text);
  } catch (e) {
    throw new UsageError(`--device: ${(e as Error).message}`);
  }
  const dev = node(spec.host);
  if (!dev) throw new UsageError(`--device ${spec.host}: not a character or block device`);
  return { ...dev, access: spec.access };
}

/** The rules in effect: the policy's, then the given ones; rules for the same devices merged (v1 merges them too). */
export function deviceRules(policy: 'default' | 'none', given: readonly DeviceRule[]): DeviceRule[] {
  const rules: DeviceRule[] = [];
  for (const r of [...(policy === 'default' ? DEFAULT_DEVICE_RULES : []), ...given]) {
    const same = rules.find((x) => x.type === r.type && x.major === r.major && x.minor === r.minor);
    if (same) same.access = ['r', 'w', 'm'].filter((c) => same.access.includes(c) || r.access.includes(c)).join('');
    else rules.push({ ...r });
  }
  return rules;
}

// ---------------------------------------------------------------- the v2 program

/**
 * Instruction encodings (include/uapi/linux/bpf.h, bpf_common.h): struct bpf_insn is
 * { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm }, little-endian on the machines cutaway runs on.
 */
const BPF = {
  LDX_MEM_W: 0x61, // BPF_LDX | BPF_MEM | BPF_W: dst = *(u32 *)(src + off)
  ALU_AND_K: 0x54, // BPF_ALU | BPF_AND | BPF_K: dst32 &= imm
  ALU_RSH_K: 0x74, // BPF_ALU | BPF_RSH | BPF_K: dst32 >>= imm
  ALU_MOV_X: 0xbc, // BPF_ALU | BPF_MOV | BPF_X: dst32 = src32
  ALU_MOV_K: 0xb4, // BPF_ALU | BPF_MOV | BPF_K: dst32 = imm
  JMP_JNE_K: 0x55, // BPF_JMP | BPF_JNE | BPF_K: if dst != imm goto pc + 1 + off
  JMP_JNE_X: 0x5d, // BPF_JMP | BPF_JNE | BPF_X: if dst != src goto pc + 1 + off
  JMP_EXIT: 0x95, // BPF_JMP | BPF_EXIT: return r0
} as const;

/** struct bpf_cgroup_dev_ctx's access_type: (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*. */
const DEV_TYPE = { b: 1, c: 2 } as const; // BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR
const ACCESS = { m: 1, r: 2, w: 4 } as const; // BPF_DEVCG_ACC_MKNOD, _READ, _WRITE

interface Insn {
  code: number;
  dst: number;
  src?: number;
  /** A jump's target: 'next' is the first instruction of the following block. */
  next?: true;
  off?: number;
  imm?: number;
}

/**
 * The program runc's devicefilter.go (after crun's ebpf.c) builds, for an allow-list: r2 the device type,
 * r3 the access asked for, r4 the major, r5 the minor (struct bpf_cgroup_dev_ctx { u32 access_type; u32
 * major; u32 minor; }); then one block per rule that falls through to the next one on any mismatch and
 * returns 1 (allow) when all match; the last block returns 0 (deny). The access matches when the access
 * asked for is within the rule's: (asked & rule) == asked.
 */
export function deviceProgram(rules: readonly DeviceRule[]): Buffer {
  const blocks: Insn[][] = [
    [
      { code: BPF.LDX_MEM_W, dst: 2, src: 1, off: 0 },
      { code: BPF.ALU_AND_K, dst: 2, imm: 0xffff },
      { code: BPF.LDX_MEM_W, dst: 3, src: 1, off: 0 },
      { code: BPF.ALU_RSH_K, dst: 3, imm: 16 },
      { code: BPF.LDX_MEM_W, dst: 4, src: 1, off: 4 },
      { code: BPF.LDX_MEM_W, dst: 5, src: 1, off: 8 },
    ],
  ];
  for (const r of rules) {
    const block: Insn[] = [{ code: BPF.JMP_JNE_K, dst: 2, imm: DEV_TYPE[r.type], next: true }];
    if (r.access !== 'rwm') {
      const mask = [...r.access].reduce((m, c) => m | ACCESS[c as keyof typeof ACCESS], 0);
      block.push({ code: BPF.ALU_MOV_X, dst: 1, src: 3 }, { code: BPF.ALU_AND_K, dst: 1, imm: mask }, { code: BPF.JMP_JNE_X, dst: 1, src: 3, next: true });
    }
    if (r.major !== '*') block.push({ code: BPF.JMP_JNE_K, dst: 4, imm: r.major, next: true });
    if (r.minor !== '*') block.push({ code: BPF.JMP_JNE_K, dst: 5, imm: r.minor, next: true });
    block.push({ code: BPF.ALU_MOV_K, dst: 0, imm: 1 }, { code: BPF.JMP_EXIT, dst: 0 });
    blocks.push(block);
  }
  blocks.push([{ code: BPF.ALU_MOV_K, dst: 0, imm: 0 }, { code: BPF.JMP_EXIT, dst: 0 }]);
  const out = Buffer.alloc(blocks.reduce((n, b) => n + b.length, 0) * 8);
  let pc = 0;
  for (const block of blocks) {
    block.forEach((insn, i) => {
      const at = pc * 8;
      out[at] = insn.code;
      out[at + 1] = (insn.dst & 0xf) | ((insn.src ?? 0) << 4);
      // A jump to the next block: from instruction i of a block of n, skip the n - i - 1 that follow it.
      out.writeInt16LE(insn.next ? block.length - i - 1 : (insn.off ?? 0), at + 2);
      out.writeInt32LE(insn.imm ?? 0, at + 4);
      pc++;
    });
  }
  return out;
}
