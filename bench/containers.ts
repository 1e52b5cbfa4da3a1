/**
 * Many containers at once, and a command in a running one: `cutaway run -d`, `ps`, `ps -a` and `rm -f` with a
 * fleet of detached containers up, the memory their keepers hold, and `cutaway exec C true`, each against
 * podman doing the same in the same run, in a throwaway network and mount namespace. As root; see
 * bench/README.md.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { log, median, ms, ratio, type Sample } from './harness.ts';
import { CGROUP_PARENT, cgroupParents, ContainersStore, CUTAWAY, CutawayStore, podmanContext, REF, setUpHost, wipe } from './podman.ts';

/** bin/cutaway and the tools its run -d, ps, exec and rm -f run here. */
const TOOLS = ['cutaway', 'cutaway-shim', 'oci-pull', 'overlay-mount', 'cg-limit', 'ns-exec'] as const;
const SLEEPER = [REF, 'sleep', '1000'];
/** What /proc/1/cmdline holds in a container of SLEEPER: the warm-up's proof that an exec ran inside it. */
const SLEEPER_CMDLINE = 'sleep\u00001000\u0000';

const options = h.parseOptions(
  'containers',
  `cutaway run -d, ps, ps -a and rm -f with C detached containers up (default 50), the memory of their keepers
(cutaway-shim + ns-exec against conmon), and cutaway exec C true, each against podman (runc, --network none)
in the same run; in a throwaway network and mount namespace, on a tmpfs. N rounds (default 15) of the ps and
exec commands, F fleets (default 2), podman's storage driver (default overlay).`,
  { runs: 15, fleets: 2, containers: 50, driver: ['overlay', 'vfs'] },
);
const { runs, fleets, containers: FLEET, driver } = options;
await h.inThrowawayHost('overlay mounts, namespaces, cgroups and podman stores, in namespaces of their own');
const OUR_MNT_NS = readlinkSync('/proc/self/ns/mnt');

// ─── Keepers: the processes that stay while a detached container runs ───────

/** A process we found keeping a container, named by its pid and start time (pids are reused). */
interface Tracked {
  pid: number;
  start: number;
}

/** Keepers found so far, by pid: the cleanup SIGKILLs any still alive after the containers are removed. */
const keepers = new Map<number, Tracked>();

function track(pid: number): Tracked {
  const entry = h.processEntry(pid);
  if (!entry) throw new Error(`process ${pid} has gone`);
  const t = { pid, start: entry.start };
  keepers.set(pid, t);
  return t;
}

/** Whether it still runs: the same process (pid and start time), not a zombie. */
function alive(t: Tracked): boolean {
  const entry = h.processEntry(t.pid);
  return entry !== undefined && entry.start === t.start && entry.state !== 'Z';
}

interface CutawayKeeper {
  shim: Tracked;
  nsExec: Tracked;
}

/**
 * cutaway's keeper of container `id`: cutaway-shim, whose pid is in shim.pid, and ns-exec's waiting parent,
 * the parent of the container's PID 1 (containers/<id>/pid); the shim's only child must be that ns-exec, and
 * ns-exec's only child the container (no Node planner left waiting).
 */
function cutawayKeeper(root: string, id: string, table: Map<number, h.ProcessEntry>): CutawayKeeper {
  const dir = join(root, 'containers', id);
  const shim = Number(readFileSync(join(dir, 'shim.pid'), 'utf8'));
  const container = Number(readFileSync(join(dir, 'pid'), 'utf8'));
  const nsExec = table.get(container)?.ppid ?? 0;
  const children = (pid: number) => [...table].filter(([, e]) => e.ppid === pid).map(([p, e]) => `${p} ${e.comm}`);
  const what = `cutaway container ${id.slice(0, 12)} (shim ${shim}, ns-exec ${nsExec}, PID 1 ${container})`;
  if (table.get(shim)?.comm !== 'cutaway-shim') throw new Error(`${what}: shim.pid names ${table.get(shim)?.comm ?? 'no process'}, not cutaway-shim`);
  if (table.get(nsExec)?.comm !== 'ns-exec' || table.get(nsExec)?.ppid !== shim) throw new Error(`${what}: the container's parent is ${table.get(nsExec)?.comm ?? 'gone'}, not an ns-exec under the shim`);
  if (children(shim).length !== 1 || children(nsExec).length !== 1) throw new Error(`${what}: the shim's children are ${children(shim).join(', ')}; ns-exec's ${children(nsExec).join(', ')}`);
  return { shim: track(shim), nsExec: track(nsExec) };
}

