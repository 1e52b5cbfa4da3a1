import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The space a tree takes, as Docker measures it (moby pkg/directory Size):
 * the apparent size of everything but directories, a hardlinked file once
 * (an upper dir's whiteouts are all one inode, busybox's applets too), and
 * not across a mount (a running container's merged/) — what `find -xdev !
 * -type d` lists, each inode counted once. 0 for a path that is not there.
 */
export function diskUsage(path: string): number {
  let top;
  try {
    top = lstatSync(path);
  } catch {
    return 0;
  }
  const seen = new Set<number>();
  let total = 0;
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const st = lstatSync(full);
      if (st.dev !== top.dev) continue;
      if (st.isDirectory()) walk(full);
      else if (!seen.has(st.ino)) {
        seen.add(st.ino);
        total += st.size;
      }
    }
  };
  if (top.isDirectory()) walk(path);
  else total = top.size;
  return total;
}
