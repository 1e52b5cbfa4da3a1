import { constants as osConstants } from 'node:os';
import { UsageError } from '@cutaway/cli';

/** A signal to a pid that may have just exited (its shim has not recorded it yet): ESRCH is no error then. */
export function signalPid(pid: number, sig: number | NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/** A signal by number, or by name with or without SIG (KILL, SIGKILL, kill), as docker kill -s takes it. */
export function signalNumber(name: string): number {
  if (/^\d+$/.test(name)) return Number(name);
  const upper = name.toUpperCase();
  const n = osConstants.signals[(upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals];
  if (n === undefined) throw new UsageError(`invalid signal: ${name}`);
  return n;
}

/** A signal's name without SIG (TERM, USR1), as kill(1) takes it; its number when it has none. */
export function signalName(signal: number): string {
  const name = Object.entries(osConstants.signals).find(([, n]) => n === signal)?.[0];
  return name ? name.replace(/^SIG/, '') : String(signal);
}
