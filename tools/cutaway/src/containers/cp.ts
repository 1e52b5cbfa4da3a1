import { spawn } from 'node:child_process';
import { existsSync, lstatSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';
import { command } from '../command.ts';
import { streamTool, toolEnv, traceCommand } from '../tools.ts';
import { withRootfs } from './export.ts';
import { runningPid } from './state.ts';
import { bindMounts, ContainerStore } from './store.ts';
import { resolveInRoot } from '@cutaway/libc/in-root';

/**
 * docker cp: files between a container and the host, by tar (GNU tar, one creating, one extracting, piped), on
 * the container's filesystem as it sees it. A running container's is /proc/PID/root: its volumes, tmpfs and
 * /etc files are there as mounted. A stopped (or created) one's rootfs is mounted for the time of the copy
 * (overlay-mount), and its bind mounts and named volumes (-v) and the /etc/hosts, /etc/hostname and
 * /etc/resolv.conf cutaway writes are reached at their host paths; a --tmpfs is not there (it has no content).
 * Symlinks in a container path resolve inside the container's root, never out of it.
 */

/** A container path → the host path that holds it. */
type View = (path: string) => string;

/** CONTAINER:PATH, as docker cp splits it: a local path is one with no colon, or starting with / or . */
function splitContainer(arg: string): { container?: string; path: string } {
  const i = arg.indexOf(':');
  if (i <= 0 || arg.startsWith('/') || arg.startsWith('.')) return { path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** The view of a stopped container: the merged rootfs, its bind mounts over it (the longest destination wins). */
function stoppedView(store: ContainerStore, id: string, merged: string): View {
  const mounts = bindMounts(store.config(id)).map(({ source, destination }) => ({ src: source, dst: destination }));
  for (const file of ['hosts', 'hostname', 'resolv.conf']) mounts.push({ src: store.path(id, file), dst: `/etc/${file}` });
  mounts.sort((a, b) => b.dst.length - a.dst.length);
  return (path) => {
    const m = mounts.find((v) => path === v.dst || path.startsWith(`${v.dst}/`));
    return m ? m.src + path.slice(m.dst.length) : merged + path;
  };
}

/**
 * GNU tar's options that leave out the archive's `.` entry, and only it: extracted into a directory that exists,
 * the directory keeps its own mode, owner and times, as Docker's Unpack skips `.` there (moby pkg/archive).
 */
const KEEP_DEST_DIR = ['--no-recursion', '--anchored', '--no-wildcards', '--exclude=.'];

/** A tar of `parent/name` (entries renamed to `as`) extracted into `dir`: owners kept with `keepOwner`, else the extracting user's. */
async function tarCopy(parent: string, name: string, as: string, dir: string, keepOwner: boolean): Promise<void> {
  const escape = (s: string) => s.replace(/[.*+?^$()|[\]\\{}]/g, '\\$&');
  const rename = name !== as ? [`--transform=s|^${escape(name)}|${as.replace(/[\\&|]/g, '\\$&')}|S`] : [];
  const create = ['--create', '--file', '-', '--directory', parent, '--numeric-owner', '--xattrs', '--xattrs-include=*', ...rename, '--', name];
  const extract = ['--extract', '--file', '-', '--directory', dir, '--numeric-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', keepOwner ? '--same-owner' : '--no-same-owner', ...(as === '.' ? KEEP_DEST_DIR : [])];
  traceCommand('tar', [...create, '|', 'tar', ...extract]);
  const env = toolEnv();
  const writer = spawn('tar', create, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const reader = spawn('tar', extract, { env, stdio: [writer.stdout!, 'ignore', 'pipe'] });
  let errors = '';
  for (const child of [writer, reader]) child.stderr!.on('data', (c: Buffer) => (errors += c.toString()));
  // 'exit', not 'close': the writer's stdout is the reader's stdin, never closed on this side.
  const codes = await Promise.all([writer, reader].map((child) => new Promise<number>((res) => child.on('exit', (code) => res(code ?? 1)))));
  if (codes.some((c) => c !== 0)) throw new ToolError(errors.trim().split('\n').at(-1) ?? 'tar failed');
}

/** Where a copy lands, by docker cp's rules: the directory to extract into and the name the source gets there. */
function destination(srcIsDir: boolean, srcContents: boolean, srcName: string, destGiven: string, destHost: string): { dir: string; name: string } {
  const st = statSync(destHost, { throwIfNoEntry: false });
  const slash = destGiven.endsWith('/');
  if (st?.isDirectory()) return srcContents ? { dir: destHost, name: '.' } : { dir: destHost, name: srcName };
  if (st) {
    if (srcIsDir) throw new ToolError(`cannot copy a directory to a file: ${destGiven}`);
    if (slash) throw new ToolError(`${destGiven}: not a directory`);
    return { dir: dirname(destHost), name: basename(destHost) };
  }
  if (slash && !srcIsDir) throw new ToolError(`${destGiven}: no such directory`);
  if (!statSync(dirname(destHost), { throwIfNoEntry: false })?.isDirectory()) throw new ToolError(`${destGiven}: no such file or directory`);
  return { dir: dirname(destHost), name: basename(destHost) };
}

/** A source, resolved: the host path that holds it, whether it is a directory, whether SRC/. asks for its contents. */
function source(host: string, given: string, container: string | undefined): { parent: string; name: string; isDir: boolean; contents: boolean } {
  const st = lstatSync(host, { throwIfNoEntry: false });
  if (!st) throw new ToolError(container !== undefined ? `Could not find the file ${given} in container ${container}` : `stat ${given}: no such file or directory`);
  const contents = st.isDirectory() && /\/\.$/.test(given);
  if (given.endsWith('/') && !st.isDirectory()) throw new ToolError(`${given}: not a directory`);
  return contents ? { parent: host, name: '.', isDir: true, contents } : { parent: dirname(host), name: basename(host), isDir: st.isDirectory(), contents };
}

export const cp = command(
  {
    name: 'cp',
    summary: 'Copy files between a container and the host',
    synopsis: ['[options] CONTAINER:SRC_PATH DEST_PATH|-', '[options] SRC_PATH|- CONTAINER:DEST_PATH'],
    description: [
      "Copy a file or directory out of a container or into it, by tar, on the container's filesystem as it sees",
      'it (a running one through /proc/PID/root, with its volumes; a stopped one mounted for the copy, its -v',
      "volumes at their host paths). Docker's rules: a file to an existing directory goes into it, else becomes",
      'DEST; a directory to a missing DEST becomes DEST, to an existing one goes into it (SRC/. : its contents);',
      "DEST/ must be a directory. '-' is a tar on stdout (of SRC) or on stdin (extracted into DEST, a directory).",
      "Owners: with -a as at the source; else the copying user's (out) or root's (in).",
    ].join('\n'),
    options: [
      { name: 'archive', short: 'a', type: 'boolean', help: 'archive mode: keep uid/gid' },
      { name: 'follow-link', short: 'L', type: 'boolean', help: 'always follow a symbolic link in SRC_PATH' },
    ],
    operands: { min: 2, max: 2, names: 'SRC DEST' },
    examples: ['cutaway cp web:/etc/hosts .', 'cutaway cp ./index.html web:/www/', 'cutaway cp web:/etc/hosts - | tar x -O', 'tar c conf | cutaway cp - web:/etc'],
    classic: ['docker cp', 'tar -C /proc/PID/root/SRC_DIR -c NAME | tar -C DEST -x'],
  },
  async (inv, root) => {
    const [srcArg, destArg] = inv.positionals as [string, string];
    const { archive, 'follow-link': follow } = inv.options;
    const src = splitContainer(srcArg);
    const dest = splitContainer(destArg);
    if (src.container !== undefined && dest.container !== undefined) throw new UsageError('copying between containers is not supported');
    if (src.container === undefined && dest.container === undefined) throw new UsageError('must specify at least one container source');
    const store = new ContainerStore(root);
    const id = store.find((src.container ?? dest.container)!);
    await withRootfs(store, id, root, async (merged, running) => {
      const view: View = running ? ((pid) => (path: string) => `/proc/${pid}/root${path}`)(runningPid(store, id)) : stoppedView(store, id, merged);
      // A container path is relative to its root (docker cp: "assumes container paths are relative to /").
      const inContainer = (path: string, followLast: boolean) => view(resolveInRoot(`/${path}`, view, followLast));
      if (src.container !== undefined) {
        const host = inContainer(src.path, follow);
        const from = source(host, src.path, src.container);
        if (dest.path === '-') return streamTool('tar', ['--create', '--file', '-', '--directory', from.parent, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--', from.name], {}, 'ignore', 'inherit');
        const destHost = resolve(dest.path);
        const to = destination(from.isDir, from.contents, from.name, dest.path, destHost);
        return tarCopy(from.parent, from.name, to.name, to.dir, archive);
      }
      const destHost = inContainer(dest.path, true);
      if (src.path === '-') {
        if (!statSync(destHost, { throwIfNoEntry: false })?.isDirectory()) throw new ToolError(`${dest.path}: destination must be a directory when copying from stdin`);
        return streamTool('tar', ['--extract', '--file', '-', '--directory', destHost, '--numeric-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', archive ? '--same-owner' : '--no-same-owner', ...KEEP_DEST_DIR], {}, 'inherit', 'ignore');
      }
      const local = follow && existsSync(src.path) ? realpathSync(resolve(src.path)) : resolve(src.path);
      const from = source(local, src.path, undefined);
      const to = destination(from.isDir, from.contents, from.name, dest.path, destHost);
      return tarCopy(from.parent, from.name, to.name, to.dir, archive);
    });
  },
);
