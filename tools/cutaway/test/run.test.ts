/**
 * cutaway run end to end, with the real tools underneath: images built by
 * the fixtures straight into a temporary store, overlay mounts, namespaces,
 * cgroups (cg-limit) and the bridge network (netbridge). What is checked is
 * what `docker run` promises: the image config becomes the process, options
 * apply, the exit status is the command's, `--rm` leaves nothing, `-d` keeps
 * running and records how it ended.
 *
 * afterEach kills every container process still running (by the pid ns-exec
 * wrote), takes down what a container made (netbridge down, overlay-mount
 * --unmount --rm, cg-limit rm) and checks that the host's mount table, links
 * and namespaces are as before.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { spawn } from 'node:child_process';
import { runCommand, shellWord, toolPath, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;
let before: { mounts: string; links: string };
/** strace(1), to see which programs a run starts (scripts/setup.sh installs it). */
const STRACE = '/usr/bin/strace';
/** A netbridge network of this file's own (the default one is another test file's), and its bridge. */
let network: string;
let bridge: string | undefined;

/** cutaway run on this file's network (or as given), as a user would type it. */
function cutaway(args: string[], input?: string): Promise<CommandResult> {
  const withNetwork = args[0] === 'run' && !args.includes('--network') ? ['run', '--network', network, ...args.slice(1)] : args;
  return runCommand('cutaway', withNetwork, { env: { CUTAWAY_ROOT: root }, ...(input !== undefined && { input }) });
}

/** What this file's containers may leave on the host: mounts under its root, its network's bridge. Other test files run at the same time. */
function hostState() {
  const links = readFileSync('/proc/net/dev', 'utf8').split('\n').filter((l) => bridge && l.trim().startsWith(`${bridge}:`)).join('\n');
  return { mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(root)).join('\n'), links };
}

