/**
 * cutaway run and the devices cgroup, end to end: issue 17's check, "a
 * bind-mounted host block device cannot be opened where the devices cgroup
 * exists; --device gives access". The block device is one of this machine's
 * (from /sys/block) that the host itself can open for reading; it is only
 * ever opened for reading, at most one byte read. /dev/loop-control, a
 * character device outside Docker's list, stands in where a write open is
 * checked (opened and closed, nothing read or written).
 *
 * The container's cgroup (cg-limit create in lifecycle.ts) gets Docker's
 * default rules, plus --device's; --privileged gets every device. afterEach
 * takes every container down (test/fixtures/containers.ts) and checks that
 * none of their cgroups (cw-<id12>) is left in any hierarchy.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;
/** Every container id this file made, for the leftover check. */
const seen = new Set<string>();

/** A block device of this machine whose node the host can open for reading, with its rule for devices.list. */
function readableBlockDevice(): { path: string; rule: string } | undefined {
  for (const dev of readdirSync('/sys/block')) {
    const path = `/dev/${dev}`;
    try {
      if (!statSync(path).isBlockDevice()) continue;
      closeSync(openSync(path, 'r'));
      return { path, rule: `b ${readFileSync(`/sys/block/${dev}/dev`, 'utf8').trim()}` };
    } catch {
      // no node, or not even the host may open it
    }
  }
  return undefined;
}

const block = readableBlockDevice();
const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
const v1Devices = / - cgroup \S+ \S*\bdevices\b/.test(mountinfo);
/** The devices cgroup exists: a v1 devices hierarchy, or cgroup v2 (a BPF device program). */
const devicesCgroup = v1Devices || / \/sys\/fs\/cgroup [^\n]* - cgroup2 /.test(mountinfo);

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root } });
}

/** `cutaway run --rm --network none [options] busybox sh -c SCRIPT`. */
function runSh(options: string[], script: string): Promise<CommandResult> {
  return cutaway(['run', '--rm', '--network', 'none', ...options, BUSYBOX_REF, 'sh', '-c', script]);
}

/** `head -c 1 PATH` in the container: "PATH: read" or head's error. */
const headOf = (path: string) => `if head -c 1 ${path} > /dev/null 2> /tmp/err; then echo ${path}: read; else echo "${path}: $(cat /tmp/err)"; fi`;

/** Opens PATH for reading (<) or writing (>) and closes it again: "PATH: opened <" or the shell's error. */
const openOf = (path: string, how: '<' | '>') => `if (exec 3${how} ${path}) 2> /tmp/err; then echo "${path}: opened ${how}"; else echo "${path}: $(cat /tmp/err)"; fi`;

/** A character device outside Docker's list that a container's root may open without a capability (/dev/kmsg needs CAP_SYSLOG). */
const CHAR = '/dev/loop-control';

/** Docker's default rules, as the container's own devices.list shows them (v1). */
const DOCKER_DEVICES = ['c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c 10:200 rwm'];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-devices-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
}, 120_000);

afterEach(async () => {
  const containers = join(root, 'containers');
  for (const id of existsSync(containers) ? readdirSync(containers) : []) if (/^[0-9a-f]{64}$/.test(id)) seen.add(id);
  await removeContainers(root);
  const left = readdirSync('/sys/fs/cgroup').flatMap((h) => [...seen].map((id) => join('/sys/fs/cgroup', h, `cw-${id.slice(0, 12)}`))).filter((d) => existsSync(d));
  expect(left).toEqual([]);
});

afterAll(async () => {
  await removeTree(work);
});

