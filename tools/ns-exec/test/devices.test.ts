/**
 * ns-exec --device and the devices cgroup, on this machine's kernel: the
 * busybox fixture rootfs, a block device of the host (from /sys/block, one
 * the host itself can open for reading), and cgroups made by cg-limit.
 *
 * ns-exec makes the device nodes (--device HOST[:CTR][:rwm], Docker's
 * syntax: a node in /dev with the host node's numbers and mode; a path
 * outside /dev gets the host's node bound over an empty file, since the
 * rootfs is nodev); which nodes open is the devices cgroup's, which cg-limit
 * writes and --cgroup joins. Without a cgroup nothing is refused, as the
 * help says. A block device is only ever opened for reading, one byte read.
 *
 * Cgroups are cwtest-<pid>-<n> (cw-cwtest-… in each hierarchy); afterEach
 * removes them with cg-limit rm --force and checks none is left.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';

let work: string;
let busybox: string;
let counter = 0;
const cgroups: string[] = [];

/** A block device of this machine whose node the host can open for reading, with its numbers. */
function readableBlockDevice(): { path: string; major: number; minor: number } | undefined {
  for (const dev of readdirSync('/sys/block')) {
    const path = `/dev/${dev}`;
    try {
      if (!statSync(path).isBlockDevice()) continue;
      closeSync(openSync(path, 'r'));
      const [major, minor] = readFileSync(`/sys/block/${dev}/dev`, 'utf8').trim().split(':').map(Number) as [number, number];
      return { path, major, minor };
    } catch {
      // no node, or not even the host may open it
    }
  }
  return undefined;
}

const block = readableBlockDevice();
/** The devices cgroup exists here: a v1 devices hierarchy, or cgroup v2 (a BPF device program). */
const devicesCgroup = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => / - cgroup \S+ \S*devices/.test(l) || / \/sys\/fs\/cgroup .* - cgroup2 /.test(l));

function inBusybox(script: string, options: string[] = []): Promise<CommandResult> {
  return runCommand('ns-exec', [...options, '--rootfs', busybox, '--', '/bin/sh', '-c', script]);
}

/** A cgroup made by cg-limit create with these options; removed after the test. */
async function cgroup(options: string[]): Promise<string> {
  const name = `cwtest-${process.pid}-${++counter}`;
  cgroups.push(name);
  const made = await runCommand('cg-limit', ['create', name, ...options]);
  expect(made.code, made.stderr).toBe(0);
  return name;
}

const leftovers = (names: string[]) => readdirSync('/sys/fs/cgroup').flatMap((h) => names.map((n) => join('/sys/fs/cgroup', h, `cw-${n}`))).filter((d) => existsSync(d));

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nsdev-'));
  busybox = await busyboxRootfs(work);
}, 120_000);

afterEach(async () => {
  const names = cgroups.splice(0);
  for (const name of names) await runCommand('cg-limit', ['rm', '--force', name]);
  expect(leftovers(names)).toEqual([]);
});

afterAll(async () => {
  await removeTree(work);
});

/** `head -c 1 PATH`, as the container sees it: "read" or head's error. */
const headOf = (path: string) => `if head -c 1 ${path} > /dev/null 2> /tmp/err; then echo ${path}: read; else echo "${path}: $(cat /tmp/err)"; fi`;

