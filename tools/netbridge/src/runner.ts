import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { shellCommand, ToolError, type Steps } from '@cutaway/cli';

/**
 * Runs the classic commands netbridge stands for, as few processes as it can:
 * `ip -batch -` for a group of ip commands, `nft -f -` for a group of nft
 * commands (one transaction: all or nothing). Each command is also shown one
 * by one — `--trace` prints them as they run, `--dry-run` collects them as the
 * script and runs nothing.
 */
export class Runner {
  constructor(private readonly steps: Steps) {}

  get dryRun(): boolean {
    return this.steps.mode.dryRun;
  }

  /** ip commands on the host, or inside the network namespace at `netns`. */
  async ip(commands: string[][], netns?: string): Promise<void> {
    if (!commands.length) return;
    // `ip -n NAME` names a namespace in /run/netns; any other path is entered with nsenter.
    const named = netns !== undefined && dirname(netns) === '/run/netns';
    const prefix = netns === undefined ? ['ip'] : named ? ['ip', '-n', basename(netns)] : ['nsenter', `--net=${netns}`, 'ip'];
    for (const c of commands) this.steps.run([...prefix, ...c]);
    if (!this.dryRun) await exec(prefix[0]!, [...prefix.slice(1), '-batch', '-'], commands.map((c) => shellCommand(c)).join('\n'));
  }

  /** nft commands, applied together in one transaction. */
  async nft(commands: string[]): Promise<void> {
    if (!commands.length) return;
    for (const c of commands) this.steps.run(['nft', c]);
    if (!this.dryRun) await exec('nft', ['-f', '-'], commands.join('\n'));
  }

  /** A sysctl of the host (net.ipv4.conf.BRIDGE.forwarding): written under /proc/sys, shown as sysctl -w. */
  async sysctl(key: string, value: string): Promise<void> {
    this.steps.run(['sysctl', '-qw', `${key}=${value}`]);
    if (!this.dryRun) writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  }

  /** A command whose failure is expected and harmless (removing what may be gone already). */
  async tryIp(command: string[]): Promise<void> {
    try {
      await this.ip([command]);
    } catch {
      // already gone
    }
  }
}

/** Runs a command with `input` on stdin; a failure becomes one line: the command and what it said. */
export function exec(command: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    child.on('error', (e) => reject(new ToolError(`${command}: ${e.message}`)));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new ToolError(`${command} failed: ${stderr.trim().split('\n').filter((l) => !/^Command failed/.test(l)).join('; ') || `exit ${code}`}`));
    });
    // A command that fails early stops reading: its exit status tells, not the EPIPE.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
  });
}
