/**
 * A closed stdout — the reader of a pipe went away, as in `tool | head -1` — ends a tool quietly, as a Unix
 * filter ends on SIGPIPE: status 141 (128 + SIGPIPE), no message. Node ignores SIGPIPE and turns the failed
 * write into an EPIPE 'error' event on the stream, which would otherwise be an uncaught exception with a stack
 * trace. A tool with something to finish first (cutaway run: its container) takes the event over.
 */

export const CLOSED_OUTPUT_STATUS = 141;

let onClose: (() => void) | undefined;
let closed = false;
/** Set once the tool's work is done and its status decided: an EPIPE then (a pipe a stream's pipeline ended) changes nothing. */
let settled = false;

/** Whether an error is a write to a pipe nobody reads any more (or to the stream that write destroyed). */
export function isClosedOutput(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || (closed && code === 'ERR_STREAM_DESTROYED');
}

/** Whether stdout's reader has gone. */
export function stdoutClosed(): boolean {
  return closed;
}

/** Instead of ending the tool, a closed stdout calls `handler` (once); the tool goes on and ends as it will. */
export function whenStdoutCloses(handler: () => void): void {
  onClose = handler;
}

/** The tool has done its work: from now on a closed stdout is no news. */
export function settleOutput(): void {
  settled = true;
}

/** Installed by runTool: stdout's EPIPE ends the tool (or calls the handler); stderr's is ignored, there being nowhere left to say anything. */
export function watchClosedOutput(): void {
  process.stdout.on('error', (e) => {
    if (!isClosedOutput(e)) throw e;
    if (closed || settled) return;
    closed = true;
    if (onClose) onClose();
    else process.exit(CLOSED_OUTPUT_STATUS);
  });
  process.stderr.on('error', (e) => {
    if (!isClosedOutput(e)) throw e;
  });
}
