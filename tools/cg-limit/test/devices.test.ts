/**
 * The devices cgroup's rules and the cgroup-v2 device program, with no tool
 * in between: the parsers (docker run's --device and --device-cgroup-rule
 * syntax), the rule list (Docker's default, merging), the program's encoding,
 * and then the kernel's verdicts. This machine is a hybrid: cg-limit uses its
 * v1 devices hierarchy, but its cgroup2 mount (/sys/fs/cgroup/unified, with
 * no controllers) takes BPF device programs all the same. So the program
 * cg-limit attaches on a v2-only host is loaded and attached here, and a
 * process in that cgroup must be allowed and refused exactly what a process
 * in a v1 devices cgroup with the same rules is. (cgroup2.test.ts runs
 * cg-limit itself on a v2-only kernel.)
 *
 * The cgroups made are cw-cwtest-<pid>-bpf (unified) and cw-cwtest-<pid>-v1
 * (devices); afterAll removes both. Nodes are only opened and closed: a block
 * device only for reading.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { attachProgram, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI, BPF_PROG_TYPE_CGROUP_DEVICE, closeProgram, deviceNumbers, loadProgram, parseDeviceSpec } from '@cutaway/libc';
import { readMountinfo } from '@cutaway/libc/mountinfo';
import { DEFAULT_DEVICE_RULES, deviceProgram, deviceRules, parseDeviceRule, ruleText, v1DeviceWrites } from '../src/devices.ts';
import { OPEN_PROBE, PY } from './open-probe.ts';


describe('the --device syntax (docker/cli parseLinuxDevice)', () => {
  it('reads HOST, HOST:CTR, HOST:rwm and HOST:CTR:rwm; a second part that is a mode is the mode', () => {
    expect(parseDeviceSpec('/dev/sda')).toEqual({ host: '/dev/sda', container: '/dev/sda', access: 'rwm' });
    expect(parseDeviceSpec('/dev/sda:/dev/xvda')).toEqual({ host: '/dev/sda', container: '/dev/xvda', access: 'rwm' });
    expect(parseDeviceSpec('/dev/sda:r')).toEqual({ host: '/dev/sda', container: '/dev/sda', access: 'r' });
    expect(parseDeviceSpec('/dev/sda:/disk:mr')).toEqual({ host: '/dev/sda', container: '/disk', access: 'rm' });
  });

  it('refuses four parts, relative paths, bad or repeated modes', () => {
    expect(() => parseDeviceSpec('/a:/b:r:w')).toThrow(/expected HOST\[:CTR\]\[:rwm\]/);
    expect(() => parseDeviceSpec('sda')).toThrow(/host path must be absolute/);
    expect(() => parseDeviceSpec('/dev/sda:xvda')).toThrow(/container path must be absolute/);
    expect(() => parseDeviceSpec('/dev/sda:/x:rr')).toThrow(/invalid device mode "rr"/);
    expect(() => parseDeviceSpec('/dev/sda:/x:q')).toThrow(/invalid device mode "q"/);
  });
});

describe('the rules', () => {
  it("Docker's default: mknod of anything, the standard character devices, pts, ptmx, console and tun", () => {
    expect(DEFAULT_DEVICE_RULES.map(ruleText)).toEqual(['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c 10:200 rwm']);
  });

  it('--device-cgroup-rule: docker run’s regexp, access in r w m order; type a is refused', () => {
    expect(parseDeviceRule('b 8:* wr')).toEqual({ type: 'b', major: 8, minor: '*', access: 'rw' });
    expect(parseDeviceRule('c *:* m')).toEqual({ type: 'c', major: '*', minor: '*', access: 'm' });
    for (const bad of ['c 1:3', 'x 1:3 r', 'c 1 r', 'c 1:3 rr', 'c 1:3 rwmx', 'c -1:3 r']) expect(() => parseDeviceRule(bad), bad).toThrow(/want TYPE MAJOR:MINOR ACCESS/);
    expect(() => parseDeviceRule('a *:* rwm')).toThrow(/--devices all/);
  });

  it('merges rules for the same devices (as v1 does) and keeps the order; v1 writes deny a first', () => {
    const rules = deviceRules('none', [parseDeviceRule('c 1:3 r'), parseDeviceRule('b 7:0 m'), parseDeviceRule('c 1:3 w')]);
    expect(rules.map(ruleText)).toEqual(['c 1:3 rw', 'b 7:0 m']);
    expect(deviceRules('default', [parseDeviceRule('c 1:3 r')]).map(ruleText)).toEqual(DEFAULT_DEVICE_RULES.map(ruleText));
    expect(v1DeviceWrites(rules)).toEqual([['devices.deny', 'a'], ['devices.allow', 'c 1:3 rw'], ['devices.allow', 'b 7:0 m']]);
  });
});

/** The instructions as [code, dst, src, off, imm]. */
function decode(program: Buffer): [number, number, number, number, number][] {
  const out: [number, number, number, number, number][] = [];
  for (let at = 0; at < program.length; at += 8) out.push([program[at]!, program[at + 1]! & 0xf, program[at + 1]! >> 4, program.readInt16LE(at + 2), program.readInt32LE(at + 4)]);
  return out;
}

