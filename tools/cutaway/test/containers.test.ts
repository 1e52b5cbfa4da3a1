/**
 * Docker's commands on existing containers (ps, logs, inspect, port, wait,
 * kill, stop, rm), on real detached containers made by cutaway run: busybox
 * httpd serving a published port on a network of this file's own. Cleanup
 * as in run.test.ts: every container process killed by its pid, everything
 * it made taken down, nothing left under the root or of its network.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, signalWhenCaught, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let root: string;
let network: string;
const port = 24000 + (process.pid % 10000);

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root } });
}

/** A detached web server: busybox httpd, logging each request (-v) to stderr. */
async function webServer(name: string): Promise<string> {
  const out = await cutaway(['run', '-d', '--name', name, '--network', network, '-p', `${port}:80`, BUSYBOX_REF, 'sh', '-c', 'mkdir -p /www && echo hello > /www/index.html && exec httpd -f -v -p 80 -h /www']);
  expect(out.stderr).toBe('');
  return out.stdout.trim();
}

async function fetchPage(): Promise<string> {
  for (let i = 0; i < 50; i++) {
    const r = await runCommand('/bin/busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`]);
    if (r.code === 0) return r.stdout;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no answer on port ${port}`);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-containers-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  network = `cwtest-ctr-${process.pid}`;
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.207.${process.pid % 250}.0/24`], { env: { CUTAWAY_ROOT: root } });
  expect(made.stderr).toBe('');
});

afterEach(async () => {
  await removeContainers(root);
  expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: root } });
  await removeTree(work);
});

