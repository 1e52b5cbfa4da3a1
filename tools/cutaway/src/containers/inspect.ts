import { command } from '../command.ts';
import { portsText } from './ports.ts';
import { currentState } from './state.ts';
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
function inspectOf(store: ContainerStore, id: string): unknown {
  const c = store.config(id);
  const s = currentState(store, id);
  return {
    Id: c.id,
    Created: c.created,
    Path: c.command[0],
    Args: c.command.slice(1),
    State: { Status: s.status, Running: s.status === 'running', Pid: s.status === 'running' ? s.pid : 0, ExitCode: s.exitCode ?? 0, StartedAt: s.startedAt ?? '', FinishedAt: s.finishedAt ?? '' },
    Image: c.imageDigest,
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

export const inspect = command(
  {
    name: 'inspect',
    synopsis: ['CONTAINER…'],
    description: 'Everything known about containers, as JSON.',
    options: [],
    operands: { min: 1, names: 'CONTAINER…' },
    examples: ['cutaway inspect web', "cutaway inspect web | jq -r '.[0].NetworkSettings.IPAddress'"],
    classic: ['docker inspect', 'cat $CUTAWAY_ROOT/containers/ID/config.json $CUTAWAY_ROOT/containers/ID/state.json'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    // Every name is looked up first: an unknown one or an ambiguous prefix prints nothing.
    const ids = inv.positionals.map((n) => store.find(n));
    process.stdout.write(`${JSON.stringify(ids.map((id) => inspectOf(store, id)), null, 2)}\n`);
  },
);
