/**
 * Seccomp profiles in Docker's JSON format — moby's default.json, podman's /usr/share/containers/seccomp.json,
 * a file given with `--security-opt seccomp=FILE` — read, checked and resolved for one container, as dockerd
 * resolves one before it writes runc's config.json: the rules whose `includes`/`excludes` do not fit the
 * container's capability bounding set, this machine's architecture or its kernel are left out, and the
 * architectures come from the `archMap` entry of this machine's. What is left is the plan's `seccomp` step:
 * the default action, the filter flags, the architectures (libseccomp's names) and one rule per system call,
 * as runc hands them to libseccomp — ns-exec.c adds each with seccomp_rule_add_array and loads the filter
 * right before execve. Two stages, so that one resolver serves both: Docker's form becomes the OCI form
 * (ociProfile, what dockerd writes into config.json's linux.seccomp), and the OCI form — a bundle's, or
 * that — becomes the step (resolveProfile).
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ToolError } from '@cutaway/cli';
import { capabilityNames } from './caps.ts';
import type { Seccomp } from './oci/config.ts';
import { dockerDefaultProfile } from './seccomp-default.ts';

export interface ArgDocument {
  index: number;
  value: number | bigint | string;
  valueTwo?: number | bigint | string;
  op: string;
}

export interface FilterDocument {
  caps?: string[];
  arches?: string[];
  minKernel?: string;
}

export interface SyscallRuleDocument {
  name?: string;
  names?: string[];
  action: string;
  errnoRet?: number;
  args?: ArgDocument[] | null;
  includes?: FilterDocument;
  excludes?: FilterDocument;
  comment?: string;
}

/** Docker's seccomp profile format (moby/profiles seccomp.Seccomp): the OCI fields plus archMap, includes and excludes. */
export interface ProfileDocument {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures?: string[];
  archMap?: { architecture: string; subArchitectures: string[] | null }[];
  syscalls?: SyscallRuleDocument[];
  flags?: string[];
  listenerPath?: string;
}

/** One comparison of a system call's argument (libseccomp's struct scmp_arg_cmp). */
export interface ArgComparison {
  index: number;
  op: number;
  value: bigint;
  valueTwo: bigint;
}

export interface ResolvedRule {
  name: string;
  action: number;
  args: ArgComparison[];
}

/** A profile resolved for one container: what the plan's `seccomp` step carries. */
export interface ResolvedProfile {
  /** Where it came from, for the trace and the script: Docker's default, or the file. */
  source: string;
  defaultAction: number;
  /** SECCOMP_FILTER_FLAG_* bits for seccomp(2). */
  flags: number;
  /** libseccomp's names (seccomp_arch_resolve_name), the native one first. */
  arches: string[];
  rules: ResolvedRule[];
}

/** What --security-opt says about seccomp: Docker's default (`builtin`, or nothing said), none, or a file. */
export type SeccompChoice = { kind: 'default' } | { kind: 'unconfined' } | { kind: 'file'; path: string };

/** SECCOMP_RET_* (linux/seccomp.h), which are libseccomp's SCMP_ACT_* values; ERRNO and TRACE carry 16 bits of data. */
const ACTIONS: Record<string, number> = {
  SCMP_ACT_KILL: 0x00000000,
  SCMP_ACT_KILL_THREAD: 0x00000000,
  SCMP_ACT_KILL_PROCESS: 0x80000000,
  SCMP_ACT_TRAP: 0x00030000,
  SCMP_ACT_ERRNO: 0x00050000,
  SCMP_ACT_TRACE: 0x7ff00000,
  SCMP_ACT_LOG: 0x7ffc0000,
  SCMP_ACT_ALLOW: 0x7fff0000,
};

/** libseccomp's enum scmp_compare. */
const OPERATORS: Record<string, number> = {
  SCMP_CMP_NE: 1, SCMP_CMP_LT: 2, SCMP_CMP_LE: 3, SCMP_CMP_EQ: 4, SCMP_CMP_GE: 5, SCMP_CMP_GT: 6, SCMP_CMP_MASKED_EQ: 7,
};

