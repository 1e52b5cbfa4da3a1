import { describe, expect, it } from 'vitest';
import { runHere, Steps, toolSpec, UsageError } from '../src/index.ts';

const spec = toolSpec({
  name: 'demo-tool',
  version: '1.2.3',
  synopsis: ['[options] NAME'],
  description: 'Does a demo thing.',
  options: [{ name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit' }],
  operands: { min: 1, max: 1, names: 'NAME' },
  examples: ['demo-tool x'],
  classic: ['true'],
});

const steps = () => new Steps({ trace: false, dryRun: false });

describe('runHere', () => {
  it("runs the tool's main on its parsed arguments, quiet, with the steps given: what it printed (trimmed) and returned", async () => {
    const given = steps();
    const ran = await runHere(spec, ['-m', '64m', '--json', 'c1'], given, async (inv, print) => {
      expect(inv.steps).toBe(given);
      expect(inv.progress.interactive).toBe(false);
      print(`${JSON.stringify({ name: inv.positionals[0], memory: inv.options.memory, json: inv.json })}\n`);
      return 7;
    });
    expect(ran).toEqual({ output: '{"name":"c1","memory":"64m","json":true}', value: 7 });
  });

  it('refuses help, --version and --dry-run, and bad arguments as runTool does, before main runs', async () => {
    let ran = false;
    const main = async () => {
      ran = true;
    };
    for (const args of [['--help'], ['--version'], ['--dry-run', 'c1']]) await expect(runHere(spec, args, steps(), main)).rejects.toThrow(/not done here/);
    await expect(runHere(spec, ['--nope', 'c1'], steps(), main)).rejects.toThrow(UsageError);
    await expect(runHere(spec, [], steps(), main)).rejects.toThrow(/requires exactly 1 argument: NAME/);
    expect(ran).toBe(false);
  });
});
