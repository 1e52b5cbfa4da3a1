/**
 * rename, pause/unpause, update, login/logout (issue 19 part 5), on real detached containers made by cutaway
 * run (no network: what these verbs touch is the name, the cgroup and the record), checked against what
 * Docker documents for each: its output, its errors and what a later ps, start or pull sees. Cleanup as in
 * containers.test.ts: every container's processes killed by pid, what each had taken down, nothing left.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { busyboxRoot } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF } from '../../../test/fixtures/images.ts';
import { startRegistry } from '../../../test/fixtures/registry.ts';

const state = busyboxRoot('cw-verbs2-');
let work: string;
let root: string;

function cutaway(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root, ...env }, input });
}

/** A detached container that logs a line every 100 ms (so that a frozen one is seen to stop), with `options`. */
async function ticker(name: string, options: string[] = []): Promise<string> {
  const out = await cutaway(['run', '-d', '--name', name, '--network', 'none', ...options, BUSYBOX_REF, 'sh', '-c', 'while :; do echo tick; sleep 0.1; done']);
  expect(out.stderr).toBe('');
  expect(out.code).toBe(0);
  return out.stdout.trim();
}

const cgroupFile = (id: string, hierarchy: string, file: string) => readFileSync(`/sys/fs/cgroup/${hierarchy}/cw-${id.slice(0, 12)}/${file}`, 'utf8').trim();
const ticks = async (name: string) => (await cutaway(['logs', name])).stdout.split('\n').filter(Boolean).length;
const config = (id: string) => JSON.parse(readFileSync(join(root, 'containers', id, 'config.json'), 'utf8')) as { name: string; limits: string[] };

beforeAll(() => {
  ({ work, root } = state);
});

