import { spawn } from 'node:child_process';
import { rootless, ToolError } from '@cutaway/cli';
import { command } from '../command.ts';
import { toolEnv, traceCommand, waitPassingSignals } from '../tools.ts';

/**
 * podman unshare: a command (default: the user's shell) in the user namespace and mount namespace rootless
 * cutaway runs in, root there, with the user's subordinate ids mapped (rootless.ts) — where the store's
 * files, owned by mapped ids, can be looked at and removed. cutaway.ts has re-executed this command inside
 * the namespace before it gets here; as root there is no such namespace, as `podman unshare` says.
 */
export const unshare = command(
  {
    name: 'unshare',
    summary: "Run a command in cutaway's rootless user namespace",
    synopsis: ['[COMMAND [ARG…]]'],
    description: [
      "Run a command (default: $SHELL) in rootless cutaway's user and mount namespace, as podman unshare: root there,",
      "ids 1… the user's /etc/subuid range, $CUTAWAY_ROOT and $CUTAWAY_RUN set to the user's state directories.",
      "Exits with the command's status. Only for an ordinary user.",
    ].join('\n'),
    interspersed: false,
    options: [],
    operands: { min: 0, names: '[COMMAND [ARG…]]' },
    examples: ['cutaway unshare ls -ln "$CUTAWAY_ROOT/containers"', 'cutaway unshare rm -rf ~/.local/share/cutaway', 'cutaway unshare cat /proc/self/uid_map'],
    classic: ['podman unshare', 'unshare --user --mount --map-user=0 --map-group=0 --map-users=SUBUID,1,COUNT --map-groups=SUBGID,1,COUNT'],
  },
  async (inv) => {
    if (!rootless()) throw new ToolError('cutaway unshare is for rootless cutaway: as root, the store is yours already');
    const argv = inv.positionals.length ? inv.positionals : [process.env.SHELL || '/bin/sh'];
    traceCommand(argv[0]!, argv.slice(1));
    const child = spawn(argv[0]!, argv.slice(1), { env: toolEnv(), stdio: 'inherit' });
    return waitPassingSignals(child, argv[0]!);
  },
);
