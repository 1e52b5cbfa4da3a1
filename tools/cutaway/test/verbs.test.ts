/**
 * The container verbs of issue 19 part 5 (create, start -a, commit, diff, export, import, cp), each on real
 * containers against the Docker behaviour it copies: their output, their exit status, their errors (one
 * line, nothing made); diff's opaque directories also against podman's on the same steps (its overlay driver).
 * Cleanup as containers.test.ts: every container taken down, no mount left; podman's store removed by its test.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { getXattr } from '@cutaway/libc';
import { BIN_DIR, runCommand, shellWord, type CommandResult } from '../../../test/fixtures/commands.ts';
import { busyboxRoot } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF } from '../../../test/fixtures/images.ts';
import { HAVE_PODMAN, podmanStore } from '../../../test/fixtures/podman.ts';

const state = busyboxRoot('cw-verbs-');
let work: string;
let root: string;

function cutaway(args: string[], input?: string): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root }, ...(input !== undefined && { input }) });
}

/** A shell pipeline with cutaway's bin/ first on PATH, as a user's. */
function sh(script: string): Promise<CommandResult> {
  return runCommand('/bin/sh', ['-c', script], { env: { CUTAWAY_ROOT: root, PATH: `${BIN_DIR}:${process.env.PATH ?? ''}` }, cwd: work });
}

/** A stopped container with changes: a file added, one changed, one deleted, a directory added. */
async function changed(name: string): Promise<string> {
  const out = await cutaway(['run', '--name', name, BUSYBOX_REF, 'sh', '-c', 'echo new > /etc/newfile; echo root:x:0:0::/root:/bin/sh > /etc/passwd; rm /bin/ls; mkdir -p /srv/www && echo page > /srv/www/index.html']);
  expect(out).toMatchObject({ code: 0, stderr: '' });
  return (await cutaway(['ps', '-aq', '--no-trunc', '-f', `name=${name}`])).stdout.trim();
}

beforeAll(() => {
  ({ work, root } = state);
});

