import { ToolError } from '@cutaway/cli';

/**
 * A Dockerfile (or .dockerignore) that Docker would refuse. The message reads
 * `Dockerfile:LINE: WHY` when the line is known, as `docker build` points at it.
 */
export class DockerfileError extends ToolError {
  override name = 'DockerfileError';
  constructor(
    readonly reason: string,
    readonly line?: number,
    readonly file = 'Dockerfile',
    hint?: string,
  ) {
    super(line === undefined ? `${file}: ${reason}` : `${file}:${line}: ${reason}`, hint);
  }

  /** The same error, placed at a line (keeps a line it already has). */
  at(line: number, file = this.file): DockerfileError {
    return this.line !== undefined ? this : new DockerfileError(this.reason, line, file, this.hint);
  }
}

/** Places any error thrown by `fn` at `line`. */
export function atLine<T>(line: number, file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DockerfileError) throw e.at(line, file);
    throw e;
  }
}
