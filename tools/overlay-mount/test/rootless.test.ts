import { chown, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listXattrs } from '@cutaway/libc';
import { OciLayout } from '@cutaway/oci';
import { runCommand, shellWord } from '../../../test/fixtures/commands.ts';
import { buildLayersImage, LAYERS_REF, removeTree } from '../../../test/fixtures/images.ts';
import { shareTools, type SharedTools } from '../../../test/fixtures/unprivileged-user.ts';

// overlay-mount as a user without privileges: inside a user namespace of its
// own (unshare --user --map-root-user --mount, as rootless podman does), the
// overlay is mounted with userxattr and the layers keep their opaque marks
// under user.overlay.*. The mount lives and dies with that namespace.

const NOBODY = 65534;
let work: string;
let root: string;
let layoutDir: string;
/** The tools as nobody can reach them (a checkout under /root is closed to it). */
let tools: SharedTools | undefined;

/** Runs a shell script as nobody, in a new user and mount namespace where nobody is root. */
function asRootlessUser(script: string) {
  return runCommand('/usr/bin/setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', 'unshare', '--user', '--map-root-user', '--mount', 'sh', '-euc', script], {
    env: { CUTAWAY_ROOT: root, HOME: work },
  });
}

async function chownTree(dir: string): Promise<void> {
  await chown(dir, NOBODY, NOBODY);
  for (const entry of await readdir(dir, { recursive: true })) await chown(join(dir, entry), NOBODY, NOBODY);
}

beforeAll(async () => {
  tools = shareTools();
  work = await mkdtemp(join(tmpdir(), 'cw-rootless-'));
  layoutDir = join(work, 'images');
  await buildLayersImage(await OciLayout.create(layoutDir));
  root = join(work, 'root');
  await chownTree(work);
});

afterAll(async () => {
  tools?.release();
  await removeTree(work);
});

describe('overlay-mount without privileges', () => {
  it('unpacks and mounts in a user namespace with userxattr; whiteouts, opaque dirs and copy-up behave', async () => {
    const bin = shellWord(`${tools!.bin}/overlay-mount`);
    const merged = join(root, 'containers', 'r1', 'merged');
    const out = await asRootlessUser(
      [
        `${bin} --json --layout ${layoutDir} ${LAYERS_REF} --name r1 > ${work}/mount.json`,
        `test ! -e ${merged}/data/delete-me.txt`,
        `ls ${merged}/data/opaque > ${work}/opaque.txt`,
        `echo new > ${merged}/data/new.txt`,
        `rm ${merged}/data/keep.txt`,
        `stat -c '%F %t:%T' ${root}/containers/r1/upper/data/keep.txt > ${work}/whiteout.txt`,
      ].join('\n'),
    );
    expect(out.stderr).toMatch(/device nodes left out, as a user namespace cannot create them/);
    // Only root exists in the namespace (--map-root-user): the layer's 1000:1000 entries are root's, and it says so.
    expect(out.stderr).toMatch(/; 2 entries kept as root: their owners are not mapped in this user namespace \(unshare --map-root-user --map-auto maps the \/etc\/subuid range\)/);
    expect(out.code).toBe(0);
    expect(JSON.parse(await readFile(join(work, 'mount.json'), 'utf8'))).toMatchObject({ merged, userxattr: true });
    expect(await readFile(join(work, 'opaque.txt'), 'utf8')).toBe('new.txt\n');
    // rm in merged leaves an overlay whiteout in upper: a 0:0 character device
    expect(await readFile(join(work, 'whiteout.txt'), 'utf8')).toBe('character special file 0:0\n');
    expect(await readFile(join(root, 'containers/r1/upper/data/new.txt'), 'utf8')).toBe('new\n');
    // the opaque mark is a user.overlay xattr, never a trusted.overlay one (nobody could not set it)
    const layers = join(root, 'layers', 'sha256');
    const marksOf = (dir: string) => {
      try {
        return listXattrs(join(layers, dir, 'data', 'opaque'));
      } catch {
        return []; // a layer without data/opaque
      }
    };
    const marks = (await readdir(layers)).filter((d) => !d.includes('.')).flatMap(marksOf);
    expect(marks).toContain('user.overlay.opaque');
    expect(marks).not.toContain('trusted.overlay.opaque');
    // the mount belonged to the namespace, which is gone: nothing on the host
    expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(root);
  });
});