/** An image made from busybox by layer-commit --empty --change, as `docker commit -c` would. */
async function imageWith(tag: string, changes: string[]): Promise<void> {
  const out = await runCommand('layer-commit', ['-q', '--empty', ...changes.flatMap((c) => ['--change', c]), '--image', BUSYBOX_REF, '--tag', tag], { env: { CUTAWAY_ROOT: root } });
  expect(out.stderr).toBe('');
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-run-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  network = `cwtest-run-${process.pid}`;
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.205.${process.pid % 250}.0/24`, '--json'], { env: { CUTAWAY_ROOT: root } });
  expect(made.stderr).toBe('');
  bridge = (JSON.parse(made.stdout) as { Options: Record<string, string> }).Options['com.docker.network.bridge.name'];
});

beforeEach(() => {
  before = hostState();
});

afterEach(async () => {
  await removeContainers(root);
  expect(hostState()).toEqual(before);
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: root } });
  await removeTree(work);
});


/** The containers' directories (containers/<id>); containers/.names holds the name reservations. */
const containerDirs = () => readdirSync(join(root, 'containers')).filter((d) => !d.startsWith('.'));

describe('cutaway run', () => {
  it('runs the command in the image and exits with its status; --rm leaves nothing behind', async () => {
    const out = await cutaway(['run', '--rm', BUSYBOX_REF, 'sh', '-c', 'echo hello; exit 3']);
    expect(out.stdout).toBe('hello\n');
    expect(out.code).toBe(3);
    expect(containerDirs()).toEqual([]);
  });

  it('--trace shows each tool command, then the steps that tool took, each labelled with the tool', async () => {
    const out = await cutaway(['--trace', 'run', '--rm', BUSYBOX_REF, 'true']);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stderr.split('\n');
    for (const tool of ['overlay-mount', 'cg-limit', 'netbridge']) {
      const command = lines.findIndex((l) => l.startsWith(`+ ${tool} `));
      expect(command, tool).toBeGreaterThanOrEqual(0);
      expect(lines.some((l) => l.startsWith('+ ') && l.endsWith(`  # ${tool}`)), tool).toBe(true);
    }
    expect(lines.find((l) => l.endsWith('  # overlay-mount') && l.includes('mount -t overlay'))).toBeDefined();
  });

  it("starts Node once on the bridge: netbridge, overlay-mount and cg-limit are done in cutaway's process, traced as their commands", async () => {
    const execs = join(work, 'execs.strace');
    // Every program started (execve that succeeded), by any process of the run.
    const out = await runCommand(STRACE, ['-f', '-qq', '-z', '-e', 'trace=execve', '-e', 'signal=none', '-o', execs, toolPath('cutaway'), '--trace', 'run', '--rm', '--network', network, '-p', '80', BUSYBOX_REF, 'true'], { env: { CUTAWAY_ROOT: root } });
    expect(out.code, out.stderr).toBe(0);
    const started = readFileSync(execs, 'utf8').split('\n').flatMap((l) => /execve\("([^"]+)"/.exec(l)?.[1] ?? []).map((p) => basename(p));
    expect(started.filter((p) => p === 'node')).toHaveLength(1);
    expect(started.filter((p) => ['netbridge', 'overlay-mount', 'cg-limit'].includes(p))).toEqual([]);
    // netbridge's work was done all the same: by ip and nft, which it runs wherever it runs.
    expect(started).toEqual(expect.arrayContaining(['ip', 'nft', 'ns-exec']));
    const lines = out.stderr.split('\n');
    const up = lines.findIndex((l) => l.startsWith(`+ netbridge up --json `) && l.endsWith(` --network ${network} -p 80`));
    const down = lines.findIndex((l) => /^\+ netbridge down [0-9a-f]{12}$/.test(l));
    expect(up, out.stderr).toBeGreaterThanOrEqual(0);
    expect(down).toBeGreaterThan(up);
    const steps = lines.filter((l) => l.endsWith('  # netbridge'));
    expect(steps.some((l) => l.startsWith('+ ip link add cwv'))).toBe(true);
    expect(steps.some((l) => /^\+ nft 'delete element ip cw tcp-ports \{ \d+ \}'/.test(l))).toBe(true);
    // Its note on stderr (ip_forward off) is the tool's alone: cutaway never showed it.
    expect(out.stderr).not.toMatch(/^netbridge: /m);
  });

  it('rm -f of several containers on the network at once: every endpoint, namespace and the bridge go', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const out = await cutaway(['run', '-d', BUSYBOX_REF, 'sleep', '600']);
      expect(out.code, out.stderr).toBe(0);
      ids.push(out.stdout.trim());
    }
    const endpoints = async () => Object.keys((JSON.parse((await runCommand('netbridge', ['network', 'inspect', network])).stdout) as { Containers: object }[])[0]!.Containers);
    expect((await endpoints()).sort()).toEqual(ids.map((id) => id.slice(0, 12)).sort());
    // Their teardowns side by side (in one process, where it takes them over from the shims): netbridge's lock and records hold.
    const rm = await cutaway(['rm', '-f', ...ids]);
    expect(rm.code, rm.stderr).toBe(0);
    expect(await endpoints()).toEqual([]);
    for (const id of ids) expect(existsSync(`/run/netns/${id.slice(0, 12)}`)).toBe(false);
  });

  it("runs the image's Cmd, with stdin attached by -i", async () => {
    const out = await cutaway(['run', '--rm', '-i', BUSYBOX_REF], 'echo from-stdin; echo $$\n');
    expect(out.stdout).toBe('from-stdin\n1\n');
  });

  it("applies Docker's Entrypoint and Cmd rules", async () => {
    await imageWith('cw-ep:1', ['ENTRYPOINT ["echo", "entry"]', 'CMD ["default"]']);
    expect((await cutaway(['run', '--rm', 'cw-ep:1'])).stdout).toBe('entry default\n');
    expect((await cutaway(['run', '--rm', 'cw-ep:1', 'given'])).stdout).toBe('entry given\n');
    // --entrypoint replaces the Entrypoint and drops the image's Cmd.
    expect((await cutaway(['run', '--rm', '--entrypoint', 'hostname', 'cw-ep:1'])).stdout).toMatch(/^[0-9a-f]{12}\n$/);
  });

  it("takes Env, WorkingDir and User from the image; -e, -w and -u override them", async () => {
    await imageWith('cw-cfg:1', ['ENV GREETING=hello FROM_IMAGE=yes', 'WORKDIR /home/app', 'USER app']);
    const out = await cutaway(['run', '--rm', 'cw-cfg:1', 'sh', '-c', 'echo $GREETING $FROM_IMAGE; pwd; id -un']);
    expect(out.stdout).toBe('hello yes\n/home/app\napp\n');
    const overridden = await cutaway(['run', '--rm', '-e', 'GREETING=hi', '-w', '/tmp', '-u', 'root', 'cw-cfg:1', 'sh', '-c', 'echo $GREETING $FROM_IMAGE; pwd; id -un']);
    expect(overridden.stdout).toBe('hi yes\n/tmp\nroot\n');
  });

  it('keeps an exited container without --rm: its config, state with the exit status, and log', async () => {
    const out = await cutaway(['run', '--name', 'cw-kept', BUSYBOX_REF, 'sh', '-c', 'echo to-log; echo err-log >&2; exit 5']);
    expect(out.code).toBe(5);
    const [id] = containerDirs();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    const dir = join(root, 'containers', id!);
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))).toMatchObject({ id, name: 'cw-kept', image: BUSYBOX_REF });
    expect(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'))).toMatchObject({ status: 'exited', exitCode: 5 });
    const log = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string });
    expect(log.map((l) => [l.stream, l.log])).toEqual(expect.arrayContaining([['stdout', 'to-log\n'], ['stderr', 'err-log\n']]));
    expect((await cutaway(['run', '--name', 'cw-kept', BUSYBOX_REF, 'true'])).stderr).toMatch(/^cutaway run: error: Conflict\. The container name "\/cw-kept" is already in use by container "[0-9a-f]{64}"\. You have to remove \(or rename\) that container to be able to reuse that name\.$/m);
  });

  it('publishes a port of a detached container; its hostname is its id and /etc/hosts names its address', async () => {
    const out = await cutaway(['run', '-d', '-p', `${23000 + (process.pid % 10000)}:80`, BUSYBOX_REF, 'sh', '-c', 'mkdir -p /www && hostname > /www/index.html && cat /etc/hosts >> /www/index.html && exec httpd -f -p 80 -h /www']);
    expect(out.code).toBe(0);
    const id = out.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    let page = '';
    for (let i = 0; i < 50 && !page; i++) {
      const r = await runCommand('/bin/busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${23000 + (process.pid % 10000)}/`]);
      page = r.code === 0 ? r.stdout : '';
      if (!page) await new Promise((res) => setTimeout(res, 100));
    }
    expect(page.split('\n')[0]).toBe(id.slice(0, 12));
    expect(page).toMatch(new RegExp(`^10\\.205\\.\\d+\\.\\d+\\t${id.slice(0, 12)}$`, 'm'));
    const pid = Number(readFileSync(join(root, 'containers', id, 'pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    const state = () => JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')) as { status: string };
    for (let i = 0; i < 100 && state().status !== 'exited'; i++) await new Promise((r) => setTimeout(r, 50));
    expect(state()).toMatchObject({ status: 'exited', exitCode: 137 });
  });

  it('gives the command a terminal with -t', async () => {
    // script(1) gives cutaway a terminal; its stdin stays open (at EOF script would type a NUL into it).
    const script = spawn('/usr/bin/script', ['-qec', `${shellWord(toolPath('cutaway'))} run --rm -t --network none ${BUSYBOX_REF} sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys; echo $TERM'`, '/dev/null'], {
      env: { ...process.env, CUTAWAY_ROOT: root },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let output = '';
    script.stdout.on('data', (d: Buffer) => (output += d));
    const code = await new Promise<number | null>((resolve) => script.on('exit', (c) => resolve(c)));
    script.stdin.destroy();
    expect(code).toBe(0);
    expect(output.replace(/\r/g, '')).toMatch(/^\/dev\/pts\/0\nboth-ttys\nxterm$/m);
  });

  it('holds a memory limit: an allocation beyond -m is OOM-killed, 137', async () => {
    const out = await cutaway(['run', '--rm', '-m', '16m', '--network', 'none', BUSYBOX_REF, 'sort', '/dev/zero']);
    expect(out.code).toBe(137);
    expect(out.stderr).toMatch(/OOM killer/);
  });

  it('keeps a named volume across containers', async () => {
    await cutaway(['run', '--rm', '-v', 'cwdata:/data', BUSYBOX_REF, 'sh', '-c', 'echo kept > /data/file']);
    expect(readFileSync(join(root, 'volumes', 'cwdata', '_data', 'file'), 'utf8')).toBe('kept\n');
    expect((await cutaway(['run', '--rm', '-v', 'cwdata:/data:ro', BUSYBOX_REF, 'cat', '/data/file'])).stdout).toBe('kept\n');
  });

  it('bad input: a missing image, no command, a bad volume — one line, 125, nothing left', async () => {
    writeFileSync(join(work, 'marker'), '');
    const missing = await cutaway(['run', '--rm', 'cw-no-such-image:1', 'true']);
    expect(missing.code).toBe(125);
    expect(missing.stderr.trim().split('\n').at(-1)).toMatch(/^cutaway run: error: /);
    await imageWith('cw-nocmd:1', ['CMD []']);
    const noCommand = await cutaway(['run', '--rm', 'cw-nocmd:1']);
    expect(noCommand.stderr).toMatch(/no command specified/);
    expect(noCommand.code).toBe(125);
    const badVolume = await cutaway(['run', '--rm', '-v', 'nocolon', BUSYBOX_REF, 'true']);
    expect(badVolume.code).toBe(125);
    expect(containerDirs()).toEqual([]);
  });
});
