/**
 * cutaway's --dry-run (issue 18, part 2): run, build, exec, stop and rm print the bash script of tool
 * commands they would run. Each script is checked by running it: the command runs in one state root, its
 * script (printed against that root) in another, and the two must give the same output and exit status and
 * leave the same store — `inspect` of each container (ids, times and addresses aside), its log, the image a
 * build makes. Printing the script changes nothing. Every other command refuses --dry-run, and its help does
 * not list it.
 *
 * afterEach takes down every container of both roots (test/fixtures/containers.ts) and checks that no mount
 * is left under the work directory.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { findImage, OciLayout } from '@cutaway/oci';
import { BIN_DIR, runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';
import { BUSYBOX_REF, buildBusyboxImage, buildDebianImage, DEBIAN_REF, removeTree } from '../../../test/fixtures/images.ts';
import { mountsUnder } from '../../../test/fixtures/mounts.ts';

let work: string;
/** The root the commands run in (and their scripts are printed against), and the one the scripts run in. */
let rootA: string;
let rootB: string;
/** A netbridge network of this file's own. */
let network: string;
const hostPort = 25000 + (process.pid % 5000);

const cutaway = (root: string, args: string[], input?: string): Promise<CommandResult> =>
  runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root }, ...(input !== undefined && { input }) });

/** `args` with --dry-run after the verb. */
const dryRun = (args: string[]) => [args[0]!, '--dry-run', ...args.slice(1)];

/** Every file and directory under a root (what printing a script must not change). */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      out.push(`${rel}${name.name}`);
      if (name.isDirectory()) walk(join(dir, name.name), `${rel}${name.name}/`);
    }
  };
  if (existsSync(root)) walk(root, '');
  return out.sort();
}

/** The script of `args`, printed against root A (checked to change nothing there), run with bash in root B. */
async function script(args: string[], input?: string): Promise<{ text: string; result: CommandResult }> {
  const before = listing(rootA);
  const printed = await cutaway(rootA, dryRun(args));
  expect(printed.code, printed.stderr).toBe(0);
  expect(listing(rootA)).toEqual(before);
  const text = printed.stdout;
  expect(text.split('\n')[0]).toBe('#!/bin/bash');
  const result = await runScriptWith(text, input);
  return { text, result };
}

