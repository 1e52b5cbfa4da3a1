import { shellCommand } from './shell.ts';

/**
 * What every tool's --dry-run script checks at its top (DESIGN.md's contract, issue 18): the commands it runs
 * are there, else it names the one missing and the Debian packages that have them all, before doing anything.
 */

/** The Debian package of each command the scripts run that coreutils does not have. */
const PACKAGES: Record<string, string> = {
  tar: 'tar',
  gzip: 'gzip',
  zstd: 'zstd',
  jq: 'jq',
  curl: 'curl',
  sed: 'sed',
  getfattr: 'attr',
  setfattr: 'attr',
  find: 'findutils',
  flock: 'util-linux',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  setpriv: 'util-linux',
  setsid: 'util-linux',
  pivot_root: 'util-linux',
  keyctl: 'keyutils',
  hostname: 'hostname',
  sh: 'dash',
  mountpoint: 'util-linux',
  mount: 'mount',
  umount: 'mount',
  ip: 'iproute2',
  ss: 'iproute2',
  sysctl: 'procps',
  nft: 'nftables',
  slirp4netns: 'slirp4netns',
  // netbridge's rootless script speaks to slirp4netns's API socket with `nc -U -N`: -N is OpenBSD netcat's.
  nc: 'netcat-openbsd',
};

/** The lines that check for `commands` (and stop, naming the missing one, with what to install). */
export function prerequisiteCheck(commands: readonly string[]): string[] {
  if (!commands.length) return [];
  const packages = [...new Set(commands.map((c) => PACKAGES[c] ?? 'coreutils'))].sort();
  return [
    `for command in ${commands.join(' ')}; do`,
    `  command -v "$command" >/dev/null || { echo "this script needs $command (on Debian: apt-get install ${packages.join(' ')})" >&2; exit 1; }`,
    'done',
  ];
}

/** A script of Steps (`#!/bin/sh`, `set -eu`, its steps) with the check, and any `extra` lines, right after its head. */
export function withPrerequisites(script: string, commands: readonly string[], extra: readonly string[] = []): string {
  const head = '#!/bin/sh\nset -eu\n';
  if (!script.startsWith(head)) throw new Error('withPrerequisites: not a script of Steps');
  const lines = [...prerequisiteCheck(commands), ...extra];
  return lines.length ? `${head}${lines.join('\n')}\n${script.slice(head.length)}` : script;
}

/**
 * A tool's --dry-run script in bash (`set -euo pipefail`: sh has no pipefail, and no failure may hide in a
 * pipe): its command line and notes as comments, the prerequisite check, then its lines.
 */
export class BashScript {
  private readonly body: string[] = [];
  private readonly needs = new Set<string>();

  /** `argv`: the tool's own command line, named in the first comment; `notes`: comments below it. */
  constructor(
    private readonly tool: string,
    private readonly argv: readonly string[],
    private readonly notes: readonly string[],
  ) {}

  /** Commands the script runs (not bash's builtins), checked for at its top. */
  need(...commands: string[]): this {
    for (const c of commands) this.needs.add(c);
    return this;
  }

  add(...lines: string[]): this {
    this.body.push(...lines);
    return this;
  }

  toString(): string {
    return [
      '#!/bin/bash',
      // An argument may hold a newline: each line of the command line is a comment line.
      ...shellCommand([this.tool, ...this.argv.filter((a) => a !== '--dry-run')]).split('\n').map((l) => `# ${l}`),
      ...this.notes.map((n) => `# ${n}`.trimEnd()),
      'set -euo pipefail',
      ...prerequisiteCheck([...this.needs]),
      ...this.body,
      '',
    ].join('\n');
  }
}
