/**
 * netbridgeHere: netbridge's up and down done in the process of a program that has netbridge in it (cutaway,
 * issue 22), by the tool's own code. What it does is what the tool does, in the state directories of the
 * environment it is given — not those of the process it runs in — with its steps traced to the steps given
 * and nothing written on that process's stderr.
 *
 * The records are in a runtime directory of this file's own (the nft table is the host's, shared); the network
 * is cwtest-here-<pid> on 10.214.<pid % 250>.0/24, its endpoint cwth<pid>. afterAll takes down what is left and
 * checks that no interface or namespace of it remains.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Steps } from '@cutaway/cli';
import { runCommand } from '../../../test/fixtures/commands.ts';
import { removeTree } from '../../../test/fixtures/images.ts';
import { netbridgeHere } from '../src/commands.ts';
import type { UpResult } from '../src/endpoints.ts';
import { links, sh } from './host.ts';

let work: string;
let env: { CUTAWAY_RUN: string; CUTAWAY_ROOT: string };
const network = `cwtest-here-${process.pid}`;
const endpoint = `cwth${process.pid}`;
let bridge: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-nbhere-'));
  env = { CUTAWAY_RUN: join(work, 'run'), CUTAWAY_ROOT: join(work, 'root') };
  const made = await runCommand('netbridge', ['network', 'create', network, '--subnet', `10.214.${process.pid % 250}.0/24`, '--json'], { env });
  expect(made.stderr).toBe('');
  bridge = (JSON.parse(made.stdout) as { Options: Record<string, string> }).Options['com.docker.network.bridge.name']!;
});

afterAll(async () => {
  await runCommand('netbridge', ['down', endpoint], { env });
  if (existsSync(`/run/netns/${endpoint}`)) sh('ip', ['netns', 'del', endpoint]);
  await runCommand('netbridge', ['network', 'rm', network], { env });
  expect(links().filter((l) => l === bridge)).toEqual([]);
  await removeTree(work);
});

/** Steps that trace into a string, labelled as cutaway labels a tool's. */
function tracedSteps(): { steps: Steps; lines: () => string[] } {
  let text = '';
  const sink = { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream;
  return { steps: new Steps({ trace: true, dryRun: false }, sink, 'netbridge'), lines: () => text.split('\n').filter(Boolean) };
}

describe('netbridgeHere', () => {
  it("up --json and down, in the environment's runtime directory and root, traced to the steps given; the tool alone sees the same records", async () => {
    // This process's own state directories are elsewhere: the ones given win, as the tool would see them.
    vi.stubEnv('CUTAWAY_RUN', join(work, 'not-this-run'));
    vi.stubEnv('CUTAWAY_ROOT', join(work, 'not-this-root'));
    const stderr = vi.spyOn(process.stderr, 'write');
    try {
      const traced = tracedSteps();
      const result = JSON.parse(await netbridgeHere(['up', '--json', endpoint, '--network', network], env, traced.steps)) as UpResult;
      expect(result).toMatchObject({ name: endpoint, network, netns: `/run/netns/${endpoint}`, ifname: 'eth0', bridge, dns: '' });
      expect(sh('ip', ['-n', endpoint, '-o', '-4', 'addr', 'show', 'eth0']).stdout).toContain(`inet ${result.ip}/24`);
      expect(traced.lines()).toContain(`+ ip netns add ${endpoint}  # netbridge`);
      const record = JSON.parse(readFileSync(join(env.CUTAWAY_RUN, 'networks', `${network}.json`), 'utf8')) as { endpoints: Record<string, { ip: string; root: string }> };
      expect(record.endpoints[endpoint]).toMatchObject({ ip: result.ip, root: env.CUTAWAY_ROOT });
      expect(existsSync(join(work, 'not-this-run'))).toBe(false);
      const inspect = await runCommand('netbridge', ['network', 'inspect', network], { env });
      expect(inspect.stdout).toContain(`"IPv4Address": "${result.ip}/24"`);

      const down = tracedSteps();
      expect(await netbridgeHere(['down', endpoint], env, down.steps)).toBe('');
      expect(down.lines()).toContain(`+ ip link del ${result.veth}  # netbridge`);
      expect(existsSync(`/run/netns/${endpoint}`)).toBe(false);
      expect(links()).not.toContain(result.veth);
      expect(stderr).not.toHaveBeenCalled();
    } finally {
      stderr.mockRestore();
      vi.unstubAllEnvs();
    }
  });

  it("refuses what only prints (help, --version, --dry-run) and fails with the tool's error, changing nothing", async () => {
    const before = readFileSync(join(env.CUTAWAY_RUN, 'networks', `${network}.json`), 'utf8');
    await expect(netbridgeHere(['--dry-run', 'up', endpoint, '--network', network], env, tracedSteps().steps)).rejects.toThrow(/not done here/);
    await expect(netbridgeHere(['up', endpoint, '--network', 'cwtest-here-none'], env, tracedSteps().steps)).rejects.toThrow('network cwtest-here-none not found');
    await expect(netbridgeHere(['down', endpoint], env, tracedSteps().steps)).rejects.toThrow(`no endpoint named ${endpoint}`);
    await expect(netbridgeHere(['up'], env, tracedSteps().steps)).rejects.toThrow(/up takes one NAME/);
    expect(readFileSync(join(env.CUTAWAY_RUN, 'networks', `${network}.json`), 'utf8')).toBe(before);
    expect(existsSync(`/run/netns/${endpoint}`)).toBe(false);
  });
});
