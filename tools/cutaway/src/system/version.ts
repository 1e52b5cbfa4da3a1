import { execFileSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { release } from 'node:os';
import { dirname } from 'node:path';
import { rootless } from '@cutaway/cli';
import { formatPlatform, hostPlatform } from '@cutaway/oci';
import { command, NO_OPERANDS, VERSION } from '../command.ts';
import { FORMAT_OPTION, formatOutput } from '../format.ts';
import { tool } from '../tools.ts';
import { cgroupVersion } from './host.ts';

/** The tools cutaway's commands run, each asked for its --version. */
const TOOLS = ['oci-pull', 'oci-push', 'overlay-mount', 'ns-exec', 'cg-limit', 'netbridge', 'layer-commit'];

/** The short commit of the checkout cutaway runs from, when it runs from one (Docker's "build" and "Git commit"). */
export function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['-C', dirname(realpathSync(process.argv[1]!)), 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** `cutaway --version`, docker --version's one line: "cutaway version 0.1.0, build dbee00c". */
export function versionLine(): string {
  const commit = gitCommit();
  return `cutaway version ${VERSION}${commit ? `, build ${commit}` : ''}\n`;
}

/** Lines `KEY:  VALUE` with the values in one column, indented, as docker version's template lays them out. */
function fields(indent: string, entries: [string, string][]): string[] {
  return entries.map(([key, value]) => `${indent}${`${key}:`.padEnd(19 - indent.length)}${value}`);
}

/** A tool's version from its `--version` line ("oci-pull 0.1.0"), or why there is none. */
async function toolVersion(name: string): Promise<string> {
  try {
    return (await tool(name, ['--version'])).split(' ').at(-1) ?? '';
  } catch (e) {
    return `unknown (${e instanceof Error ? e.message : String(e)})`;
  }
}

/**
 * docker version: Client (cutaway, the script) and Server (what does the work: the tools, the kernel), as
 * Docker shows the CLI and then the engine, containerd and runc.
 */
export const version = command(
  {
    name: 'version',
    summary: 'Show the versions of cutaway, its tools and the host',
    synopsis: [''],
    description: "cutaway's version and commit, Node's, and under Server each tool's (its --version), the kernel's, the cgroup version and whether cutaway runs rootless.",
    options: [{ ...FORMAT_OPTION, help: "a Go template on docker version's data ('{{.Server.Version}}'), or json" }],
    operands: NO_OPERANDS,
    examples: ['cutaway version', 'cutaway --version', "cutaway version --format '{{.Server.KernelVersion}}'"],
    classic: ['docker version', 'oci-pull --version; ns-exec --version; …; uname -r; stat -f -c %T /sys/fs/cgroup'],
  },
  async (inv) => {
    const tools = await Promise.all(TOOLS.map(async (name) => [name, await toolVersion(name)] as const));
    const commit = gitCommit();
    const platform = hostPlatform();
    if (inv.options.format !== undefined) {
      // docker version's document (Client, Server with its Components), with Node where Docker has Go.
      const document = {
        Client: { Version: VERSION, GitCommit: commit ?? '', NodeVersion: process.version, Os: platform.os, Arch: platform.architecture },
        Server: {
          Version: VERSION,
          KernelVersion: release(),
          CgroupVersion: String(cgroupVersion()),
          Rootless: rootless(),
          Components: [{ Name: 'Engine', Version: VERSION }, ...tools.map(([Name, Version]) => ({ Name, Version }))],
        },
      };
      process.stdout.write(formatOutput(inv.options.format, document));
      return;
    }
    const lines = [
      'Client:',
      ...fields(' ', [['Version', VERSION], ...(commit ? [['Git commit', commit] as [string, string]] : []), ['Node version', process.version], ['OS/Arch', formatPlatform(platform)]]),
      '',
      'Server: cutaway',
      ' Engine:',
      ...fields('  ', [['Version', VERSION], ['Kernel version', release()], ['Cgroup version', String(cgroupVersion())], ['Rootless', String(rootless())]]),
      ...tools.flatMap(([name, v]) => [` ${name}:`, ...fields('  ', [['Version', v]])]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  },
);
