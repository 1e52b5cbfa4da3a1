import type { RuntimeLog } from './runtime-log.ts';
import type { StateDir } from './state-dir.ts';

/** What every runtime verb gets from runc's global options. */
export interface RuntimeContext {
  /** `--root`. */
  state: StateDir;
  /** `--log`, `--log-format`. */
  log: RuntimeLog;
}
