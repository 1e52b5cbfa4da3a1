import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { IgnoreMatcher, parseDockerignore } from '@cutaway/dockerfile';

/**
 * The build context: every path under CONTEXT that .dockerignore does not
 * exclude, relative, directories with a trailing `/` (what matchSources
 * takes). The Dockerfile and .dockerignore are sent even when excluded, as
 * Docker does, but COPY does not see excluded ones.
 */
export function listContext(dir: string): string[] {
  const ignoreFile = join(dir, '.dockerignore');
  const matcher = new IgnoreMatcher(existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : []);
  const paths: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(dir, path));
      const excluded = matcher.excludes(path);
      if (st.isDirectory()) {
        if (!excluded) paths.push(`${path}/`);
        if (!excluded || matcher.mayIncludeBelow(path)) walk(path);
      } else if (!excluded) paths.push(path);
    }
  };
  walk('');
  return paths;
}

/**
 * What a COPY's cache key covers: the copied paths with their type, mode,
 * size and content (a symlink's target), so that a changed file invalidates
 * its step and the ones after it, and nothing else does.
 */
export function contentHash(dir: string, paths: readonly string[]): string {
  const hash = createHash('sha256');
  for (const path of paths) {
    const full = join(dir, path);
    const st = lstatSync(full);
    hash.update(`${path}\0${st.mode}\0${st.size}\0`);
    if (st.isFile()) hash.update(readFileSync(full));
    else if (st.isSymbolicLink()) hash.update(readlinkSync(full));
  }
  return hash.digest('hex');
}
