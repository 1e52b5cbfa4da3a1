import { dirname, join } from 'node:path';
import { ToolError, type Steps } from '@cutaway/cli';
import { ruleText, type DeviceRule } from '@cutaway/cgroup';
import type { Cgroup } from './hierarchy.ts';

/**
 * The parts of a --dry-run script that the tool does in code rather than as one command: the checks at the
 * top (the script checks what the tool checks before it changes anything), the removal of what a failure
 * part-way has made, and the loops of `rm --force` and `run`. Each function records its lines only in a
 * dry run; otherwise it does nothing (the tool itself does that work, and --trace shows its steps).
 *
 * A script names the cgroup's directories once, `cgs="…"` (one per v1 hierarchy, one on v2), and its shell
 * functions loop over them. Paths are written bare, so `run`'s `cw-run-$$` is the script's own pid.
 */

const SAFE_PATH = /^[A-Za-z0-9_@%+=:,./$-]+$/;

function lines(steps: Steps, ...text: string[]): void {
  if (steps.mode.dryRun) for (const t of text) steps.run(t);
}

/** `cgs="…"`: the cgroup's directories, named once at the top. */
export function declare(steps: Steps, cg: Cgroup, what = `cgroup ${cg.name}`): void {
  if (!steps.mode.dryRun) return;
  for (const p of cg.paths) if (!SAFE_PATH.test(p)) throw new ToolError(`--dry-run: the cgroup path ${JSON.stringify(p)} has characters a script would have to quote`);
  const where = cg.version === 'v2' ? 'one directory in the cgroup v2 hierarchy' : 'a directory in each v1 hierarchy (one per controller)';
  lines(steps, `# ${what}: ${where}`, `cgs="${cg.paths.join(' ')}"`);
}

/**
 * create and run: each hierarchy mounted (v2: with the controllers the cgroup enables in its parent), and no
 * cgroup of that name yet; then `remove`, set to run should any later line fail (as the tool removes what it
 * made). `done()` (below) lifts that once the cgroup is complete.
 */
export function checkNew(steps: Steps, cg: Cgroup, v2Controllers: string[]): void {
  if (!steps.mode.dryRun) return;
  lines(
    steps,
    [
      'for d in $cgs; do',
      '  [ -e "${d%/*}/cgroup.procs" ] || { echo "needs a cgroup hierarchy mounted at ${d%/*}" >&2; exit 1; }',
      `  [ ! -e "$d" ] || { echo "cgroup ${cg.name} exists already ($d): cg-limit rm ${cg.name}, or choose another name" >&2; exit 1; }`,
      'done',
    ].join('\n'),
  );
  if (cg.version === 'v2') {
    const controllers = join(dirname(cg.path), 'cgroup.controllers');
    lines(
      steps,
      [
        `for c in ${v2Controllers.join(' ')}; do`,
        `  grep -qw $c ${controllers} || { echo "needs the $c controller in ${controllers}" >&2; exit 1; }`,
        'done',
      ].join('\n'),
    );
  }
  defineRemove(steps);
  lines(steps, '# a failure part-way removes what was made, as cg-limit does', 'trap remove EXIT');
}

/** The end of the creation: the cgroup stays. */
export function done(steps: Steps): void {
  lines(steps, 'trap - EXIT');
}

/** exec, attach, stats: the cgroup must exist (in every hierarchy: a process joins each). */
export function checkExisting(steps: Steps, cg: Cgroup): void {
  lines(steps, `for d in $cgs; do [ -d "$d" ] || { echo "no cgroup named ${cg.name} ($d): cg-limit ls lists them" >&2; exit 1; }; done`);
}

/**
 * v2 device rules are a BPF program that cg-limit assembles and loads with bpf(2); no classic command loads
 * a program from raw instructions, so the script cannot restrict devices there: it says so and stops at the
 * top, before it changes anything, rather than make a cgroup without the rules.
 */
export function refuseV2Devices(steps: Steps, cg: Cgroup, rules: readonly DeviceRule[] | undefined): void {
  if (!steps.mode.dryRun || cg.version !== 'v2' || !rules) return;
  lines(
    steps,
    `# On cgroup v2 the device rules (${rules.length ? rules.map(ruleText).join(', ') : 'none: every device refused'}) are a BPF_PROG_TYPE_CGROUP_DEVICE`,
    '# program that cg-limit assembles and loads with bpf(2). No classic command loads a program from raw instructions',
    '# (bpftool loads compiled ELF objects), so this script cannot restrict devices: it stops here, before it changes',
    '# anything, rather than make the cgroup without them. What cg-limit does follows, the program as comments.',
    `echo "this script cannot restrict devices on cgroup v2 (a BPF device program, which no classic command loads): run cg-limit itself, or leave out --devices, --device and --device-cgroup-rule" >&2`,
    'exit 1',
  );
}

/** `remove`: rmdir of each directory (it goes only when no process is left in it); one gone already is done. */
export function defineRemove(steps: Steps): void {
  lines(steps, 'remove() { for d in $cgs; do [ ! -d "$d" ] || rmdir "$d"; done; }');
}

/** `procs`: the pids in the cgroup, in any of its hierarchies, each once. */
export function defineProcs(steps: Steps): void {
  lines(steps, 'procs() { for d in $cgs; do [ ! -e "$d/cgroup.procs" ] || cat "$d/cgroup.procs"; done | sort -un; }');
}

/** `kill_all`: as the tool's: cgroup.kill where v2 has it, then SIGKILL to what is left until none is (at most 100 rounds). */
export function defineKillAll(steps: Steps, cg: Cgroup): void {
  if (!steps.mode.dryRun) return;
  const kill = join(cg.path, 'cgroup.kill');
  lines(
    steps,
    [
      '# SIGKILL everything in it until nothing is left (what it forks meanwhile too), as cg-limit does',
      'kill_all() {',
      ...(cg.version === 'v2' ? [`  [ ! -e ${kill} ] || echo 1 > ${kill}   # kernel 5.14+: all at once`] : []),
      '  n=0',
      '  while [ -n "$(procs)" ]; do',
      `    [ $((n += 1)) -le 100 ] || { echo "cgroup ${cg.name}: processes keep appearing; cannot empty it" >&2; return 1; }`,
      '    kill -KILL $(procs) 2>/dev/null || :   # one may exit between the read and the kill',
      '    sleep 0.01',
      '  done',
      '}',
    ].join('\n'),
  );
}

/** rm without --force: refuse while processes are inside, before removing anything. */
export function refuseBusy(steps: Steps, cg: Cgroup): void {
  lines(steps, `[ -z "$(procs)" ] || { echo "cgroup ${cg.name} still has processes ($(echo $(procs))): cg-limit rm --force ${cg.name} kills them" >&2; exit 1; }`);
}

/** The counter files a report reads, as FILE:VALUE lines (-s: one this kernel lacks is left out; the report shows it as -). */
export function showCounters(steps: Steps, files: string[], toStderr: boolean): void {
  lines(steps, '# (each as FILE:VALUE; -s and || : because a counter this kernel lacks is left out, as the report shows it as -)', `grep -Hs . ${files.join(' ')}${toStderr ? ' >&2' : ''} || :`);
}
