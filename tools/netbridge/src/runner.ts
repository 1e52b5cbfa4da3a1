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
  /** How deep in the dry-run script's if-blocks the next line is. */
  private depth = 0;

  constructor(private readonly steps: Steps) {}

  get dryRun(): boolean {
    return this.steps.mode.dryRun;
  }

  /** A step shown by --trace and recorded, indented as its block, by --dry-run. */
  private record(line: string): void {
    this.steps.run(this.dryRun ? `${'  '.repeat(this.depth)}${line}` : line);
  }

  /** A comment in the dry-run script (indented as its block); `+ # …` under --trace. */
  note(text: string): void {
    if (this.dryRun) this.record(`# ${text}`);
    else this.steps.note(text);
  }

  /**
   * Lines of the dry-run script only: what the tool does in code (its checks, its records' updates, what it
   * asks the kernel before it decides) written as shell. --trace does not show them.
   */
  script(...lines: string[]): void {
    if (this.dryRun) for (const line of lines) this.record(line);
  }

  /**
   * A step the tool takes when it finds `now` true. The dry-run script asks as it runs: `if CONDITION; then`,
   * the body's lines, `fi` — so that it acts on the host as it finds it, as the tool would.
   */
  async when(condition: string, now: boolean, body: () => Promise<void>): Promise<void> {
    if (!this.dryRun) return now ? body() : undefined;
    this.script(`if ${condition}; then`);
    await this.block(body);
    this.script('fi');
  }

  /** The body's lines one level deeper in the dry-run script (inside an if-block of `script`'s lines). */
  async block(body: () => Promise<void>): Promise<void> {
    this.depth++;
    try {
      await body();
    } finally {
      this.depth--;
    }
  }

  /** ip commands on the host, or inside the network namespace at `netns`. */
  async ip(commands: string[][], netns?: string): Promise<void> {
    if (!commands.length) return;
    // `ip -n NAME` names a namespace in /run/netns; any other path is entered with nsenter.
    const named = netns !== undefined && dirname(netns) === '/run/netns';
    const prefix = netns === undefined ? ['ip'] : named ? ['ip', '-n', basename(netns)] : ['nsenter', `--net=${netns}`, 'ip'];
    for (const c of commands) this.record(shellCommand([...prefix, ...c]));
    if (!this.dryRun) await exec(prefix[0]!, [...prefix.slice(1), '-batch', '-'], commands.map((c) => shellCommand(c)).join('\n'));
  }

  /** nft commands, applied together in one transaction. */
  async nft(commands: string[]): Promise<void> {
    if (!commands.length) return;
    for (const c of commands) this.record(shellCommand(['nft', c]));
    if (!this.dryRun) await exec('nft', ['-f', '-'], commands.join('\n'));
  }

  /** Any other command (unshare, umount: the rootless network, slirp.ts): shown, and run unless this is a dry run. */
  async command(argv: string[]): Promise<string> {
    this.record(shellCommand(argv));
    return this.dryRun ? '' : exec(argv[0]!, argv.slice(1));
  }

  /** A step done in code (a daemon started, an API request), shown by --trace; the dry-run script has its own lines for it (script). */
  trace(line: string): void {
    if (!this.dryRun) this.steps.run(line);
  }

  /** A sysctl of the host (net.ipv4.conf.BRIDGE.forwarding): written under /proc/sys, shown as sysctl -w. */
  async sysctl(key: string, value: string): Promise<void> {
    this.record(shellCommand(['sysctl', '-qw', `${key}=${value}`]));
    if (!this.dryRun) writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);
  }

  /**
   * A command whose failure is expected and harmless (removing what may be gone already). The dry-run script
   * has it inside a `when` that asks first, as a script must not go on past a failure.
   */
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
