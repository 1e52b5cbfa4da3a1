import { isAbsolute, posix } from 'node:path';
import type { ContainerConfig } from '@cutaway/oci';
import type { Runner } from '../runner.ts';
import { recordEvent } from '../system/events-log.ts';
import { VolumeStore } from '../volumes/store.ts';
import { bindMounts, type ContainerConfigRecord, type ContainerStore } from './store.ts';

/**
 * Anonymous volumes, as Docker's daemon makes them (moby daemon/create_unix.go, createContainerOSSpecificSettings):
 * each path the image declares with VOLUME that no -v (nor --tmpfs) covers, and each `-v /DST` without a source,
 * gets a new volume of the local driver named by 64 random hex digits, volumes/NAME/_data, bind-mounted there. It
 * is an ordinary volume (volume ls lists it, volume rm takes it) that the container's record names as its own:
 * `rm -v` removes it, and so does the end of a `run --rm` container (Docker's autoremove removes its anonymous
 * volumes), plain `rm` keeps it. An empty volume, this one or a named one, gets what the image has at that path
 * (Docker copies the image's files into an empty volume): at the container's first start, from its rootfs as
 * overlay-mount made it (populateVolumes).
 */

export interface AnonymousVolume {
  name: string;
  destination: string;
}

/** The -v destinations (and --tmpfs), cleaned, that a declared path must not be covered by. */
function covered(volumeSpecs: string[], tmpfs: string[]): Set<string> {
  const destinations = volumeSpecs.map((spec) => (spec.includes(':') ? spec.split(':')[1]! : spec));
  return new Set([...destinations, ...tmpfs.map((t) => t.split(':')[0]!)].filter((d) => d).map((d) => posix.normalize(d).replace(/(.)\/$/, '$1')));
}

/**
 * The anonymous volumes a new container gets: `-v /DST` (no source) and the image's Volumes no -v or --tmpfs
 * covers, each named now. `-v /DST` specs are taken out of `volumeSpecs` (the rest are binds and named volumes).
 */
export function anonymousVolumes(image: ContainerConfig | undefined, volumeSpecs: string[], tmpfs: string[]): { volumes: AnonymousVolume[]; others: string[] } {
  const bare = volumeSpecs.filter((spec) => !spec.includes(':') && isAbsolute(spec));
  const others = volumeSpecs.filter((spec) => !bare.includes(spec));
  const taken = covered(others, tmpfs);
  const destinations = [...bare, ...Object.keys(image?.Volumes ?? {}).sort()].map((d) => posix.normalize(d).replace(/(.)\/$/, '$1'));
  const volumes: AnonymousVolume[] = [];
  for (const destination of destinations) {
    if (taken.has(destination) || !isAbsolute(destination)) continue;
    taken.add(destination);
    volumes.push({ name: VolumeStore.randomName(), destination });
  }
  return { volumes, others };
}

/** ns-exec's -v options for them. */
export function volumeMounts(root: string, volumes: AnonymousVolume[]): string[] {
  const store = new VolumeStore(root);
  return volumes.flatMap((v) => ['-v', `${store.mountpoint(v.name)}:${v.destination}`]);
}

/** The volumes made (through the runner: a --dry-run script makes them), with Docker's `volume create` events. */
export function makeAnonymousVolumes(root: string, volumes: AnonymousVolume[], r: Runner): void {
  const store = new VolumeStore(root);
  for (const v of volumes) {
    r.mkdir(store.mountpoint(v.name));
    if (!r.dryRun) recordEvent(root, 'volume', 'create', v.name, { driver: 'local' });
  }
}

/**
 * At a container's first start (`firstMount`: overlay-mount had not mounted it before), each volume it mounts —
 * anonymous or named, not a bind of a host path — that is still empty gets what its rootfs (`merged`) has at the
 * volume's path, owners, modes and times kept (cp -a), as Docker copies the image's content into an empty volume
 * (moby's copyExistingContents; a named volume too). A path that is not a directory there, or whose real path
 * leaves the rootfs (a symlink to an absolute path), gives nothing: the volume stays empty, the host's files are
 * never read.
 */
export async function populateVolumes(root: string, config: ContainerConfigRecord, merged: string, firstMount: boolean, env: NodeJS.ProcessEnv, r: Runner): Promise<void> {
  if (!firstMount) return;
  const store = new VolumeStore(root);
  for (const { source, destination } of bindMounts(config))
    if (store.nameOf(source) !== undefined) await r.tool('sh', ['-c', COPY_IN, 'sh', merged, destination, source], env);
}

/** sh -c COPY_IN sh ROOTFS PATH VOLUME: ROOTFS/PATH's contents into VOLUME when it is empty and the path a directory inside ROOTFS. */
const COPY_IN = [
  'top=$(realpath -e -- "$1") && src=$(realpath -e -- "$1$2" 2>/dev/null) || exit 0',
  'case $src in "$top"|"$top"/*) ;; *) exit 0 ;; esac',
  '[ -d "$src" ] && [ -z "$(ls -A -- "$3")" ] || exit 0',
  'cp -a -- "$src"/. "$3"/',
].join('; ');

/**
 * A container's anonymous volumes removed (rm -v, the end of a --rm container, a run that failed), through the
 * runner; each only when no other container mounts it, with Docker's `volume destroy` event.
 */
export async function removeAnonymousVolumes(store: ContainerStore, config: ContainerConfigRecord, root: string, r: Runner): Promise<void> {
  const volumes = new VolumeStore(root);
  const names = config.anonymousVolumes ?? [];
  if (!names.length) return;
  const others = store.ids().filter((id) => id !== config.id).map((id) => store.config(id));
  for (const name of names) {
    if (volumes.usersOf(name, others).length) continue;
    if (r.dryRun) r.removeTree(volumes.path(name));
    else if (volumes.exists(name)) volumes.remove(name);
  }
}
