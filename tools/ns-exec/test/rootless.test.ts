/**
 * Rootless by hand, as in the "Ubuntu without Docker" lab: an ordinary user, made for this file with useradd
 * and given /etc/subuid and /etc/subgid ranges (test/fixtures/unprivileged-user.ts), runs the tools of this
 * checkout:
 *
 *  1. in `unshare --user --map-root-user --mount` (one id) and `--map-root-user --map-auto` (its ranges):
 *     `overlay-mount --lower ROOTFS`, then ns-exec — root there, but in a user namespace, so the device nodes
 *     are the host's bound over empty files, devpts has gid=5 only where gid 5 is mapped, and --dry-run and
 *     --trace say so;
 *  2. ns-exec alone, which makes a user namespace of its own and maps the ranges through newuidmap and
 *     newgidmap, on a Debian rootfs the user unpacked with those ranges (tar in `unshare --map-auto`);
 *  3. `overlay-mount IMAGE` of an OCI layout the user owns, in `unshare --user --map-root-user [--map-auto]
 *     --mount`, ns-exec on it, `overlay-mount --unmount`: the merged tree is the image (what root's
 *     overlay-mount gives), with every owner under --map-auto and all of them root under --map-root-user.
 *
 * Everything the user makes lives in a directory it owns under this file's work directory; the mounts live
 * and die with its namespaces. Afterwards: no mount under the work directory, no user, no subuid line.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, shellWord, type CommandResult } from '../../../test/fixtures/commands.ts';
import { BUSYBOX_REF, buildBusyboxImage, buildDebianImage, DEBIAN_REF, removeTree } from '../../../test/fixtures/images.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';
import { createUnprivilegedUser, userTraces, type UnprivilegedUser } from '../../../test/fixtures/unprivileged-user.ts';

let user: UnprivilegedUser;
let work: string;
/** The user's own directory: its OCI layout, its unpacked Debian rootfs, its cutaway roots. */
let home: string;
let layoutDir: string;
/** The busybox fixture rootfs, root's (the host's root is nobody inside a user namespace). */
let busybox: string;
/** The Debian rootfs as the user unpacked it with its ranges: its owners are the image's, shifted. */
let debian: string;

const ONE_ID = 'unshare --user --map-root-user --mount';
const RANGES = 'unshare --user --map-root-user --map-auto --mount';

/** `sh -euc SCRIPT` as the user, in its directory. */
function asUser(script: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return user.run(script, { cwd: home, env });
}

/** SCRIPT as the user inside `unshare … sh -euc SCRIPT`. */
function inNamespace(unshare: string, script: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return asUser(`${unshare} sh -euc ${shellWord(script)}`, env);
}

/** The host's mounts under the work directory: none may outlive a test (the user's die with its namespaces). */
function mountsUnderWork(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(work));
}

/** A tree as `find -printf` lists it: path, uid, gid, mode, type, link target — the shell command, for either side. */
const LISTING = "find . -printf '%P|%U|%G|%m|%y|%l\\n' | sort";

/** The listing of a tree root's overlay-mount gives for IMAGE (the reference), with `transform` applied to each line. */
async function imageListing(image: string, transform: (fields: string[]) => string[] | undefined): Promise<string[]> {
  const root = join(work, `reference-${image.replace(/\W/g, '-')}`);
  const merged = await runCommand('overlay-mount', ['-q', '--root', root, '--layout', layoutDir, image, '--read-only']);
  expect(merged.stderr).toBe('');
  try {
    const out = spawnSync('sh', ['-c', LISTING], { cwd: merged.stdout.trim(), encoding: 'utf8' });
    return out.stdout.trim().split('\n').map((l) => transform(l.split('|'))).filter((f): f is string[] => f !== undefined).map((f) => f.join('|'));
  } finally {
    await runCommand('overlay-mount', ['--root', root, '--unmount', merged.stdout.trim()]);
  }
}

/** What a user namespace cannot make: device nodes are left out of its layers. */
const noDevices = (fields: string[]) => (fields[4] === 'c' || fields[4] === 'b' ? undefined : fields);