describe('rename', () => {
  it('moves the name of a running container: ps, inspect and the reservation follow; the old name is free again', async () => {
    const id = await ticker('cw-before');
    const r = await cutaway(['rename', 'cw-before', 'cw-after']);
    // Docker prints nothing.
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(/ cw-after\n$/);
    expect(config(id).name).toBe('cw-after');
    expect(readFileSync(join(root, 'containers', '.names', 'cw-after'), 'utf8')).toBe(id);
    expect(existsSync(join(root, 'containers', '.names', 'cw-before'))).toBe(false);
    // A new container may take the old name; it still runs under the new one (by id prefix too).
    expect((await cutaway(['run', '--name', 'cw-before', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    expect((await cutaway(['rename', id.slice(0, 8), 'cw-third'])).code).toBe(0);
    expect(config(id).name).toBe('cw-third');
  });

  it("gives Docker's errors: a name in use, the same name, an invalid name, no such container", async () => {
    const id = await ticker('cw-one');
    const other = await ticker('cw-two');
    const conflict = await cutaway(['rename', 'cw-one', 'cw-two']);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toBe(`cutaway rename: error: Conflict. The container name "/cw-two" is already in use by container "${other}". You have to remove (or rename) that container to be able to reuse that name.\n`);
    const same = await cutaway(['rename', 'cw-one', 'cw-one']);
    expect(same.code).toBe(1);
    expect(same.stderr).toMatch(/Renaming a container with the same name as its current name\n$/);
    const invalid = await cutaway(['rename', 'cw-one', 'bad/name']);
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toMatch(/Invalid container name \(bad\/name\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed/);
    expect((await cutaway(['rename', 'cw-none', 'cw-x'])).stderr).toMatch(/No such container: cw-none/);
    // Nothing changed.
    expect([config(id).name, config(other).name]).toEqual(['cw-one', 'cw-two']);
    expect((await cutaway(['rename', 'cw-one'])).code).not.toBe(0);
  });

  it('of two renames to one name at once, exactly one wins', async () => {
    const a = await ticker('cw-ra');
    const b = await ticker('cw-rb');
    const results = await Promise.all([cutaway(['rename', 'cw-ra', 'cw-same']), cutaway(['rename', 'cw-rb', 'cw-same'])]);
    expect(results.map((r) => r.code).sort()).toEqual([0, 1]);
    expect([config(a).name, config(b).name].filter((n) => n === 'cw-same')).toHaveLength(1);
    expect(results.find((r) => r.code === 1)!.stderr).toMatch(/Conflict\. The container name "\/cw-same" is already in use/);
  });
});

describe('pause and unpause', () => {
  it('freezes the cgroup: no progress, ps says (Paused); unpause lets it go on; the errors are Docker\'s', async () => {
    const id = await ticker('cw-p');
    await waitFor('a tick', () => existsSync(join(root, 'containers', id, 'log')));
    const p = await cutaway(['pause', 'cw-p']);
    expect(p).toMatchObject({ code: 0, stdout: 'cw-p\n', stderr: '' });
    expect(cgroupFile(id, 'freezer', 'freezer.state')).toBe('FROZEN');
    expect((await cutaway(['ps'])).stdout).toMatch(/ Up .* \(Paused\)\s+cw-p\n$/);
    const before = await ticks('cw-p');
    await new Promise((r) => setTimeout(r, 600));
    expect(await ticks('cw-p')).toBe(before);
    const again = await cutaway(['pause', 'cw-p']);
    expect([again.code, again.stderr]).toEqual([1, `cutaway pause: error: Container ${id} is already paused\n`]);

    expect(await cutaway(['unpause', 'cw-p'])).toMatchObject({ code: 0, stdout: 'cw-p\n' });
    expect(cgroupFile(id, 'freezer', 'freezer.state')).toBe('THAWED');
    expect((await cutaway(['ps'])).stdout).not.toContain('Paused');
    await new Promise((r) => setTimeout(r, 600));
    expect(await ticks('cw-p')).toBeGreaterThan(before);
    const not = await cutaway(['unpause', 'cw-p']);
    expect([not.code, not.stderr]).toEqual([1, `cutaway unpause: error: Container ${id} is not paused\n`]);
  });

  it("start of a paused container is refused, as Docker's daemon refuses it (attached or not); unpaused, start has nothing to do", async () => {
    const id = await ticker('cw-ps-start');
    expect((await cutaway(['pause', 'cw-ps-start'])).code).toBe(0);
    for (const args of [['start', 'cw-ps-start'], ['start', '-a', 'cw-ps-start'], ['container', 'start', id.slice(0, 12)]]) {
      const refused = await cutaway(args);
      const name = args[0] === 'container' ? 'cutaway container start' : 'cutaway start';
      expect({ args, code: refused.code, stdout: refused.stdout, stderr: refused.stderr }).toEqual({ args, code: 1, stdout: '', stderr: `${name}: error: cannot start a paused container, try unpause instead\n` });
    }
    // Still paused, its cgroup frozen; nothing else changed.
    expect(cgroupFile(id, 'freezer', 'freezer.state')).toBe('FROZEN');
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', 'cw-ps-start'])).stdout).toBe('paused\n');
    expect((await cutaway(['unpause', 'cw-ps-start'])).code).toBe(0);
    expect(await cutaway(['start', 'cw-ps-start'])).toMatchObject({ code: 0, stdout: 'cw-ps-start\n', stderr: '' });
    expect((await cutaway(['inspect', '-f', '{{.State.Status}}', 'cw-ps-start'])).stdout).toBe('running\n');
  });

  it('refuses a container that does not run', async () => {
    const run = await cutaway(['run', '--name', 'cw-done', '--network', 'none', BUSYBOX_REF, 'true']);
    expect(run.code).toBe(0);
    const p = await cutaway(['pause', 'cw-done']);
    expect(p.code).toBe(1);
    expect(p.stderr).toMatch(/^cutaway pause: error: Container [0-9a-f]{64} is not running\n$/);
  });

  it('kill, stop and rm -f of a paused container end it, as Docker thaws it after SIGKILL', async () => {
    await ticker('cw-pk');
    await ticker('cw-ps');
    const rmf = await ticker('cw-pr');
    for (const name of ['cw-pk', 'cw-ps', 'cw-pr']) expect((await cutaway(['pause', name])).code).toBe(0);
    expect(await cutaway(['kill', 'cw-pk'])).toMatchObject({ code: 0, stdout: 'cw-pk\n' });
    expect((await cutaway(['wait', 'cw-pk'])).stdout).toBe('137\n');
    expect(await cutaway(['stop', '-t', '1', 'cw-ps'])).toMatchObject({ code: 0, stderr: '' });
    expect((await cutaway(['ps', '-a'])).stdout).toMatch(/Exited \(137\) .* cw-ps\n/);
    expect((await cutaway(['rm', '-f', 'cw-pr'])).code).toBe(0);
    expect(existsSync(`/sys/fs/cgroup/freezer/cw-${rmf.slice(0, 12)}`)).toBe(false);
    expect((await cutaway(['ps'])).stdout.split('\n')).toHaveLength(2);
  });
});

describe('update', () => {
  it("changes a running container's cgroup now and its record for the next start", async () => {
    const id = await ticker('cw-u', ['-m', '64m']);
    expect(cgroupFile(id, 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    const u = await cutaway(['update', '-m', '128m', '--pids-limit', '50', '--cpus', '0.5', 'cw-u']);
    expect(u).toMatchObject({ code: 0, stdout: 'cw-u\n', stderr: '' });
    expect(cgroupFile(id, 'memory', 'memory.limit_in_bytes')).toBe(String(128 << 20));
    expect(cgroupFile(id, 'pids', 'pids.max')).toBe('50');
    expect(cgroupFile(id, 'cpu', 'cpu.cfs_quota_us')).toBe('50000');
    expect(config(id).limits.filter((w) => !w.startsWith('--devices') && w !== 'default')).toEqual(['-m', '128m', '--cpus', '0.5', '--pids-limit', '50']);
    // A restart makes the cgroup anew, with them.
    expect((await cutaway(['restart', '-t', '0', 'cw-u'])).code).toBe(0);
    expect(cgroupFile(id, 'memory', 'memory.limit_in_bytes')).toBe(String(128 << 20));
    expect(cgroupFile(id, 'pids', 'pids.max')).toBe('50');
  });

  it('updates a stopped container, which starts with the new limits; bad values change nothing', async () => {
    const id = await ticker('cw-us');
    expect((await cutaway(['stop', '-t', '0', 'cw-us'])).code).toBe(0);
    expect((await cutaway(['update', '--memory', '96m', 'cw-us'])).code).toBe(0);
    const bad = await cutaway(['update', '-m', '1k', 'cw-us']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/1k/);
    const none = await cutaway(['update', 'cw-us']);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/you must provide one or more flags when using this command/);
    expect((await cutaway(['start', 'cw-us'])).code).toBe(0);
    expect(cgroupFile(id, 'memory', 'memory.limit_in_bytes')).toBe(String(96 << 20));
  });
});

describe('login and logout', () => {
  it("checks the credentials with the registry, then writes Docker's auths entry (0600, other keys kept); logout removes it", async () => {
    const registry = await startRegistry({ auth: { username: 'cwuser', password: 'cw-secret' } });
    try {
      const dockerConfig = join(work, 'docker');
      mkdirSync(dockerConfig);
      const file = join(dockerConfig, 'config.json');
      writeFileSync(file, JSON.stringify({ auths: { 'other.example:5000': { auth: 'eDp5' } }, psFormat: 'table {{.ID}}' }));
      const env = { DOCKER_CONFIG: dockerConfig };
      const server = registry.host;

      const wrong = await cutaway(['login', '-u', 'cwuser', '--password-stdin', server], 'nope\n', env);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/unauthorized/);
      expect(JSON.parse(readFileSync(file, 'utf8')).auths).toEqual({ 'other.example:5000': { auth: 'eDp5' } });

      const ok = await cutaway(['login', '-u', 'cwuser', '--password-stdin', server], 'cw-secret\n', env);
      expect(ok).toMatchObject({ code: 0, stdout: 'Login Succeeded\n', stderr: '' });
      const written = JSON.parse(readFileSync(file, 'utf8')) as { auths: Record<string, { auth: string }>; psFormat: string };
      expect(written.auths[server]).toEqual({ auth: Buffer.from('cwuser:cw-secret').toString('base64') });
      expect(written.auths['other.example:5000']).toEqual({ auth: 'eDp5' });
      expect(written.psFormat).toBe('table {{.ID}}');
      expect(statSync(file).mode & 0o777).toBe(0o600);

      // -p works, with Docker's warning.
      const p = await cutaway(['login', '-u', 'cwuser', '-p', 'cw-secret', server], undefined, env);
      expect(p).toMatchObject({ code: 0, stdout: 'Login Succeeded\n', stderr: 'WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n' });
      expect((await cutaway(['login', '-p', 'x', '--password-stdin', server], undefined, env)).stderr).toMatch(/--password and --password-stdin are mutually exclusive/);
      expect((await cutaway(['login', '--password-stdin', server], 'x', env)).stderr).toMatch(/Must provide --username with --password-stdin/);

      // What oci-pull reads: with the entry, the registry accepts it without --creds.
      expect((await runCommand('oci-pull', ['--check-auth', server], { env })).code).toBe(0);

      expect(await cutaway(['logout', server], undefined, env)).toMatchObject({ code: 0, stdout: `Removing login credentials for ${server}\n` });
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ auths: { 'other.example:5000': { auth: 'eDp5' } }, psFormat: 'table {{.ID}}' });
      expect(await cutaway(['logout', server], undefined, env)).toMatchObject({ code: 0, stdout: `Not logged in to ${server}\n` });
      expect((await runCommand('oci-pull', ['--check-auth', server], { env })).code).toBe(1);
    } finally {
      await registry.stop();
    }
  });
});
