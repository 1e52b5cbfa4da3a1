import { join, posix } from 'node:path';
import { commandArgv, heredocRun, type AddInstruction, type CopyInstruction, type RunInstruction } from '@cutaway/dockerfile';
import type { Runner } from '../runner.ts';
import type { Staging } from './staging.ts';

/**
 * Heredocs in a build, as BuildKit runs them (dockerfile2llb dispatchRun, dispatchCopy). RUN: a command that
 * is one heredoc alone runs its body through the SHELL — or, starting with `#!`, as a script file mounted at
 * /dev/pipes/NAME (0755, read-only; not in the layer), run by the kernel through its interpreter; any other
 * command goes to the shell with the bodies after it. COPY/ADD: each heredoc source is a file of its own.
 */

export interface RunPlan {
  argv: string[];
  /** A `#!` heredoc: the script file the command runs. */
  script?: { name: string; body: string };
}

export function runPlan(ins: RunInstruction, shell: readonly string[]): RunPlan {
  if (ins.command.form !== 'shell' || !ins.heredocs.length) return { argv: commandArgv(ins, shell) };
  const run = heredocRun(ins.command.text, ins.heredocs);
  if (run.kind === 'text') return { argv: [...shell, run.text] };
  return { argv: [...shell, posix.join('/dev/pipes', run.name)], script: { name: run.name, body: run.body } };
}

/** The script's directory (made now, or by the script): ns-exec's arguments that mount it, and the directory to remove after. */
export async function pipesMount(r: Runner, script: NonNullable<RunPlan['script']>): Promise<{ args: string[]; dir: string }> {
  const dir = r.tempDir('pipes');
  const file = join(dir, script.name);
  await r.writeFile(file, script.body);
  // Readable and runnable by the step's USER, whoever that is.
  await r.tool('chmod', ['0755', dir, file], {});
  return { args: ['-v', `${dir}:/dev/pipes:ro`], dir };
}

/** COPY/ADD's heredoc sources: each a file at <dest>/NAME when <dest> is a directory, else at <dest>. */
export function copyInline(tree: Staging, ins: CopyInstruction | AddInstruction, dest: string, intoDir: boolean): void {
  for (const file of ins.inline) tree.inline(intoDir ? posix.join(dest, file.name) : dest, file.data);
}
