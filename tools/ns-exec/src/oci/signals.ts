import { constants } from 'node:os';
import { ToolError } from '@cutaway/cli';

/**
 * `kill ID [SIGNAL]`'s signal as runc 1.1 reads it (kill.go parseSignal): a number as it is; a name in any case,
 * with or without `SIG`; anything else is runc's `unknown signal "X"`.
 */
export function parseSignal(word: string): number {
  if (/^\d+$/.test(word)) return Number(word);
  const upper = word.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const number = (constants.signals as Record<string, number | undefined>)[name];
  if (number === undefined) throw new ToolError(`unknown signal ${JSON.stringify(word)}`);
  return number;
}