async function runScriptWith(text: string, input?: string): Promise<CommandResult> {
  if (input === undefined) return runScript(text, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
  // With stdin: runScript gives none, so the script is run from a file with bash here.
  const file = join(work, 'script.sh');
  writeFileSync(file, text);
  return runCommand('/bin/bash', [file], { env: { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` }, input });
}

/** The containers of a root, by name. */
function containers(root: string): Map<string, string> {
  const dir = join(root, 'containers');
  const ids = existsSync(dir) ? readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)) : [];
  return new Map(ids.map((id) => [(JSON.parse(readFileSync(join(dir, id, 'config.json'), 'utf8')) as { name: string }).name, id]));
}

/**
 * `cutaway inspect` of a container as two roots can compare it: its id and root as ID and ROOT, times as
 * TIME, a pid as PID, an address as IP.
 */
async function inspected(root: string, name: string): Promise<unknown> {
  const out = await cutaway(root, ['inspect', name]);
  expect(out.code, out.stderr).toBe(0);
  const id = containers(root).get(name)!;
  const text = out.stdout.split(id).join('ID').split(id.slice(0, 12)).join('ID12').split(root).join('ROOT');
  const [one] = JSON.parse(text, (key, value: unknown) => {
    if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(value)) return 'TIME';
    if (typeof value === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(value)) return 'IP';
    if (key === 'Pid' && typeof value === 'number' && value > 0) return 'PID';
    return value;
  }) as unknown[];
  return one;
}

/** What a container's log says, as `cutaway logs` shows it. */
async function logs(root: string, name: string): Promise<{ stdout: string; stderr: string }> {
  const out = await cutaway(root, ['logs', name]);
  return { stdout: out.stdout, stderr: out.stderr };
}

/** What is left of containers in a root: their directories and name reservations. */
function leftover(root: string): string[] {
  const dir = join(root, 'containers');
  return existsSync(dir) ? readdirSync(dir).filter((d) => d !== '.names').concat(existsSync(join(dir, '.names')) ? readdirSync(join(dir, '.names')).filter((n) => n !== '.lock') : []) : [];
}

/** Whether a container is gone from a root: its directory and its name's reservation. */
const gone = (root: string, name: string) => !containers(root).has(name) && !existsSync(join(root, 'containers', '.names', name));

/**
 * A run and its script: same stdout, same status; with a name (and no --rm), the same container in each
 * store (inspect, logs); with --rm, nothing left in either.
 */
async function sameRun(args: string[], input?: string): Promise<{ real: CommandResult; scripted: CommandResult; text: string }> {
  const before = [leftover(rootA), leftover(rootB)];
  const { text, result: scripted } = await script(args, input);
  const real = await cutaway(rootA, args, input);
  expect(scripted.stdout).toBe(real.stdout);
  expect(scripted.code, scripted.stderr).toBe(real.code);
  const nameAt = args.indexOf('--name');
  if (nameAt >= 0) {
    const name = args[nameAt + 1]!;
    expect(await inspected(rootB, name)).toEqual(await inspected(rootA, name));
    expect(await logs(rootB, name)).toEqual(await logs(rootA, name));
  }
  if (args.includes('--rm')) {
    expect([leftover(rootA), leftover(rootB)]).toEqual(before);
  }
  return { real, scripted, text };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-dry-run-'));
  rootA = join(work, 'a');
  rootB = join(work, 'b');
  const layout = await OciLayout.create(join(rootA, 'images'));
  await buildBusyboxImage(layout);
  await buildDebianImage(layout);
  // The same images, byte for byte, in the root the scripts run in.
  mkdirSync(rootB);
  cpSync(join(rootA, 'images'), join(rootB, 'images'), { recursive: true });
  network = `cwtest-dry-${process.pid}`;
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.206.${process.pid % 250}.0/24`], { env: { CUTAWAY_ROOT: rootA } });
  expect(made.code, made.stderr).toBe(0);
});

afterEach(async () => {
  await removeContainers(rootA);
  await removeContainers(rootB);
  expect(mountsUnder(work)).toEqual([]);
});

afterAll(async () => {
  await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: rootA } });
  await removeTree(work);
});

