import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { findHierarchies, limitWrites, ruleText, v2Controllers, type Limits } from '@cutaway/cgroup';
import { runHere, shellCommand, ToolError, toolSpec, UsageError, type Invocation, type Steps } from '@cutaway/cli';
import { deviceNumbers, execvp, preloadExecvp } from '@cutaway/libc';
import pkg from '../package.json' with { type: 'json' };
import { createCgroup, updateCgroup } from './apply.ts';
import { freezerState, setFreezer } from './freezer.ts';
import { cgroupFor, listCgroups, PREFIX, type Cgroup } from './hierarchy.ts';
import { LIMIT_OPTIONS, parseLimits, type LimitOptions, type Machine } from './limits.ts';
import * as script from './script.ts';
import { killAll, removeCgroup } from './remove.ts';
import { counterFiles, formatStats, readStats } from './stats.ts';

export const spec = toolSpec({
  name: 'cg-limit',
  version: pkg.version,
  synopsis: [
    'create NAME [limits]',
    'exec NAME -- CMD [ARG…]',
    'run [limits] -- CMD [ARG…]',
    'attach NAME PID',
    'update NAME [limits]',
    'freeze NAME | thaw NAME',
    'stats NAME',
    'ls',
    'rm [--force] NAME',
  ],
  description: [
    'Cgroups with the limits docker run sets (-m, --cpus, --pids-limit, …), on cgroup v2 or on v1 hierarchies,',
    'found in /proc/self/mountinfo. create makes one and prints its path; exec moves itself in and becomes the',
    'command (execve: nothing left waiting); run makes a transient one, runs the command in it, reports what it',
    'used (like /usr/bin/time -v, for a cgroup) and exits with its status (137 after an OOM kill); rm removes one.',
    "--devices default (or --device) gives the devices cgroup Docker's list: only null, zero, full, random, urandom,",
    'tty, console, ptmx, the pts and tun open, plus the --device nodes (v1 devices.deny/devices.allow; v2 a BPF',
    'device program attached to the cgroup). update changes the limits of one that exists (docker update); freeze',
    'stops every process in it where it is, thaw lets them go on (docker pause and unpause: the freezer cgroup).',
    'Cgroups live under <hierarchy>/cw-NAME.',
  ].join('\n'),
  options: [
    ...LIMIT_OPTIONS,
    { name: 'force', short: 'f', type: 'boolean', help: 'rm: kill what is still running in it first' },
  ],
  examples: [
    'cg-limit run -m 32m -- python3 -c "x = bytearray(100 << 20)"     # exit 137: OOM-killed',
    'cg-limit run --cpus 0.5 -- sh -c "while :; do :; done" & sleep 2; kill %1',
    'path=$(cg-limit create web -m 256m --cpus 1.5 --pids-limit 100)',
    'cg-limit exec web -- nginx -g "daemon off;"                     # nginx runs in the cgroup, no cg-limit process left',
    'cg-limit stats --json web | jq .memory.peakBytes',
    'cg-limit update web -m 512m --pids-limit 200                   # the running cgroup\'s limits, changed',
    'cg-limit freeze web && cg-limit thaw web                        # docker pause web; docker unpause web',
    'cg-limit rm --force web',
    'cg-limit --dry-run create db -m 1g --cpus 2                      # the mkdir and echo commands',
    'cg-limit create box --devices default --device /dev/vda:r        # Docker\'s device list, and vda read-only',
  ],
  classic: [
    'mkdir /sys/fs/cgroup/cw-web                                     # v2; on v1 one directory per hierarchy',
    "echo '+memory +cpu +pids' > /sys/fs/cgroup/cgroup.subtree_control",
    'echo 268435456 > /sys/fs/cgroup/cw-web/memory.max                # v1: memory/cw-web/memory.limit_in_bytes',
    "echo '150000 100000' > /sys/fs/cgroup/cw-web/cpu.max             # v1: cpu.cfs_quota_us and cpu.cfs_period_us",
    'echo 100 > /sys/fs/cgroup/cw-web/pids.max',
    "echo a > /sys/fs/cgroup/devices/cw-web/devices.deny; echo 'c 1:3 rwm' > …/devices.allow   # v1; v2: a BPF program",
    'echo $$ > /sys/fs/cgroup/cw-web/cgroup.procs && exec nginx',
    'echo FROZEN > /sys/fs/cgroup/freezer/cw-web/freezer.state     # v1 freeze (THAWED to thaw); v2: echo 1 > /sys/fs/cgroup/cw-web/cgroup.freeze',
    'cgcreate -g memory,cpu,pids,devices:cw-web; cgexec -g memory,cpu,pids,devices:cw-web nginx; cgdelete -g memory,cpu,pids,devices:cw-web',
  ],
  command: true,
});

