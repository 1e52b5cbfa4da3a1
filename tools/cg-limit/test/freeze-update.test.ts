/**
 * cg-limit freeze / thaw (docker pause / unpause: the freezer cgroup) and cg-limit update (docker update: new
 * limits on a cgroup that exists), on this machine's v1 hierarchies: a process in a frozen cgroup makes no
 * progress and is not told; thaw lets it go on; rm --force ends a frozen one; each --dry-run script, run by
 * sh, leaves what the tool leaves. Cleanup: every process by its pid, every cgroup by cg-limit rm --force and
 * checked gone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCommand, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';

const FREEZER = '/sys/fs/cgroup/freezer';
let counter = 0;
const owned = new Set<string>();
const children = new Set<ChildProcess>();
const work = mkdtempSync(join(tmpdir(), 'cw-freeze-'));

const cg = (args: string[]): Promise<CommandResult> => runCommand('cg-limit', args);
const sh = (script: string): Promise<CommandResult> => runCommand('/bin/sh', ['-c', script]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newName(): string {
  const name = `cwtest-fz-${process.pid}-${++counter}`;
  owned.add(name);
  return name;
}

/** A cgroup with a process in it that appends a line to a file every 20 ms (cg-limit exec: it becomes the loop). */
async function busy(name: string, limits: string[] = []): Promise<{ pid: number; file: string }> {
  expect((await cg(['create', name, ...limits])).code).toBe(0);
  const file = join(work, `${name}.ticks`);
  const child = spawn(toolPath('cg-limit'), ['exec', name, '--', 'sh', '-c', `while :; do echo . >> ${file}; sleep 0.02; done`], { stdio: 'ignore' });
  children.add(child);
  await waitFor('the first tick', () => existsSync(file));
  return { pid: child.pid!, file };
}

const size = (file: string) => readFileSync(file, 'utf8').length;
const state = (name: string) => readFileSync(join(FREEZER, `cw-${name}`, 'freezer.state'), 'utf8').trim();

afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  children.clear();
  for (const name of owned) {
    await cg(['rm', '--force', name]);
    expect(existsSync(join(FREEZER, `cw-${name}`))).toBe(false);
  }
  owned.clear();
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('cg-limit freeze and thaw', () => {
  it('stops every process where it is until thaw; --json says the state', async () => {
    const name = newName();
    const { file } = await busy(name);
    const frozen = await cg(['freeze', '--json', name]);
    expect(frozen.code, frozen.stderr).toBe(0);
    expect(JSON.parse(frozen.stdout)).toEqual({ name, version: 'v1', path: join(FREEZER, `cw-${name}`), state: 'FROZEN' });
    expect(state(name)).toBe('FROZEN');
    const before = size(file);
    await sleep(300);
    expect(size(file)).toBe(before);
    expect(await cg(['thaw', name])).toMatchObject({ code: 0, stdout: '' });
    expect(state(name)).toBe('THAWED');
    await sleep(300);
    expect(size(file)).toBeGreaterThan(before);
  });

  it('rm --force ends a frozen cgroup (v1 thaws it first: a frozen task dies only once thawed)', async () => {
    const name = newName();
    const { pid } = await busy(name);
    expect((await cg(['freeze', name])).code).toBe(0);
    expect((await cg(['rm', '--force', name])).code).toBe(0);
    await waitFor('the process gone', () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'));
    expect(existsSync(join(FREEZER, `cw-${name}`))).toBe(false);
  });

  it("--dry-run: the script's echo FROZEN and wait do what the tool does; a missing cgroup is refused", async () => {
    const name = newName();
    const { file } = await busy(name);
    const script = await cg(['--dry-run', 'freeze', name]);
    expect(script.stdout).toContain(`echo FROZEN > ${join(FREEZER, `cw-${name}`, 'freezer.state')}`);
    expect(script.stdout).toMatch(/until grep -qx 'FROZEN'/);
    expect(state(name)).toBe('THAWED');
    expect((await sh(script.stdout)).code).toBe(0);
    expect(state(name)).toBe('FROZEN');
    const before = size(file);
    await sleep(200);
    expect(size(file)).toBe(before);
    expect((await sh((await cg(['--dry-run', 'thaw', name])).stdout)).code).toBe(0);
    expect(state(name)).toBe('THAWED');
    const missing = await cg(['freeze', 'cwtest-none']);
    expect([missing.code, missing.stderr]).toEqual([1, 'cg-limit: error: no cgroup named cwtest-none (hint: cg-limit ls lists them)\n']);
    expect((await cg(['freeze', name, '-m', '64m'])).code).toBe(2);
  });
});

describe('cg-limit update', () => {
  const file = (name: string, hierarchy: string, f: string) => readFileSync(`/sys/fs/cgroup/${hierarchy}/cw-${name}/${f}`, 'utf8').trim();

  it('writes the new limits into a cgroup with a process in it, checked as create checks them', async () => {
    const name = newName();
    await busy(name, ['-m', '64m', '--pids-limit', '10']);
    const r = await cg(['update', '--json', name, '-m', '128m', '--cpus', '0.5', '--pids-limit', '20']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).writes).toEqual([
      ['memory', 'memory.limit_in_bytes', String(128 << 20)],
      ['cpu', 'cpu.cfs_period_us', '100000'],
      ['cpu', 'cpu.cfs_quota_us', '50000'],
      ['pids', 'pids.max', '20'],
    ]);
    expect([file(name, 'memory', 'memory.limit_in_bytes'), file(name, 'cpu', 'cpu.cfs_quota_us'), file(name, 'pids', 'pids.max')]).toEqual([String(128 << 20), '50000', '20']);
    // memory and memory+swap rising together: memsw goes first, or the kernel refuses the larger memory.
    expect((await cg(['update', name, '-m', '1g', '--memory-swap', '2g'])).code).toBe(0);
    expect(file(name, 'memory', 'memory.limit_in_bytes')).toBe(String(1 << 30));
    for (const bad of [['-m', '1k'], ['--cpus', '-1'], ['--device', '/dev/null']]) {
      const refused = await cg(['update', name, ...bad]);
      expect(refused.code, bad.join(' ')).toBe(2);
    }
    expect(file(name, 'memory', 'memory.limit_in_bytes')).toBe(String(1 << 30));
    expect((await cg(['update', 'cwtest-none', '-m', '64m'])).code).toBe(1);
  });

  it('--dry-run prints the echo lines; run by sh they set what the tool sets', async () => {
    const name = newName();
    expect((await cg(['create', name])).code).toBe(0);
    const script = await cg(['--dry-run', 'update', name, '-m', '96m', '--pids-limit', '7']);
    expect(script.stdout).toContain(`echo ${96 << 20} > /sys/fs/cgroup/memory/cw-${name}/memory.limit_in_bytes`);
    expect(file(name, 'pids', 'pids.max')).toBe('max');
    expect((await sh(script.stdout)).code).toBe(0);
    expect([file(name, 'memory', 'memory.limit_in_bytes'), file(name, 'pids', 'pids.max')]).toEqual([String(96 << 20), '7']);
  });
});