describe('cutaway run --dry-run', () => {
  it('prints the tool commands: its script checks its prerequisites, and gives what run gives (--rm, --network none)', async () => {
    const { text } = await sameRun(['run', '--rm', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'echo out; echo err >&2; hostname | wc -c; exit 3']);
    expect(text).toContain('set -euo pipefail');
    expect(text).toMatch(/^for command in .*\bjq\b.*\boverlay-mount\b.*; do$/m);
    expect(text).toMatch(/^merged=\$\(overlay-mount -q cutaway\.test\/busybox:latest --name [0-9a-f]{64}\)$/m);
    expect(text).toMatch(/^cg-limit create [0-9a-f]{12} /m);
    expect(text).toMatch(/^ns-exec --rootfs "\$\{merged\}" /m);
    expect(text).not.toContain('oci-pull');
  });

  it('keeps the container without --rm: the same inspect and log in both stores', async () => {
    await sameRun(['run', '--name', 'cwdry-kept', '--network', 'none', '-e', 'GREETING=hi there', BUSYBOX_REF, 'sh', '-c', 'echo "$GREETING"; echo to-err >&2; exit 5']);
  });

  it('on a bridge network and the default one with -p: the address netbridge gives is taken from its output', async () => {
    const { text } = await sameRun(['run', '--name', 'cwdry-net', '--network', network, BUSYBOX_REF, 'sh', '-c', 'grep -c "$(hostname)" /etc/hosts; ip -4 addr show eth0 | grep -c inet']);
    expect(text).toMatch(/^up=\$\(netbridge up --json [0-9a-f]{12} --network cwtest-dry-\d+\)$/m);
    expect(text).toMatch(/^up_ip=\$\(jq -r \.ip <<<"\$up"\)$/m);
    expect(text).toContain('${up_ip}\t');
    await sameRun(['run', '--rm', '-p', `${hostPort}:80`, BUSYBOX_REF, 'sh', '-c', 'cat /etc/hostname | wc -c']);
  });

  it('-e, -w, -u and -v (a bind mount and a named volume) on the Debian image', async () => {
    const bind = join(work, 'bind');
    mkdirSync(bind, { recursive: true });
    writeFileSync(join(bind, 'in.txt'), 'from the host\n');
    const args = ['run', '--rm', '--network', 'none', '-e', 'A=1', '-w', '/tmp', '-u', 'nobody', '-v', `${bind}:/data:ro`, '-v', 'cwdryvol:/vol', DEBIAN_REF, 'sh', '-c', 'echo $A; pwd; id -un; cat /data/in.txt /etc/debian_version; ls -ld /vol | cut -c1-10'];
    const { real } = await sameRun(args);
    expect(real.stdout).toMatch(/^1\n\/tmp\nnobody\nfrom the host\n\d+/);
    // The named volume is made by the script in its root, as run makes it in its own.
    expect(existsSync(join(rootB, 'volumes', 'cwdryvol', '_data'))).toBe(true);
  });

  it('-i: stdin reaches the container', async () => {
    await sameRun(['run', '--rm', '-i', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'cat; echo done'], 'from stdin\n');
  });

  it('-d: the script starts the shim as run -d does; the container runs, and its published port answers', async () => {
    const args = ['run', '-d', '--name', 'cwdry-d', '-p', `${hostPort}:80`, BUSYBOX_REF, 'sh', '-c', 'mkdir -p /www && echo page > /www/index.html && exec httpd -f -p 80 -h /www'];
    const { text, result } = await script(args);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(text).toMatch(/^setsid cutaway-shim /m);
    let page = '';
    for (let i = 0; i < 50 && !page; i++) {
      const r = await runCommand('/bin/busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${hostPort}/`]);
      page = r.code === 0 ? r.stdout : '';
      if (!page) await new Promise((res) => setTimeout(res, 100));
    }
    expect(page).toBe('page\n');
    const state = await inspected(rootB, 'cwdry-d');
    expect(state).toMatchObject({ State: { Status: 'running', Running: true, Pid: 'PID' }, NetworkSettings: { Ports: { '80/tcp': [{ HostPort: String(hostPort) }] } } });
    // The same as cutaway run -d leaves, once the script's container is gone (the host port is one).
    await removeContainers(rootB);
    const real = await cutaway(rootA, args);
    expect(real.code, real.stderr).toBe(0);
    expect(await inspected(rootA, 'cwdry-d')).toEqual(state);
  });

  it('a failing step: what was made is taken down and the script exits 125, as run does', async () => {
    const { result } = await script(['run', '--rm', '--network', 'none', BUSYBOX_REF, 'true']);
    expect(result.code).toBe(0);
    // The image gone from root B between printing and running: overlay-mount fails.
    const text = (await cutaway(rootA, dryRun(['run', '--name', 'cwdry-fail', '--network', 'none', BUSYBOX_REF, 'true']))).stdout;
    const otherRoot = join(work, 'empty');
    mkdirSync(otherRoot, { recursive: true });
    const failed = await runScript(text, { CUTAWAY_ROOT: otherRoot, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(failed.code).toBe(125);
    expect(failed.stderr).toMatch(/overlay-mount: error: /);
    expect(leftover(otherRoot)).toEqual([]);
  });
});

describe('exec, stop and rm --dry-run', () => {
  it('exec: ns-exec --enter with PID 1 read when the script runs; its output and status', async () => {
    expect((await cutaway(rootA, ['run', '-d', '--name', 'cwdry-x', '--network', 'none', '-w', '/tmp', BUSYBOX_REF, 'sleep', '100'])).code).toBe(0);
    const args = ['exec', '-e', 'Y=2', 'cwdry-x', 'sh', '-c', 'echo $Y; pwd; exit 4'];
    const printed = await cutaway(rootA, dryRun(args));
    expect(printed.stdout).toMatch(/^exec ns-exec --enter "\$\{pid\}" /m);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootA, PATH: `${BIN_DIR}:${process.env.PATH}` });
    const real = await cutaway(rootA, args);
    expect([scripted.stdout, scripted.code]).toEqual([real.stdout, real.code]);
    expect(real.stdout).toBe('2\n/tmp\n');
    expect(real.code).toBe(4);
  });

  it('stop: the kill, wait, kill; rm: teardown and removal — as stop and rm leave them', async () => {
    for (const name of ['cwdry-s1', 'cwdry-s2']) expect((await cutaway(rootA, ['run', '-d', '--name', name, '--network', network, BUSYBOX_REF, 'sleep', '100'])).code).toBe(0);
    const stopScript = await cutaway(rootA, ['stop', '--dry-run', '-t', '1', 'cwdry-s2']);
    expect(stopScript.stdout).toMatch(/kill -TERM/);
    const real = await cutaway(rootA, ['stop', '-t', '1', 'cwdry-s1']);
    const scripted = await runScript(stopScript.stdout, { CUTAWAY_ROOT: rootA, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect([scripted.stdout, scripted.code]).toEqual(['cwdry-s2\n', real.code]);
    const state = (name: string) => inspected(rootA, name).then((i) => (i as { State: unknown }).State);
    expect(await state('cwdry-s2')).toEqual(await state('cwdry-s1'));
    expect(await state('cwdry-s2')).toMatchObject({ Status: 'exited', ExitCode: 137 });
    // rm: one removed by cutaway, the other by the script.
    const rmScript = await cutaway(rootA, ['rm', '--dry-run', 'cwdry-s2']);
    expect((await cutaway(rootA, ['rm', 'cwdry-s1'])).stdout).toBe('cwdry-s1\n');
    const removed = await runScript(rmScript.stdout, { CUTAWAY_ROOT: rootA, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect([removed.stdout, removed.code]).toEqual(['cwdry-s2\n', 0]);
    expect(gone(rootA, 'cwdry-s1')).toBe(true);
    expect(gone(rootA, 'cwdry-s2')).toBe(true);
  });

  it('rm -f: a running container stopped, taken down and removed', async () => {
    expect((await cutaway(rootA, ['run', '-d', '--name', 'cwdry-f', BUSYBOX_REF, 'sleep', '100'])).code).toBe(0);
    const printed = await cutaway(rootA, ['rm', '--dry-run', '-f', 'cwdry-f']);
    const removed = await runScript(printed.stdout, { CUTAWAY_ROOT: rootA, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect([removed.stdout, removed.code], removed.stderr).toEqual(['cwdry-f\n', 0]);
    expect(gone(rootA, 'cwdry-f')).toBe(true);
  });
});

describe('cutaway build --dry-run', () => {
  /** A context with a Dockerfile of FROM, ENV, WORKDIR, COPY, RUN and CMD; its files' times fixed. */
  function context(base = BUSYBOX_REF): string {
    const dir = join(work, `context-${base === BUSYBOX_REF ? 'busybox' : 'debian'}`);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'a.txt'), 'hello\n');
    writeFileSync(join(dir, 'sub', 'b.txt'), 'b\n');
    writeFileSync(join(dir, 'Dockerfile'), [`FROM ${base}`, 'ENV GREETING="hi there"', 'WORKDIR /app', 'COPY a.txt sub ./', 'RUN echo "$GREETING" > made.txt && mkdir -p /tmp/x', 'CMD ["cat", "/app/made.txt"]', ''].join('\n'));
    for (const f of ['a.txt', 'sub/b.txt', 'sub', 'Dockerfile', '.']) utimesSync(join(dir, f), 1_600_000_000, 1_600_000_000);
    return dir;
  }

  const image = async (root: string, name: string) => {
    const found = await findImage(await OciLayout.open(join(root, 'images')), name);
    return { id: found.manifest.config.digest, diffIds: found.config.rootfs.diff_ids, config: found.config.config, history: found.config.history?.map((h) => h.created_by) };
  };

  it.each([['busybox', BUSYBOX_REF, '1'], ['debian', DEBIAN_REF, 'debian']])('%s: its script builds the same image, tagged: the same diff_ids and config (with SOURCE_DATE_EPOCH, the same image ID)', async (_, base, version) => {
    const dir = context(base);
    // Times are what two builds of the same Dockerfile differ in, under Docker too (a RUN's files, a new
    // directory, the config's `created`): layer-commit clamps them to SOURCE_DATE_EPOCH when it is set.
    const env = { SOURCE_DATE_EPOCH: '1500000000' };
    const before = listing(rootA);
    const printed = await runCommand('cutaway', ['build', '--dry-run', '-t', `cwdry-built:${version}`, dir], { env: { CUTAWAY_ROOT: rootA } });
    expect(printed.code, printed.stderr).toBe(0);
    expect(listing(rootA)).toEqual(before);
    expect(printed.stdout).toMatch(/^image\d*=\$\(layer-commit -q [0-9a-f]{64} --image /m);
    const real = await runCommand('cutaway', ['build', '-q', '--no-cache', '-t', `cwdry-built:${version}`, dir], { env: { CUTAWAY_ROOT: rootA, ...env } });
    expect(real.code, real.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}`, ...env });
    expect(scripted.code, scripted.stderr).toBe(0);
    expect(scripted.stdout).toBe(real.stdout);
    const [a, b] = [await image(rootA, `docker.io/library/cwdry-built:${version}`), await image(rootB, `docker.io/library/cwdry-built:${version}`)];
    expect(b).toEqual(a);
    expect(a.config).toMatchObject({ Env: expect.arrayContaining(['GREETING=hi there']), WorkingDir: '/app', Cmd: ['cat', '/app/made.txt'] });
    expect(a.diffIds).toHaveLength(3);
    // No step container is left in either store.
    expect(containers(rootA).size + containers(rootB).size).toBe(0);
  });

  it('without SOURCE_DATE_EPOCH: the same config and history; the image it runs gives the same output', async () => {
    const dir = context();
    const printed = await cutaway(rootA, ['build', '--dry-run', '-t', 'cwdry-built:2', dir]);
    expect((await cutaway(rootA, ['build', '-q', '--no-cache', '-t', 'cwdry-built:2', dir])).code).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(scripted.code, scripted.stderr).toBe(0);
    const [a, b] = [await image(rootA, 'docker.io/library/cwdry-built:2'), await image(rootB, 'docker.io/library/cwdry-built:2')];
    expect([b.config, b.history, b.diffIds.length]).toEqual([a.config, a.history, a.diffIds.length]);
    const runA = await cutaway(rootA, ['run', '--rm', '--network', 'none', 'cwdry-built:2']);
    const runB = await cutaway(rootB, ['run', '--rm', '--network', 'none', 'cwdry-built:2']);
    expect([runB.stdout, runB.code]).toEqual([runA.stdout, runA.code]);
    expect(runA.stdout).toBe('hi there\n');
  });

  it('a failing RUN stops the script with its status, and its step container is taken down (and kept, as cutaway keeps it)', async () => {
    const dir = join(work, 'failing');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN exit 7\n`);
    const printed = await cutaway(rootA, ['build', '--dry-run', dir]);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(scripted.code).not.toBe(0);
    expect(scripted.stderr).toContain("The command '/bin/sh -c exit 7' returned a non-zero code: 7");
    expect(containers(rootB).size).toBe(1);
    expect(mountsUnder(work)).toEqual([]);
  });

  it("a failing RUN: the script keeps the step's container as cutaway does (ps -a: exited, its status), with the same error line and hint; --force-rm keeps none", async () => {
    const dir = join(work, 'failing-kept');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nRUN echo before > /before.txt\nRUN exit 3\n`);
    const printed = await cutaway(rootA, ['build', '--dry-run', '--network', 'none', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    // SOURCE_DATE_EPOCH: the first RUN's image, which the hint names, is the same image in both.
    const env = { SOURCE_DATE_EPOCH: '1500000000' };
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}`, ...env });
    const real = await runCommand('cutaway', ['build', '--no-cache', '--network', 'none', dir], { env: { CUTAWAY_ROOT: rootA, ...env } });
    expect([scripted.code, real.code]).toEqual([3, 3]);
    // The last line of each: the error and its hint, the kept container's id (chosen when the script was printed) aside.
    const lastLine = (r: CommandResult) => r.stderr.trim().split('\n').at(-1)!.replace(/container [0-9a-f]{12} is kept/, 'container ID12 is kept');
    expect(lastLine(real)).toMatch(/^cutaway build: error: The command '\/bin\/sh -c exit 3' returned a non-zero code: 3 \(hint: rerun the step: cutaway run --rm --network none -e PATH=\S+ --entrypoint \/bin\/sh [0-9a-f]{12} -c 'exit 3'; its container ID12 is kept \(cutaway ps -a\)\)$/);
    expect(lastLine(scripted)).toBe(lastLine(real));
    const [keptA, keptB] = [[...containers(rootA).values()], [...containers(rootB).values()]];
    expect([keptA.length, keptB.length]).toEqual([1, 1]);
    expect(scripted.stderr).toContain(`its container ${keptB[0]!.slice(0, 12)} is kept`);
    const exited = (root: string, id: string) => JSON.parse(readFileSync(join(root, 'containers', id, 'state.json'), 'utf8')) as { status: string; exitCode: number; down?: boolean };
    expect(exited(rootB, keptB[0]!)).toMatchObject({ status: 'exited', exitCode: 3, down: true });
    expect(await inspected(rootB, [...containers(rootB).keys()][0]!)).toMatchObject({ HostConfig: { AutoRemove: false }, State: { ExitCode: 3 } });
    expect(mountsUnder(work)).toEqual([]);
    await removeContainers(rootA);
    await removeContainers(rootB);
    const forced = await cutaway(rootA, ['build', '--dry-run', '--force-rm', '--network', 'none', dir]);
    const forcedRun = await runScript(forced.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(forcedRun.code).toBe(3);
    expect(forcedRun.stderr).not.toContain('is kept');
    expect(containers(rootB).size).toBe(0);
  });

  it('--rm=false: the script keeps the RUN containers that succeeded, as cutaway does', async () => {
    const dir = context();
    const printed = await cutaway(rootA, ['build', '--dry-run', '--rm=false', '--network', 'none', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(scripted.code, scripted.stderr).toBe(0);
    const real = await cutaway(rootA, ['build', '--rm=false', '--no-cache', '--network', 'none', dir]);
    expect(real.code, real.stderr).toBe(0);
    expect([containers(rootA).size, containers(rootB).size]).toEqual([1, 1]);
    const name = (root: string) => [...containers(root).keys()][0]!;
    expect(await inspected(rootB, name(rootB))).toMatchObject({ HostConfig: { AutoRemove: false }, State: { Status: 'exited', ExitCode: 0 } });
    expect(mountsUnder(work)).toEqual([]);
  });

  /**
   * A multi-stage build, by cutaway build --no-cache in root A and by its script in root B (SOURCE_DATE_EPOCH
   * for both): the same image ID, diff_ids, config and history, and no step container or mount left. Returns
   * the script and the real build's image.
   */
  async function sameBuild(name: string, lines: string[]): Promise<{ text: string; id: string }> {
    const dir = join(work, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [...lines, ''].join('\n'));
    const env = { SOURCE_DATE_EPOCH: '1500000000' };
    const tag = `docker.io/library/${name}:latest`;
    const printed = await cutaway(rootA, ['build', '--dry-run', '--network', 'none', '-t', name, dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}`, ...env });
    expect(scripted.code, scripted.stderr).toBe(0);
    const real = await runCommand('cutaway', ['build', '-q', '--no-cache', '--network', 'none', '-t', name, dir], { env: { CUTAWAY_ROOT: rootA, ...env } });
    expect(real.code, real.stderr).toBe(0);
    expect(scripted.stdout).toBe(real.stdout);
    const [a, b] = [await image(rootA, tag), await image(rootB, tag)];
    expect(b).toEqual(a);
    expect(containers(rootA).size + containers(rootB).size).toBe(0);
    expect(mountsUnder(work)).toEqual([]);
    return { text: printed.stdout, id: a.id };
  }

  /** What `sh -c COMMAND` prints in the image `name` of each root: the same in both, returned. */
  async function sameOutput(name: string, command: string): Promise<string> {
    const run = (root: string) => cutaway(root, ['run', '--rm', '--network', 'none', name, 'sh', '-c', command]);
    const [a, b] = [await run(rootA), await run(rootB)];
    expect(a.code, a.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    return a.stdout;
  }

  it('COPY --from=STAGE: a directory\'s contents, a file to a new name, a file in a directory — decided by `[ -d ]` when the script runs; the same image', async () => {
    const { text } = await sameBuild('cwdry-stages', [
      `FROM ${BUSYBOX_REF} AS b`,
      'RUN mkdir /out && echo hi > /out/a && echo x > /file',
      `FROM ${BUSYBOX_REF}`,
      'COPY --from=b /out /dst/',
      'COPY --from=b /file /f',
      'COPY --from=b /out/a /single',
    ]);
    // The earlier stage's image, mounted as the real build mounts it, and tested when the script runs.
    expect(text).toMatch(/^image_root\d*=\$\(overlay-mount -q --read-only "localhost\/cutaway-cache:\$\{key\d*\}" --name [0-9a-f]{64}\)$/m);
    expect(text).toMatch(/^if \[ -d "\$\{image_root\d*\}\/out" \]; then$/m);
    expect(text).toMatch(/^ {2}find -H "\$\{image_root\d*\}\/out" -mindepth 1 -maxdepth 1 -exec cp -R -P --preserve=mode,ownership,timestamps -t /m);
    expect(await sameOutput('cwdry-stages', 'cat /dst/a /f /single; ls -ld /dst /f /single | cut -c1-10')).toBe('hi\nx\nhi\ndrwxr-xr-x\n-rw-r--r--\n-rw-r--r--\n');
  });

  it('COPY --from with several sources, --chown (a setuid file keeps its bit), an image as the source, and `.` as the WORKDIR', async () => {
    await sameBuild('cwdry-chown', [
      `FROM ${BUSYBOX_REF} AS b`,
      'RUN mkdir -p /out/sub && echo s > /out/sub/s && chmod 4755 /out/sub/s && ln -s sub/s /out/link && echo x > /file',
      `FROM ${BUSYBOX_REF}`,
      'WORKDIR /app',
      'COPY --from=b --chown=5:6 /out /file /multi/',
      'COPY --from=b /file .',
      `COPY --from=${BUSYBOX_REF} /bin/busybox /copied/`,
    ]);
    const out = await sameOutput('cwdry-chown', 'cd /multi && stat -c "%n %a %u:%g" sub sub/s file link; readlink link; cat /app/file; ls /copied');
    expect(out).toBe('sub 755 5:6\nsub/s 4755 5:6\nfile 644 5:6\nlink 777 5:6\nsub/s\nx\nbusybox\n');
  });

  it('COPY --from of a source missing when the script runs: it fails, and its step containers and mounts are taken down', async () => {
    const dir = join(work, 'cwdry-missing');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), [`FROM ${BUSYBOX_REF} AS b`, 'RUN true', `FROM ${BUSYBOX_REF}`, 'COPY --from=b /nope /x', ''].join('\n'));
    const printed = await cutaway(rootA, ['build', '--dry-run', '--network', 'none', dir]);
    expect(printed.code, printed.stderr).toBe(0);
    const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: rootB, PATH: `${BIN_DIR}:${process.env.PATH}` });
    expect(scripted.code).not.toBe(0);
    expect(scripted.stderr).toMatch(/cp: cannot stat .*\/nope/);
    expect(containers(rootB).size).toBe(0);
    expect(mountsUnder(work)).toEqual([]);
  });
});

describe('the other commands', () => {
  it('refuse --dry-run with one line, and their help does not list it', async () => {
    for (const args of [['images'], ['ps', '-a'], ['network', 'ls'], ['logs', 'x']]) {
      const out = await cutaway(rootA, [...args, '--dry-run']);
      expect(out.code, args.join(' ')).toBe(125);
      expect(out.stderr.split('\n')[0]).toBe(`cutaway ${args[0] === 'network' ? 'network ls' : args[0]}: error: --dry-run is not supported by cutaway ${args[0] === 'network' ? 'network ls' : args[0]}`);
      expect(out.stdout).toBe('');
    }
    expect((await cutaway(rootA, ['images', '--help'])).stdout).not.toContain('--dry-run');
    for (const verb of ['run', 'build', 'exec', 'stop', 'rm']) expect((await cutaway(rootA, [verb, '--help'])).stdout, verb).toContain('--dry-run');
  });
});
