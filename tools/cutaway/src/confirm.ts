import { createInterface } from 'node:readline/promises';
import { ToolError } from '@cutaway/cli';

/** -f, --force: the prune commands' answer given beforehand. */
export const FORCE_OPTION = { name: 'force', short: 'f', type: 'boolean', help: 'do not ask for confirmation' } as const;

/**
 * The prune commands' question (docker/cli command.PromptForConfirmation): WARNING! what will go, then
 * "Are you sure you want to continue? [y/N]", answered y or yes; -f skips it. Asked on stderr, as stdout
 * carries only what was removed; anything else, or no terminal to answer from, removes nothing.
 */
export async function confirmOrCancel(force: boolean, warning: string, what: string): Promise<void> {
  if (force) return;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // stdin at its end (</dev/null) closes the interface: no answer, and the error goes on a line of its own.
  const answer = await new Promise<string>((resolve) => {
    const ended = () => {
      process.stderr.write('\n');
      resolve('');
    };
    rl.once('close', ended);
    rl.question(`WARNING! ${warning}\nAre you sure you want to continue? [y/N] `).then(
      (a) => {
        rl.off('close', ended);
        resolve(a);
      },
      () => {}, // closed first: `ended` answered
    );
  });
  rl.close();
  if (!/^y(es)?$/i.test(answer.trim())) throw new ToolError(`${what} has been cancelled`, '-f removes without asking');
}