beforeAll(async () => {
  user = createUnprivilegedUser();
  work = mkdtempSync(join(tmpdir(), 'cw-rootless-'));
  chmodSync(work, 0o755);
  busybox = await busyboxRootfs(work);
  home = join(work, 'home');
  mkdirSync(home);
  layoutDir = join(home, 'images');
  const layout = await OciLayout.create(layoutDir);
  await buildBusyboxImage(layout);
  const debianImage = await buildDebianImage(layout);
  spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, home]);
  // The lab's way to a rootfs: its tarball unpacked by root of a user namespace that maps the user's ranges, so that
  // every owner is kept (shifted on the host). A user namespace cannot make device nodes: dev/ is left empty.
  debian = join(home, 'debian');
  const blob = layout.blobPath(debianImage.manifest.layers[0]!.digest);
  const unpacked = await asUser(`mkdir ${shellWord(debian)}
    ${RANGES.replace(' --mount', '')} tar -x -z --numeric-owner --same-owner --same-permissions --anchored --exclude='dev/*' -f ${shellWord(blob)} -C ${shellWord(debian)}`);
  expect(unpacked.stderr).toBe('');
  expect(unpacked.code).toBe(0);
});

afterAll(async () => {
  try {
    user?.remove();
    if (user) expect(userTraces(user.name)).toEqual([]);
  } finally {
    if (work) await removeTree(work);
  }
});

afterEach(() => {
  expect(mountsUnderWork()).toEqual([]);
});

describe('the user, in a user namespace of its own: overlay-mount --lower, then ns-exec as root there', () => {
  const probe = 'id; cat /proc/self/uid_map; echo x > /dev/null && echo null-ok; head -c1 /dev/urandom | wc -c; head -c2 /dev/zero | wc -c; grep devpts /proc/mounts; hostname';

  it('unshare --map-root-user (one id): the host nodes bound over files, devpts without gid=5, only root', async () => {
    const out = await inNamespace(ONE_ID, `m=$(overlay-mount -q --root root1 --lower ${shellWord(busybox)} --name c1)
      echo "$m"
      ns-exec --hostname cwrl1 --rootfs "$m" -- sh -c ${shellWord(`${probe}; ls -ln /bin/busybox`)}
      ns-exec --dry-run --rootfs "$m" -- true > dry-run.sh
      ns-exec --trace --rootfs "$m" -- true 2> trace.txt
      ns-exec -u nobody --rootfs "$m" -- id 2> nobody.txt || echo "nobody: $?"
      overlay-mount --root root1 --unmount c1 --rm`);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    const [merged, ...lines] = out.stdout.trim().split('\n');
    expect(lines.map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      'uid=0(root) gid=0(root) groups=0(root)',
      `0 ${user.uid} 1`,
      'null-ok',
      '1',
      '2',
      'devpts /dev/pts devpts rw,nosuid,noexec,relatime,mode=620,ptmxmode=666 0 0',
      'cwrl1',
      // The host's root is not mapped: its files are the overflow id's.
      expect.stringMatching(/^-rwxr-xr-x 1 65534 65534 /),
      'nobody: 125',
      merged, // overlay-mount --unmount's line
    ]);
    // --dry-run and --trace say what was done: no mknod, no gid=5, no user namespace to make (it is there).
    const script = readFileSync(join(home, 'dry-run.sh'), 'utf8');
    const trace = readFileSync(join(home, 'trace.txt'), 'utf8');
    for (const text of [script, trace]) {
      expect(text).toContain(`touch ${merged}/dev/null && mount --bind /dev/null ${merged}/dev/null\n`);
      expect(text).toContain(`touch ${merged}/dev/urandom && mount --bind /dev/urandom ${merged}/dev/urandom\n`);
      expect(text).toMatch(/mount -t devpts devpts \S+\/dev\/pts -o nosuid,noexec,newinstance,ptmxmode=0666,mode=0620\n/);
      expect(text).not.toMatch(/^(\+ )?mknod /m);
    }
    // The namespaces to make, without a user namespace: the caller's is the container's.
    expect(script).toMatch(/\bunshare --fork --pid --mount --uts --ipc --cgroup --net\b/);
    expect(script).not.toMatch(/--map-root-user|--map-user|\bunshare (\S+ )*--user\b/);
    expect(trace).toMatch(/^\+ touch \S+\/dev\/null && mount --bind \/dev\/null /m);
    expect(readFileSync(join(home, 'nobody.txt'), 'utf8')).toBe(
      'ns-exec: error: user nobody: not mapped in the user namespace (the uids it has: 0) (hint: unshare --user --map-root-user --map-auto maps the ranges /etc/subuid and /etc/subgid grant)\n');
  });

  it('unshare --map-root-user --map-auto (the ranges): every owner of the Debian rootfs, nobody, devpts gid=5', async () => {
    const out = await inNamespace(RANGES, `m=$(overlay-mount -q --root root2 --lower ${shellWord(debian)} --name c2)
      ns-exec --hostname cwrl2 --rootfs "$m" -- sh -c ${shellWord(`${probe}; stat -c '%U %G %a' /etc/shadow`)}
      ns-exec -u nobody --rootfs "$m" -- sh -c 'id; cat /etc/shadow 2>&1 || true'
      ns-exec --dry-run --rootfs "$m" -- true | grep -c '^mknod ' || true
      overlay-mount --root root2 --unmount c2 --rm >/dev/null`);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      'uid=0(root) gid=0(root) groups=0(root)',
      `0 ${user.uid} 1`,
      // unshare --map-auto with --map-root-user leaves out the range's last id (the hole made for root)
      `1 ${user.subuid.start} ${user.subuid.count - 1}`,
      'null-ok',
      '1',
      '2',
      // gid 5 inside is subordinate gid 4 outside, as /proc/mounts (the kernel's view from the host's side) shows it
      `devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=${user.subgid.start + 4},mode=620,ptmxmode=666 0 0`,
      'cwrl2',
      'root shadow 640',
      'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)',
      'cat: /etc/shadow: Permission denied',
      '0',
    ]);
  });
});

