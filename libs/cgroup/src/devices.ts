/**
 * The devices cgroup: which device nodes the processes of a cgroup may open
 * (read, write) or make (mknod). v1 keeps a list per cgroup, written to
 * devices.deny and devices.allow (Documentation/admin-guide/cgroup-v1/devices.rst);
 * v2 has no file for it: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to
 * the cgroup answers each access (Documentation/admin-guide/cgroup-v2.rst,
 * "Device controller").
 */

/** An allow rule for char or block devices. */
export interface DeviceRule {
  type: 'c' | 'b';
  /** A number, or '*' for any. */
  major: number | '*';
  minor: number | '*';
  /** Some of r, w and m, in that order. */
  access: string;
}

/** A rule as config.json's linux.resources.devices has it (config-linux.md "Device allowlist"): allow or deny, `a` for every type. */
export interface DeviceCgroupRule extends Omit<DeviceRule, 'type'> {
  allow: boolean;
  type: 'a' | 'c' | 'b';
}

/**
 * What runc lets every container use, after the config's own rules (libcontainer/specconv/spec_linux.go,
 * AllowedDevices): mknod of any char or block device, null, zero, full, random, urandom, tty, ptmx, the pts
 * devices (136:*) and tun/tap 10:200 (dropped in runc 1.2.0, back since 1.2.4: CHANGELOG.md, "Re-add tun/tap
 * devices to built-in allowed devices lists").
 */
export const RUNC_DEVICE_RULES: readonly DeviceRule[] = [
  { type: 'c', major: '*', minor: '*', access: 'm' },
  { type: 'b', major: '*', minor: '*', access: 'm' },
  { type: 'c', major: 1, minor: 3, access: 'rwm' }, // null
  { type: 'c', major: 1, minor: 5, access: 'rwm' }, // zero
  { type: 'c', major: 1, minor: 7, access: 'rwm' }, // full
  { type: 'c', major: 1, minor: 8, access: 'rwm' }, // random
  { type: 'c', major: 1, minor: 9, access: 'rwm' }, // urandom
  { type: 'c', major: 5, minor: 0, access: 'rwm' }, // tty
  { type: 'c', major: 5, minor: 2, access: 'rwm' }, // ptmx
  { type: 'c', major: 136, minor: '*', access: 'rwm' }, // pts/*
  { type: 'c', major: 10, minor: 200, access: 'rwm' }, // net/tun
];

/** `c 1:3 rwm`: the kernel's syntax, as devices.allow and devices.list have it. */
export function ruleText(r: DeviceRule | DeviceCgroupRule): string {
  return `${r.type} ${r.major}:${r.minor} ${r.access}`;
}

/**
 * v1: everything denied first (`a` in devices.deny also empties the list), then each rule in its order, an
 * allow rule to devices.allow and a deny rule to devices.deny (a later rule wins, as the kernel applies them).
 */
export function v1DeviceWrites(rules: readonly (DeviceRule | DeviceCgroupRule)[]): [file: string, value: string][] {
  return [['devices.deny', 'a'], ...rules.map((r): [string, string] => ['allow' in r && !r.allow ? 'devices.deny' : 'devices.allow', ruleText(r)])];
}
