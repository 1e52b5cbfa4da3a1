import { environmentEntry, readEnvFile } from '@cutaway/cli';

/** Docker's PATH for an image that sets none (moby daemon/pkg/oci/defaults.go). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The command's environment, built as Docker builds it (CreateDaemonEnvironment):
 * PATH, HOSTNAME and, with a terminal, TERM first; then a base (under --enter the
 * entered process's environment); --env-file and -e replace or append by name;
 * runc adds HOME from the user's passwd entry when it is unset. Nothing comes
 * from ns-exec's own environment unless named with `-e K`.
 */
export function containerEnv(options: { base?: string[]; env: string[]; envFiles: string[]; hostname?: string; tty: boolean; home: string }): string[] {
  const vars = new Map<string, string>();
  const set = (entry: string) => vars.set(entry.slice(0, entry.indexOf('=')), entry);
  set(`PATH=${DEFAULT_PATH}`);
  if (options.hostname !== undefined) set(`HOSTNAME=${options.hostname}`);
  if (options.tty) set('TERM=xterm');
  options.base?.forEach(set);
  // A variable named alone and unset here (`-e K`) sets nothing.
  const given = [...options.envFiles.flatMap((file) => readEnvFile(file)), ...options.env.map((word) => environmentEntry(word))];
  given.filter((entry) => entry.includes('=')).forEach(set);
  if (!vars.has('HOME')) set(`HOME=${options.home}`);
  return [...vars.values()];
}

export function envValue(env: readonly string[], key: string): string | undefined {
  return env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1);
}