/** podman's keeper of a container: conmon, the parent of its PID 1 (runc has exited). */
function podmanKeeper(id: string, pid: number, conmon: number, table: Map<number, h.ProcessEntry>): Tracked {
  if (table.get(conmon)?.comm !== 'conmon' || table.get(pid)?.ppid !== conmon) throw new Error(`podman container ${id.slice(0, 12)}: ConmonPid ${conmon} is ${table.get(conmon)?.comm ?? 'gone'}, the parent of PID 1 (${pid}) is ${table.get(pid)?.ppid}`);
  return track(conmon);
}

/**
 * Every process in the bench's mount namespace but the bench itself, not a zombie: only what the bench started
 * is there (the namespace is the bench's own). The keepers are, and whatever they start on the way out
 * (cutaway's `__teardown` and its tools, podman's `container cleanup`); the containers have namespaces of their own.
 */
function ours(): { pid: number; comm: string }[] {
  return [...h.processes()].flatMap(([pid, { comm, state }]) => {
    if (pid === process.pid || state === 'Z') return [];
    try {
      return readlinkSync(`/proc/${pid}/ns/mnt`) === OUR_MNT_NS ? [{ pid, comm }] : [];
    } catch {
      return []; // gone, or a kernel thread
    }
  });
}

/** ours() by name: how many and their VmRSS summed. */
function census(): Map<string, { count: number; rssKiB: number }> {
  const out = new Map<string, { count: number; rssKiB: number }>();
  for (const { pid, comm } of ours()) {
    const e = out.get(comm) ?? { count: 0, rssKiB: 0 };
    e.count++;
    e.rssKiB += h.residentKiB(pid)?.rss ?? 0;
    out.set(comm, e);
  }
  return out;
}

/**
 * Waits until nothing of ours runs but the pids in `spared` (another fleet's keepers): the ms that took (polled
 * every 10 ms), or undefined after `timeoutMs`, with what still runs in `left`.
 */
async function settle(spared: Set<number>, timeoutMs: number, left: string[] = []): Promise<number | undefined> {
  const began = Date.now();
  for (;;) {
    const running = ours().filter((p) => !spared.has(p.pid));
    if (!running.length) return Date.now() - began;
    if (Date.now() - began > timeoutMs) {
      left.push(...running.map((p) => `${p.pid} ${p.comm}`));
      return undefined;
    }
    await h.sleep(10);
  }
}

/** bin/'s tools rebuilt within the last minute (by others: the test suite rebuilds them whenever it starts). */
const rebuiltLately = () => TOOLS.some((t) => Date.now() - statSync(realpathSync(join(h.BIN, t))).mtimeMs < 60_000);
/** The cutaway commands retried because they failed while bin/ was being rebuilt. */
const retried: string[] = [];

/**
 * A cutaway command that fails while others rebuild bin/ (a tool half written: `spawn cutaway-shim EACCES`)
 * is tried once more, 3 s later, after `undo` (what the failed attempt left); any other failure stands.
 */
async function retryOnRebuild<T>(what: string, attempt: () => Promise<T>, undo: () => Promise<void> = async () => {}): Promise<T> {
  try {
    return await attempt();
  } catch (e) {
    if (h.isCleaning() || !rebuiltLately()) throw e;
    h.log(`${what} failed while bin/ was being rebuilt; once more in 3 s: ${(e as Error).message.split('\n').slice(0, 2).join(' / ')}`);
    retried.push(what);
    await h.sleep(3000);
    await undo();
    return attempt();
  }
}

/** SIGKILLs, by pid, each of `ts` still alive (only after its container's removal failed or hung); says which. */
function kill(ts: Iterable<Tracked>): string[] {
  const killed: string[] = [];
  for (const t of ts) {
    if (!alive(t)) continue;
    killed.push(`${t.pid} ${h.processEntry(t.pid)?.comm ?? '?'}`);
    h.kill(t.pid);
  }
  return killed;
}

/** cg-limit's cgroup of a cutaway container (NAME = its id's first 12 digits, under cw/ in every hierarchy) that exist. */
const cutawayCgroups = (ids: string[]) =>
  readdirSync('/sys/fs/cgroup').flatMap((hier) => ids.map((id) => join('/sys/fs/cgroup', hier, 'cw', id.slice(0, 12)))).filter((d) => existsSync(d));

// ─── Main ────────────────────────────────────────────────────────────────────

