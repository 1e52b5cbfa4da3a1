import { BashScript, shellCommand, shellQuote } from '@cutaway/cli';
import { capabilityNames } from './caps.ts';
import { setprivWords, umaskText, type ExecSpec } from './exec-step.ts';
import { CLONE, type Plan, type Step } from './plan.ts';

/**
 * ns-exec --dry-run: the plan as a bash script of classic commands (DESIGN.md, issue 18) that makes the same
 * container, run as root on a clean host, whatever the rootfs holds: every command it runs before the
 * container's command is the host's (util-linux, coreutils, mount, iproute2), none the rootfs'. The step
 * texts are what ns-exec does (--trace prints them); the script takes the same steps, but for where the root
 * changes:
 *
 * - A new container (runc's create/start split): after pivot_root(2) only the rootfs' programs can run (the
 *   host's need the host's dynamic loader), so PID 1 makes the mounts and then, still on the host's root,
 *   becomes through the host's setpriv and env the shell that will exec the command, and waits. The script's
 *   own process then runs pivot_root in the container's mount namespace from outside (nsenter): pivot_root(2)
 *   moves the root and cwd of every process of that namespace whose root was the old root — the waiting
 *   shell's too — to the rootfs. The old root detached, the shell goes on and execs the command, found in the
 *   rootfs. (A chroot would leave the host's root in the container's mount namespace, and CAP_SYS_CHROOT, in
 *   Docker's default set, gets out of a chroot.)
 * - --enter: the container's root exists; nsenter(1) joins its namespaces with the host's root kept
 *   (`--root=/`) and the container's root as its cwd, the host's setpriv and env do the identity, and a
 *   second nsenter makes that cwd the root (chroot(2), CAP_SYS_CHROOT), changes to the working directory and
 *   the uid, and execs the command — the container's root, as the mount namespace's own.
 *
 * What no classic command does (the seccomp profile, the device-node rule) stays a `#` line.
 */

/** Shell builtins and keywords the script's lines use: not looked for on PATH. */
const BUILTINS = new Set(['cd', 'echo', 'exec', 'umask', 'read', 'export', 'unset', 'exit', 'test', '[']);

/** The programs a step's line runs: the first word of each command of a `&&` list; comments run none. */
function commandsOf(line: string): string[] {
  if (line.startsWith('#')) return [];
  return line.split('&&').map((c) => c.trim().split(/\s+/)[0] ?? '').filter((w) => /^[a-z]/.test(w) && !BUILTINS.has(w));
}

/** Lines that stop the script at its top, before it changes anything, with one line saying why. */
function refuse(message: string): string[] {
  return [`echo ${shellQuote(`${message} (ns-exec itself can)`)} >&2`, 'exit 1'];
}

/** The lines of the steps the script takes as ns-exec does (a step whose text is '' has its line in another's). */
function lines(steps: readonly Step[]): string[] {
  return steps.map((s) => s.text).filter(Boolean);
}

// ─── A new container ─────────────────────────────────────────────────────────

/** A name a POSIX shell keeps in the environment it passes on; it drops the others (`A.B`, `foo-bar`). */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Variables sh(1) sets itself (dash: PWD when it starts, OLDPWD at cd, IFS, OPTIND, PPID). */
const SHELL_OWN = ['PWD', 'OLDPWD', 'IFS', 'OPTIND', 'PPID'];

/**
 * The shell that waits for the pivot (the host's sh, as the container's user): it says so on fd 3, reads
 * `go` on fd 4, changes to the working directory, puts back what it made of the command's environment (the
 * variables sh sets itself: PWD and OLDPWD go, a given IFS, OPTIND or PPID returns), and execs the command
 * ("$@") with only stdin, stdout and stderr. An EOF instead of `go` (the pivot failed) ends it: status 1.
 */
function waiter(exec: ExecSpec): string {
  const given = exec.env.filter((e) => SHELL_OWN.includes(e.slice(0, e.indexOf('='))));
  const environment = ['unset PWD OLDPWD', ...given.map((e) => `export ${shellQuote(e)}`)];
  return ['echo ready >&3; read -r go <&4', `cd ${shellQuote(exec.workdir)}`, ...environment, 'exec "$@" 3>&- 4<&-'].join(' && ');
}

/** The pivot, from outside: waits for PID 1's `ready`, pivot_root in its mount namespace, detaches the old root, `go`. */
function pivotFromOutside(root: string, userNamespace: boolean): string[] {
  // $$ is this script's process, which becomes unshare below (exec): unshare(1) is in the new mount namespace itself.
  const nsenter = `nsenter --target=$$${userNamespace ? ' --user' : ''} --mount`;
  return [
    '# PID 1 (container_setup, below) makes the mounts, then, still on this host\'s root, becomes the shell that will exec',
    '# the command (setpriv, env and sh are the host\'s: after pivot_root only the rootfs\' programs run), says "ready" on',
    '# fd 3 and waits on fd 4. Meanwhile this, from outside: pivot_root(2) moves the root and cwd of every process of the',
    '# container\'s mount namespace whose root was the old root (that shell\'s too) to the rootfs; the old root is',
    '# detached; "go". (runc splits create and start the same way.)',
    'sync=$(mktemp -d -t cw-ns-exec.XXXXXX)',
    'mkfifo "$sync/ready" "$sync/go"',
    '{',
    '  read -r _ <&3 || exit 0   # EOF: PID 1 failed before (its status is the script\'s)',
    `  ${nsenter} sh -c ${shellQuote(`cd ${shellQuote(root)} && exec pivot_root . .`)}`,
    '  # setns(2) puts nsenter on the topmost mount at the namespace\'s /: the old root, stacked on the rootfs, with the host\'s umount',
    `  ${nsenter} umount -l /`,
    '  echo go >&4',
    '} 3<"$sync/ready" 4>"$sync/go" &',
    'exec 3>"$sync/ready" 4<"$sync/go"',
    'rm -r "$sync"',
  ];
}

