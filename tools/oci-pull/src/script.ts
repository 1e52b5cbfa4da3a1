import { withPrerequisites, type Steps } from '@cutaway/cli';

/**
 * The --dry-run script of oci-pull and oci-push: the steps (the same as
 * --trace shows) plus what a script needs to do the work alone — its
 * temporary files, the checks the tool makes in code, if-blocks for what
 * the tool decides as it goes — and, at its top, a check of the commands
 * and variables it needs. Run by sh or bash, it leaves the store (or the
 * registry) as the tool would.
 */

/** A line of the dry-run script only: --trace shows the plain commands instead. */
export function scriptLine(steps: Steps, line: string): void {
  if (steps.mode.dryRun) steps.run(line);
}

/** A step --trace shows as it happens; the dry-run script has its own lines for it. */
export function traceLine(steps: Steps, line: string): void {
  if (!steps.mode.dryRun) steps.run(line);
}

/**
 * The script with its prerequisites checked right after `set -eu` (libs/cli): every command it runs, and the
 * registry credentials when it sends them.
 */
export function withCredentialCheck(script: string, commands: string[]): string {
  const credentials = script.includes('$REGISTRY_USER')
    ? ['REGISTRY_USER', 'REGISTRY_PASSWORD'].map((v) => `: "\${${v}:?needs the registry credentials: export REGISTRY_USER=… REGISTRY_PASSWORD=…}"`)
    : [];
  return withPrerequisites(script, commands, credentials);
}

/** `text` as one shell word. */
export function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}
