import { DockerfileError } from './errors.ts';
import { readHeredocs } from './heredoc.ts';
import type { Instruction } from './instructions.ts';
import { readLogicalLines } from './lines.ts';
import { parseInstruction } from './parse-instruction.ts';

/**
 * The ONBUILD triggers of a base image (its config's OnBuild), parsed as the instructions they are, to run
 * first in a stage built FROM it (as Docker's builders do). Each is one instruction; ONBUILD, FROM and
 * MAINTAINER are refused with Docker's errors. `file` names them in errors (Docker: the base image's name).
 */
export function parseTriggers(triggers: readonly string[], file: string): Instruction[] {
  return triggers.map((trigger, n) => {
    const { lines } = readLogicalLines(trigger, file, readHeredocs);
    if (lines.length !== 1) throw new DockerfileError(`ONBUILD trigger ${n + 1} (${JSON.stringify(trigger)}) is not one instruction`, undefined, file);
    const logical = lines[0]!;
    let ins: Instruction;
    try {
      ins = parseInstruction(logical, '\\');
    } catch (e) {
      if (e instanceof DockerfileError) throw new DockerfileError(`ONBUILD trigger ${JSON.stringify(logical.text)}: ${e.reason}`, undefined, file, e.hint);
      throw e;
    }
    if (ins.keyword === 'ONBUILD') throw new DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", undefined, file);
    if (ins.keyword === 'FROM' || ins.keyword === 'MAINTAINER') throw new DockerfileError(`${ins.keyword} isn't allowed as an ONBUILD trigger`, undefined, file);
    return ins;
  });
}
