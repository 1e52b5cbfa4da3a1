/** Bad command-line usage: exit status 2, and a pointer to --help. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * An operation that failed: exit status 1. The message reads `WHAT: WHY`;
 * a hint, when one helps, tells the user what to do about it.
 */
export class ToolError extends Error {
  override name = 'ToolError';
  constructor(
    message: string,
    readonly hint?: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
