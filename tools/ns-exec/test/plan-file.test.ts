/**
 * NS_EXEC_PLAN_FILE: a plan made by a program with ns-exec's planner in it (cutaway's run and start, issue 22),
 * which ns-exec carries out without starting its own Node planner, and removes. A file that holds no plan of
 * this ns-exec's format, or is gone, is left as it is, and ns-exec plans itself as ever; the container never
 * sees the variable.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../../test/fixtures/commands.ts';
import { busyboxRootfs } from '../../../test/fixtures/rootfs.ts';
import { encodedCommandPlan } from '../src/command-plan.ts';
import { PLAN_FILE_HEADER } from '../src/plan.ts';

const QUIET = { mode: { trace: false, dryRun: false }, fd: 2, label: undefined };
let work: string;
let rootfs: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-plan-file-'));
  rootfs = await busyboxRootfs(work);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('NS_EXEC_PLAN_FILE', () => {
  it('a plan of this format is carried out, without a planner of its own, and removed; the container does not see the variable', async () => {
    const file = join(work, 'plan');
    // The plan says `echo planned`; the command line says otherwise: what runs is the plan's.
    writeFileSync(file, await encodedCommandPlan(['--rootfs', rootfs, '--hostname', 'cwplanned', '--', '/bin/sh', '-c', 'echo planned $(hostname) ${NS_EXEC_PLAN_FILE:-unset}'], QUIET));
    expect(readFileSync(file).subarray(0, PLAN_FILE_HEADER.length).toString()).toBe(PLAN_FILE_HEADER);
    const r = await runCommand('ns-exec', ['--rootfs', rootfs, '--', '/bin/sh', '-c', 'echo not planned'], { env: { NS_EXEC_PLAN_FILE: file } });
    expect(r.stdout).toBe('planned cwplanned unset\n');
    expect(r.code).toBe(0);
    expect(existsSync(file)).toBe(false);
  });

  it('a file of another format, or none, is left alone: ns-exec plans itself from its command line', async () => {
    const foreign = join(work, 'foreign');
    writeFileSync(foreign, 'not a plan\n');
    for (const file of [foreign, join(work, 'gone')]) {
      const r = await runCommand('ns-exec', ['--rootfs', rootfs, '--', '/bin/sh', '-c', 'echo from the command line'], { env: { NS_EXEC_PLAN_FILE: file } });
      expect(r.stdout).toBe('from the command line\n');
      expect(r.code).toBe(0);
    }
    expect(readFileSync(foreign, 'utf8')).toBe('not a plan\n');
  });

  it('the planner refuses to hand over what is not a plan to carry out (help, --dry-run, --json), and bad input as ns-exec does', async () => {
    for (const args of [['--help'], ['--dry-run', '--rootfs', rootfs, '--', 'true'], ['--json', '--rootfs', rootfs, '--', 'true']]) await expect(encodedCommandPlan(args, QUIET)).rejects.toThrow();
    await expect(encodedCommandPlan(['--rootfs', join(work, 'nosuch'), '--', 'true'], QUIET)).rejects.toThrow(/no such directory/);
  });
});