describe('ns-exec run by the user: a user namespace of its own, the ranges through newuidmap/newgidmap', () => {
  it('on the Debian rootfs the user unpacked: its owners, root and nobody, devices, devpts, hostname', async () => {
    const out = await asUser(`ns-exec --hostname cwrl3 --rootfs ${shellWord(debian)} -- sh -c ${shellWord(
      "id; cat /proc/self/uid_map /proc/self/gid_map; stat -c '%U %G' /etc/shadow /usr/bin/chage; echo x > /dev/null && echo null-ok; head -c1 /dev/urandom | wc -c; grep -c 'devpts /dev/pts devpts .*gid=' /proc/mounts; hostname")}
      ns-exec -u nobody --rootfs ${shellWord(debian)} -- sh -c 'id; cat /etc/shadow 2>&1 || true; touch /etc/cw 2>&1 || true'`);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual([
      'uid=0(root) gid=0(root) groups=0(root)',
      `0 ${user.uid} 1`,
      `1 ${user.subuid.start} ${user.subuid.count}`,
      `0 ${user.gid} 1`,
      `1 ${user.subgid.start} ${user.subgid.count}`,
      'root shadow',
      'root shadow',
      'null-ok',
      '1',
      '1',
      'cwrl3',
      'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)',
      'cat: /etc/shadow: Permission denied',
      "touch: cannot touch '/etc/cw': Permission denied",
    ]);
  });

  it('on a copy of the busybox rootfs: -u app (1000) is mapped, with its groups (setgroups is allowed)', async () => {
    // Its top directory the user's: ns-exec makes the mount points the rootfs lacks (/proc, /sys) there.
    const copy = join(home, 'busybox');
    spawnSync('cp', ['-a', busybox, copy]);
    chownSync(copy, user.uid, user.gid);
    const out = await asUser(`ns-exec --rootfs busybox -u app -- sh -c 'id; grep Groups /proc/self/status'`);
    expect(out.stderr).toBe('');
    expect(out.stdout.trim().split('\n').map((l) => l.trim().replace(/\s+/g, ' '))).toEqual(['uid=1000(app) gid=1000(app) groups=1000(app)', 'Groups: 1000']);
  });
});