describe('create and start -a', () => {
  it('makes a container in state Created, prints its id, and start -a runs it attached with its status', async () => {
    const made = await cutaway(['create', '--name', 'cw-created', '-e', 'WHO=world', BUSYBOX_REF, 'sh', '-c', 'echo "hello $WHO"; echo oops >&2; exit 3']);
    expect(made.stderr).toBe('');
    expect(made.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(/\sCreated\s+cw-created$/m);
    // Nothing mounted, nothing running.
    expect(existsSync(join(root, 'containers', made.stdout.trim(), 'pid'))).toBe(false);
    const started = await cutaway(['start', '-a', 'cw-created']);
    expect(started).toMatchObject({ code: 3, stdout: 'hello world\n', stderr: 'oops\n' });
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(/Exited \(3\).*cw-created$/m);
  });

  it('create --rm: removed once start -a has run it; a bad option or image makes nothing (125)', async () => {
    await cutaway(['create', '--rm', '--name', 'cw-once', BUSYBOX_REF, 'true']);
    expect((await cutaway(['start', '-a', 'cw-once'])).code).toBe(0);
    expect((await cutaway(['ps', '-aq'])).stdout).toBe('');
    const bad = await cutaway(['create', '--no-such-flag', BUSYBOX_REF]);
    expect(bad.code).toBe(125);
    const missing = await cutaway(['create', '--name', 'cw-missing', 'cutaway.test/nothing-here:1']);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toMatch(/^cutaway create: error: /m);
    expect((await cutaway(['ps', '-aq'])).stdout).toBe('');
    expect((await cutaway(['start', '-a', 'cw-x', 'cw-y'])).stderr).toContain('you cannot start and attach multiple containers at once');
  });
});

describe('diff and commit', () => {
  it("lists A/C/D from the upper, sorted, as docker diff; nothing for a created container", async () => {
    await changed('cw-diff');
    expect((await cutaway(['diff', 'cw-diff'])).stdout).toBe(['C /bin', 'D /bin/ls', 'C /etc', 'A /etc/newfile', 'C /etc/passwd', 'A /srv', 'A /srv/www', 'A /srv/www/index.html', ''].join('\n'));
    await cutaway(['create', '--name', 'cw-fresh', BUSYBOX_REF, 'true']);
    expect(await cutaway(['diff', 'cw-fresh'])).toMatchObject({ code: 0, stdout: '' });
    expect((await cutaway(['diff', 'cw-nothing'])).stderr).toBe('cutaway diff: error: No such container: cw-nothing\n');
  });

  it('commits the changes as an image (untagged or REPO:TAG), with -c, -m, -a; cutaway run --rm $(cutaway commit c)', async () => {
    await changed('cw-commit');
    const id = await cutaway(['commit', '-c', 'CMD ["cat", "/srv/www/index.html"]', '-m', 'the page', '-a', 'Jane <jane@example.com>', 'cw-commit']);
    expect(id.stderr).toBe('');
    expect(id.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(await sh('cutaway run --rm $(cutaway commit cw-commit) cat /etc/newfile')).toMatchObject({ code: 0, stdout: 'new\n' });
    expect((await cutaway(['run', '--rm', id.stdout.trim()])).stdout).toBe('page\n');
    const tagged = await cutaway(['commit', 'cw-commit', 'cwtest/committed:1']);
    expect((await cutaway(['images'])).stdout).toMatch(new RegExp(`^cwtest/committed\\s+1\\s+${tagged.stdout.slice(7, 19)}`, 'm'));
    const history = (await cutaway(['history', '--no-trunc', id.stdout.trim()])).stdout;
    expect(history).toContain('the page');
    // Bad input: one line, no image made.
    const before = (await cutaway(['images', '-q'])).stdout;
    expect((await cutaway(['commit', '-c', 'FROM x', 'cw-commit', 'cwtest/bad:1'])).code).not.toBe(0);
    expect((await cutaway(['commit', 'cw-commit', 'Bad:Ref:x'])).code).toBe(125);
    expect((await cutaway(['commit', 'cw-none'])).stderr).toBe('cutaway commit: error: No such container: cw-none\n');
    expect((await cutaway(['images', '-q'])).stdout).toBe(before);
  });

  it("makes the container's config the image's, as Docker's commit: its command as Cmd, -e, -w, -u, labels; -c over them", async () => {
    const value = 'a "quoted" $NOT\\expanded';
    const ran = await cutaway(['run', '--name', 'cw-cfg', '--network', 'none', '-e', `CW_VALUE=${value}`, '-w', '/tmp', '-u', '1000', '-l', 'cw.label=x y', BUSYBOX_REF, 'sh', '-c', 'echo "$CW_VALUE" > /tmp/out']);
    expect(ran.code, ran.stderr).toBe(0);
    expect((await cutaway(['commit', 'cw-cfg', 'cwtest/cfg:1'])).code).toBe(0);
    const config = async (image: string) => JSON.parse((await cutaway(['image', 'inspect', '-f', '{{json .Config}}', image])).stdout) as Record<string, unknown>;
    expect(await config('cwtest/cfg:1')).toMatchObject({
      Cmd: ['sh', '-c', 'echo "$CW_VALUE" > /tmp/out'],
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', `CW_VALUE=${value}`],
      WorkingDir: '/tmp',
      User: '1000',
      Labels: { 'cw.label': 'x y' },
    });
    // Run with no command, the image runs the container's, as it ran.
    expect((await cutaway(['run', '--rm', '--network', 'none', 'cwtest/cfg:1'])).code).toBe(0);
    expect((await cutaway(['run', '--rm', '--network', 'none', 'cwtest/cfg:1', 'sh', '-c', 'cat out; id -u'])).stdout).toBe(`${value}\n1000\n`);
    // -c wins; an ENTRYPOINT among -c takes neither the container's Entrypoint nor its Cmd (moby daemon/commit.go merge).
    expect((await cutaway(['commit', '-c', 'CMD ["true"]', '-c', 'WORKDIR /', 'cw-cfg', 'cwtest/cfg:2'])).code).toBe(0);
    expect(await config('cwtest/cfg:2')).toMatchObject({ Cmd: ['true'], WorkingDir: '/', User: '1000' });
    expect((await cutaway(['commit', '-c', 'ENTRYPOINT ["echo"]', 'cw-cfg', 'cwtest/cfg:3'])).code).toBe(0);
    expect(await config('cwtest/cfg:3')).toMatchObject({ Entrypoint: ['echo'], Cmd: null });
  });

  it('pauses a running container while committing (its cgroup frozen, then thawed), and has a --dry-run script', async () => {
    const id = (await cutaway(['run', '-d', '--name', 'cw-live', BUSYBOX_REF, 'sh', '-c', 'echo live > /live; exec sleep 60'])).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(await sh('cutaway run --rm $(cutaway commit cw-live) cat /live')).toMatchObject({ code: 0, stdout: 'live\n' });
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', 'cw-live'])).stdout).toBe('running\n');
    const script = await cutaway(['commit', '--dry-run', 'cw-live', 'cwtest/live:1']);
    expect(script.stdout).toContain('cg-limit freeze');
    expect(script.stdout).toMatch(/layer-commit -q [0-9a-f]{64} --tag docker\.io\/cwtest\/live:1/);
    expect((await cutaway(['images', 'cwtest/live'])).stdout.split('\n').length).toBe(2);
  });
});

describe('diff of an opaque directory', () => {
  /** A directory of the image removed and made again in the container, as `rm -rf` and `mkdir` do it: overlayfs marks the new one opaque. */
  const BASE = 'mkdir -p /etc/x && touch /etc/x/old1 /etc/x/old2';
  const CHANGE = 'rm -rf /etc/x && mkdir /etc/x && touch /etc/x/new';
  /** What `podman diff` prints for these steps on its overlay driver, which reads the upper as Docker's overlay2 does. */
  const PODMAN_DIFF = 'C /etc\nD /etc/x\nA /etc/x/new\n';

  it('is D, what it holds now A, and its parent C: what podman prints for the same steps', async () => {
    expect((await cutaway(['run', '--name', 'cw-opq-base', '--network', 'none', BUSYBOX_REF, 'sh', '-c', BASE])).code).toBe(0);
    expect((await cutaway(['commit', 'cw-opq-base', 'cwtest/opaque:1'])).code).toBe(0);
    expect((await cutaway(['run', '--name', 'cw-opq', '--network', 'none', 'cwtest/opaque:1', 'sh', '-c', CHANGE])).code).toBe(0);
    // What is read: the upper's /etc/x, opaque (the kernel's mark), /etc in the upper only because of it.
    const upper = (await cutaway(['inspect', '-f', '{{.GraphDriver.Data.UpperDir}}', 'cw-opq'])).stdout.trim();
    expect(getXattr(join(upper, 'etc/x'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect(await cutaway(['diff', 'cw-opq'])).toMatchObject({ code: 0, stdout: PODMAN_DIFF });
  });

  it.skipIf(!HAVE_PODMAN)('podman, on the same image with the overlay driver, prints that', async () => {
    const podman = await podmanStore(join(work, 'podman-diff'), `cw-verbs-podman-${process.pid}`, { driver: 'overlay', noNetwork: true });
    try {
      const run = (args: string[]) => podman.run(['run', '--cgroup-parent', `cw-verbs-podman-${process.pid}`, ...args]);
      expect((await run(['--name', 'cw-opq-base', BUSYBOX_REF, 'sh', '-c', BASE])).code).toBe(0);
      expect((await podman.run(['commit', '-q', 'cw-opq-base', 'cwtest/opaque:1'])).code).toBe(0);
      expect((await run(['--name', 'cw-opq', 'cwtest/opaque:1', 'sh', '-c', CHANGE])).code).toBe(0);
      expect(await podman.run(['diff', 'cw-opq'])).toMatchObject({ code: 0, stdout: PODMAN_DIFF });
    } finally {
      await podman.remove();
    }
  });
});

describe('export and import', () => {
  it('cutaway export c | tar t: the merged rootfs; -o FILE; a terminal refused', async () => {
    await changed('cw-export');
    const listing = (await sh('cutaway export cw-export | tar t')).stdout.split('\n');
    expect(listing).toContain('etc/newfile');
    expect(listing).toContain('bin/busybox');
    expect(listing).not.toContain('bin/ls');
    expect((await sh('cutaway export -o out.tar cw-export && tar xOf out.tar srv/www/index.html')).stdout).toBe('page\n');
    // Its reader gone (`| head`): it ends quietly with 141, as a filter killed by SIGPIPE, its mount taken down (afterEach).
    const cut = await sh('{ cutaway export cw-export 2>export.err; echo $? >export.status; } | head -c 10 >/dev/null; cat export.status export.err');
    expect(cut.stdout).toBe('141\n');
    const terminal = await sh('script -qec "cutaway export cw-export" /dev/null');
    expect(terminal.stdout).toContain('cowardly refusing to save to a terminal');
    expect(terminal.code).toBe(1);
  });

  it("imports the lab's kind of tarball (a gzipped rootfs, ./ entries) from a file, stdin and a URL, with -c and -m", async () => {
    await changed('cw-src');
    // The lab's rootfs: a directory tarred with ./ prefixes and gzip, as ubuntu-base is.
    await sh('mkdir rootfs && cutaway export cw-src | tar x -C rootfs && tar czf rootfs.tar.gz -C rootfs .');
    const fromFile = await cutaway(['import', '-c', 'CMD ["cat", "/etc/newfile"]', join(work, 'rootfs.tar.gz'), 'cwtest/lab:1']);
    expect(fromFile.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect((await cutaway(['run', '--rm', 'cwtest/lab:1'])).stdout).toBe('new\n');
    expect((await cutaway(['history', 'cwtest/lab:1'])).stdout).toContain('Imported from -');
    const fromStdin = await sh(`cutaway import -m 'from a pipe' - < rootfs.tar.gz`);
    expect(fromStdin.stdout).toMatch(/^sha256:/);
    expect((await cutaway(['run', '--rm', fromStdin.stdout.trim(), 'cat', '/srv/www/index.html'])).stdout).toBe('page\n');

    const tarball = readFileSync(join(work, 'rootfs.tar.gz'));
    const server: Server = createServer((req, res) => (req.url === '/rootfs.tar.gz' ? res.end(tarball) : res.writeHead(404).end()));
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    try {
      const fromUrl = await cutaway(['import', `http://127.0.0.1:${port}/rootfs.tar.gz`, 'cwtest/url:1']);
      expect(fromUrl.stderr).toBe('');
      expect((await cutaway(['history', 'cwtest/url:1'])).stdout).toContain(`Imported from http://127.0.0.1:${port}/rootfs.tar.gz`);
      expect((await cutaway(['import', `http://127.0.0.1:${port}/missing.tar`])).stderr).toMatch(/404/);
    } finally {
      server.close();
    }
    expect((await cutaway(['import', join(work, 'no-such.tar')])).stderr).toBe(`cutaway import: error: open ${join(work, 'no-such.tar')}: no such file or directory\n`);
    writeFileSync(join(work, 'junk.tar'), 'not a tar');
    expect((await cutaway(['import', join(work, 'junk.tar'), 'cwtest/junk:1'])).code).toBe(1);
    expect((await cutaway(['images', 'cwtest/junk'])).stdout.split('\n').length).toBe(2);
  });
});

describe('cp', () => {
  it("copies out by Docker's path rules: a file, into a directory, a directory's contents, a tar on stdout, -L", async () => {
    await changed('cw-cp');
    expect((await sh('cutaway cp cw-cp:/etc/hosts - | tar t')).stdout).toBe('hosts\n');
    expect((await sh('cutaway cp cw-cp:/etc/newfile copied && cat copied')).stdout).toBe('new\n');
    mkdirSync(join(work, 'into'));
    await sh('cutaway cp cw-cp:/srv/www into && cutaway cp cw-cp:/srv/www/. contents');
    expect(readFileSync(join(work, 'into/www/index.html'), 'utf8')).toBe('page\n');
    expect(readFileSync(join(work, 'contents/index.html'), 'utf8')).toBe('page\n');
    await sh('cutaway cp cw-cp:/bin/sh link && cutaway cp -L cw-cp:/bin/sh followed');
    expect(statSync(join(work, 'followed')).isFile()).toBe(true);
    expect((await sh('readlink link')).stdout).toBe('/bin/busybox\n');
    // Errors, as Docker's: nothing copied.
    expect((await cutaway(['cp', 'cw-cp:/nope', join(work, 'nope')])).stderr).toBe('cutaway cp: error: Could not find the file /nope in container cw-cp\n');
    expect((await cutaway(['cp', 'cw-cp:/srv', join(work, 'copied')])).stderr).toContain('cannot copy a directory to a file');
    expect((await cutaway(['cp', 'cw-cp:/etc/newfile', join(work, 'missing/')])).code).toBe(1);
    expect(existsSync(join(work, 'missing'))).toBe(false);
    expect((await cutaway(['cp', 'a', 'b'])).code).toBe(125);
    expect((await cutaway(['cp', 'cw-cp:/a', 'cw-cp:/b'])).stderr).toContain('copying between containers is not supported');
  });

  it("SRC/. into a directory that exists: its contents, the directory keeping its own mode and owner (Docker's Unpack skips '.')", async () => {
    const src = join(work, 'src-dir');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a'), 'a\n');
    writeFileSync(join(src, 'sub', 'b'), 'b\n');
    await sh('chmod 750 src-dir && chmod 705 src-dir/sub');
    const made = 'mkdir -m 700 /dst /dst-a /dst-tar && chown 1000:1000 /dst /dst-a && mkdir -m 750 /srcd && echo c > /srcd/c; exec sleep 60';
    expect((await cutaway(['run', '-d', '--name', 'cw-cpdot', '--network', 'none', BUSYBOX_REF, 'sh', '-c', made])).code).toBe(0);
    await sh('cutaway cp src-dir/. cw-cpdot:/dst && cutaway cp -a src-dir/. cw-cpdot:/dst-a && tar c -C src-dir . | cutaway cp - cw-cpdot:/dst-tar && cutaway cp src-dir/. cw-cpdot:/fresh');
    const stat = await cutaway(['exec', 'cw-cpdot', 'stat', '-c', '%a %u:%g %n', '/dst', '/dst/a', '/dst/sub', '/dst-a', '/dst-tar', '/dst-tar/sub/b', '/fresh']);
    expect(stat.stdout).toBe(['700 1000:1000 /dst', '644 0:0 /dst/a', '705 0:0 /dst/sub', '700 1000:1000 /dst-a', '700 0:0 /dst-tar', '644 0:0 /dst-tar/sub/b', '750 0:0 /fresh', ''].join('\n'));
    // Out of the container, the same: an existing directory keeps its mode.
    mkdirSync(join(work, 'out-dir'), { mode: 0o700 });
    await sh('chmod 700 out-dir && cutaway cp cw-cpdot:/srcd/. out-dir');
    expect(statSync(join(work, 'out-dir')).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(work, 'out-dir', 'c'), 'utf8')).toBe('c\n');
  });

  it('copies in (owner root, or kept with -a; a tar from stdin) and sees a running container\'s volumes', async () => {
    const volume = join(work, 'vol');
    mkdirSync(volume);
    await cutaway(['run', '-d', '--name', 'cw-cpin', '-v', `${volume}:/data`, BUSYBOX_REF, 'sleep', '60']);
    writeFileSync(join(work, 'f.txt'), 'in\n');
    await sh('chown 1234:1234 f.txt');
    await sh('cutaway cp f.txt cw-cpin:/tmp/ && cutaway cp -a f.txt cw-cpin:/tmp/kept && cutaway cp f.txt cw-cpin:/data/');
    expect((await cutaway(['exec', 'cw-cpin', 'stat', '-c', '%u:%g %n', '/tmp/f.txt', '/tmp/kept'])).stdout).toBe('0:0 /tmp/f.txt\n1234:1234 /tmp/kept\n');
    expect(readFileSync(join(volume, 'f.txt'), 'utf8')).toBe('in\n');
    expect((await sh(`tar c -C ${shellWord(work)} f.txt | cutaway cp - cw-cpin:/etc && cutaway exec cw-cpin cat /etc/f.txt`)).stdout).toBe('in\n');
    expect((await cutaway(['cp', '-', 'cw-cpin:/etc/hosts'], '')).code).toBe(1);
  });
});
