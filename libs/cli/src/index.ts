export { ToolError, UsageError } from './errors.ts';
export { parseBytes } from './units.ts';
export { shellCommand, shellQuote } from './shell.ts';
export { Steps } from './trace.ts';
export { Progress, type ProgressItem } from './progress.ts';
export { checkOperands, COMMON_OPTIONS, formatHelp, optionLines, parseInvocation, reportError, runTool, toolSpec, type Invocation, type OperandSpec, type OptionSpec, type OptionValues, type ToolSpec } from './tool.ts';
export { imageStoreDir, mountRecordPath, readMountRecord, ROOT_OPTION, rootless, runtimeDir, stateRoot, type MountRecord } from './state.ts';
export { CLOSED_OUTPUT_STATUS, isClosedOutput, stdoutClosed, whenStdoutCloses } from './output.ts';
export { BashScript, prerequisiteCheck, withPrerequisites } from './prerequisites.ts';
