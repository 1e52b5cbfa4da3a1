import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isArchive } from './staging.ts';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';

/**
 * Where a build's context and Dockerfile come from, as docker build takes them: a directory (the Dockerfile
 * in it, or -f FILE); `-f -`, the Dockerfile read from stdin; `-` as the context, stdin holding either a tar
 * archive (plain, gzip, bzip2 or xz: the context, its Dockerfile inside it, or -f's path in it) or a
 * Dockerfile alone (an empty context). A context from stdin is unpacked into a temporary directory,
 * removed once cutaway exits.
 */
export interface BuildInput {
  contextDir: string;
  dockerfile: string;
  /** The Dockerfile's name in errors (`Dockerfile:3: …`). */
  dockerfileName: string;
  /** The context is a tar read from stdin (a --dry-run script could not copy from it: it is gone by then). */
  fromStdinTar: boolean;
}

export function buildInput(context: string, file: string | undefined, readStdin: () => Buffer = () => readFileSync(0)): BuildInput {
  if (context === '-') {
    if (file === '-') throw new UsageError("invalid argument: can't use stdin for both build context and dockerfile");
    const input = readStdin();
    const contextDir = temporaryDir();
    const archive = join(contextDir, '..', `${basename(contextDir)}.tar`);
    writeFileSync(archive, input);
    // Docker's DetectArchiveReader: a compressed stream or a tar header, as ADD detects an archive.
    if (!isArchive(archive)) {
      rmSync(archive, { force: true });
      // A Dockerfile alone: no context (-f is ignored, as Docker ignores it then).
      return { contextDir, dockerfile: input.toString('utf8'), dockerfileName: 'Dockerfile', fromStdinTar: false };
    }
    try {
      // GNU tar recognises the compression of a file by itself.
      execFileSync('tar', ['-x', '-f', archive, '-C', contextDir, '--no-same-owner'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      throw new ToolError(`unable to prepare context: the tar on stdin cannot be unpacked: ${String((e as { stderr?: Buffer }).stderr ?? e).trim().split('\n')[0]}`);
    } finally {
      rmSync(archive, { force: true });
    }
    const name = file ?? 'Dockerfile';
    const path = join(contextDir, name);
    if (!existsSync(path)) throw new ToolError(`Cannot locate specified Dockerfile: ${name}`);
    return { contextDir, dockerfile: readFileSync(path, 'utf8'), dockerfileName: basename(name), fromStdinTar: true };
  }
  const contextDir = resolve(context);
  const stat = statSync(contextDir, { throwIfNoEntry: false });
  if (!stat) throw new ToolError(`unable to prepare context: path "${context}" not found`);
  if (!stat.isDirectory()) throw new ToolError(`unable to prepare context: context must be a directory: ${contextDir}`);
  if (file === '-') return { contextDir, dockerfile: readStdin().toString('utf8'), dockerfileName: 'Dockerfile', fromStdinTar: false };
  const path = file !== undefined ? resolve(file) : join(contextDir, 'Dockerfile');
  if (!existsSync(path)) throw new ToolError(`Cannot locate specified Dockerfile: ${basename(path)}`);
  return { contextDir, dockerfile: readFileSync(path, 'utf8'), dockerfileName: basename(path), fromStdinTar: false };
}

function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'cw-context-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