describe('ps, logs, inspect, port, stop, wait, kill, start, restart, rm', () => {
  it('follows a detached server through its life, by name and by id prefix', async () => {
    const id = await webServer('cw-web');
    expect(await fetchPage()).toBe('hello\n');

    const ps = await cutaway(['ps']);
    expect(ps.stdout).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+cutaway\\.test/busybox:latest\\s+"sh -c mkdir -p /www…"\\s+.* ago\\s+Up .*0\\.0\\.0\\.0:${port}->80/tcp\\s+cw-web$`, 'm'));
    expect((await cutaway(['ps', '-q'])).stdout).toBe(`${id.slice(0, 12)}\n`);
    expect((await cutaway(['port', 'cw-web'])).stdout).toBe(`80/tcp -> 0.0.0.0:${port}\n`);

    // The request shows in the log (httpd -v writes it to stderr), by id prefix.
    const logs = await cutaway(['logs', '-t', id.slice(0, 6)]);
    expect(logs.stderr).toMatch(/^\S+Z \S+: response:200$/m);

    const inspect = JSON.parse((await cutaway(['inspect', 'cw-web'])).stdout) as { Id: string; Name: string; State: { Running: boolean; Pid: number }; NetworkSettings: { IPAddress: string; Ports: Record<string, unknown> } }[];
    expect(inspect[0]).toMatchObject({ Id: id, Name: '/cw-web', State: { Running: true } });
    expect(readFileSync(`/proc/${inspect[0]!.State.Pid}/cmdline`, 'utf8')).toContain('httpd');
    expect(inspect[0]!.NetworkSettings.IPAddress).toMatch(/^10\.207\./);
    expect(inspect[0]!.NetworkSettings.Ports).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: String(port) }] });

    // rm refuses a running container.
    const refused = await cutaway(['rm', 'cw-web']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/container is running/);

    // httpd as PID 1 has no SIGTERM handler: stop kills it after the timeout, as docker stop does.
    const began = Date.now();
    expect((await cutaway(['stop', '-t', '1', 'cw-web'])).stdout).toBe('cw-web\n');
    expect(Date.now() - began).toBeLessThan(8000);
    expect((await cutaway(['wait', 'cw-web'])).stdout).toBe('137\n');
    expect((await cutaway(['ps'])).stdout.trim().split('\n')).toHaveLength(1);
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(/Exited \(137\) .* ago/);

    expect((await cutaway(['rm', 'cw-web'])).stdout).toBe('cw-web\n');
    expect((await cutaway(['ps', '-a', '-q'])).stdout).toBe('');
    expect(existsSync(join(root, 'containers', id))).toBe(false);
  });

  it('kill sends a signal PID 1 handles; rm -f takes a running container down', async () => {
    const out = await cutaway(['run', '-d', '--name', 'cw-trap', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'trap "exit 9" USR1; while :; do sleep 0.1; done']);
    const id = out.stdout.trim();
    for (let i = 0; i < 50 && !existsSync(join(root, 'containers', id, 'pid')); i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    expect((await cutaway(['kill', '-s', 'USR1', 'cw-trap'])).stdout).toBe('cw-trap\n');
    expect((await cutaway(['wait', id])).stdout).toBe('9\n');

    await webServer('cw-forced');
    await fetchPage();
    expect((await cutaway(['rm', '-f', 'cw-forced'])).stdout).toBe('cw-forced\n');
    expect((await cutaway(['ps', '-a'])).stdout).not.toContain('cw-forced');
  });

  it('rm -f and stop take a detached container down in their own process (their --trace shows it), not its shim; one that exits by itself after a start is still taken down by its shim', async () => {
    const teardownTools = (stderr: string) => stderr.split('\n').filter((l) => /^\+ (netbridge down|cg-limit rm|overlay-mount --unmount) /.test(l));
    const forced = await webServer('cw-claim-rm');
    const rm = await cutaway(['--trace', 'rm', '-f', 'cw-claim-rm']);
    expect(rm.code, rm.stderr).toBe(0);
    expect(teardownTools(rm.stderr)).toHaveLength(3);
    expect(existsSync(join(root, 'containers', forced))).toBe(false);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(forced);

    const trapping = await cutaway(['run', '-d', '--name', 'cw-claim-stop', '--network', network, BUSYBOX_REF, 'sh', '-c', 'trap "exit 5" USR1; while :; do sleep 0.1; done']);
    const id = trapping.stdout.trim();
    const stop = await cutaway(['--trace', 'stop', '-t', '0', 'cw-claim-stop']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(teardownTools(stop.stderr)).toHaveLength(3);
    expect(readFileSync(join(root, 'containers', id, 'shim.err'), 'utf8')).not.toMatch(/^\+ overlay-mount --unmount /m);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
    expect(await cutaway(['ps', '-a', '--filter', 'name=cw-claim-stop', '--format', '{{.Status}}'])).toMatchObject({ stdout: expect.stringMatching(/^Exited \(137\) /) });

    // The stop's claim is of that exit only: after a start, an exit of its own is the shim's to take down.
    expect((await cutaway(['start', 'cw-claim-stop'])).code).toBe(0);
    await signalWhenCaught(Number(readFileSync(join(root, 'containers', id, 'pid'), 'utf8')), 'SIGUSR1');
    expect((await cutaway(['wait', 'cw-claim-stop'])).stdout).toBe('5\n');
    await waitFor('its shim to take it down', () => (JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')) as { down?: boolean }).down === true);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(id);
  });

  it('survives a simulated reboot: ps -a lists it as exited, start brings it back on the same port; restart gives it a new PID 1', async () => {
    const id = await webServer('cw-reboot');
    expect(await fetchPage()).toBe('hello\n');
    // A running container, as recorded: the shim has seen its PID 1.
    for (let i = 0; i < 40 && !/Up .*cw-reboot/.test((await cutaway(['ps'])).stdout); i++) await new Promise((r) => setTimeout(r, 50));
    const dir = join(root, 'containers', id);
    // The reboot: every process of the container gone (its shim first, so nothing tidies up), its mounts dropped.
    process.kill(Number(readFileSync(join(dir, 'shim.pid'), 'utf8')), 'SIGKILL');
    process.kill(Number(readFileSync(join(dir, 'pid'), 'utf8')), 'SIGKILL');
    expect((await runCommand('/bin/umount', ['--lazy', join(dir, 'merged')])).code).toBe(0);
    // The processes take a moment to be gone (ns-exec's parent reaps PID 1, then exits itself).
    let listing = '';
    for (let i = 0; i < 40 && !/Exited/.test(listing); i++) {
      await new Promise((r) => setTimeout(r, 50));
      listing = (await cutaway(['ps', '-a'])).stdout;
    }
    expect(listing).toMatch(/Exited \(137\) .*cw-reboot$/m);

    expect((await cutaway(['start', 'cw-reboot'])).stdout).toBe('cw-reboot\n');
    expect((await cutaway(['ps'])).stdout).toMatch(/Up .*cw-reboot$/m);
    expect(await fetchPage()).toBe('hello\n');

    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8'));
    expect((await cutaway(['restart', '-t', '1', 'cw-reboot'])).stdout).toBe('cw-reboot\n');
    expect(Number(readFileSync(join(dir, 'pid'), 'utf8'))).not.toBe(pid);
    expect(await fetchPage()).toBe('hello\n');
    expect((await cutaway(['rm', '-f', 'cw-reboot'])).stdout).toBe('cw-reboot\n');
  });

  it('exec sees the same processes, files, hostname and environment as the container, with its status; top and stats show it from the host', async () => {
    const id = await webServer('cw-exec');
    expect(await fetchPage()).toBe('hello\n');
    const inside = await cutaway(['exec', 'cw-exec', 'sh', '-c', 'hostname; cat /www/index.html; ps -o pid,comm; echo "$HOSTNAME $PATH"; pwd; id -u']);
    expect(inside.stderr).toBe('');
    const [hostname, page, , pid1, ...rest] = inside.stdout.trim().split('\n');
    expect(hostname).toBe(id.slice(0, 12));
    expect(page).toBe('hello');
    expect(pid1).toMatch(/^\s*1 httpd$/);
    expect(rest.slice(-3)).toEqual([`${id.slice(0, 12)} /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, '/', '0']);

    // A file written by exec is the container's: the server serves it.
    expect((await cutaway(['exec', 'cw-exec', 'sh', '-c', 'echo written > /www/index.html'])).code).toBe(0);
    expect(await fetchPage()).toBe('written\n');
    // -e, -w, -u, stdin with -i, and the command's status.
    const options = await runCommand('cutaway', ['exec', '-i', '-e', 'GREETING=hi', '-w', '/www', '-u', 'nobody', 'cw-exec', 'sh', '-c', 'read line; echo "$line $GREETING $(pwd) $(id -un)"; exit 3'], { env: { CUTAWAY_ROOT: root }, input: 'from-stdin\n' });
    expect(options.stdout).toBe('from-stdin hi /www nobody\n');
    expect(options.code).toBe(3);
    expect((await cutaway(['exec', 'cw-exec', 'nosuch'])).code).toBe(127);
    // The exec'd process is in the container's cgroup: the container counts it.
    const cgroup = (await cutaway(['exec', 'cw-exec', 'cat', '/proc/self/cgroup'])).stdout;
    expect(cgroup.split('\n').filter(Boolean).every((l) => l.endsWith(':/'))).toBe(true);

    const pid = (JSON.parse((await cutaway(['inspect', 'cw-exec'])).stdout) as { State: { Pid: number } }[])[0]!.State.Pid;
    const top = (await cutaway(['top', 'cw-exec'])).stdout.trim().split('\n');
    expect(top[0]).toMatch(/^UID\s+PID\s+PPID/);
    expect(top.slice(1)).toHaveLength(1);
    expect(top[1]).toMatch(new RegExp(`^root\\s+${pid}\\s+.*httpd -f -v -p 80 -h /www$`));
    const custom = (await cutaway(['top', 'cw-exec', '-o', 'pid,comm'])).stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    expect(custom).toEqual([['PID', 'COMMAND'], [String(pid), 'httpd']]);

    const stats = (await cutaway(['stats', '--no-stream'])).stdout.trim().split('\n');
    expect(stats[0]).toMatch(/^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
    // One process (ns-exec's waiting parent is not counted), memory used, bytes through the veth (the requests).
    expect(stats[1]).toMatch(new RegExp(`^${id.slice(0, 12)}\\s+cw-exec\\s+\\d+\\.\\d\\d%\\s+[\\d.]+[KM]iB / [\\d.]+[MG]iB\\s+\\d+\\.\\d\\d%\\s+[\\d.]+k?B / [\\d.]+k?B\\s+\\S+ / \\S+\\s+1$`));
    expect(stats[1]).not.toMatch(/\s0B \/ 0B\s+\S+ \/ \S+\s+1$/);

    // Not running: exec, top refuse with Docker's message.
    await cutaway(['stop', '-t', '0', 'cw-exec']);
    expect((await cutaway(['exec', 'cw-exec', 'true'])).stderr).toBe('cutaway exec: error: container cw-exec is not running\n');
    expect((await cutaway(['top', 'cw-exec'])).stderr).toBe('cutaway top: error: container cw-exec is not running\n');
    expect((await cutaway(['exec', 'cw-nothing', 'true'])).stderr).toBe('cutaway exec: error: No such container: cw-nothing\n');
    expect((await cutaway(['exec', 'cw-exec'])).stderr).toMatch(/requires at least 2 arguments/);
    await cutaway(['rm', 'cw-exec']);
  });

  it('keeps a detached container with cutaway-shim, not Node: json-file log lines as Docker writes them, logs -f follows requests until the exit', async () => {
    const id = await webServer('cw-shim');
    const dir = join(root, 'containers', id);
    const shim = Number(readFileSync(join(dir, 'shim.pid'), 'utf8'));
    expect(readFileSync(`/proc/${shim}/comm`, 'utf8')).toBe('cutaway-shim\n');
    expect(Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${shim}/status`, 'utf8'))![1])).toBeLessThan(8 * 1024);

    // logs -f prints each request as httpd logs it, and ends when the container does.
    const follow = runCommand('cutaway', ['logs', '-f', 'cw-shim'], { env: { CUTAWAY_ROOT: root } });
    await fetchPage();
    await fetchPage();
    // Output that is not UTF-8, control characters and a last line without a newline.
    await cutaway(['exec', 'cw-shim', 'sh', '-c', 'printf "bytes \\377 \\001 \\"q\\"\\nlast" > /proc/1/fd/1']);
    await cutaway(['stop', '-t', '0', 'cw-shim']);
    const followed = await follow;
    expect(followed.stderr.match(/response:200/g)).toHaveLength(2);
    const lines = readFileSync(join(dir, 'log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { log: string; stream: string; time: string });
    for (const l of lines) expect(l.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(lines.filter((l) => l.stream === 'stdout').map((l) => l.log)).toEqual(['bytes \ufffd \u0001 "q"\n', 'last']);
    expect(followed.stdout).toBe('bytes \ufffd \u0001 "q"\nlast');
    // The shim recorded the exit and took down what the container had: mounts, cgroup, endpoint.
    expect((await cutaway(['wait', 'cw-shim'])).stdout).toBe('137\n');
    for (let i = 0; i < 50 && existsSync(`/proc/${shim}`); i++) await new Promise((r) => setTimeout(r, 100));
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(dir);
    expect(existsSync(`/sys/fs/cgroup/pids/cw-${id.slice(0, 12)}`)).toBe(false);
    await cutaway(['rm', 'cw-shim']);
  });

  it('bad input: an unknown container, an ambiguous prefix, no name — Docker-like one-line errors, nothing changed', async () => {
    // Neither a container nor an image: Docker's inspect says "No such object".
    const unknown = await cutaway(['inspect', 'cw-nothing']);
    expect(unknown.stderr).toBe('cutaway inspect: error: No such object: cw-nothing\n');
    expect(unknown.code).toBe(1);
    await cutaway(['run', '--name', 'cw-one', '--network', 'none', BUSYBOX_REF, 'true']);
    await cutaway(['run', '--name', 'cw-two', '--network', 'none', BUSYBOX_REF, 'true']);
    // An empty prefix is the prefix of both ids.
    const ambiguous = await cutaway(['rm', '']);
    expect(ambiguous.stderr).toBe('cutaway rm: error: multiple IDs found with provided prefix: \n');
    expect(ambiguous.code).toBe(1);
    const before = (await cutaway(['ps', '-a', '-q'])).stdout;
    expect(before.trim().split('\n')).toHaveLength(2);
    expect((await cutaway(['stop'])).stderr).toMatch(/requires at least 1 argument/);
    // One bad name among good ones: nothing is removed.
    expect((await cutaway(['rm', 'cw-one', 'cw-nothing'])).stderr).toMatch(/No such container: cw-nothing/);
    expect((await cutaway(['ps', '-a', '-q'])).stdout).toBe(before);
  });
});