describe('ns-exec --enter by the user, of its container whose PID 1 runs as a mapped id', () => {
  it('reads what it takes from PID 1 (its environment: mode 0400, the mapped id\'s) in the container\'s user namespace', async () => {
    const copy = join(home, 'busybox-enter');
    spawnSync('cp', ['-a', busybox, copy]);
    chownSync(copy, user.uid, user.gid);
    // The container ends with the script, whatever happens: its PID 1 killed by the user, from the user's own namespace
    // (SIGKILL: a PID 1 ignores the signals it has no handler for, pid_namespaces(7)).
    const out = await asUser(`trap 'kill -KILL "$(cat enter.pid)" 2>/dev/null; wait' EXIT
      ns-exec --pid-file enter.pid -e CW_FROM_RUN=yes -u app --rootfs busybox-enter -- sleep 300 &
      while [ ! -s enter.pid ]; do sleep 0.05; done
      pid=$(cat enter.pid)
      cat /proc/$pid/environ > /dev/null 2>&1 || echo environ-closed
      ns-exec --enter "$pid" -- sh -c 'id; echo "$CW_FROM_RUN"; cat /proc/1/comm'`);
    expect(out.stderr).toBe('');
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual(['environ-closed', 'uid=1000(app) gid=1000(app) groups=1000(app)', 'yes', 'sleep']);
  });
});

describe('overlay-mount IMAGE by the user, in unshare --user --mount, then ns-exec and --unmount', () => {
  it('--map-root-user --map-auto: the Debian image with every owner (as root\'s overlay-mount shows it)', async () => {
    const expected = await imageListing(DEBIAN_REF, noDevices);
    const out = await inNamespace(RANGES, `m=$(overlay-mount --root root3 --layout images ${DEBIAN_REF} --name d1)
      echo "$m"
      (cd "$m" && ${LISTING}) > listing.txt
      ns-exec --hostname cwrl4 --rootfs "$m" -- sh -c "id -u; stat -c '%U %G' /etc/shadow; hostname; echo x > /dev/null; head -c1 /dev/urandom | wc -c"
      ns-exec -u nobody --rootfs "$m" -- id
      overlay-mount --root root3 --unmount d1 --rm
      test ! -e root3/containers/d1 && echo removed`);
    expect(out.stderr).toMatch(/^layer 1\/1 [0-9a-f]{12}: unpacked \(\d+ entries; 8 device nodes left out, as a user namespace cannot create them\)$/m);
    expect(out.stderr).not.toMatch(/kept as root/);
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([
      join(home, 'root3/containers/d1/merged'),
      '0',
      'root shadow',
      'cwrl4',
      '1',
      'uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)',
      join(home, 'root3/containers/d1/merged'),
      'removed',
    ]);
    const listing = readFileSync(join(home, 'listing.txt'), 'utf8').trim().split('\n');
    expect(listing.length).toBeGreaterThan(5000);
    expect(listing).toEqual(expected);
  });

  it('--map-root-user: the busybox image, every owner root (the only id), the same tree from --dry-run\'s script', async () => {
    const expected = await imageListing(BUSYBOX_REF, (f) => [f[0]!, '0', '0', ...f.slice(3)]);
    const out = await inNamespace(ONE_ID, `m=$(overlay-mount --root root4 --layout images ${BUSYBOX_REF} --name b1)
      echo "$m"
      (cd "$m" && ${LISTING}) > listing.txt
      ns-exec --rootfs "$m" -- sh -c 'stat -c "%u:%g" /home/app; echo x > /dev/null && echo null-ok'
      overlay-mount --root root4 --unmount b1 --rm
      overlay-mount --dry-run --root root5 --layout images ${BUSYBOX_REF} --name b1 > mount.sh
      bash mount.sh 2> script-errors.txt
      for r in root4 root5; do (cd $r/layers && ${LISTING}) > $r.txt; done
      overlay-mount --root root5 --unmount b1 --rm`);
    expect(out.stderr).toMatch(/^layer 1\/\d [0-9a-f]{12}: unpacked \(\d+ entries; 1 entry kept as root: their owners are not mapped in this user namespace \(unshare --map-root-user --map-auto maps the \/etc\/subuid range\)\)$/m);
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split('\n')).toEqual([join(home, 'root4/containers/b1/merged'), '0:0', 'null-ok', join(home, 'root4/containers/b1/merged'), join(home, 'root5/containers/b1/merged'), join(home, 'root5/containers/b1/merged')]);
    expect(readFileSync(join(home, 'listing.txt'), 'utf8').trim().split('\n')).toEqual(expected);
    // The script's tar complained of the owner it could not give; it stopped at nothing and left the same layers.
    expect(readFileSync(join(home, 'script-errors.txt'), 'utf8')).toBe('');
    expect(readFileSync(join(home, 'root5.txt'), 'utf8')).toBe(readFileSync(join(home, 'root4.txt'), 'utf8'));
  });
});