describe('the v2 program (runc devicefilter.go’s layout)', () => {
  it('loads type, access, major and minor, then one block per rule, then returns 0', () => {
    const insns = decode(deviceProgram([parseDeviceRule('c 1:3 rwm'), parseDeviceRule('b 8:* r')]));
    expect(insns.slice(0, 6)).toEqual([
      [0x61, 2, 1, 0, 0], [0x54, 2, 0, 0, 0xffff], // r2 = access_type & 0xffff: the device type
      [0x61, 3, 1, 0, 0], [0x74, 3, 0, 0, 16], // r3 = access_type >> 16: the access
      [0x61, 4, 1, 4, 0], [0x61, 5, 1, 8, 0], // r4 = major, r5 = minor
    ]);
    // c 1:3 rwm: type, major, minor checks (no access check for rwm), each jumping past the block's return 1.
    expect(insns.slice(6, 11)).toEqual([[0x55, 2, 0, 4, 2], [0x55, 4, 0, 3, 1], [0x55, 5, 0, 2, 3], [0xb4, 0, 0, 0, 1], [0x95, 0, 0, 0, 0]]);
    // b 8:* r: type, then (access & READ) == access, then major; no minor check.
    expect(insns.slice(11, 18)).toEqual([[0x55, 2, 0, 6, 1], [0xbc, 1, 3, 0, 0], [0x54, 1, 0, 0, 2], [0x5d, 1, 3, 3, 0], [0x55, 4, 0, 2, 8], [0xb4, 0, 0, 0, 1], [0x95, 0, 0, 0, 0]]);
    expect(insns.slice(18)).toEqual([[0xb4, 0, 0, 0, 0], [0x95, 0, 0, 0, 0]]);
  });

  it('every jump lands inside the program, on the first instruction of a block', () => {
    const insns = decode(deviceProgram(deviceRules('default', [parseDeviceRule('b 7:0 r'), parseDeviceRule('c 1:11 w')])));
    const starts = new Set([6]);
    insns.forEach(([code], i) => code === 0x95 && starts.add(i + 1));
    insns.forEach(([code, , , off], i) => {
      if (code === 0x55 || code === 0x5d) expect(starts.has(i + 1 + off), `jump at ${i}`).toBe(true);
    });
  });
});

// ---------------------------------------------------------------- the kernel's verdicts

const unified = readMountinfo().find((m) => m.fstype === 'cgroup2')?.mountPoint;
const devicesV1 = readMountinfo().find((m) => m.fstype === 'cgroup' && m.superOptions.includes('devices'))?.mountPoint;
const made: string[] = [];

afterAll(() => {
  for (const dir of made.reverse()) if (existsSync(dir)) rmdirSync(dir);
  for (const dir of made) expect(existsSync(dir)).toBe(false);
});


/** The probe, run by a shell that first moves itself into the cgroup (its cgroup.procs). */
function opensIn(procs: string, specs: string[]): Record<string, string> {
  const r = spawnSync('/bin/sh', ['-c', 'echo $$ > "$1" && shift && exec "$@"', 'sh', procs, PY, '-c', OPEN_PROBE, ...specs], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Record<string, string>;
}

/** A block device of this machine (from /sys/block) that the host can open for reading. */
function readableBlockDevice(): string | undefined {
  for (const dev of readdirSync('/sys/block')) {
    try {
      if (!statSync(`/dev/${dev}`).isBlockDevice()) continue;
      closeSync(openSync(`/dev/${dev}`, 'r'));
      return `/dev/${dev}`;
    } catch {
      // none, or not even the host may open it
    }
  }
  return undefined;
}

describe('the kernel: the v2 program allows and refuses what the v1 list does', () => {
  it('on this host’s cgroup2 mount and its v1 devices hierarchy, with the same rules', (ctx) => {
    const block = readableBlockDevice();
    if (!unified || !devicesV1 || !block || process.getuid!() !== 0) ctx.skip();
    const { major, minor } = deviceNumbers(statSync(block!).rdev);
    const rules = deviceRules('default', [parseDeviceRule(`b ${major}:${minor} r`), parseDeviceRule('c 1:11 w')]);
    const specs = [`${block}:r`, '/dev/null:r', '/dev/null:w', '/dev/zero:r', '/dev/full:w', '/dev/urandom:r', '/dev/kmsg:r', '/dev/kmsg:w', '/dev/pts/ptmx:r'];
    const expected = { [`${block}:r`]: 'ok', '/dev/null:r': 'ok', '/dev/null:w': 'ok', '/dev/zero:r': 'ok', '/dev/full:w': 'ok', '/dev/urandom:r': 'ok', '/dev/kmsg:r': 'EPERM', '/dev/kmsg:w': 'ok', '/dev/pts/ptmx:r': 'ok' };

    const v2dir = join(unified!, `cw-cwtest-${process.pid}-bpf`);
    mkdirSync(v2dir);
    made.push(v2dir);
    const fd = loadProgram(BPF_PROG_TYPE_CGROUP_DEVICE, deviceProgram(rules), 'cw_devices');
    try {
      attachProgram(v2dir, fd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI);
    } finally {
      closeProgram(fd);
    }
    expect(opensIn(join(v2dir, 'cgroup.procs'), specs)).toEqual(expected);

    const v1dir = join(devicesV1!, `cw-cwtest-${process.pid}-v1`);
    mkdirSync(v1dir);
    made.push(v1dir);
    for (const [file, value] of v1DeviceWrites(rules)) writeFileSync(join(v1dir, file), value);
    expect(readFileSync(join(v1dir, 'devices.list'), 'utf8').trim().split('\n')).toEqual(rules.map(ruleText));
    expect(opensIn(join(v1dir, 'cgroup.procs'), specs)).toEqual(expected);
  });

  it('a program the verifier refuses is an error that carries the verifier’s words', (ctx) => {
    if (process.getuid!() !== 0) ctx.skip();
    // r0 never set before exit.
    const bad = Buffer.alloc(8);
    bad[0] = 0x95;
    expect(() => loadProgram(BPF_PROG_TYPE_CGROUP_DEVICE, bad, 'cw_bad')).toThrow(/EACCES|EINVAL/);
    expect(() => loadProgram(BPF_PROG_TYPE_CGROUP_DEVICE, bad, 'cw_bad')).toThrow(/verifier says: .*R0/);
  });
});
