/** Slash paths as Go's `path` package handles them, and build-context listings. */

/** Go's path.Clean: drops empty and `.` elements, resolves `..`; "" is ".". */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const s = (rooted ? '/' : '') + out.join('/');
  return s === '' ? '.' : s;
}

/** Go's path.Dir of a cleaned relative path: "a/b" → "a", "a" → ".". */
export function dirname(p: string): string {
  const slash = p.lastIndexOf('/');
  return slash < 0 ? '.' : p.slice(0, slash) || '/';
}

/**
 * A path inside the build context, relative to its root: `/a`, `./a` and
 * `a/` are `a`, and `..` cannot climb out (`../a` is `a`). The root is ".".
 */
export function contextPath(p: string): string {
  return cleanPath(`/${p}`).slice(1) || '.';
}

export interface ContextEntry {
  path: string;
  dir: boolean;
}

/**
 * A listing of the build context, in the order a directory walk visits it
 * (names sorted within each directory). `paths` are relative; a trailing `/`
 * marks a directory, and directories that hold listed paths are implied.
 */
export function contextEntries(paths: readonly string[]): ContextEntry[] {
  const dirs = new Set<string>();
  const files = new Set<string>();
  for (const raw of paths) {
    const p = contextPath(raw);
    if (p === '.') continue;
    if (raw.endsWith('/')) dirs.add(p);
    else files.add(p);
    for (let d = dirname(p); d !== '.'; d = dirname(d)) dirs.add(d);
  }
  for (const d of dirs) files.delete(d);
  const entries = [...[...dirs].map((path) => ({ path, dir: true })), ...[...files].map((path) => ({ path, dir: false }))];
  return entries.sort((a, b) => compareWalkOrder(a.path, b.path));
}

function compareWalkOrder(a: string, b: string): number {
  const as = a.split('/');
  const bs = b.split('/');
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i] as string;
    const y = bs[i] as string;
    if (x !== y) return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

/** The listing form of an entry: directories end with `/`. */
export function entryName(e: ContextEntry): string {
  return e.dir ? `${e.path}/` : e.path;
}
