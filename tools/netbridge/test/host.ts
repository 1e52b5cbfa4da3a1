import { spawnSync } from 'node:child_process';
import { runCommand } from '../../../test/fixtures/commands.ts';

/** What netbridge's test files ask of the host: a command run to its end, a page fetched, the links there are. */

export function sh(command: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * wget from inside a namespace (or from the host without one), `attempts` tries 100 ms apart while a server
 * starts. Asynchronous: a server of the test's own process must keep answering meanwhile.
 */
export async function fetchFrom(netns: string | undefined, url: string, attempts: number): Promise<string> {
  const wget = ['wget', '-q', '-O', '-', url];
  let last = '';
  for (let attempt = 0; attempt < attempts; attempt++) {
    const r = netns ? await runCommand('/usr/sbin/ip', ['netns', 'exec', netns, 'busybox', ...wget]) : await runCommand('/bin/busybox', wget);
    if (r.code === 0) return r.stdout;
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`wget ${url}${netns ? ` in ${netns}` : ''}: ${last}`);
}

/** The host's link names. */
export function links(): string[] {
  return sh('ip', ['-o', 'link', 'show']).stdout.split('\n').map((l) => l.split(': ')[1]?.split('@')[0] ?? '').filter(Boolean);
}
