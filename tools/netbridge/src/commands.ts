import { resolve } from 'node:path';
import { rootless, runHere, runtimeDir, stateRoot, UsageError, type Steps } from '@cutaway/cli';
import { down, up } from './endpoints.ts';
import { networkCommand } from './networks.ts';
import { Runner } from './runner.ts';
import { withCommandCheck } from './script.ts';
import { refuseRootlessOptions, slirpDown, slirpUp } from './slirp.ts';
import { spec, type NetbridgeInvocation } from './spec.ts';
import { DEFAULT_NETWORK, NetworkStore } from './store.ts';

/** What netbridge takes from the process it runs in, besides its command line. */
export interface Surroundings {
  /** The environment its state directories come from: CUTAWAY_RUN (the host's records), CUTAWAY_ROOT. */
  env: NodeJS.ProcessEnv;
  /** Where a note or a warning for a person goes (stderr, for the tool alone): never data. */
  tell: (text: string) => void;
}

/** netbridge's command line: up, down, or network …; what it prints goes to `print`. */
export async function netbridge(inv: NetbridgeInvocation, print: (text: string) => void, { env, tell }: Surroundings): Promise<void> {
  const run = new Runner(inv.steps);
  // runtimeDir and stateRoot read this process's environment when given nothing: `env`'s, passed to them, wins.
  const runDir = runtimeDir(env.CUTAWAY_RUN || undefined);
  const root = resolve(stateRoot(inv.options.root ?? env.CUTAWAY_ROOT));
  const store = new NetworkStore(runDir, root, run.dryRun, tell);
  const verb = inv.positionals[0];
  let output = '';
  // Rootless: no bridge, veth or nft rule can be made in the host's network namespace; slirp4netns instead (slirp.ts).
  const slirp = rootless() && (verb === 'up' || verb === 'down');
  if (slirp && verb === 'up') {
    const [name, ...extra] = inv.positionals.slice(1);
    if (!name || extra.length) throw new UsageError('up takes one NAME: netbridge up NAME [-p HOST:CTR]…');
    refuseRootlessOptions(inv.options, DEFAULT_NETWORK);
    const result = await slirpUp(run, runDir, root, name, inv.options.publish);
    output = inv.json ? `${JSON.stringify(result)}\n` : `${result.netns}\n`;
  } else if (slirp) {
    const [name, ...extra] = inv.positionals.slice(1);
    if (!name || extra.length) throw new UsageError('down takes one NAME: netbridge down NAME');
    await slirpDown(run, runDir, name);
    output = inv.json ? `${JSON.stringify({ name })}\n` : '';
  } else if (verb === 'network') await networkCommand(inv, store, run, (text) => (output += text));
  else if (verb === 'up') {
    const result = await up(inv, store, run, tell);
    output = inv.json ? `${JSON.stringify(result)}\n` : `${result.netns}\n`;
  } else if (verb === 'down') {
    const name = await down(inv, store, run);
    output = inv.json ? `${JSON.stringify({ name })}\n` : '';
  } else throw new UsageError(verb ? `unknown command ${verb}: up, down or network` : 'what? netbridge up NAME | down NAME | network …');
  // --dry-run: the commands are the output; nothing was made, so there is no handle to print.
  print(run.dryRun ? withCommandCheck(inv.steps.toScript()) : output);
}

/**
 * `netbridge ARGS` for a program with netbridge in it (cutaway: up and down for every container on a network),
 * done in that program's process (runHere) rather than by a Node start of its own: the same parse, checks and
 * commands (ip, nft; rootless, slirp4netns, which is started detached as the tool starts it and outlives this
 * step as it outlived the tool), traced to `steps`. `env` is what the program would run the tool with, on top of
 * its own environment (its CUTAWAY_ROOT, CUTAWAY_RUN). The notes the tool writes on stderr are dropped, as the
 * program dropped a tool's stderr but its trace when it succeeded. Returns what the tool would print (the
 * netns's path; with --json, the UpResult); a failure is thrown.
 */
export async function netbridgeHere(args: readonly string[], env: NodeJS.ProcessEnv, steps: Steps): Promise<string> {
  const ran = await runHere(spec, args, steps, (inv, print) => netbridge(inv, print, { env: { ...process.env, ...env }, tell: () => {} }));
  return ran.output;
}
