import { readFileSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';

/** Docker's PATH for an image that sets none (moby daemon/pkg/oci/defaults.go). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `-e K=V` sets; `-e K` copies K from ns-exec's own environment, or nothing when K is unset (as docker run). */
function parseVariable(word: string, where: string): string | undefined {
  const eq = word.indexOf('=');
  const key = eq < 0 ? word : word.slice(0, eq);
  if (!key) throw new ToolError(`invalid environment variable ${JSON.stringify(word)}${where}: the name is empty`);
  if (/\s/.test(key)) throw new ToolError(`invalid environment variable ${JSON.stringify(key)}${where}: it contains whitespace`);
  if (eq >= 0) return word;
  const value = process.env[key];
  return value === undefined ? undefined : `${key}=${value}`;
}

/** --env-file: one variable per line, `#` comments and blank lines skipped, no quote processing (Docker's format). */
function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ToolError(`--env-file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return text.split('\n').flatMap((line, i) => {
    const trimmed = line.replace(/^\s+/, '').replace(/\r$/, '');
    if (!trimmed || trimmed.startsWith('#')) return [];
    return parseVariable(trimmed, ` (${path}:${i + 1})`) ?? [];
  });
}

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
  for (const file of options.envFiles) readEnvFile(file).forEach(set);
  for (const word of options.env) {
    const entry = parseVariable(word, '');
    if (entry) set(entry);
  }
  if (!vars.has('HOME')) set(`HOME=${options.home}`);
  return [...vars.values()];
}

export function envValue(env: readonly string[], key: string): string | undefined {
  return env.find((e) => e.startsWith(`${key}=`))?.slice(key.length + 1);
}