function listOf(text: string | undefined): Set<number> {
  const set = new Set<number>();
  for (const part of (text ?? '').trim().split(',')) {
    if (!part) continue;
    const [a, b] = part.split('-').map(Number) as [number, number | undefined];
    for (let i = a; i <= (b ?? a); i++) set.add(i);
  }
  return set;
}

function machine(): Machine {
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  const online = listOf(read('/sys/devices/system/cpu/online'));
  return {
    cpus: online.size ? online : new Set(cpus().map((_, i) => i)),
    mems: listOf(read('/sys/devices/system/node/online') ?? '0'),
    blockDevice: (path) => {
      try {
        const st = statSync(path);
        if (!st.isBlockDevice()) return undefined;
        return deviceNumbers(st.rdev);
      } catch {
        return undefined;
      }
    },
    deviceNode: (path) => {
      try {
        const st = statSync(path);
        if (!st.isBlockDevice() && !st.isCharacterDevice()) return undefined;
        return { type: st.isBlockDevice() ? 'b' : 'c', ...deviceNumbers(st.rdev) };
      } catch {
        return undefined;
      }
    },
  };
}

function noLimits(options: LimitOptions, verb: string): void {
  const given = LIMIT_OPTIONS.map((o) => o.name).find((k) => {
    const value = options[k];
    return Array.isArray(value) ? value.length > 0 : value !== undefined;
  });
  if (given !== undefined) throw new UsageError(`${verb} takes no limits (--${given}); set them with create or run`);
}

/** A cgroup that must exist; a dry run's script checks that itself when it runs (so scripts compose: create's, then exec's). */
function existing(name: string, inv: Invocation<typeof spec.options>): Cgroup {
  const cg = cgroupFor(name, findHierarchies(), inv.steps);
  if (!cg.exists() && !inv.steps.mode.dryRun) throw new ToolError(`no cgroup named ${name}`, 'cg-limit ls lists them');
  script.declare(inv.steps, cg);
  script.checkExisting(inv.steps, cg);
  return cg;
}

/** createCgroup, and in a dry run its script's checks at the top and the rollback lifted at the end (script.ts). */
function create(cg: Cgroup, limits: Limits, steps: Invocation['steps'], what?: string): void {
  script.refuseV2Devices(steps, cg, limits.devices);
  script.declare(steps, cg, what);
  script.checkNew(steps, cg, v2Controllers(limits));
  createCgroup(cg, limits, steps);
  script.done(steps);
}

async function run(inv: Invocation<typeof spec.options>): Promise<number> {
  const { command, steps, json } = inv;
  if (!command.length) throw new UsageError('run what? cg-limit run [limits] -- CMD [ARG…]');
  const limits = parseLimits(inv.options, machine());
  let cg = cgroupFor(`run-${process.pid}`, findHierarchies(), steps);
  if (steps.mode.dryRun) {
    // The script's cgroup is named after the shell that runs it, as the tool's after itself.
    cg = cg.renamed('run-$$');
    create(cg, limits, steps, `cg-limit run: a cgroup for this run alone, run-<this shell's pid>`);
    script.defineProcs(steps);
    script.defineKillAll(steps, cg);
    steps.note('the command joins the cgroup before it starts (a shell writes its own pid to each cgroup.procs, then execs it);');
    steps.note('its status is kept, so that the cgroup is removed whatever it does');
    steps.run(`sh -c 'for d in $1; do echo $$ > $d/cgroup.procs; done; shift; exec "$@"' sh "$cgs" ${shellCommand(command)} && status=0 || status=$?`);
    steps.note("what it used: cg-limit run's report (or --json) is made of these");
    script.showCounters(steps, counterFiles(cg), !json);
    steps.note('what it left running is killed, and the cgroup removed');
    steps.run('kill_all');
    steps.run('remove');
    steps.run('exit $status');
    process.stdout.write(steps.toScript());
    return 0;
  }
  createCgroup(cg, limits, steps);
  try {
    // The child joins the cgroup itself before it execs the command, so the command starts inside it.
    const join1 = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"';
    const child = spawn('/bin/sh', ['-c', join1, 'cg-limit', ...cg.paths.map((p) => join(p, 'cgroup.procs')), '--', ...command], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => child.kill(signal);
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) process.on(s, forward);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (c, s) => resolve([c, s]));
    });
    const stats = readStats(cg);
    // As Docker's OOMKilled: any process of the cgroup killed by the OOM killer, not only the command itself.
    const oomKilled = (stats.memory.oomKills ?? 0) > 0;
    if (json) process.stdout.write(`${JSON.stringify({ ...stats, exitCode: code, signal, oomKilled })}\n`);
    else inv.progress.step(formatStats(stats).trimEnd());
    if (oomKilled) {
      const who = signal === 'SIGKILL' ? 'the command was' : `${stats.memory.oomKills} process${stats.memory.oomKills === 1 ? ' was' : 'es were'}`;
      process.stderr.write(`cg-limit: ${who} killed by the OOM killer: the cgroup reached its memory limit of ${stats.memory.limitBytes} bytes\n`);
    }
    return code ?? 128 + (signal ? osConstants.signals[signal] : 0);
  } finally {
    await killAll(cg, steps);
    cg.remove();
  }
}

