import { chmodSync, chownSync, closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '@cutaway/cli';
import type { Runner } from '../runner.ts';
import type { ScriptRecorder } from '../script-runner.ts';

/**
 * `cutaway build --secret`, as `docker buildx build --secret` takes it: `id=ID,src=FILE` (or source=), `id=ID,env=VAR`,
 * `type=file|env`; `id=ID` alone is the environment variable ID. A secret reaches a RUN only through a
 * `--mount=type=secret` (run-mounts.ts): a private copy bound read-only, removed after the step. Its value is
 * never written into a layer, the image config, the history, a cache key or the log, nor into a --dry-run script,
 * which reads the file or the variable when it runs.
 */
export type Secret = { id: string; file: string } | { id: string; env: string };
export type Secrets = Map<string, Secret>;

export function parseSecrets(values: readonly string[], env: NodeJS.ProcessEnv = process.env): Secrets {
  const secrets: Secrets = new Map();
  for (const value of values) {
    const fields = new Map<string, string>();
    for (const field of value.split(',')) {
      const eq = field.indexOf('=');
      const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
      if (eq < 0 || !['id', 'src', 'source', 'env', 'type'].includes(key)) throw new UsageError(`invalid secret ${JSON.stringify(value)}: unexpected key '${key}' in '${field}'`);
      fields.set(key === 'source' ? 'src' : key, field.slice(eq + 1));
    }
    const id = fields.get('id');
    const type = fields.get('type');
    if (!id) throw new UsageError(`invalid secret ${JSON.stringify(value)}: id is required`);
    if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`invalid secret ${JSON.stringify(value)}: unsupported secret type ${JSON.stringify(type)}`);
    const src = fields.get('src');
    if (src !== undefined && (type !== 'env' || !fields.has('env'))) {
      if (type === 'env') secrets.set(id, { id, env: src });
      else {
        const file = resolve(src);
        try {
          readFileSync(file);
        } catch (e) {
          throw new UsageError(`invalid secret ${JSON.stringify(value)}: open ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
        }
        secrets.set(id, { id, file });
      }
      continue;
    }
    const name = fields.get('env') ?? id;
    if (type === 'file') throw new UsageError(`invalid secret ${JSON.stringify(value)}: src= is required with type=file`);
    if (env[name] === undefined) throw new UsageError(`invalid secret ${JSON.stringify(value)}: the environment variable ${name} is not set`);
    secrets.set(id, { id, env: name });
  }
  return secrets;
}

/**
 * The secret's copy at `path` (in a directory of mode 0700), owned uid:gid, with `mode`: made now, or by the
 * --dry-run script from the file or the variable when it runs (the value never in the script).
 */
export async function secretFile(r: Runner, secret: Secret, path: string, uid: number, gid: number, mode: number): Promise<void> {
  const octal = mode.toString(8).padStart(4, '0');
  if ('file' in secret) {
    await r.tool('install', ['-m', octal, '-o', String(uid), '-g', String(gid), secret.file, path], {});
    return;
  }
  if (r.dryRun) {
    const s = r as unknown as ScriptRecorder;
    s.add(`( umask 077; printf %s "\${${secret.env}}" > ${s.word(path)} )`, `chown ${uid}:${gid} ${s.word(path)}`, `chmod ${octal} ${s.word(path)}`);
    return;
  }
  const fd = openSync(path, 'wx', 0o600);
  try {
    writeSync(fd, process.env[secret.env] ?? '');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chownSync(path, uid, gid);
  chmodSync(path, mode);
}