function containerScript(plan: Plan, exec: ExecSpec, argv: readonly string[]): string {
  const pivot = plan.container.findIndex((s) => s.op === 'pivot');
  const root = plan.container[pivot]?.args[0];
  if (typeof root !== 'string') throw new Error('--dry-run: the plan has no pivot step');
  const late = plan.container.slice(pivot + 1).find((s) => s.op !== 'exec' && s.text && !s.text.startsWith('#'));
  if (late) throw new Error(`--dry-run: the script takes no step after pivot_root, but the plan has: ${late.text}`);
  // Joining a network namespace is the launcher's nsenter, and uid maps are unshare's --map-* options.
  const host = lines(plan.host.filter((s) => !['setns', 'uidmap', 'gidmap'].includes(s.op)));
  // Namespaces joined by PID 1 are the launcher's nsenter's too (plan.enter).
  const setup = lines(plan.container.filter((s) => !['pivot', 'exec', 'setns'].includes(s.op)));
  const start = [
    'env', '--default-signal', 'setsid', ...setprivWords(exec, { uid: true }),
    'env', '-i', ...exec.env, '/bin/sh', '-c', waiter(exec), 'sh', ...exec.command,
  ];
  const launcher = [...plan.enter, 'unshare', ...plan.unshare];
  const script = new BashScript('ns-exec', argv, [
    'as classic commands (ns-exec --dry-run): run it with bash, as root (as the user, for a rootless container); it makes the',
    'container ns-exec would with the host\'s util-linux, coreutils, mount and iproute2: nothing of the rootfs runs but the command.',
    'The environment reaches the command in sh\'s order. What no classic command does is a # line.',
  ]);
  script.need(...new Set([...host, ...setup].flatMap(commandsOf)), 'mktemp', 'mkfifo', 'rm', 'cat', 'nsenter', 'pivot_root', 'umount', 'unshare', 'sh', 'env', 'setsid', 'setpriv');
  const unnamed = exec.env.find((e) => !SHELL_NAME.test(e.slice(0, e.indexOf('='))));
  if (unnamed) script.add(...refuse(`this script cannot give the command ${unnamed.slice(0, unnamed.indexOf('='))}: the sh that waits for pivot_root passes on only names of letters, digits and _`));
  script.add(...host, ...pivotFromOutside(root, (plan.cloneFlags & CLONE.NEWUSER) !== 0));
  script.add("container_setup=$(cat <<'CW_SETUP'", ...setup);
  // ns-exec sets the umask, a session of its own and default signal dispositions (bash starts `&` jobs with SIGINT ignored) right before execve.
  script.add(`umask ${umaskText(exec)}`, `exec ${shellCommand(start)}`, 'CW_SETUP', ')');
  script.add(`exec ${shellCommand(launcher)} sh -euc "$container_setup"`);
  return script.toString();
}

// ─── --enter ─────────────────────────────────────────────────────────────────

function enterScript(plan: Plan, exec: ExecSpec, argv: readonly string[]): string {
  const pid = plan.target;
  if (pid === undefined) throw new Error('--dry-run: an --enter plan without its target');
  const { uid } = exec.identity;
  const host = lines(plan.host);
  const script = new BashScript('ns-exec', argv, [
    'as classic commands (ns-exec --dry-run): run it with bash, as root; it runs the command in the container as ns-exec',
    '--enter would, with the host\'s util-linux and coreutils: nothing of the container runs but the command.',
    'What no classic command does is a # line.',
  ]);
  script.need(...new Set(host.flatMap(commandsOf)), 'nsenter', 'env', 'setsid', 'setpriv');
  // The second nsenter chroots and sets the uid after setpriv has bounded the capabilities to the container's.
  const needed = ['CAP_SYS_CHROOT', ...(uid === 0 ? [] : ['CAP_SETUID'])].filter((c) => !capabilityNames(exec.caps).includes(c));
  if (needed.length) script.add(...refuse(`this script cannot enter a container without ${needed.join(' and ')} in its bounding set: nsenter takes the container's root and uid with them`));
  const command = [
    ...plan.enter, '--root=/', `--wd=/proc/${pid}/root`,
    'env', '--default-signal', 'setsid', ...setprivWords(exec, { uid: false }),
    'env', '-i', ...exec.env,
  ];
  // The second nsenter by its path: env would look for it in the container's PATH.
  const inner = ['--root=.', `--wdns=${exec.workdir}`, ...(uid === 0 ? [] : [`--setuid=${uid}`]), '--', ...exec.command];
  script.add(...host, ...lines(plan.container.filter((s) => s.op !== 'exec')));
  script.add(
    `# nsenter joins PID ${pid}'s namespaces keeping this root (the host's programs) with the container's root as its cwd;`,
    '# setpriv and env do the identity; the second nsenter makes that cwd the root, as the mount namespace\'s own.',
    `umask ${umaskText(exec)}`,
    `exec ${shellCommand(command)} "$(command -v nsenter)" ${shellCommand(inner)}`,
  );
  return script.toString();
}

/** ns-exec's --dry-run script for a plan; `argv` is ns-exec's command line, named at its top. */
export function dryRunScript(plan: Plan, argv: readonly string[]): string {
  if (!plan.exec) throw new Error('--dry-run: the plan has no exec step');
  return plan.target === undefined ? containerScript(plan, plan.exec, argv) : enterScript(plan, plan.exec, argv);
}
