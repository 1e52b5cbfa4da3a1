import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { bindMounts, type ContainerConfigRecord } from '../containers/store.ts';
import { recordEvent } from '../system/events-log.ts';

/**
 * Named volumes, DESIGN.md's volumes/<name>/_data: Docker's local driver,
 * whose volume is a directory the container gets bind-mounted. A container
 * uses one when its ns-exec options hold `-v <root>/volumes/NAME/_data:DST`
 * (cutaway run -v NAME:DST), running or not, as Docker counts a volume's
 * references.
 */

/** moby volume/local: RestrictedNameChars, [a-zA-Z0-9][a-zA-Z0-9_.-]+ (so at least two characters). */
const VOLUME_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]+$/;

export function checkVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name))
    throw new ToolError(`create ${name}: "${name}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed`, 'to bind a host directory, give an absolute path to run -v');
}

export class VolumeStore {
  readonly dir: string;

  constructor(private readonly root: string) {
    this.dir = resolve(root, 'volumes');
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** What containers mount: the volume's _data. */
  mountpoint(name: string): string {
    return join(this.dir, name, '_data');
  }

  names(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((n) => VOLUME_NAME.test(n) && existsSync(this.mountpoint(n))).sort();
  }

  exists(name: string): boolean {
    return VOLUME_NAME.test(name) && existsSync(this.mountpoint(name));
  }

  /** Docker's name for a volume made without one: 64 hex digits. */
  static randomName(): string {
    return randomBytes(32).toString('hex');
  }

  /** Makes the volume (nothing when it exists already: docker volume create is idempotent). */
  create(name: string): void {
    checkVolumeName(name);
    mkdirSync(this.mountpoint(name), { recursive: true, mode: 0o755 });
    recordEvent(this.root, 'volume', 'create', name, { driver: 'local' });
  }

  /** The local driver's CreatedAt: the volume directory's modification time (only _data is ever made in it). */
  createdAt(name: string): string {
    return statSync(this.path(name)).mtime.toISOString().replace(/\.\d+Z$/, 'Z');
  }

  /** Renamed aside first (rename(2) is atomic), so that a volume is whole or not there at all, then deleted. */
  remove(name: string): void {
    const aside = join(this.dir, `.${name}.${process.pid}.rm`);
    renameSync(this.path(name), aside);
    rmSync(aside, { recursive: true, force: true });
    recordEvent(this.root, 'volume', 'destroy', name, { driver: 'local' });
  }

  /** The containers (of `configs`) that mount the volume. */
  usersOf(name: string, configs: ContainerConfigRecord[]): string[] {
    return configs.filter((c) => this.volumesOf(c).includes(name)).map((c) => c.id);
  }

  /** The volumes a container mounts, from its -v options: the sources that are this store's volumes' _data. */
  volumesOf(config: ContainerConfigRecord): string[] {
    return bindMounts(config).flatMap(({ source }) => this.nameOf(source) ?? []);
  }

  /** The volume whose _data a bind's source is, if it is one of this store's (else a host path). */
  nameOf(source: string): string | undefined {
    const path = resolve(source);
    return path.endsWith('/_data') && dirname(dirname(path)) === this.dir ? path.split('/').at(-2) : undefined;
  }
}