/** seccomp(2)'s SECCOMP_FILTER_FLAG_*; TSYNC means nothing to ns-exec's one thread. */
const FLAGS: Record<string, number> = { SECCOMP_FILTER_FLAG_TSYNC: 0, SECCOMP_FILTER_FLAG_LOG: 2, SECCOMP_FILTER_FLAG_SPEC_ALLOW: 4 };

/** Node's process.arch → Go's GOARCH (what a profile's includes.arches and moby compare with) and libseccomp's native arch. */
const NATIVE: Partial<Record<NodeJS.Architecture, { go: string; scmp: string }>> = {
  x64: { go: 'amd64', scmp: 'SCMP_ARCH_X86_64' },
  arm64: { go: 'arm64', scmp: 'SCMP_ARCH_AARCH64' },
  ia32: { go: '386', scmp: 'SCMP_ARCH_X86' },
  arm: { go: 'arm', scmp: 'SCMP_ARCH_ARM' },
  ppc64: { go: 'ppc64le', scmp: 'SCMP_ARCH_PPC64LE' },
  s390x: { go: 's390x', scmp: 'SCMP_ARCH_S390X' },
  riscv64: { go: 'riscv64', scmp: 'SCMP_ARCH_RISCV64' },
  loong64: { go: 'loong64', scmp: 'SCMP_ARCH_LOONGARCH64' },
};

/** moby's name for GOARCH's architecture in includes/excludes (its goToNative): 386 is `x86`, the rest as Go says. */
const PROFILE_ARCH: Record<string, string> = { '386': 'x86', loong64: 'loongarch64' };

const ERRNO_DEFAULT = 1; // EPERM: runc's errno for SCMP_ACT_ERRNO and SCMP_ACT_TRACE without errnoRet

/** An action by name, with its errno (ERRNO, TRACE). */
function action(name: string, errnoRet: number | undefined, where: string): number {
  if (name === 'SCMP_ACT_NOTIFY') throw new ToolError(`${where}: SCMP_ACT_NOTIFY needs a seccomp agent (listenerPath); ns-exec has none`);
  const base = ACTIONS[name];
  if (base === undefined) throw new ToolError(`${where}: unknown action ${JSON.stringify(name)}`, `one of ${Object.keys(ACTIONS).join(', ')}`);
  if (name !== 'SCMP_ACT_ERRNO' && name !== 'SCMP_ACT_TRACE') return base;
  const data = errnoRet ?? ERRNO_DEFAULT;
  if (!Number.isInteger(data) || data < 0 || data > 0xffff) throw new ToolError(`${where}: errnoRet ${data} is not an errno`);
  return (base | data) >>> 0;
}

function integer(value: unknown, what: string): bigint {
  if (typeof value === 'bigint') return value;
  if ((typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^\d+$/.test(value))) return BigInt(value);
  throw new ToolError(`${what}: ${JSON.stringify(value)} is not a number`);
}

/** `major.minor` of a kernel release or of a profile's minKernel. */
function kernelVersion(text: string, what: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  if (!m) throw new ToolError(`${what}: invalid kernel version ${JSON.stringify(text)}`);
  return [Number(m[1]), Number(m[2])];
}

function kernelAtLeast(min: string, kernel: string, where: string): boolean {
  const [major, minor] = kernelVersion(kernel, 'this kernel');
  const [wantMajor, wantMinor] = kernelVersion(min, `${where}: minKernel`);
  return major > wantMajor || (major === wantMajor && minor >= wantMinor);
}

/**
 * JSON.parse for text holding seccomp rules (a profile, a config.json): argument values (`value`, `valueTwo`)
 * are 64-bit, so those of 16 digits or more are read as decimal text before JSON.parse can round them to a
 * double (18446744073709551615 would become …616); integer() takes the text.
 */
export function parseWithArgValues(text: string): unknown {
  return JSON.parse(text.replace(/("value(?:Two)?"\s*:\s*)(\d{16,})/g, '$1"$2"'));
}

