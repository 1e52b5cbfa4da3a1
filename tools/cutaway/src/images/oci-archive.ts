import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ToolError } from '@cutaway/cli';
import { REF_NAME } from '@cutaway/oci';
import { traceCommand } from '../tools.ts';

/**
 * docker load of an oci-archive (`podman save --format oci-archive`, skopeo's `oci-archive:FILE:NAME`, and any tar
 * of an OCI image layout): the archive is unpacked into a temporary directory, which is an OCI layout, and each
 * image its index.json names is copied in by `oci-pull oci:DIR:NAME` (load.ts), every blob checked against its
 * digest. The name is containerd's (io.containerd.image.name) when the archive gives one, else
 * org.opencontainers.image.ref.name, which podman and skopeo set to the name they were given.
 */

const run = promisify(execFile);

/** Whether a tar (plain or compressed) holds an OCI image layout at its top (oci-layout, index.json) and no docker save manifest.json (Docker 25's has both: read as a docker-archive). */
export async function isOciArchive(file: string): Promise<boolean> {
  const args = ['-tf', file];
  traceCommand('tar', args);
  try {
    const members = new Set((await run('tar', args, { maxBuffer: 256 << 20, encoding: 'utf8' })).stdout.split('\n').map((m) => m.replace(/^\.\//, '')));
    return members.has('oci-layout') && members.has('index.json') && !members.has('manifest.json');
  } catch {
    return false;
  }
}

interface IndexEntry {
  annotations?: Record<string, string>;
}

/**
 * The archive unpacked into `dir` (GNU tar keeps every member inside it), and the names of its images; index.json
 * there rewritten so that each image's ref.name is the name it is loaded under (containerd's when given). An image
 * without a name is refused, before anything is stored.
 */
export async function unpackOciArchive(file: string, dir: string, label: string): Promise<string[]> {
  const args = ['-xf', file, '-C', dir, '--no-same-owner'];
  traceCommand('tar', args);
  try {
    await run('tar', args, { maxBuffer: 64 << 20 });
  } catch (e) {
    throw new ToolError(`${label}: cannot unpack the oci-archive: ${((e as { stderr?: string }).stderr ?? '').trim().split('\n')[0]}`);
  }
  const indexFile = join(dir, 'index.json');
  let index: { manifests?: IndexEntry[] };
  try {
    index = JSON.parse(await readFile(indexFile, 'utf8')) as typeof index;
  } catch (e) {
    throw new ToolError(`${label}: index.json: ${(e as Error).message}`);
  }
  const manifests = index.manifests ?? [];
  if (!manifests.length) throw new ToolError(`${label}: index.json names no image`);
  const names = manifests.map((m, i) => {
    const name = m.annotations?.['io.containerd.image.name'] ?? m.annotations?.[REF_NAME];
    if (!name) throw new ToolError(`${label}: image ${i + 1} has no name (no ${REF_NAME} annotation): the store needs one`, `oci-pull oci:DIR:NAME after tar -x loads it under one`);
    m.annotations = { ...m.annotations, [REF_NAME]: name };
    return name;
  });
  await writeFile(indexFile, JSON.stringify(index));
  return names;
}
