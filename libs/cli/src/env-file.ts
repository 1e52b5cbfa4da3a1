import { readFileSync } from 'node:fs';
import { ToolError } from './errors.ts';

/**
 * Environment variables as Docker's CLI takes them (-e and --env-file), shared by ns-exec (run, exec) and
 * cutaway (create and run resolve them once, as Docker's CLI does, for the container's record).
 */

/**
 * `-e K=V` as given; `-e K`: `K=VALUE` from this process's environment, or `K` alone when it is unset (Docker's
 * opts.ValidateEnv keeps it so: in a container's config it unsets K). `where` says where the word came from.
 */
export function environmentEntry(word: string, where = ''): string {
  const eq = word.indexOf('=');
  const key = eq < 0 ? word : word.slice(0, eq);
  if (!key) throw new ToolError(`invalid environment variable ${JSON.stringify(word)}${where}: the name is empty`);
  if (/\s/.test(key)) throw new ToolError(`invalid environment variable ${JSON.stringify(key)}${where}: it contains whitespace`);
  if (eq >= 0) return word;
  const value = process.env[key];
  return value === undefined ? key : `${key}=${value}`;
}

/** --env-file: one variable per line, `#` comments and blank lines skipped, no quote processing (Docker's format); `K` alone as -e K. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ToolError(`--env-file ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  return text.split('\n').flatMap((line, i) => {
    const trimmed = line.replace(/^\s+/, '').replace(/\r$/, '');
    if (!trimmed || trimmed.startsWith('#')) return [];
    return [environmentEntry(trimmed, ` (${path}:${i + 1})`)];
  });
}