/** A profile file's text → the document. */
export function parseProfile(text: string, source: string): ProfileDocument {
  let doc: unknown;
  try {
    doc = parseWithArgValues(text);
  } catch (e) {
    throw new ToolError(`${source}: not a seccomp profile: ${(e as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new ToolError(`${source}: not a seccomp profile: expected a JSON object`);
  const profile = doc as ProfileDocument;
  if (profile.syscalls !== undefined && profile.syscalls !== null && !Array.isArray(profile.syscalls)) throw new ToolError(`${source}: "syscalls" must be a list`);
  return profile;
}

/** `--security-opt seccomp=…`'s profile; undefined: unconfined. */
export function loadProfile(choice: SeccompChoice): { doc: ProfileDocument; source: string } | undefined {
  if (choice.kind === 'unconfined') return undefined;
  if (choice.kind === 'default') return { doc: dockerDefaultProfile(), source: "Docker's default profile" };
  let text: string;
  try {
    text = readFileSync(choice.path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ToolError(`--security-opt seccomp=${choice.path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return { doc: parseProfile(text, `seccomp profile ${choice.path}`), source: `the profile in ${choice.path}` };
}

/** Whether a rule's includes/excludes let it apply (moby's setupSeccomp, one for one). */
function applies(rule: SyscallRuleDocument, arch: string, caps: Set<string>, kernel: string, where: string): boolean {
  const ex = rule.excludes;
  if (ex) {
    if (ex.arches?.includes(arch)) return false;
    if (ex.caps?.some((c) => caps.has(c))) return false;
    if (ex.minKernel && kernelAtLeast(ex.minKernel, kernel, where)) return false;
  }
  const inc = rule.includes;
  if (inc) {
    if (inc.arches?.length && !inc.arches.includes(arch)) return false;
    if (inc.caps?.some((c) => !caps.has(c))) return false;
    if (inc.minKernel && !kernelAtLeast(inc.minKernel, kernel, where)) return false;
  }
  return true;
}

/**
 * Docker's form → the OCI form (config-linux.md "Seccomp") for a container whose capability bounding set is
 * `caps`, on this machine (or on the `arch` and `kernel` given), as dockerd writes it into runc's config.json
 * (moby's setupSeccomp): the rules whose includes/excludes do not fit are left out, the architectures come
 * from `architectures` or this machine's `archMap` entry, and argument values become 64-bit integers.
 */
export function ociProfile(doc: ProfileDocument, source: string, caps: bigint, on: { arch?: NodeJS.Architecture; kernel?: string } = {}): Seccomp {
  const where = source;
  const native = NATIVE[on.arch ?? process.arch];
  if (!native) throw new ToolError(`seccomp: no profile for this architecture (${on.arch ?? process.arch})`);
  const kernel = on.kernel ?? release();
  if (doc.architectures?.length && doc.archMap?.length) throw new ToolError(`${where}: both "architectures" and "archMap" are given; use one`);
  const architectures = [...(doc.architectures ?? [])];
  const family = doc.archMap?.find((a) => a.architecture === native.scmp);
  if (family) architectures.push(family.architecture, ...(family.subArchitectures ?? []));
  const capSet = new Set(capabilityNames(caps));
  const arch = PROFILE_ARCH[native.go] ?? native.go;
  const syscalls: NonNullable<Seccomp['syscalls']> = [];
  (doc.syscalls ?? []).forEach((rule, i) => {
    const at = `${where}: syscalls[${i}]`;
    if (rule.name && rule.names?.length) throw new ToolError(`${at}: both "name" and "names" are given; use one`);
    if (!applies(rule, arch, capSet, kernel, at)) return;
    const args = (rule.args ?? []).map((a, j) => ({
      index: a.index, op: a.op, value: integer(a.value, `${at}: args[${j}].value`), valueTwo: integer(a.valueTwo ?? 0, `${at}: args[${j}].valueTwo`),
    }));
    syscalls.push({ names: rule.name ? [rule.name] : (rule.names ?? []), action: rule.action, ...(rule.errnoRet !== undefined ? { errnoRet: rule.errnoRet } : {}), args });
  });
  return {
    defaultAction: doc.defaultAction, ...(doc.defaultErrnoRet !== undefined ? { defaultErrnoRet: doc.defaultErrnoRet } : {}),
    architectures: [...new Set(architectures)], flags: doc.flags ?? [], ...(doc.listenerPath ? { listenerPath: doc.listenerPath } : {}), syscalls,
  };
}

/**
 * A profile in the OCI form (a config.json's linux.seccomp, or Docker's resolved by ociProfile) → the plan's
 * `seccomp` step. A rule that compares one argument twice becomes one rule per comparison (libseccomp takes
 * an argument once per rule; runc does the same). Rules whose action is the default's stay: ns-exec.c skips
 * them as runc does, after counting their calls for the ENOSYS rule as runc counts them.
 */
export function resolveProfile(doc: Seccomp, source: string): ResolvedProfile {
  const where = source;
  if (!doc.defaultAction) throw new ToolError(`${where}: no defaultAction`);
  if (doc.listenerPath) throw new ToolError(`${where}: listenerPath: ns-exec has no seccomp agent`);
  const defaultAction = action(doc.defaultAction, doc.defaultErrnoRet, `${where}: defaultAction`);
  let flags = 0;
  for (const f of doc.flags ?? []) {
    const bit = FLAGS[f];
    if (bit === undefined) throw new ToolError(`${where}: unsupported flag ${JSON.stringify(f)}`, `known: ${Object.keys(FLAGS).join(', ')}`);
    flags |= bit;
  }
  const arches = [...new Set((doc.architectures ?? []).map((a) => {
    if (!/^SCMP_ARCH_[A-Z0-9_]+$/.test(a)) throw new ToolError(`${where}: unknown architecture ${JSON.stringify(a)}`);
    return a.slice('SCMP_ARCH_'.length).toLowerCase();
  }))];
  const rules: ResolvedRule[] = [];
  (doc.syscalls ?? []).forEach((rule, i) => {
    const at = `${where}: syscalls[${i}]`;
    const act = action(rule.action, rule.errnoRet, at);
    const args = (rule.args ?? []).map((a, j): ArgComparison => {
      const op = OPERATORS[a.op];
      if (op === undefined) throw new ToolError(`${at}: args[${j}]: unknown operator ${JSON.stringify(a.op)}`, `one of ${Object.keys(OPERATORS).join(', ')}`);
      if (!Number.isInteger(a.index) || a.index < 0 || a.index > 5) throw new ToolError(`${at}: args[${j}]: index ${a.index} is not 0-5`);
      return { index: a.index, op, value: integer(a.value, `${at}: args[${j}].value`), valueTwo: integer(a.valueTwo ?? 0, `${at}: args[${j}].valueTwo`) };
    });
    const repeated = new Set(args.map((a) => a.index)).size < args.length;
    for (const name of rule.names) {
      if (!/^[a-z0-9_]+$/.test(name)) throw new ToolError(`${at}: invalid system call name ${JSON.stringify(name)}`);
      if (repeated) for (const a of args) rules.push({ name, action: act, args: [a] });
      else rules.push({ name, action: act, args });
    }
  });
  return { source, defaultAction, flags, arches, rules };
}

/** A rule as the plan carries it, one string: `NAME ACTION`, then `INDEX OP VALUE VALUETWO` per comparison (ns-exec.c add_rule). */
export function encodeRule(rule: ResolvedRule): string {
  const hex = (n: number | bigint) => `0x${n.toString(16)}`;
  return [rule.name, hex(rule.action), ...rule.args.flatMap((a) => [String(a.index), String(a.op), hex(a.value), hex(a.valueTwo)])].join(' ');
}

/**
 * `--security-opt seccomp=…`'s profile in the OCI form, for a container with the capability bounding set
 * `caps`, and where it came from; undefined when unconfined.
 */
export function choiceProfile(choice: SeccompChoice, caps: bigint): { seccomp: Seccomp; source: string } | undefined {
  const loaded = loadProfile(choice);
  // A profile with neither a default action nor rules means no filter, as dockerd takes it.
  if (!loaded || (!loaded.doc.defaultAction && !loaded.doc.syscalls?.length)) return undefined;
  return { seccomp: ociProfile(loaded.doc, loaded.source, caps), source: loaded.source };
}

/** The seccomp profile of a container with the capability bounding set `caps`; undefined when unconfined. */
export function seccompProfile(choice: SeccompChoice, caps: bigint): ResolvedProfile | undefined {
  const chosen = choiceProfile(choice, caps);
  return chosen && resolveProfile(chosen.seccomp, chosen.source);
}
