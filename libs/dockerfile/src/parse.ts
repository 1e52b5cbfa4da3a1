import { atLine, DockerfileError } from './errors.ts';
import type { ArgInstruction, FromInstruction, Instruction } from './instructions.ts';
import { readLogicalLines, type EscapeChar } from './lines.ts';
import { parseInstruction } from './parse-instruction.ts';
import { readHeredocs } from './heredoc.ts';

/** A build stage: its FROM and the instructions up to the next FROM. */
export interface Stage {
  index: number;
  /** The `AS` name, lower-case. */
  name?: string;
  from: FromInstruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** The name errors use (`Dockerfile:12: ...`). */
  file: string;
  escape: EscapeChar;
  /** Parser directives that were honoured, by lower-case name (`syntax` is recorded, not acted on). */
  directives: Record<string, string>;
  /** The ARGs before the first FROM: usable in FROM lines, and in a stage once re-declared there. */
  globalArgs: ArgInstruction[];
  stages: Stage[];
  /** Every instruction, in order. */
  instructions: Instruction[];
  warnings: string[];
}

export interface ParseOptions {
  /** The name used in error messages; default `Dockerfile`. */
  file?: string;
}

export function parseDockerfile(text: string, options: ParseOptions = {}): Dockerfile {
  const file = options.file ?? 'Dockerfile';
  const { lines, escape, directives, warnings } = readLogicalLines(text, file, readHeredocs);
  if (lines.length === 0) throw new DockerfileError('file with no instructions', undefined, file);

  const instructions = lines.map((l) => atLine(l.line, file, () => parseInstruction(l, escape)));
  const globalArgs: ArgInstruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      if (ins.stageName !== undefined && stages.some((s) => s.name === ins.stageName)) {
        throw new DockerfileError(`duplicate stage name ${JSON.stringify(ins.stageName)}`, ins.line, file);
      }
      stages.push({ index: stages.length, name: ins.stageName, from: ins, instructions: [] });
    } else if (stages.length > 0) {
      (stages[stages.length - 1] as Stage).instructions.push(ins);
    } else if (ins.keyword === 'ARG') {
      globalArgs.push(ins);
    } else {
      throw new DockerfileError(`${ins.keyword} before the first FROM: no build stage in current context`, ins.line, file, 'a Dockerfile starts with FROM; only ARG may come before it');
    }
  }
  if (stages.length === 0) throw new DockerfileError('no FROM: the Dockerfile has no build stage', undefined, file);
  return { file, escape, directives, globalArgs, stages, instructions, warnings };
}

/**
 * The stage a `FROM name` or `COPY --from=name|index` refers to, among the
 * stages before `before` (a stage can only use earlier ones). Names are
 * case-insensitive. Undefined means: not a stage, so an image reference.
 */
export function findStage(dockerfile: Dockerfile, ref: string, before = dockerfile.stages.length): Stage | undefined {
  if (/^\d+$/.test(ref)) {
    const index = Number(ref);
    if (index >= before) throw new DockerfileError(`invalid stage index ${ref}: refers to the current or a later stage`, undefined, dockerfile.file);
    return dockerfile.stages[index];
  }
  const name = ref.toLowerCase();
  return dockerfile.stages.slice(0, before).find((s) => s.name === name);
}