describe('ns-exec --device', () => {
  it('makes the node in /dev with the host node’s type, numbers and mode; a path outside /dev is the host node bound in', async (ctx) => {
    if (!block) ctx.skip();
    const r = await inBusybox(`stat -c '%F %t:%T %a' /dev/xvda /disk /dev/null; ${headOf('/dev/xvda')}; ${headOf('/disk')}`, ['--device', `${block!.path}:/dev/xvda:r`, '--device', `${block!.path}:/disk`]);
    expect(r.code, r.stderr).toBe(0);
    const mode = (statSync(block!.path).mode & 0o777).toString(8);
    const hex = (n: number) => n.toString(16);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([`block special file ${hex(block!.major)}:${hex(block!.minor)} ${mode}`, `block special file ${hex(block!.major)}:${hex(block!.minor)} ${mode}`, 'character special file 1:3 666']);
    // No cgroup: ns-exec restricts nothing itself, as its help says.
    expect(r.stdout).toContain('/dev/xvda: read\n/disk: read\n');
  });

  it('--dry-run shows the mknod, the bind for a path outside /dev, and a --device of /dev/null in place of the default node', async (ctx) => {
    if (!block) ctx.skip();
    const r = await runCommand('ns-exec', ['--dry-run', '--rootfs', busybox, '--device', `${block!.path}:/dev/net/xvda`, '--device', `${block!.path}:/disk-dry:r`, '--device', '/dev/null', '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    const mode = (statSync(block!.path).mode & 0o777).toString(8);
    expect(r.stdout).toContain(`mkdir -p ${busybox}/dev/net\nmknod -m ${mode} ${busybox}/dev/net/xvda b ${block!.major} ${block!.minor}\n`);
    expect(r.stdout).toContain(`touch ${busybox}/disk-dry\nmount --bind ${block!.path} ${busybox}/disk-dry\n`);
    expect(r.stdout.match(/mknod .*\/dev\/null /g)).toHaveLength(1);
  });

  it('bad --device: one line, 125, nothing run', async () => {
    for (const [device, message] of [
      ['/etc/passwd', /--device \/etc\/passwd: not a character or block device/],
      ['/dev/no-such-device', /--device \/dev\/no-such-device: no such device/],
      ['/dev/null:/dev', /cannot make a device node at \/dev/],
      ['/dev/null:null', /the container path must be absolute/],
      ['/dev/null:/dev/n:rwx', /invalid device mode "rwx"/],
    ] as [string, RegExp][]) {
      const r = await inBusybox('echo ran', ['--device', device]);
      expect(r.code, device).toBe(125);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(message);
    }
  });
});

describe('ns-exec in a devices cgroup made by cg-limit', () => {
  it('cg-limit --devices default: a host block device bound in with -v, or made with --device, cannot be opened; /dev/null and friends work', async (ctx) => {
    if (!block || !devicesCgroup) ctx.skip();
    const name = await cgroup(['--devices', 'default']);
    const r = await inBusybox(`${headOf('/disk')}; ${headOf('/dev/xvda')}; echo x > /dev/null && head -c 1 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && echo ok`, ['--cgroup', name, '-v', `${block!.path}:/disk`, '--device', `${block!.path}:/dev/xvda`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/disk: head: /disk: Operation not permitted\n/dev/xvda: head: /dev/xvda: Operation not permitted\n1\n4\nok\n');
  });

  it('in a devices cgroup mknod is the cgroup’s to allow, as under Docker: the node is made and its open refused; without one seccomp refuses the mknod', async (ctx) => {
    if (!devicesCgroup) ctx.skip();
    const probe = 'mknod /dev/cwx b 8 0 2>&1 && echo made; head -c 1 /dev/cwx 2>&1 | head -1';
    const name = await cgroup(['--devices', 'default']);
    const inCgroup = await inBusybox(probe, ['--cgroup', name]);
    expect(inCgroup.stdout).toBe('made\nhead: /dev/cwx: Operation not permitted\n');
    const alone = await inBusybox(probe);
    expect(alone.stdout).toMatch(/^mknod: \/dev\/cwx: Operation not permitted\n/);
    // The plan says which: the seccomp rule's line only where no devices cgroup decides.
    const plan = async (options: string[]) => (await runCommand('ns-exec', ['--dry-run', ...options, '--rootfs', busybox, '--', 'true'])).stdout;
    expect(await plan(['--cgroup', name])).not.toContain('# seccomp: mknod');
    expect(await plan([])).toContain('# seccomp: mknod');
  });

  it('cg-limit --device HOST:r: the node opens for reading (under any name); --privileged nodes are still the cgroup’s to allow', async (ctx) => {
    if (!block || !devicesCgroup) ctx.skip();
    const name = await cgroup(['--device', `${block!.path}:r`]);
    const r = await inBusybox(`${headOf('/disk')}; ${headOf('/dev/xvda')}`, ['--cgroup', name, '-v', `${block!.path}:/disk`, '--device', `${block!.path}:/dev/xvda:r`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('/disk: read\n/dev/xvda: read\n');
    const strict = await cgroup(['--devices', 'default']);
    const privileged = await inBusybox(`${headOf(block!.path)}`, ['--cgroup', strict, '--privileged']);
    expect(privileged.stdout).toBe(`${block!.path}: head: ${block!.path}: Operation not permitted\n`);
  });
});
