import { ToolError } from '@cutaway/cli';
import { expand, findStage, resolveBase, StageScope, type Dockerfile, type Stage } from '@cutaway/dockerfile';

/**
 * --target, and the stages a build needs, as BuildKit decides them: the target (the last stage without
 * --target) and, transitively, the stages it is built FROM, copies from (COPY --from) and mounts from
 * (RUN --mount=…,from=). Stages nothing needs are not built (Docker's classic builder built them all).
 */

/** The stage --target names: by its name (any case), or by its index. */
export function targetStage(dockerfile: Dockerfile, target: string | undefined): Stage {
  if (target === undefined) return dockerfile.stages.at(-1)!;
  const byIndex = /^\d+$/.test(target) ? dockerfile.stages[Number(target)] : undefined;
  const stage = byIndex ?? dockerfile.stages.find((s) => s.name === target.toLowerCase());
  // BuildKit's words.
  if (!stage) throw new ToolError(`target stage ${JSON.stringify(target)} could not be found`);
  return stage;
}

/** The stages to build for `target`, in Dockerfile order (each after those it uses). */
export function neededStages(dockerfile: Dockerfile, target: Stage, globalArgs: Map<string, string>, buildArgs: Record<string, string>): Stage[] {
  const needed = new Set<number>();
  const visit = (stage: Stage): void => {
    if (needed.has(stage.index)) return;
    needed.add(stage.index);
    for (const used of stagesUsedBy(dockerfile, stage, globalArgs, buildArgs)) visit(used);
  };
  visit(target);
  return dockerfile.stages.filter((s) => needed.has(s.index));
}

/**
 * The earlier stages `stage` uses. --from words are substituted with the stage's ARG and ENV as they stand
 * at that instruction (the base image's ENV is not known yet: a --from naming one of its variables is taken
 * as written).
 */
function stagesUsedBy(dockerfile: Dockerfile, stage: Stage, globalArgs: Map<string, string>, buildArgs: Record<string, string>): Stage[] {
  const used: Stage[] = [];
  const base = resolveBase(dockerfile, stage, globalArgs).stage;
  if (base) used.push(base);
  const scope = new StageScope(dockerfile, { globalArgs, buildArgs });
  for (const raw of stage.instructions) {
    const ins = scope.apply(raw);
    const froms =
      ins.keyword === 'COPY' && ins.from !== undefined
        ? [ins.from]
        : ins.keyword === 'RUN'
          ? ins.mounts.flatMap((m) => m.split(',').filter((kv) => /^from=/i.test(kv)).map((kv) => expand(kv.slice(5), scope.vars, dockerfile.escape)))
          : [];
    for (const from of froms) {
      const found = findStage(dockerfile, from, stage.index);
      if (found) used.push(found);
    }
  }
  return used;
}

/** The build args Docker lets through without a declaration (builtinAllowedBuildArgs): the proxy variables. */
const BUILTIN_ARGS = new Set(['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']);

/**
 * Docker's warning for --build-arg values that no ARG of the built stages (or the global ARGs) declares:
 * `[Warning] One or more build-args [A B] were not consumed`, the names sorted. Undefined when all were.
 */
export function unusedBuildArgsWarning(dockerfile: Dockerfile, built: readonly Stage[], buildArgs: Record<string, string>): string | undefined {
  const declared = new Set([...dockerfile.globalArgs, ...built.flatMap((s) => s.instructions)].flatMap((ins) => (ins.keyword === 'ARG' ? ins.args.map((a) => a.name) : [])));
  const unused = Object.keys(buildArgs).filter((k) => !declared.has(k) && !BUILTIN_ARGS.has(k)).sort();
  return unused.length ? `[Warning] One or more build-args [${unused.join(' ')}] were not consumed` : undefined;
}
