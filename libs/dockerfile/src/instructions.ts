import type { Heredoc } from './heredoc.ts';

/**
 * The instructions of a Dockerfile, as parsed: words keep their quotes and
 * `$VARS` until substitution (see expand-instruction.ts), because what they
 * expand to depends on the build (ARG values, the base image's ENV).
 */

/** A command line: the exec form (a JSON array) or the shell form (the text, run by SHELL). */
export type CommandLine = { form: 'exec'; args: string[] } | { form: 'shell'; text: string };

export interface KeyValue {
  key: string;
  value: string;
}

export interface ArgDeclaration {
  name: string;
  /** The default as written (quotes kept); absent for `ARG name`. */
  default?: string;
}

interface Base {
  /** The logical line as written (continuations joined), trimmed. */
  original: string;
  /** 1-based first and last line in the file. */
  line: number;
  endLine: number;
  /** The `--name=value` words before the arguments, quotes removed. */
  flags: string[];
}

export interface FromInstruction extends Base {
  keyword: 'FROM';
  image: string;
  /** The `AS name`, lower-cased as Docker does. */
  stageName?: string;
  platform?: string;
}

export interface RunInstruction extends Base {
  keyword: 'RUN';
  command: CommandLine;
  /** Here-documents after the line (`RUN <<EOF`), in order; see heredocRun. */
  heredocs: Heredoc[];
  /** `--mount=...` values, kept raw: cutaway build reads and substitutes them (tools/cutaway/src/build/run-mounts.ts). */
  mounts: string[];
  network?: string;
  security?: string;
}

export interface CmdInstruction extends Base {
  keyword: 'CMD';
  command: CommandLine;
}

export interface EntrypointInstruction extends Base {
  keyword: 'ENTRYPOINT';
  command: CommandLine;
}

/** A COPY or ADD source written as a heredoc (`COPY <<EOF /file`): a file of its own. */
export interface InlineFile {
  /** The delimiter: the file's name. */
  name: string;
  /** The body, leading tabs stripped for `<<-`. */
  data: string;
  /** The delimiter was not quoted: the body is substituted with the build's variables. */
  expand: boolean;
}

interface CopyLike extends Base {
  /** The sources from the context (or --from), as written; heredoc sources are in `inline`. */
  sources: string[];
  inline: InlineFile[];
  dest: string;
  /** Written as a JSON array (`COPY ["a b", "/dst/"]`), the only way to give paths with spaces. */
  json: boolean;
  chown?: string;
  chmod?: string;
  link: boolean;
  exclude: string[];
}

export interface CopyInstruction extends CopyLike {
  keyword: 'COPY';
  /** `--from=`: a stage name, a stage index or an image reference. */
  from?: string;
  parents: boolean;
}

export interface AddInstruction extends CopyLike {
  keyword: 'ADD';
  checksum?: string;
  keepGitDir: boolean;
}

export interface WorkdirInstruction extends Base {
  keyword: 'WORKDIR';
  path: string;
}

export interface EnvInstruction extends Base {
  keyword: 'ENV';
  pairs: KeyValue[];
  /** `ENV key value` rather than `ENV key=value` (one pair; the value is the rest of the line). */
  legacy: boolean;
}

export interface ArgInstruction extends Base {
  keyword: 'ARG';
  args: ArgDeclaration[];
}

export interface LabelInstruction extends Base {
  keyword: 'LABEL';
  pairs: KeyValue[];
  legacy: boolean;
}

export interface ExposeInstruction extends Base {
  keyword: 'EXPOSE';
  /** As written: `80`, `80/tcp`, `53/udp`, `8000-8010`, `$PORT`. See `exposedPorts`. */
  ports: string[];
}

export interface UserInstruction extends Base {
  keyword: 'USER';
  user: string;
}

export interface VolumeInstruction extends Base {
  keyword: 'VOLUME';
  paths: string[];
  json: boolean;
}

export interface ShellInstruction extends Base {
  keyword: 'SHELL';
  shell: string[];
}

export interface StopsignalInstruction extends Base {
  keyword: 'STOPSIGNAL';
  signal: string;
}

/** Durations are nanoseconds, as in the image config; absent means Docker's default. */
export type HealthCheck =
  | { type: 'NONE' }
  | {
      type: 'CMD';
      command: CommandLine;
      interval?: number;
      timeout?: number;
      startPeriod?: number;
      startInterval?: number;
      retries?: number;
    };

export interface HealthcheckInstruction extends Base {
  keyword: 'HEALTHCHECK';
  check: HealthCheck;
}

export interface OnbuildInstruction extends Base {
  keyword: 'ONBUILD';
  /** The trigger instruction, upper-case (`RUN`, `COPY`…). */
  triggerKeyword: string;
  /** The trigger as written, for the image config's OnBuild list; runs in a child build. */
  trigger: string;
}

/** Deprecated, still accepted by Docker. */
export interface MaintainerInstruction extends Base {
  keyword: 'MAINTAINER';
  maintainer: string;
}

export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | CopyInstruction
  | AddInstruction
  | WorkdirInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | ExposeInstruction
  | UserInstruction
  | VolumeInstruction
  | ShellInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | MaintainerInstruction;

export type Keyword = Instruction['keyword'];

export const KEYWORDS: readonly Keyword[] = [
  'FROM',
  'RUN',
  'CMD',
  'ENTRYPOINT',
  'COPY',
  'ADD',
  'WORKDIR',
  'ENV',
  'ARG',
  'LABEL',
  'EXPOSE',
  'USER',
  'VOLUME',
  'SHELL',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'ONBUILD',
  'MAINTAINER',
];
