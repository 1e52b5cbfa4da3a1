export { DockerfileError } from './errors.ts';
export type { EscapeChar } from './lines.ts';
export type * from './instructions.ts';
export { KEYWORDS } from './instructions.ts';
export { parseDockerfile, findStage, type Dockerfile, type Stage, type ParseOptions } from './parse.ts';
export { expand, expandWords, expandList, type Env } from './lex.ts';
export { expandInstruction, type ExpandOptions } from './expand-instruction.ts';
export {
  resolveGlobalArgs,
  automaticPlatformArgs,
  resolveBase,
  StageScope,
  type GlobalArgsOptions,
  type StageBase,
  type StageScopeOptions,
} from './scope.ts';
export { commandArgv, DEFAULT_SHELL } from './argv.ts';
export { exposedPorts } from './expose.ts';
export { parseDockerignore, IgnoreMatcher, isIgnored } from './dockerignore.ts';
export { matchSources, hasWildcards } from './sources.ts';
export { goMatch, compileGoPattern } from './go-match.ts';
export { cleanPath, contextPath } from './path.ts';
export { heredocRun, heredocBody, parseHeredocWord, type Heredoc, type HeredocRun } from './heredoc.ts';
export { parseTriggers } from './onbuild.ts';
