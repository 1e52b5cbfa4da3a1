/**
 * ns-exec --device: the node's owner. Docker gives a --device node the host node's uid and gid (moby's
 * DevicesFromPath reads them with runc's DeviceFromPath; runc's createDeviceNode chowns after mknod), so a
 * /dev/kvm stays group kvm's and a user of that group in the container opens it. Checked with a node this
 * test makes in its own directory (a null device, 1:3, owned 1234:5678, mode 0640: group read only; nothing
 * under the host's /dev is made or changed), with ns-exec, its --trace line, and its --dry-run script run by
 * bash; and with a host node of a group other than root, where this machine has one (/dev/kvm, /dev/loop-control…).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, toolPath } from '../../../test/fixtures/commands.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';

let work: string;
let busybox: string;
let node: string;

/** A character device of the host's /dev whose group is not root's, for the real-node case. */
function hostNodeOfAGroup(): { path: string; uid: number; gid: number; mode: number } | undefined {
  for (const name of readdirSync('/dev').sort()) {
    const path = `/dev/${name}`;
    const st = statSync(path, { throwIfNoEntry: false });
    if (st?.isCharacterDevice() && st.gid !== 0) return { path, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
  }
  return undefined;
}

const STAT = "stat -c '%u:%g %a %t:%T' /dev/owned";

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nsdevown-'));
  busybox = await busyboxRootfs(work);
  node = join(work, 'node');
  execFileSync('mknod', ['-m', '0640', node, 'c', '1', '3']);
  execFileSync('chown', ['1234:5678', node]);
}, 120_000);

afterAll(async () => {
  await removeTree(work);
});

describe('ns-exec --device keeps the host node’s owner, as Docker does', () => {
  it("the node gets the host node's uid, gid and mode: the group opens it, others do not", async () => {
    const device = ['--device', `${node}:/dev/owned`];
    const r = await runCommand('ns-exec', [...device, '--rootfs', busybox, '--', '/bin/sh', '-c', STAT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('1234:5678 640 1:3\n');
    const member = await runCommand('ns-exec', [...device, '-u', '1000:5678', '--rootfs', busybox, '--', '/bin/sh', '-c', 'cat /dev/owned && echo opened']);
    expect(member.stdout, member.stderr).toBe('opened\n');
    const other = await runCommand('ns-exec', [...device, '-u', '1000:1000', '--rootfs', busybox, '--', '/bin/sh', '-c', 'cat /dev/owned && echo opened']);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/Permission denied/);
  });

  it('--trace and --dry-run say `mknod … && chown U:G …`; the script makes the same node; default nodes stay root’s without a chown', async () => {
    const args = ['--device', `${node}:/dev/owned`, '--rootfs', busybox, '--', '/bin/sh', '-c', STAT];
    const line = `mknod -m 640 ${busybox}/dev/owned c 1 3 && chown 1234:5678 ${busybox}/dev/owned`;
    const traced = await runCommand('ns-exec', ['--trace', ...args]);
    expect(traced.code, traced.stderr).toBe(0);
    expect(traced.stderr).toContain(`+ ${line}\n`);
    expect(traced.stderr).toMatch(/\+ mknod -m 666 \S+\/dev\/null c 1 3\n/);
    const dry = await runCommand('ns-exec', ['--dry-run', ...args]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`${line}\n`);
    expect(dry.stdout).not.toMatch(/chown \S+ \S+\/dev\/null/);
    const ran = await runScript(dry.stdout);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toBe('1234:5678 640 1:3\n');
  });

  it("a host node of a group other than root's (/dev/kvm, /dev/loop-control, …) keeps that group", async (ctx) => {
    const host = hostNodeOfAGroup();
    if (!host) ctx.skip();
    const r = await runCommand('ns-exec', ['--device', `${host!.path}:/dev/owned`, '--rootfs', busybox, '--', '/bin/sh', '-c', "stat -c '%u:%g %a' /dev/owned"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${host!.uid}:${host!.gid} ${host!.mode.toString(8)}\n`);
  });

  it('in a user namespace the host node is bound in, with its own owner (unmapped ids show as the overflow id): nothing chowned', async () => {
    const r = await runCommand('/usr/bin/unshare', ['--user', '--map-root-user', '--mount', toolPath('ns-exec'), '--trace', '--device', `${node}:/dev/owned`, '--rootfs', busybox, '--', '/bin/sh', '-c', STAT]);
    expect(r.code, r.stderr).toBe(0);
    const overflow = readFileSync('/proc/sys/kernel/overflowuid', 'utf8').trim();
    const overflowGid = readFileSync('/proc/sys/kernel/overflowgid', 'utf8').trim();
    expect(r.stdout).toBe(`${overflow}:${overflowGid} 640 1:3\n`);
    expect(r.stderr).toContain(`mount --bind ${node} ${busybox}/dev/owned`);
    expect(r.stderr).not.toMatch(/chown \d/);
  });
});
