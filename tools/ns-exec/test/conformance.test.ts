/**
 * The OCI runtime conformance suite (opencontainers/runtime-tools' validation programs, run by
 * ../shared/conformance/runtime-tools.sh, built by scripts/setup.sh) against runc and against ns-exec, in
 * the same run: ns-exec, speaking runc's command line over the suite's bundles, passes at least the programs
 * runc passes and at least as many assertions. Each program's line for both goes to the log (and
 * bench/results/conformance.txt), so that a program runc passes and ns-exec fails is named.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { toolPath } from '../../../test/fixtures/commands.ts';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const script = join(repo, '../shared/conformance/runtime-tools.sh');
const built = existsSync(join(process.env.RT_DIR ?? '/var/tmp/runtime-tools', 'runtimetest'));

interface Score {
  programs: Map<string, { clean: boolean; ok: number; notOk: number }>;
  clean: number;
  ok: number;
  notOk: number;
  total: string;
  output: string;
}

/** The script's run for one runtime, in a child (a synchronous wait would stall vitest's worker for minutes). */
function runSuite(runtime: string): Promise<{ stdout: string; stderr: string; status: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, runtime], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('error', reject);
    child.on('close', (status) => resolve({ stdout, stderr, status }));
  });
}

async function score(runtime: string): Promise<Score> {
  const r = await runSuite(runtime);
  const output = r.stdout;
  const programs = new Map<string, { clean: boolean; ok: number; notOk: number }>();
  for (const m of output.matchAll(/^(\S+\.t)\s+(clean|FAIL\(rc=\d+\))\s+ok\s+(\d+)\s+not-ok\s+(\d+)/gm))
    programs.set(m[1]!, { clean: m[2] === 'clean', ok: Number(m[3]), notOk: Number(m[4]) });
  const total = /^TOTAL programs (\d+)\/\d+ clean, assertions ok (\d+) \/ not-ok (\d+).*$/m.exec(output);
  if (!total) throw new Error(`runtime-tools.sh ${runtime}: no TOTAL line (status ${r.status}):\n${output}\n${r.stderr}`);
  return { programs, clean: Number(total[1]), ok: Number(total[2]), notOk: Number(total[3]), total: total[0], output };
}

/** Every cgroup directory on the host: the suite's programs make cgroups (cgrouptest, testdir/…) that runc, too, leaves. */
function cgroupDirs(dir = '/sys/fs/cgroup', found: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) cgroupDirs(join(dir, e.name), found).push(join(dir, e.name));
  return found;
}

describe.skipIf(!existsSync(script) || !built)('the OCI runtime conformance suite', () => {
  it('ns-exec passes at least what runc passes, in the same run', { timeout: 40 * 60_000 }, async () => {
    const before = new Set(cgroupDirs());
    let runc: Score, nsExec: Score;
    try {
      runc = await score('runc');
      nsExec = await score(toolPath('ns-exec'));
    } finally {
      // Children come before their parents in cgroupDirs' order: the deepest are removed first. The suite's own
      // names (cgrouptest, testdir/…) go even if an earlier, interrupted run left them.
      const suites = (d: string) => /\/(cgrouptest|testdir)(\/|$)/.test(d);
      for (const dir of cgroupDirs().filter((d) => !before.has(d) || suites(d))) try { rmdirSync(dir); } catch { /* still has a process: reported by the leak checks */ }
    }
    const lines = [`runc:    ${runc.total}`, `ns-exec: ${nsExec.total}`, ''];
    for (const [program, theirs] of runc.programs) {
      const ours = nsExec.programs.get(program);
      lines.push(`${program.padEnd(60)} runc ${theirs.clean ? 'clean' : 'FAIL '} ${String(theirs.ok).padStart(4)}/${theirs.notOk}   ns-exec ${ours?.clean ? 'clean' : 'FAIL '} ${String(ours?.ok ?? 0).padStart(4)}/${ours?.notOk ?? '-'}`);
    }
    const report = `${lines.join('\n')}\n`;
    mkdirSync(join(repo, 'bench/results'), { recursive: true });
    writeFileSync(join(repo, 'bench/results/conformance.txt'), report);
    console.log(report);
    const lost = [...runc.programs].filter(([p, r]) => r.clean && !nsExec.programs.get(p)?.clean).map(([p]) => p);
    expect(lost, 'programs runc passes and ns-exec does not').toEqual([]);
    expect(nsExec.clean).toBeGreaterThanOrEqual(runc.clean);
    expect(nsExec.ok).toBeGreaterThanOrEqual(runc.ok);
  });
});
