/**
 * The cgroup of a config.json (src/oci/cgroups.ts): the host steps planned for this host's hierarchies and for
 * a made-up cgroup v2 one, and once for real: the steps' shell texts run, the files read back, the cgroup removed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readMountinfo, type MountEntry } from '@cutaway/libc/mountinfo';
import { cgroupPids, cgroupSteps, removeCgroups } from '../src/oci/cgroups.ts';
import type { Resources } from '../src/oci/config.ts';
import { Plan } from '../src/plan.ts';

const mounts = readMountinfo();
const v1 = (controller: string) => mounts.find((m) => m.fstype === 'cgroup' && m.superOptions.includes(controller));
/** This process's cgroup in the hierarchy with `controller` (/proc/self/cgroup). */
const own = (controller: string) => readFileSync('/proc/self/cgroup', 'utf8').split('\n').map((l) => l.split(':')).find(([, c]) => c?.split(',').includes(controller))![2]!;
const name = () => `cwtest-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;

const SAMPLE: Resources = {
  devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }, { allow: false, type: 'b', major: 8, minor: 20, access: 'rw' }],
  memory: { limit: 50593792, reservation: 25165824, swap: 100663296, swappiness: 50, disableOOMKiller: true },
  cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0', mems: '0' },
  pids: { limit: 100 },
};

function plan(cgroupsPath: string | undefined, resources: Resources | undefined, entries: MountEntry[] = mounts, id = 'ctr') {
  const p = new Plan();
  const dirs = cgroupSteps(p, cgroupsPath, resources, entries, id);
  return { dirs, steps: p.host.map((s) => `${s.op} ${s.text}`), host: p.host };
}

describe.runIf(v1('memory') && v1('devices'))('on this host (cgroup v1)', () => {
  it('makes the cgroup in every hierarchy, writes the limits and the device rules in order, then joins', () => {
    const path = `/${name()}`;
    const { dirs, steps } = plan(path, SAMPLE);
    const memory = join(v1('memory')!.mountPoint, path);
    const devices = join(v1('devices')!.mountPoint, path);
    for (const m of mounts.filter((x) => x.fstype === 'cgroup')) expect(dirs).toContain(join(m.mountPoint, path));
    expect(steps).toContain(`mkdir mkdir -p ${memory}`);
    expect(steps).toContain(`write echo 50593792 > ${memory}/memory.limit_in_bytes`);
    expect(steps).toContain(`write echo 100663296 > ${memory}/memory.memsw.limit_in_bytes`);
    expect(steps).toContain(`write echo 25165824 > ${memory}/memory.soft_limit_in_bytes`);
    expect(steps).toContain(`write echo 50 > ${memory}/memory.swappiness`);
    expect(steps).toContain(`write echo 1 > ${memory}/memory.oom_control`);
    expect(steps).toContain(`write echo 100 > ${join(v1('pids')!.mountPoint, path)}/pids.max`);
    expect(steps).toContain(`write echo 512 > ${join(v1('cpu')!.mountPoint, path)}/cpu.shares`);
    const rules = steps.filter((s) => s.startsWith(`write echo`) && s.includes(`${devices}/devices.`));
    // The config's deny-all is the first deny; then its rules in order; then runc's own allowed devices.
    expect(rules.slice(0, 4)).toEqual([
      `write echo a > ${devices}/devices.deny`,
      `write echo 'c 10:229 rwm' > ${devices}/devices.allow`,
      `write echo 'b 8:20 rw' > ${devices}/devices.deny`,
      `write echo 'c *:* m' > ${devices}/devices.allow`,
    ]);
    // mkdir before any write, limits before the join.
    const lastIndex = (test: (s: string) => boolean) => steps.length - 1 - [...steps].reverse().findIndex(test);
    const lastMkdir = lastIndex((s) => s.startsWith('mkdir'));
    const firstJoin = steps.findIndex((s) => s.includes('cgroup.procs'));
    expect(steps.findIndex((s) => s.startsWith('write'))).toBeGreaterThan(lastMkdir);
    expect(lastIndex((s) => s.includes('devices.allow'))).toBeLessThan(firstJoin);
    expect(steps).toContain(`write echo $$ > ${memory}/cgroup.procs`);
  });

  it('takes a relative path from its own cgroup in each hierarchy, and the id when there is none', () => {
    const memory = v1('memory')!.mountPoint;
    expect(plan('testdir/cw/container', undefined).dirs).toContain(join(memory, own('memory'), 'testdir/cw/container'));
    expect(plan(undefined, undefined, mounts, 'cwid').dirs).toContain(join(memory, own('memory'), 'cwid'));
    // `..` does not climb out of the own cgroup.
    expect(plan('../../cwup', undefined).dirs).toContain(join(memory, own('memory'), 'cwup'));
  });

  it('refuses a limit for a controller the host lacks, as runc does', () => {
    const lacking = ['hugetlb', 'net_cls'].find((c) => !v1(c));
    if (!lacking) return;
    const resources: Resources = lacking === 'hugetlb' ? { hugepageLimits: [{ pageSize: '2MB', limit: 1 << 30 }] } : { network: { classID: 255 } };
    if (lacking === 'hugetlb' && !existsSync('/sys/kernel/mm/hugepages/hugepages-2048kB')) return;
    expect(() => plan(`/${name()}`, resources)).toThrow(new RegExp(`no ${lacking} cgroup hierarchy`));
  });

  it('refuses what is not for v1 and values out of range', () => {
    expect(() => plan(`/${name()}`, { unified: { 'memory.high': '1000000' } })).toThrow(/cgroup v2 files/);
    expect(() => plan(`/${name()}`, { memory: { swappiness: 101 } })).toThrow(/0 to 100/);
    expect(() => plan(`/${name()}`, { hugepageLimits: [{ pageSize: '3MB', limit: 1 }] })).toThrow(/no huge page size 3MB/);
  });

  describe('for real', () => {
    const made: string[][] = [];
    afterAll(() => {
      for (const dirs of made) removeCgroups(dirs);
    });

    it('the planned steps, run as shell commands, make the cgroup that removeCgroups removes', async () => {
      const path = `/${name()}`;
      const { dirs, host } = plan(path, SAMPLE);
      made.push(dirs);
      // Everything up to the join, as a shell would do it; the join, done by a shell that then sleeps in there.
      const setup = host.filter((s) => !s.text.includes('cgroup.procs') && s.op !== 'leave').map((s) => s.text);
      const ran = spawnSync('sh', ['-ec', setup.join('\n')], { encoding: 'utf8' });
      expect(ran.stderr).toBe('');
      const memory = join(v1('memory')!.mountPoint, path);
      const devices = join(v1('devices')!.mountPoint, path);
      expect(readFileSync(join(memory, 'memory.limit_in_bytes'), 'utf8').trim()).toBe('50593792');
      expect(readFileSync(join(memory, 'memory.oom_control'), 'utf8')).toMatch(/^oom_kill_disable 1$/m);
      expect(readFileSync(join(devices, 'devices.list'), 'utf8').split('\n').slice(0, 2)).toEqual(['c 10:229 rwm', 'c *:* m']);
      const joins = host.filter((s) => s.text.includes('cgroup.procs')).map((s) => s.text);
      const child = spawn('sh', ['-c', `${joins.join('; ')}; exec sleep 30`], { stdio: 'ignore' });
      try {
        await expect.poll(() => cgroupPids(dirs)).toEqual([child.pid]);
        expect(readFileSync(`/proc/${child.pid}/cgroup`, 'utf8')).toContain(`:memory:${path}\n`);
      } finally {
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
      }
      removeCgroups(dirs);
      for (const dir of dirs) expect(existsSync(dir)).toBe(false);
      // Already gone: nothing to do.
      removeCgroups(dirs);
    });
  });
});

describe('on a cgroup v2 hierarchy', () => {
  const root = mkdtempSync(join(tmpdir(), 'cw-v2-'));
  writeFileSync(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids hugetlb\n');
  writeFileSync(join(root, 'cgroup.subtree_control'), 'cpu\n');
  const entry: MountEntry = { root: '/', mountPoint: root, options: ['rw'], fstype: 'cgroup2', source: 'cgroup2', superOptions: ['rw'] };
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('enables the controllers the limits need above the cgroup, then writes v2 files', () => {
    const { dirs, steps } = plan('/cw/ctr', { memory: { limit: 50593792, swap: 100663296 }, cpu: { shares: 1024, quota: 50000 }, pids: { limit: -1 }, unified: { 'memory.high': '40000000' } }, [entry]);
    const dir = join(root, 'cw/ctr');
    expect(dirs).toEqual([dir]);
    expect(steps).toEqual([
      `mkdir mkdir -p ${dir}`,
      // cpu is enabled at the root already: left out there.
      `write echo '+memory +pids' > ${root}/cgroup.subtree_control`,
      `write echo '+memory +cpu +pids' > ${root}/cw/cgroup.subtree_control`,
      `write echo 50593792 > ${dir}/memory.max`,
      `write echo 50069504 > ${dir}/memory.swap.max`,
      `write echo '50000 100000' > ${dir}/cpu.max`,
      `write echo 100 > ${dir}/cpu.weight`,
      `write echo max > ${dir}/pids.max`,
      `write echo 40000000 > ${dir}/memory.high`,
      `write echo $$ > ${dir}/cgroup.procs`,
    ]);
  });

  it('refuses what v2 has no file for', () => {
    expect(() => plan('/cw', { memory: { swappiness: 10 } }, [entry])).toThrow(/cgroup v1 control/);
    expect(() => plan('/cw', { network: { classID: 1 } }, [entry])).toThrow(/cgroup v1 control/);
    expect(() => plan('/cw', { devices: [{ allow: false, access: 'rwm' }] }, [entry])).toThrow(/BPF program/);
  });
});
