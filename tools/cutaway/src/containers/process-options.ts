import type { OptionSpec } from '@cutaway/cli';

/** The options `cutaway run` and `cutaway exec` share, with Docker's letters: how the process is started. */
export const PROCESS_OPTIONS = {
  detach: { name: 'detach', short: 'd', type: 'boolean', help: 'run in the background' },
  interactive: { name: 'interactive', short: 'i', type: 'boolean', help: 'keep stdin attached' },
  tty: { name: 'tty', short: 't', type: 'boolean', help: 'give the command a terminal' },
  env: { name: 'env', short: 'e', type: 'list', arg: 'K=V', help: 'set a variable (repeat)' },
  envFile: { name: 'env-file', type: 'list', arg: 'FILE', help: 'read variables from a file (repeat)' },
  workdir: { name: 'workdir', short: 'w', type: 'string', arg: 'DIR', help: "working directory (default: the image's)" },
  user: { name: 'user', short: 'u', type: 'string', arg: 'USER[:GROUP]', help: "user (default: the image's)" },
} as const satisfies Record<string, OptionSpec>;
