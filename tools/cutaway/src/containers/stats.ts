import { readFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { command } from '../command.ts';
import { currentState } from './state.ts';
import { FORMAT_OPTION, formatOutput, NO_TRUNC } from '../format.ts';
import { ContainerStore } from './store.ts';
import type { CgroupStats } from '../../../cg-limit/src/stats.ts';
import { tool } from '../tools.ts';

interface Sample {
  at: number;
  cgroup: CgroupStats;
  /** Bytes received and sent by the container's interfaces but lo (/proc/PID/net/dev is its network namespace's). */
  net: [number, number];
}

async function sample(cgroup: string, pid: number, env: NodeJS.ProcessEnv): Promise<Sample> {
  const stats = JSON.parse(await tool('cg-limit', ['stats', '--json', cgroup], env)) as CgroupStats;
  const net: [number, number] = [0, 0];
  for (const line of readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
    const [iface, counters = ''] = line.split(':');
    if (!iface || iface.trim() === 'lo') continue;
    const fields = counters.trim().split(/\s+/).map(Number);
    net[0] += fields[0] ?? 0;
    net[1] += fields[8] ?? 0;
  }
  return { at: Date.now(), cgroup: stats, net };
}

/** Docker's units in stats (go-units HumanSize / BytesSize): decimal kB, MB for I/O, binary KiB, MiB for memory. */
function human(bytes: number, binary: boolean): string {
  const base = binary ? 1024 : 1000;
  const units = binary ? ['B', 'KiB', 'MiB', 'GiB', 'TiB'] : ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  for (; bytes >= base && i < units.length - 1; i++) bytes /= base;
  return `${Number(bytes.toPrecision(4))}${units[i]}`;
}

/**
 * One row, with docker/cli's statsContext fields (--format's): CPU % over the interval between two samples
 * (100% is one CPU busy), memory against the limit or the host's.
 */
function row(id: string, name: string, before: Sample, after: Sample): Record<string, string> {
  const cpu = ((after.cgroup.cpu.usageUsec ?? 0) - (before.cgroup.cpu.usageUsec ?? 0)) / ((after.at - before.at) * 1000);
  const used = after.cgroup.memory.currentBytes ?? 0;
  const limit = after.cgroup.memory.limitBytes ?? totalmem();
  return {
    Container: id,
    ID: id,
    Name: name,
    CPUPerc: `${(cpu * 100).toFixed(2)}%`,
    MemUsage: `${human(used, true)} / ${human(limit, true)}`,
    MemPerc: `${((used / limit) * 100).toFixed(2)}%`,
    NetIO: `${human(after.net[0], false)} / ${human(after.net[1], false)}`,
    BlockIO: `${human(after.cgroup.io.readBytes ?? 0, false)} / ${human(after.cgroup.io.writeBytes ?? 0, false)}`,
    PIDs: String(after.cgroup.pids.current ?? 0),
  };
}

const HEADERS = { ID: 'CONTAINER ID', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %', NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS' };
const TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';

/**
 * docker stats: each running container's cgroup read by `cg-limit stats` twice a second apart (CPU % is
 * the difference), its network counters from its namespace. Without --no-stream the table is redrawn
 * every second until interrupted.
 */
export const stats = command(
  {
    name: 'stats',
    summary: 'Show the resources containers use',
    synopsis: ['[--no-stream] [--no-trunc] [--format FORMAT] [CONTAINER…]'],
    description: 'CPU, memory, network, block I/O and process counts of running containers, from their cgroups (cg-limit stats).',
    options: [{ name: 'no-stream', type: 'boolean', help: 'print once and exit' }, NO_TRUNC, FORMAT_OPTION],
    examples: ['cutaway stats --no-stream', 'cutaway stats web db'],
    classic: ['docker stats', 'cg-limit stats NAME', 'systemd-cgtop'],
  },
  async (inv, root) => {
    const env = { CUTAWAY_ROOT: root };
    const store = new ContainerStore(root);
    const ids = inv.positionals.length ? inv.positionals.map((n) => store.find(n)) : store.ids().filter((id) => currentState(store, id).status === 'running');
    const take = async (): Promise<Map<string, { name: string; sample: Sample }>> => {
      const running = ids.flatMap((id) => {
        const s = currentState(store, id);
        return s.status === 'running' ? [{ id, pid: s.pid!, config: store.config(id) }] : [];
      });
      // A container that stops between the listing and its sample is left out of this round.
      const samples = await Promise.all(running.map((c) => sample(c.config.cgroup, c.pid, env).catch(() => undefined)));
      return new Map(running.flatMap((c, i) => (samples[i] ? [[c.id, { name: c.config.name, sample: samples[i] }]] : [])));
    };
    let before = await take();
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      const after = await take();
      const rows = [...after].flatMap(([id, a]) => {
        const b = before.get(id);
        if (!b) return [];
        // .Container: the container as it was named on the command line, else its ID (as docker stats shows it).
        const r = row(inv.options['no-trunc'] ? id : id.slice(0, 12), a.name, b.sample, a.sample);
        const i = ids.indexOf(id);
        return [{ ...r, Container: inv.positionals[i] ?? r.ID! }];
      });
      // The terminal cleared and the cursor home (ECMA-48 ED and CUP) before each redraw, as docker stats does.
      process.stdout.write(`${inv.options['no-stream'] ? '' : '\x1b[2J\x1b[H'}${formatOutput(inv.options.format, rows, { table: TABLE, headers: HEADERS, structType: '*formatter.statsContext' })}`);
      if (inv.options['no-stream']) return;
      before = after;
    }
  },
);
