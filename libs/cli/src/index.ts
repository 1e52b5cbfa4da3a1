export { ToolError, UsageError } from './errors.ts';
export { shellCommand, shellQuote } from './shell.ts';
export { Steps } from './trace.ts';
export { Progress, type ProgressItem } from './progress.ts';
export { COMMON_OPTIONS, formatHelp, parseInvocation, reportError, runTool, splitAtFirstPositional, type Invocation, type OptionSpec, type OptionValues, type ToolSpec } from './tool.ts';
export { imageStoreDir, ROOT_OPTION, stateRoot } from './state.ts';
