import { ToolError, UsageError } from '@cutaway/cli';
import { AmbiguousImageError, type Digest } from '@cutaway/oci';
import { command } from '../command.ts';
import { imageInspectOf } from '../images/inspect.ts';
import { ImageStore, type StoreImage } from '../images/store.ts';
import { portsText } from './ports.ts';
import { currentState, exitCodeOf } from './state.ts';
import { ContainerStore, type ContainerConfigRecord } from './store.ts';

interface MountEntry {
  Type: string;
  Source: string;
  Destination: string;
  RW: boolean;
}

/** The -v mounts from the options ns-exec got. */
function mountsOf(c: ContainerConfigRecord): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (let i = 0; i < c.nsExecOptions.length; i++) {
    if (c.nsExecOptions[i] !== '-v') continue;
    const [source = '', destination = '', mode = 'rw'] = c.nsExecOptions[i + 1]!.split(':');
    mounts.push({ Type: source.includes('/volumes/') ? 'volume' : 'bind', Source: source, Destination: destination, RW: !mode.split(',').includes('ro') });
  }
  return mounts;
}

/** Docker's inspect document for a container, the keys cutaway knows. */
function inspectOf(store: ContainerStore, id: string, images: ImageStore | undefined): unknown {
  const c = store.config(id);
  // Docker's Image is the image ID (the config's digest); the manifest the container was made from, if the store has lost its image.
  const imageId = images?.images.find((i) => i.blobs.has(c.imageDigest as Digest))?.id ?? c.imageDigest;
  const s = currentState(store, id);
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0],
    Args: c.command.slice(1),
    State: { Status: s.status, Running: s.status === 'running', Pid: s.status === 'running' ? s.pid : 0, ExitCode: exitCodeOf(s), Error: s.error ?? '', StartedAt: s.startedAt ?? '', FinishedAt: s.finishedAt ?? '' },
    Image: imageId,
    Name: `/${c.name}`,
    HostnamePath: store.path(id, 'hostname'),
    HostsPath: store.path(id, 'hosts'),
    ResolvConfPath: store.path(id, 'resolv.conf'),
    LogPath: store.path(id, 'log'),
    HostConfig: { AutoRemove: c.autoRemove, NetworkMode: c.network?.name ?? c.network?.mode ?? 'none', CgroupParent: c.cgroup },
    Mounts: mountsOf(c),
    Config: { Hostname: c.hostname, Image: c.image, Cmd: c.command, Tty: c.tty, OpenStdin: c.interactive },
    NetworkSettings: {
      IPAddress: c.network?.ip ?? '',
      Ports: Object.fromEntries(
        portsText(c).map((p) => {
          const [host, ctr] = p.split('->');
          return [ctr, [{ HostIp: '0.0.0.0', HostPort: host!.split(':')[1] }]];
        }),
      ),
    },
  };
}

const TYPES = ['container', 'image'];

/** Whether an error is the container store's "No such container" (an ambiguous prefix is not: it is reported). */
const noSuchContainer = (e: unknown) => e instanceof ToolError && e.message.startsWith('No such container:');

export const inspect = command(
  {
    name: 'inspect',
    synopsis: ['[--type container|image] NAME|ID…'],
    description: [
      "Everything known about containers and images, as JSON in Docker's shapes. Each NAME|ID is looked up as Docker",
      'does: a container (by name, ID or unique ID prefix) first, then an image (by name, image ID or unique prefix,',
      'manifest digest, NAME@DIGEST); --type looks for one kind only.',
    ].join('\n'),
    options: [{ name: 'type', type: 'string', arg: 'container|image', help: 'only this kind of object' }],
    operands: { min: 1, names: 'NAME|ID…' },
    examples: ['cutaway inspect web', "cutaway inspect web | jq -r '.[0].NetworkSettings.IPAddress'", "cutaway inspect --type image busybox | jq -r '.[0].Id'"],
    classic: ['docker inspect', 'cat $CUTAWAY_ROOT/containers/ID/config.json $CUTAWAY_ROOT/containers/ID/state.json', 'jq . $CUTAWAY_ROOT/images/blobs/sha256/CONFIG'],
  },
  async (inv, root) => {
    const type = inv.options.type;
    if (type !== undefined && !TYPES.includes(type)) throw new UsageError(`"${type}" is not a valid value for --type`);
    const containers = new ContainerStore(root);
    let images: ImageStore | undefined;
    const imageStore = async () => (images ??= await ImageStore.open(root));
    /** One object by what was typed, in Docker's order; nothing found is Docker's error for the kind asked. */
    const lookup = async (handle: string): Promise<{ container: string } | { image: StoreImage }> => {
      if (type !== 'image') {
        try {
          return { container: containers.find(handle) };
        } catch (e) {
          if (type === 'container' || !noSuchContainer(e)) throw e;
        }
      }
      const store = await imageStore();
      try {
        return { image: store.find(handle).image };
      } catch (e) {
        if (type === 'image' || e instanceof AmbiguousImageError) throw e;
        throw new ToolError(`No such object: ${handle}`);
      }
    };
    // Every name is looked up first: an unknown one or an ambiguous prefix prints nothing.
    const found = [];
    for (const handle of inv.positionals) found.push(await lookup(handle));
    // The image store, for the containers' image IDs: a damaged one leaves them the manifest digest.
    if (found.some((f) => 'container' in f)) await imageStore().catch(() => undefined);
    const documents = found.map((f) => ('container' in f ? inspectOf(containers, f.container, images) : imageInspectOf(images!, f.image, root)));
    process.stdout.write(`${JSON.stringify(documents, null, 2)}\n`);
  },
);
