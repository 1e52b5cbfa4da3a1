export { ToolError, UsageError } from './errors.ts';
export { shellCommand, shellQuote } from './shell.ts';
export { Steps } from './trace.ts';
export { Progress, type ProgressItem } from './progress.ts';
export { checkOperands, COMMON_OPTIONS, formatHelp, parseInvocation, reportError, runTool, toolSpec, type Invocation, type OperandSpec, type OptionSpec, type OptionValues, type ToolSpec } from './tool.ts';
export { imageStoreDir, mountRecordPath, readMountRecord, ROOT_OPTION, stateRoot, type MountRecord } from './state.ts';