const VERBS = 'create, exec, run, attach, update, freeze, thaw, stats, ls or rm';

/** cg-limit's command line; what it prints goes to `print`. */
export async function cgLimit(inv: Invocation<typeof spec.options>, print: (text: string) => void = (text) => process.stdout.write(text)): Promise<number> {
  const { positionals, options, steps, json } = inv;
  const [verb, ...args] = positionals;
  const want = (n: number, usage: string) => {
    if (args.length !== n) throw new UsageError(`usage: cg-limit ${verb} ${usage}`);
  };
  if (verb !== 'rm' && options.force) throw new UsageError('--force goes with rm');
  if (inv.command.length && verb !== 'exec' && verb !== 'run') throw new UsageError(`${verb} takes no command after --`);
  switch (verb) {
    case 'create': {
      want(1, 'NAME [limits]');
      const limits = parseLimits(options, machine());
      const cg = cgroupFor(args[0]!, findHierarchies(), steps);
      create(cg, limits, steps);
      if (steps.mode.dryRun) print(steps.toScript());
      else if (json) print(`${JSON.stringify({ name: cg.name, version: cg.version, path: cg.path, paths: cg.paths, writes: limitWrites(cg, limits), devices: limits.devices?.map(ruleText) ?? 'all' })}\n`);
      else print(`${cg.path}\n`);
      return 0;
    }
    case 'exec': {
      want(1, 'NAME -- CMD [ARG…]');
      noLimits(options, 'exec');
      if (!inv.command.length) throw new UsageError('exec what? cg-limit exec NAME -- CMD [ARG…]');
      const cg = existing(args[0]!, inv);
      if (steps.mode.dryRun) steps.note('this shell joins the cgroup (its pid, $$, into each cgroup.procs), then becomes the command (exec), as cg-limit exec does');
      if (!steps.mode.dryRun) preloadExecvp();
      cg.attach(steps.mode.dryRun ? '$$' : process.pid);
      steps.run(['exec', ...inv.command]);
      if (steps.mode.dryRun) {
        print(steps.toScript());
        return 0;
      }
      try {
        execvp(inv.command[0]!, inv.command);
      } catch (e) {
        const code = (e as { code?: string }).code;
        // Docker's statuses: 127 not found, 126 found but not executable.
        throw new ToolError(`${inv.command[0]}: ${code === 'ENOENT' ? 'command not found' : (code ?? (e as Error).message)}`, undefined, code === 'ENOENT' ? 127 : 126);
      }
    }
    case 'run':
      want(0, '[limits] -- CMD [ARG…]');
      return run(inv);
    case 'attach': {
      want(2, 'NAME PID');
      noLimits(options, 'attach');
      if (!/^\d+$/.test(args[1]!)) throw new UsageError(`attach: ${JSON.stringify(args[1])} is not a pid`);
      const cg = existing(args[0]!, inv);
      if (steps.mode.dryRun) steps.run(`[ -e /proc/${args[1]} ] || { echo "no process ${args[1]}" >&2; exit 1; }`);
      cg.attach(Number(args[1]));
      if (steps.mode.dryRun) print(steps.toScript());
      return 0;
    }
    case 'update': {
      want(1, 'NAME [limits]');
      const limits = parseLimits(options, machine());
      if (limits.devices) throw new UsageError('update changes resource limits only: the devices cgroup is set by create');
      const cg = existing(args[0]!, inv);
      const writes = updateCgroup(cg, limits, steps);
      if (steps.mode.dryRun) print(steps.toScript());
      else if (json) print(`${JSON.stringify({ name: cg.name, version: cg.version, path: cg.path, writes })}\n`);
      return 0;
    }
    case 'freeze':
    case 'thaw': {
      want(1, 'NAME');
      noLimits(options, verb);
      const cg = existing(args[0]!, inv);
      if (!cg.dirs.has('freezer')) throw new ToolError(`cannot ${verb} ${cg.name}: no freezer cgroup here (no v1 freezer hierarchy is mounted)`);
      if (!steps.mode.dryRun && !existsSync(cg.dir('freezer'))) throw new ToolError(`cannot ${verb} ${cg.name}: it has no freezer directory (${cg.dir('freezer')}): made by an older cg-limit`);
      await setFreezer(cg, verb === 'freeze' ? 'FROZEN' : 'THAWED', steps);
      if (steps.mode.dryRun) print(steps.toScript());
      else if (json) print(`${JSON.stringify({ name: cg.name, version: cg.version, path: cg.dir('freezer'), state: freezerState(cg) })}\n`);
      return 0;
    }
    case 'stats': {
      want(1, 'NAME');
      const cg = existing(args[0]!, inv);
      if (steps.mode.dryRun) {
        steps.note(`the counters cg-limit stats reads${json ? ' (and prints as JSON)' : ''}`);
        script.showCounters(steps, counterFiles(cg), false);
        print(steps.toScript());
        return 0;
      }
      const stats = readStats(cg);
      print(json ? `${JSON.stringify(stats)}\n` : formatStats(stats));
      return 0;
    }
    case 'ls': {
      want(0, '');
      const h = findHierarchies();
      if (steps.mode.dryRun) {
        steps.note(`cutaway's cgroups: the ${PREFIX}* directories at the top of each hierarchy (on v1 a cgroup has one in each)`);
        steps.run(`find ${[h.unified, ...new Set(h.v1.values())].filter(Boolean).join(' ')} -mindepth 1 -maxdepth 1 -type d -name '${PREFIX}*'`);
        print(steps.toScript());
        return 0;
      }
      const all = listCgroups(h).map((name) => readStats(cgroupFor(name, h, steps)));
      if (json) print(`${JSON.stringify(all)}\n`);
      else for (const s of all) print(`${s.name}\t${s.version}\t${s.pids.current ?? 0} pids\t${((s.memory.currentBytes ?? 0) / 1048576).toFixed(1)} MiB\t${s.path}\n`);
      return 0;
    }
    case 'rm': {
      want(1, '[--force] NAME');
      noLimits(options, 'rm');
      const cg = cgroupFor(args[0]!, findHierarchies(), steps);
      if (steps.mode.dryRun) {
        // The script decides when it runs: it removes what is there then (and nothing when it is gone already).
        script.declare(steps, cg);
        script.defineProcs(steps);
        script.defineRemove(steps);
        if (options.force) {
          script.defineKillAll(steps, cg);
          steps.run('kill_all');
        } else script.refuseBusy(steps, cg);
        steps.run('remove');
        print(steps.toScript());
        return 0;
      }
      await removeCgroup(cg, options.force, steps);
      return 0;
    }
    case undefined:
      throw new UsageError(`which command? ${VERBS}`);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(verb)}: ${VERBS}`);
  }
}

/**
 * `cg-limit create NAME [limits]` for a program with cg-limit in it (cutaway, for each container it starts):
 * the same parse, checks and writes (runHere); what the tool would print (the cgroup's path), returned. A
 * failure is thrown.
 */
export async function createHere(args: string[], steps: Steps): Promise<string> {
  const ran = await runHere(spec, args, steps, (inv, print) => {
    if (inv.positionals[0] !== 'create') throw new UsageError('only create is done here');
    return cgLimit(inv, print);
  });
  return ran.output;
}