describe('cutaway run: the devices a container may open', () => {
  it('-v of a host block device: it cannot be opened (Operation not permitted); /dev/null, zero, full, urandom work', async (ctx) => {
    if (!block || !devicesCgroup) ctx.skip();
    const out = await cutaway(['run', '--rm', '--network', 'none', '-v', `${block!.path}:/disk`, BUSYBOX_REF, 'head', '-c', '1', '/disk']);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^head: \/disk: Operation not permitted$/m);
    const usual = await runSh([], 'echo x > /dev/null && head -c 1 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c && head -c 1 /dev/random | wc -c && (echo x > /dev/full) 2>&1 | grep -c "No space left"');
    expect(usual.stdout).toBe('1\n4\n1\n1\n');
    expect(usual.code, usual.stderr).toBe(0);
  });

  it('--device HOST:r: the node in /dev and the -v bind of it open for reading; another device stays refused', async (ctx) => {
    if (!block || !devicesCgroup || !existsSync(CHAR)) ctx.skip();
    const out = await runSh(['-v', `${block!.path}:/disk`, '-v', `${CHAR}:/other`, '--device', `${block!.path}:/dev/xvda:r`], `${headOf('/disk')}; ${headOf('/dev/xvda')}; ${openOf('/other', '<')}`);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe("/disk: read\n/dev/xvda: read\n/other: sh: can't open /other: Operation not permitted\n");
  });

  it('--device with the access given: r opens for reading only, w for writing only (a character device, nothing read or written)', async (ctx) => {
    if (!devicesCgroup || !existsSync(CHAR)) ctx.skip();
    const both = `${openOf(CHAR, '<')}; ${openOf(CHAR, '>')}`;
    const refused = (how: string) => new RegExp(`^${CHAR}: .*can't (open|create) ${CHAR}: Operation not permitted$`, 'm').test(how);
    // Without --device the node is not made: bound in with -v, it is refused both ways.
    const none = await runSh(['-v', `${CHAR}:${CHAR}`], both);
    expect(none.stdout.trim().split('\n').every(refused), none.stdout).toBe(true);
    const readOnly = await runSh(['--device', `${CHAR}:r`], both);
    expect(readOnly.stdout.split('\n')[0]).toBe(`${CHAR}: opened <`);
    expect(refused(readOnly.stdout.split('\n')[1]!), readOnly.stdout).toBe(true);
    const writeOnly = await runSh(['--device', `${CHAR}:w`], both);
    expect(refused(writeOnly.stdout.split('\n')[0]!), writeOnly.stdout).toBe(true);
    expect(writeOnly.stdout.split('\n')[1]).toBe(`${CHAR}: opened >`);
  });

  it("the container's cgroup holds Docker's rules plus --device's (its own devices.list, v1)", async (ctx) => {
    if (!block || !v1Devices) ctx.skip();
    const out = await runSh(['--device', `${block!.path}:/dev/xvda:r`], 'cat /sys/fs/cgroup/devices/devices.list');
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([...DOCKER_DEVICES, `${block!.rule} r`]);
  });

  it('--privileged: every device, the -v bind and the host’s own node alike', async (ctx) => {
    if (!block || !existsSync(CHAR)) ctx.skip();
    const out = await runSh(['--privileged', '-v', `${block!.path}:/disk`], `${headOf('/disk')}; ${headOf(block!.path)}; ${openOf(CHAR, '<')}`);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(`/disk: read\n${block!.path}: read\n${CHAR}: opened <\n`);
  });

  it('cutaway exec in a running container is held by the same cgroup', async (ctx) => {
    if (!block || !devicesCgroup || !existsSync(CHAR)) ctx.skip();
    const started = await cutaway(['run', '-d', '--network', 'none', '--name', 'cw-devices-exec', '-v', `${block!.path}:/disk`, '--device', `${CHAR}:r`, BUSYBOX_REF, 'sleep', '60']);
    expect(started.code, started.stderr).toBe(0);
    const inside = await cutaway(['exec', 'cw-devices-exec', 'sh', '-c', `${headOf('/disk')}; ${openOf(CHAR, '<')}`]);
    expect(inside.stdout).toBe(`/disk: head: /disk: Operation not permitted\n${CHAR}: opened <\n`);
  });

  it('a --device that is not a device node: one line, 125, no container left', async () => {
    const out = await runSh(['--device', '/etc/passwd'], 'true');
    expect(out.code).toBe(125);
    expect(out.stderr).toMatch(/--device \/etc\/passwd: not a character or block device/);
    expect(readdirSync(join(root, 'containers')).filter((d) => !d.startsWith('.'))).toEqual([]);
  });
});
