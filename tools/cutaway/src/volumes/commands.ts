import { ROOT_OPTION, stateRoot, ToolError, UsageError, type Invocation, type ToolSpec } from '@cutaway/cli';
import type { Command } from '../command.ts';
import { confirmOrCancel } from '../confirm.ts';
import { ContainerStore } from '../containers/store.ts';
import { diskUsage } from '../system/disk-usage.ts';
import { humanSize, table } from '../format.ts';
import { VolumeStore } from './store.ts';

/** docker volume create, ls, inspect, rm, prune: the local driver's volumes, directories in $CUTAWAY_ROOT/volumes. */

const spec: ToolSpec = {
  name: 'cutaway volume',
  version: '0.1.0',
  synopsis: ['create [VOLUME]', 'ls [-q]', 'inspect VOLUME…', 'rm [-f] VOLUME…', 'prune [-f]'],
  description: [
    "Docker's named volumes (the local driver): VOLUME is the directory $CUTAWAY_ROOT/volumes/VOLUME/_data, which",
    '`cutaway run -v VOLUME:/path` mounts (and makes, when it is not there). create without a name makes one with 64',
    'random hex digits. rm refuses a volume a container uses, running or stopped; prune removes every volume no',
    'container uses and says how much space that freed.',
  ].join('\n'),
  options: [{ name: 'force', short: 'f', type: 'boolean', help: 'rm: no error for a volume that is not there; prune: do not ask for confirmation' }, ROOT_OPTION],
  examples: ['cutaway volume create data', 'cutaway run --rm -v data:/data busybox sh -c "date > /data/when"', 'cutaway volume inspect data', 'cutaway volume rm data', 'cutaway volume prune -f'],
  classic: ['docker volume create|ls|inspect|rm|prune', 'mkdir -p /var/lib/cutaway/volumes/data/_data', 'rm -rf /var/lib/cutaway/volumes/data'],
};

/** Docker's `Total reclaimed space:` line (go-units HumanSize). */
export function reclaimedLine(bytes: number): string {
  return `Total reclaimed space: ${humanSize(bytes, 4)}\n`;
}

function inspectOf(volumes: VolumeStore, name: string): unknown {
  return { CreatedAt: volumes.createdAt(name), Driver: 'local', Labels: null, Mountpoint: volumes.mountpoint(name), Name: name, Options: null, Scope: 'local' };
}

/** rm: every volume checked first (missing, unless -f; in use), so that one refusal removes none. */
function remove(volumes: VolumeStore, containers: ContainerStore, names: string[], force: boolean): string {
  if (!names.length) throw new UsageError('"cutaway volume rm" requires at least 1 argument: VOLUME…');
  const configs = containers.ids().map((id) => containers.config(id));
  const present = names.filter((name) => {
    if (volumes.exists(name)) return true;
    if (!force) throw new ToolError(`No such volume: ${name}`);
    return false;
  });
  for (const name of present) {
    const users = volumes.usersOf(name, configs);
    // moby volume service: errVolumeInUse, with the ids of the containers that use it.
    if (users.length) throw new ToolError(`remove ${name}: volume is in use - [${users.join(' ')}]`);
  }
  for (const name of new Set(present)) volumes.remove(name);
  return names.map((n) => `${n}\n`).join('');
}

async function prune(volumes: VolumeStore, containers: ContainerStore, force: boolean): Promise<string> {
  await confirmOrCancel(force, 'This will remove all local volumes not used by at least one container.', 'volume prune');
  const configs = containers.ids().map((id) => containers.config(id));
  const unused = volumes.names().filter((name) => !volumes.usersOf(name, configs).length);
  let freed = 0;
  for (const name of unused) {
    freed += diskUsage(volumes.path(name));
    volumes.remove(name);
  }
  return `${unused.length ? `Deleted Volumes:\n${unused.map((n) => `${n}\n`).join('')}\n` : ''}${reclaimedLine(freed)}`;
}

async function volumeCommand(inv: Invocation): Promise<number> {
  const root = stateRoot(inv.options.root);
  const volumes = new VolumeStore(root);
  const containers = new ContainerStore(root);
  const [verb, ...args] = inv.positionals;
  let out: string;
  switch (verb) {
    case 'create': {
      if (args.length > 1) throw new UsageError('"cutaway volume create" requires at most 1 argument: [VOLUME]');
      const name = args[0] ?? VolumeStore.randomName();
      volumes.create(name);
      out = `${name}\n`;
      break;
    }
    case 'ls':
      if (args.length) throw new UsageError('"cutaway volume ls" accepts no arguments');
      out = inv.options.quiet ? volumes.names().map((n) => `${n}\n`).join('') : table([['DRIVER', 'VOLUME NAME'], ...volumes.names().map((n) => ['local', n])]);
      break;
    case 'inspect':
      if (!args.length) throw new UsageError('"cutaway volume inspect" requires at least 1 argument: VOLUME…');
      for (const name of args) if (!volumes.exists(name)) throw new ToolError(`No such volume: ${name}`);
      out = `${JSON.stringify(args.map((name) => inspectOf(volumes, name)), null, 2)}\n`;
      break;
    case 'rm':
      out = remove(volumes, containers, args, Boolean(inv.options.force));
      break;
    case 'prune':
      if (args.length) throw new UsageError('"cutaway volume prune" accepts no arguments');
      out = await prune(volumes, containers, Boolean(inv.options.force));
      break;
    default:
      throw new UsageError(`cutaway volume ${verb ? `${verb}: no such command` : 'COMMAND'}: create, ls, inspect, rm or prune`);
  }
  process.stdout.write(out);
  return 0;
}

export const volumeCommands: Record<string, Command> = { volume: { spec, run: volumeCommand } };