type Key =
  | 'cwRun' | 'pmRun'
  | 'cwPs' | 'cwPsA' | 'pmPs' | 'pmPsA'
  | 'cwPs0' | 'cwPsA0' | 'pmPs0' | 'pmPsA0'
  | 'cwRm' | 'pmRm'
  | 'cwExec' | 'pmExec' | 'nsExec' | 'runcExec' | 'nsenter' | 'version' | 'node';

/** Per-container resident memory of one fleet's keepers, KiB. */
interface Memory {
  shim: { rss: number; pss: number }[];
  nsExec: { rss: number; pss: number }[];
  conmon: { rss: number; pss: number }[];
}

async function main(): Promise<void> {
  await h.need([h.GNU_TIME, 'podman', 'skopeo', 'runc', 'conmon', 'nsenter', 'unshare'], 'apt-get install time podman skopeo runc conmon util-linux');
  await h.useTools(TOOLS, 'missing');
  await setUpHost();
  const work = await h.workDir('cw-bench-containers', '1g');
  const ctx = await podmanContext(work, h.ENV);
  const cw = new CutawayStore(join(work, 'cw'), ctx);
  const pm = new ContainersStore(join(work, 'pm'), driver, ctx);
  const cwEmpty = new CutawayStore(join(work, 'cw0'), ctx);
  const pmEmpty = new ContainersStore(join(work, 'pm0'), driver, ctx);
  /** Every cutaway container id made (the cleanup removes their cgroups should `rm -f` not have). */
  const cwMade: string[] = [];
  const cwIds = () => (existsSync(join(cw.root, 'containers')) ? readdirSync(join(cw.root, 'containers')).filter((d) => /^[0-9a-f]{64}$/.test(d)) : []);
  // The cleanup's steps, each on its own (run last pushed first; one failing skips no other):
  // containers removed and everything they ran gone, then cutaway's cgroups, the stores, podman's cgroups.
  h.cleanups.push(async () => {
    for (const dir of cgroupParents()) await h.removeCgroup(dir);
  });
  h.cleanups.push(() => wipe(pm.dir), () => wipe(pmEmpty.dir), () => wipe(cw.root), () => wipe(cwEmpty.root));
  h.cleanups.push(async () => {
    for (const dir of cutawayCgroups(cwMade)) await h.removeCgroup(dir).then(() => log(`cleanup: removed cgroup ${dir}`));
  });
  h.cleanups.push(async () => {
    // A run -d cut short may have left a container whose id was never printed, or no config.json (cutaway rm
    // refuses every name when one is unknown; tearDown below takes such a directory down): its cgroup and its
    // shim are known from its directory.
    const left = cwIds().filter((id) => existsSync(join(cw.root, 'containers', id, 'config.json')));
    cwMade.push(...cwIds());
    for (const id of cwIds()) {
      const shim = Number(await readFile(join(cw.root, 'containers', id, 'shim.pid'), 'utf8').catch(() => ''));
      if (shim > 0 && h.processEntry(shim)?.comm === 'cutaway-shim') track(shim);
    }
    if (left.length) await run(CUTAWAY, ['rm', '-f', ...left], { env: cw.env }).then(() => log(`cleanup: cutaway rm -f (${left.length} containers)`), (e: Error) => log(`cleanup: ${e.message}`));
    await pm.tearDown();
    // Nothing may still run in the stores when they are wiped (podman's `container cleanup` outlives podman rm).
    const running: string[] = [];
    if ((await settle(new Set(), 30_000, running)) === undefined) {
      log(`cleanup: still running 30 s after the containers' removal: ${running.join(', ')}; keepers SIGKILLed: ${kill(keepers.values()).join(', ') || 'none'}`);
      await settle(new Set(), 10_000);
    }
    await cw.tearDown();
  });
  for (const s of [cw, cwEmpty]) await s.pull();
  for (const s of [pm, pmEmpty]) await s.fresh();

  const measure = h.measure;
  /** A bin/ tool measured, retried once should it fail while others rebuild bin/ (retryOnRebuild). */
  const measureTool = (cmd: string, args: string[], env: NodeJS.ProcessEnv) => retryOnRebuild(`${cmd.split('/').pop()} ${args[0]}`, () => measure(cmd, args, env));
  const cutaway = (args: string[]) => measureTool(CUTAWAY, args, cw.env);
  const podman = (args: string[]) => measure('podman', pm.podman(args), ctx.env);
  const podmanRunArgs = ['run', '-d', '--network', 'none', '--cgroup-parent', `/${CGROUP_PARENT}`, ...SLEEPER];
  const samples = new Map<Key, Sample[]>();
  const push = (got: [Key, Sample][]) => h.push(samples, got);
  const last = (k: Key) => ms(samples.get(k)!.at(-1)!.wallMs);

  /** The four ps commands on a pair of stores; each must list `expect` containers (a header line and one line each). */
  const psUnits = (cwStore: CutawayStore, pmStore: ContainersStore, expect: number, suffix: '' | '0'): h.Unit<Key>[] =>
    ([
      ['cwPs', () => measureTool(CUTAWAY, ['ps'], cwStore.env)],
      ['cwPsA', () => measureTool(CUTAWAY, ['ps', '-a'], cwStore.env)],
      ['pmPs', () => measure('podman', pmStore.podman(['ps']), ctx.env)],
      ['pmPsA', () => measure('podman', pmStore.podman(['ps', '-a']), ctx.env)],
    ] as const).map(([key, measureIt]) => ({
      async run() {
        const s = await measureIt();
        const lines = s.stdout.trimEnd().split('\n').length - 1;
        if (lines !== expect) throw new Error(`${key}${suffix}: listed ${lines} containers, not ${expect}:\n${s.stdout}`);
        return [[`${key}${suffix}` as Key, s]];
      },
    }));
  // ps with no container, on stores of their own that hold the image and no container: run in the same
  // rounds as ps with the fleets up, so the difference is the containers', not the machine's load at the time.
  const psEmpty = psUnits(cwEmpty, pmEmpty, 0, '0');

  const loadBefore = await h.loadAverage();

  // ─── 1. exec ───────────────────────────────────────────────────────────────
  const cwId = (await run(CUTAWAY, ['run', '-d', '--network', 'none', ...SLEEPER], { env: cw.env })).trim();
  cwMade.push(cwId);
  const pmId = (await run('podman', pm.podman(podmanRunArgs), { env: ctx.env })).trim().split('\n').pop()!;
  const cwPid = (JSON.parse(await run(CUTAWAY, ['inspect', cwId], { env: cw.env })) as { State: { Pid: number } }[])[0]!.State.Pid;
  const [pmPid = 0, pmConmon = 0] = (await run('podman', pm.podman(['inspect', '--format', '{{.State.Pid}} {{.State.ConmonPid}}', pmId]), { env: ctx.env })).trim().split(' ').map(Number);
  const table = h.processes();
  cutawayKeeper(cw.root, cwId, table);
  podmanKeeper(pmId, pmPid, pmConmon, table);
  // podman runs runc with its default state root (/run/runc, our tmpfs): runc exec finds the container there.
  if (!(await run('runc', ['list', '-q'], { env: ctx.env })).split('\n').includes(pmId)) throw new Error(`runc list does not show podman's container ${pmId}`);
  const inside = (warmUp: boolean, cmd: string) => (warmUp ? ['/bin/cat', '/proc/1/cmdline'] : [cmd]);
  const checked = (what: string, warmUp: boolean, s: Sample) => {
    if (warmUp && s.stdout !== SLEEPER_CMDLINE) throw new Error(`${what}: cat /proc/1/cmdline printed ${JSON.stringify(s.stdout)}, not the container's ${JSON.stringify(SLEEPER_CMDLINE)}`);
    return s;
  };
  const execUnits: h.Unit<Key>[] = [
    h.unit('cwExec', async (w) => checked('cutaway exec', w, await cutaway(['exec', cwId, ...inside(w, 'true')]))),
    h.unit('pmExec', async (w) => checked('podman exec', w, await podman(['exec', pmId, ...inside(w, 'true')]))),
    h.unit('nsExec', async (w) => checked('ns-exec --enter', w, await measureTool(join(h.BIN, 'ns-exec'), ['--enter', String(cwPid), '--', ...inside(w, '/bin/true')], cw.env))),
    h.unit('runcExec', async (w) => checked('runc exec', w, await measure('runc', ['exec', pmId, ...inside(w, '/bin/true')], ctx.env))),
    h.unit('nsenter', async (w) => checked('nsenter', w, await measure('nsenter', ['--target', String(cwPid), '--all', ...inside(w, '/bin/true')], ctx.env))),
    h.unit('version', () => cutaway(['exec', '--version'])),
    h.unit('node', () => measure('node', ['-e', '0'], h.ENV_NO_CA)),
  ];
  log("exec: in the warm-up round each must print the container's /proc/1/cmdline");
  await h.rounds(samples, execUnits, runs, { what: 'exec' });
  await run(CUTAWAY, ['rm', '-f', cwId], { env: cw.env });
  await run('podman', pm.podman(['rm', '-f', '--time', '0', pmId]), { env: ctx.env });
  const execLeft: string[] = [];
  if ((await settle(new Set(), 30_000, execLeft)) === undefined) throw new Error(`still running 30 s after the exec containers' removal: ${execLeft.join(', ')}`);

  // ─── 2. Fleets ─────────────────────────────────────────────────────────────
  const memory: Memory[] = [];
  const censuses: ReturnType<typeof census>[] = [];
  const goneAfter = { cutaway: [] as number[], podman: [] as number[] };
  const oddities: string[] = [];
  for (let fleet = 0; fleet < fleets; fleet++) {
    log(`fleet ${fleet + 1}/${fleets}: ${FLEET} containers each, turn about; load average ${await h.loadAverage()}`);
    const cwFleet: string[] = [];
    const pmFleet: string[] = [];
    for (let i = 0; i < FLEET; i++) {
      for (const engine of h.flipped(['cutaway', 'podman'] as const, i + fleet)) {
        if (engine === 'cutaway') {
          // What a failed run -d left (a container made, never started) is removed before the second try.
          const undo = async () => {
            const known = new Set(cwMade);
            const half = cwIds().filter((id) => !known.has(id) && existsSync(join(cw.root, 'containers', id, 'config.json')));
            if (half.length) await run(CUTAWAY, ['rm', '-f', ...half], { env: cw.env });
          };
          const s = await retryOnRebuild('cutaway run -d', () => measure(CUTAWAY, ['run', '-d', '--network', 'none', ...SLEEPER], cw.env), undo);
          const id = s.stdout.trim();
          if (!/^[0-9a-f]{64}$/.test(id)) throw new Error(`cutaway run -d printed ${JSON.stringify(s.stdout)}, not an id`);
          cwFleet.push(id);
          cwMade.push(id);
          push([['cwRun', s]]);
        } else {
          const s = await podman(podmanRunArgs);
          pmFleet.push(s.stdout.trim().split('\n').pop()!);
          push([['pmRun', s]]);
        }
      }
      if ((i + 1) % 10 === 0) log(`fleet ${fleet + 1}: ${i + 1} each; the last cutaway run -d ${last('cwRun')}, podman run -d ${last('pmRun')} ms`);
    }

    // The keepers, with every container up.
    const procs = h.processes();
    const cwKeepers = cwFleet.map((id) => cutawayKeeper(cw.root, id, procs));
    const inspected = (await run('podman', pm.podman(['inspect', '--format', '{{.Id}} {{.State.Pid}} {{.State.ConmonPid}}', ...pmFleet]), { env: ctx.env })).trim().split('\n');
    const pmKeepers = inspected.map((line) => {
      const [id = '', pid = '', conmon = ''] = line.split(' ');
      return podmanKeeper(id, Number(pid), Number(conmon), procs);
    });
    const resident = (t: Tracked) => {
      const r = h.residentKiB(t.pid);
      if (!r) throw new Error(`keeper ${t.pid} has gone while its container should run`);
      return r;
    };
    memory.push({ shim: cwKeepers.map((k) => resident(k.shim)), nsExec: cwKeepers.map((k) => resident(k.nsExec)), conmon: pmKeepers.map(resident) });
    censuses.push(census());

    await h.rounds(samples, [...psUnits(cw, pm, FLEET, ''), ...psEmpty], runs, { what: `ps, ${FLEET} up` });

    // Removal, one command each; then every process the engine left must go (the other fleet's keepers, while
    // it is up, are spared), and with cutaway's what each container had.
    const fleetKeepers = { cutaway: cwKeepers.flatMap((k) => [k.shim, k.nsExec]), podman: pmKeepers };
    const order = h.flipped(['cutaway', 'podman'] as const, fleet);
    for (const [n, engine] of order.entries()) {
      // A second try (retryOnRebuild) is given the containers the first did not remove.
      if (engine === 'cutaway') push([['cwRm', await retryOnRebuild('cutaway rm -f', () => measure(CUTAWAY, ['rm', '-f', ...cwFleet.filter((id) => existsSync(join(cw.root, 'containers', id)))], cw.env))]]);
      else push([['pmRm', await podman(['rm', '-f', '--time', '0', ...pmFleet])]]);
      const spared = new Set(n === 0 ? fleetKeepers[order[1]!].map((t) => t.pid) : []);
      const left: string[] = [];
      const after = await settle(spared, 30_000, left);
      if (after === undefined) oddities.push(`fleet ${fleet + 1}: still running 30 s after ${engine}'s rm -f: ${left.join(', ')}; keepers SIGKILLed: ${kill(fleetKeepers[engine]).join(', ') || 'none'}`);
      else goneAfter[engine].push(after);
    }
    const problems: string[] = [];
    if (cwIds().length) problems.push(`cutaway containers: ${cwIds().join(' ')}`);
    const mounts = await h.mountsUnder(cw.root);
    if (mounts.length) problems.push(`mounts: ${mounts.join(' ')}`);
    const cgroups = cutawayCgroups(cwFleet);
    if (cgroups.length) problems.push(`cutaway cgroups: ${cgroups.join(' ')}`);
    const pmLeft = await pm.podmanContainers();
    if (pmLeft.length) problems.push(`podman containers: ${pmLeft.join(' ')}`);
    if (problems.length) throw new Error(`after fleet ${fleet + 1}'s removal, something is left:\n  ${problems.join('\n  ')}`);
    log(`fleet ${fleet + 1} removed: cutaway rm -f ${last('cwRm')} ms, all its processes gone ${goneAfter.cutaway.at(-1) ?? '—'} ms after; podman rm -f ${last('pmRm')} ms, all gone ${goneAfter.podman.at(-1) ?? '—'} ms after`);
  }

  // ─── The report ────────────────────────────────────────────────────────────
  const s = (k: Key) => samples.get(k)!;
  interface Line {
    label: string;
    key: Key;
    /** The podman row it is compared with. */
    vs: Key;
  }
  const lineTable = (head: string, ratioHead: string, lines: Line[]) =>
    h.table(head, lines.map((l) => ({ label: l.label, samples: s(l.key), vs: s(l.vs) })), { ratios: [h.ratioColumn(ratioHead, (r: h.Row & { vs: Sample[] }) => r.vs)] });
  const podmanG = `podman … (${driver}, runc)`;
  const fleetLines: Line[] = [
    { label: `\`cutaway run -d --network none IMAGE sleep 1000\` (each of ${FLEET}×${fleets})`, key: 'cwRun', vs: 'pmRun' },
    { label: `\`${podmanG} run -d --network none --cgroup-parent … IMAGE sleep 1000\``, key: 'pmRun', vs: 'pmRun' },
    { label: `\`cutaway ps\`, ${FLEET} running`, key: 'cwPs', vs: 'pmPs' },
    { label: `\`podman ps\`, ${FLEET} running`, key: 'pmPs', vs: 'pmPs' },
    { label: `\`cutaway ps -a\`, ${FLEET} running`, key: 'cwPsA', vs: 'pmPsA' },
    { label: `\`podman ps -a\`, ${FLEET} running`, key: 'pmPsA', vs: 'pmPsA' },
    { label: '`cutaway ps`, no container (a store of its own, in the same rounds)', key: 'cwPs0', vs: 'pmPs0' },
    { label: '`podman ps`, no container', key: 'pmPs0', vs: 'pmPs0' },
    { label: '`cutaway ps -a`, no container', key: 'cwPsA0', vs: 'pmPsA0' },
    { label: '`podman ps -a`, no container', key: 'pmPsA0', vs: 'pmPsA0' },
    { label: `\`cutaway rm -f ID…\`, all ${FLEET} in one command (one sample a fleet)`, key: 'cwRm', vs: 'pmRm' },
    { label: `\`podman rm -f --time 0 ID…\`, all ${FLEET}`, key: 'pmRm', vs: 'pmRm' },
  ];
  const execLines: Line[] = [
    { label: '`cutaway exec C true`', key: 'cwExec', vs: 'pmExec' },
    { label: `\`podman exec C true\` (${driver}; conmon + runc exec)`, key: 'pmExec', vs: 'pmExec' },
    { label: 'part: `ns-exec --enter PID -- /bin/true` (what cutaway exec runs)', key: 'nsExec', vs: 'pmExec' },
    { label: "part: `runc exec CTR /bin/true` (what podman exec runs, on podman's container)", key: 'runcExec', vs: 'pmExec' },
    { label: "classic: `nsenter --target PID --all /bin/true` (cutaway's container)", key: 'nsenter', vs: 'pmExec' },
    { label: 'floor: `cutaway exec --version` (Node + the bundle)', key: 'version', vs: 'pmExec' },
    { label: `floor: \`node -e 0\`${h.ENV.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, key: 'node', vs: 'pmExec' },
  ];
  const fleetTable = lineTable(`command (${FLEET} detached containers each; ps: ${runs} rounds × ${fleets} fleets)`, '× podman', fleetLines);
  const execTable = lineTable(`exec in a running container (${runs} rounds)`, '× podman exec', execLines);

  // Memory: per container over every fleet; the fleet's sum, median over the fleets.
  const per = (f: (m: Memory) => { rss: number; pss: number }[], field: 'rss' | 'pss') => median(memory.flatMap((m) => f(m).map((r) => r[field])));
  const sum = (f: (m: Memory) => { rss: number; pss: number }[], field: 'rss' | 'pss') => median(memory.map((m) => f(m).reduce((a, r) => a + r[field], 0)));
  const both = (m: Memory) => m.shim.map((r, i) => ({ rss: r.rss + m.nsExec[i]!.rss, pss: r.pss + m.nsExec[i]!.pss }));
  const keeperRows: [string, (m: Memory) => { rss: number; pss: number }[]][] = [
    ['cutaway: cutaway-shim + ns-exec', both],
    ['cutaway: cutaway-shim alone', (m) => m.shim],
    ["cutaway: ns-exec's waiting parent alone", (m) => m.nsExec],
    ['podman: conmon', (m) => m.conmon],
  ];
  const conmon = (m: Memory) => m.conmon;
  const memoryTable = [
    `| keeper | VmRSS median KiB a container | Pss median KiB a container | ${FLEET} containers: VmRSS sum MiB | ${FLEET} containers: Pss sum MiB | × podman (VmRSS sum) | × podman (Pss sum) |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...keeperRows.map(([label, f]) => `| ${label} | ${per(f, 'rss').toFixed(0)} | ${per(f, 'pss').toFixed(0)} | ${h.mib(sum(f, 'rss'))} | ${h.mib(sum(f, 'pss'))} | ${ratio(sum(f, 'rss') / sum(conmon, 'rss'))} | ${ratio(sum(f, 'pss') / sum(conmon, 'pss'))} |`),
  ];

  const m = (k: Key) => h.med(s(k));
  const fifth = Math.max(1, Math.floor(FLEET / 5));
  /** Medians of the first and the last fifth of each fleet's creations: does run -d slow down as the store fills? */
  const ends = (k: Key) => {
    const xs = h.walls(s(k));
    const byFleet = Array.from({ length: fleets }, (_, f) => xs.slice(f * FLEET, (f + 1) * FLEET));
    return [median(byFleet.flatMap((x) => x.slice(0, fifth))), median(byFleet.flatMap((x) => x.slice(-fifth)))].map(ms);
  };
  const fleetTotal = (k: Key) => median(Array.from({ length: fleets }, (_, f) => h.walls(s(k)).slice(f * FLEET, (f + 1) * FLEET).reduce((a, x) => a + x, 0)));
  const lastCensus = censuses.at(-1)!;
  const notes = [
    `- **run -d**: cutaway / podman **${ratio(m('cwRun') / m('pmRun'))}** (${ms(m('cwRun'))} against ${ms(m('pmRun'))} ms a container); a fleet of ${FLEET} took ${(fleetTotal('cwRun') / 1000).toFixed(1)} s against ${(fleetTotal('pmRun') / 1000).toFixed(1)} s (medians over the fleets). The first and the last ${fifth} of each fleet: cutaway ${ends('cwRun').join(' → ')} ms, podman ${ends('pmRun').join(' → ')} ms.`,
    `- **ps with ${FLEET} running**: cutaway / podman **${ratio(m('cwPs') / m('pmPs'))}** (\`ps\`), **${ratio(m('cwPsA') / m('pmPsA'))}** (\`ps -a\`); with none, ${ratio(m('cwPs0') / m('pmPs0'))} and ${ratio(m('cwPsA0') / m('pmPsA0'))}. Each container adds ${ms((m('cwPs') - m('cwPs0')) / FLEET)} ms to \`cutaway ps\` and ${ms((m('pmPs') - m('pmPs0')) / FLEET)} ms to \`podman ps\` (the difference of the medians over ${FLEET}).`,
    `- **keepers**: ${FLEET} containers keep ${h.mib(sum(both, 'rss'))} MiB resident (VmRSS summed) in cutaway-shim + ns-exec, against ${h.mib(sum(conmon, 'rss'))} MiB in conmon: **${ratio(sum(both, 'rss') / sum(conmon, 'rss'))}×**; counting shared pages once (Pss), ${h.mib(sum(both, 'pss'))} against ${h.mib(sum(conmon, 'pss'))} MiB, ${ratio(sum(both, 'pss') / sum(conmon, 'pss'))}×. cutaway keeps two processes a container, podman one.`,
    `- **processes in the bench's mount namespace with both fleets up** (the bench itself left out; the containers' own processes are in their own namespaces): ${[...lastCensus].sort((a, b) => b[1].count - a[1].count).map(([comm, e]) => `${comm} ×${e.count} (${h.mib(e.rssKiB)} MiB VmRSS)`).join(', ')}.`,
    `- **rm -f of a fleet**: cutaway / podman **${ratio(m('cwRm') / m('pmRm'))}** (${(m('cwRm') / 1000).toFixed(2)} s against ${(m('pmRm') / 1000).toFixed(2)} s for ${FLEET}); the last process the engine had left (keepers, and what they start on the way out: podman's \`container cleanup\`; cutaway's rm -f takes the containers down itself, its shims just end) was gone ${goneAfter.cutaway.length ? `${ms(median(goneAfter.cutaway))} ms` : '—'} (cutaway) and ${goneAfter.podman.length ? `${ms(median(goneAfter.podman))} ms` : '—'} (podman) after the command's exit (medians).`,
    `- **exec**: cutaway / podman **${ratio(m('cwExec') / m('pmExec'))}** (${ms(m('cwExec'))} against ${ms(m('pmExec'))} ms). Alone, \`ns-exec --enter\` takes ${ms(m('nsExec'))} ms and \`runc exec\` ${ms(m('runcExec'))} ms; \`nsenter\` ${ms(m('nsenter'))} ms, \`cutaway exec --version\` ${ms(m('version'))} ms, \`node -e 0\` ${ms(m('node'))} ms. cutaway exec is one Node start (cutaway, which makes ns-exec's plan itself) and ns-exec's C where podman exec is podman (Go), conmon and runc (Go) with its C runc init.`,
    ...oddities.map((o) => `- **odd**: ${o}`),
    ...(retried.length ? [`- **retried** once, having failed while others rebuilt bin/ (their samples are the second tries): ${retried.join(', ')}.`] : []),
  ];

  await h.writeResults({
    name: 'containers',
    title: `cutaway run -d, ps, rm -f and exec against podman, with ${FLEET} containers`,
    options: `--runs ${runs} --fleets ${fleets} --containers ${FLEET} --driver ${driver}`,
    source: ['libs', 'tools', 'scripts/build.ts'],
    versions: [await h.versionOf('podman'), await h.versionOf('runc'), await h.versionOf('conmon')],
    load: { before: loadBefore },
    about: [
      `Image: \`${REF}\` (test/fixtures/images.ts, one layer) from one OCI layout. cutaway: \`cutaway run -d --network none ${SLEEPER.join(' ')}\`. podman: \`podman --root R --runroot RR --storage-driver ${driver} --tmpdir T --runtime runc --cgroup-manager cgroupfs --events-backend none --network-config-dir C ${podmanRunArgs.join(' ')}\`; CONTAINERS_CONF: runc, cgroupfs, default_ulimits nofile 20000 / nproc 32768.`,
    ],
    body: [
      `${runs} rounds of the ps and exec commands after one warm-up round, every command once a round, the order rotated every round; ${fleets} fleets of ${FLEET} containers each for cutaway and podman, made turn about (each \`run -d\` timed), with ${runs} rounds of ps each (with the fleet and, on other stores, with no container). Each command under GNU time (\`sync\` before each), wall clock from the spawn to the exit; peak RSS is GNU time's %M (the largest of the process and each descendant it waited for; a detached keeper is not waited for).`,
      '',
      `### ${FLEET} detached containers`,
      '',
      ...fleetTable,
      '',
      `### The keepers' memory, ${FLEET} containers running`,
      '',
      ...memoryTable,
      '',
      '### exec',
      '',
      ...execTable,
      '',
      ...notes,
    ],
    samples: h.sampleList([...fleetLines, ...execLines].map(({ label, key }) => ({ label, samples: s(key) }))),
  });
}

await h.finish(main);
