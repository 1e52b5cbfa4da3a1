import { commandArgv, DEFAULT_SHELL } from './argv.ts';
import { atLine } from './errors.ts';
import { expandInstruction } from './expand-instruction.ts';
import type { CmdInstruction, EntrypointInstruction, Instruction, RunInstruction } from './instructions.ts';
import { expand, lookupEnv, type Env } from './lex.ts';
import { findStage, type Dockerfile, type Stage } from './parse.ts';

/**
 * ARG and ENV scope, as BuildKit's dockerfile2llb keeps it.
 *
 * - The ARGs before the first FROM are global: they (and the automatic
 *   platform ARGs) are what FROM lines substitute with.
 * - Inside a stage nothing global is visible until `ARG name` re-declares it.
 * - An ARG's value is the --build-arg if given, else its default (substituted
 *   when declared), else the global value.
 * - ENV and ARG values land in one ordered set of variables, last one wins;
 *   that is what `$VAR` and RUN's environment see. Only ENV (and the base
 *   image's Env) goes into the image config.
 */

export interface GlobalArgsOptions {
  /** `--build-arg NAME=value`; only declared ARGs take them. */
  buildArgs?: Readonly<Record<string, string>>;
  /** ARGs Docker defines without a declaration, e.g. from `automaticPlatformArgs`. */
  automatic?: Readonly<Record<string, string>>;
}

/** The values of the global ARGs, each default substituted with the ones before it. */
export function resolveGlobalArgs(dockerfile: Dockerfile, options: GlobalArgsOptions = {}): Map<string, string> {
  const values = new Map(Object.entries(options.automatic ?? {}));
  const buildArgs = options.buildArgs ?? {};
  for (const ins of dockerfile.globalArgs) {
    atLine(ins.line, dockerfile.file, () => {
      for (const arg of ins.args) {
        const given = lookupEnv(buildArgs, arg.name);
        if (given !== undefined) values.set(arg.name, given);
        else if (arg.default !== undefined) values.set(arg.name, expand(arg.default, values, dockerfile.escape));
      }
    });
  }
  return values;
}

/**
 * BUILDPLATFORM, BUILDOS, BUILDARCH, BUILDVARIANT and the TARGET* ones, from
 * platforms like `linux/arm64/v8`. They are global ARGs without a declaration.
 */
export function automaticPlatformArgs(buildPlatform: string, targetPlatform = buildPlatform): Record<string, string> {
  const args: Record<string, string> = {};
  for (const [prefix, platform] of [
    ['BUILD', buildPlatform],
    ['TARGET', targetPlatform],
  ] as const) {
    const [os = '', arch = '', variant = ''] = platform.split('/');
    Object.assign(args, { [`${prefix}PLATFORM`]: platform, [`${prefix}OS`]: os, [`${prefix}ARCH`]: arch, [`${prefix}VARIANT`]: variant });
  }
  return args;
}

export interface StageBase {
  /** The FROM image after substitution with the global ARGs. */
  image: string;
  platform?: string;
  /** Set when the image names an earlier stage. */
  stage?: Stage;
}

/** What a stage starts from: `FROM $IMAGE` substituted with the global ARGs, and whether that is an earlier stage. */
export function resolveBase(dockerfile: Dockerfile, stage: Stage, globalArgs: Env): StageBase {
  const from = expandInstruction(stage.from, globalArgs, { escape: dockerfile.escape, file: dockerfile.file });
  const base = findStage(dockerfile, from.image, stage.index);
  return { image: from.image, platform: from.platform, stage: base };
}

export interface StageScopeOptions {
  /** From `resolveGlobalArgs`: what `ARG name` without a default takes. */
  globalArgs?: Env;
  buildArgs?: Readonly<Record<string, string>>;
  /** The base image's config Env, as `KEY=value` strings. */
  imageEnv?: readonly string[];
  /** The base image's config Shell, if it has one. */
  imageShell?: readonly string[];
  /** A stage built FROM an earlier stage starts with that stage's variables. */
  parent?: StageScope;
}

export class StageScope {
  /** What `$VAR` and RUN's environment see. */
  readonly vars: Map<string, string>;
  /** The image config's Env: the base image's and ENV's, not ARG's. */
  readonly env: Map<string, string>;
  /** The shell for shell-form RUN, CMD and ENTRYPOINT. */
  shell: string[];

  constructor(
    private readonly dockerfile: Dockerfile,
    private readonly options: StageScopeOptions = {},
  ) {
    const parent = options.parent;
    this.env = new Map(parent ? parent.env : (options.imageEnv ?? []).map(splitEnv));
    this.vars = new Map(parent ? parent.vars : this.env);
    this.shell = [...(parent?.shell ?? (options.imageShell?.length ? options.imageShell : DEFAULT_SHELL))];
  }

  /**
   * Substitutes the instruction's words with the variables so far, then
   * records what it changes (ARG, ENV, SHELL). Returns the substituted
   * instruction; instructions that do not substitute come back unchanged.
   */
  apply<T extends Instruction>(ins: T): T {
    const { escape, file } = this.dockerfile;
    const i = ins as Instruction;
    if (i.keyword === 'ARG') return atLine(i.line, file, () => this.declareArgs(i)) as T;
    const expanded = expandInstruction(ins, this.vars, { escape, file });
    const e = expanded as Instruction;
    if (e.keyword === 'ENV') {
      for (const { key, value } of e.pairs) {
        this.vars.set(key, value);
        this.env.set(key, value);
      }
    } else if (e.keyword === 'SHELL') {
      this.shell = [...e.shell];
    }
    return expanded;
  }

  private declareArgs(ins: Extract<Instruction, { keyword: 'ARG' }>): Instruction {
    const args = ins.args.map((arg) => {
      const given = lookupEnv(this.options.buildArgs ?? {}, arg.name);
      let value: string | undefined;
      if (given !== undefined) value = given;
      else if (arg.default !== undefined) value = expand(arg.default, this.vars, this.dockerfile.escape);
      else value = this.options.globalArgs ? lookupEnv(this.options.globalArgs, arg.name) : undefined;
      if (value !== undefined) this.vars.set(arg.name, value);
      return value === undefined ? { name: arg.name } : { name: arg.name, default: value };
    });
    return { ...ins, args };
  }

  /** The argv of RUN, CMD or ENTRYPOINT under the current SHELL. */
  argv(ins: RunInstruction | CmdInstruction | EntrypointInstruction): string[] {
    return commandArgv(ins, this.shell);
  }

  /** RUN's environment, `KEY=value`. */
  runEnv(): string[] {
    return [...this.vars].map(([k, v]) => `${k}=${v}`);
  }
}

function splitEnv(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  return eq < 0 ? [kv, ''] : [kv.slice(0, eq), kv.slice(eq + 1)];
}
