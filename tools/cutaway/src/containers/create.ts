import { isAbsolute, resolve } from 'node:path';
import { environmentEntry, readEnvFile, ToolError, UsageError, type OptionSpec, type OptionValues } from '@cutaway/cli';
import type { ContainerConfig } from '@cutaway/oci';
import { command } from '../command.ts';
import { planningPull } from '../images/planning-pull.ts';
import { imageFor } from '../images/resolve.ts';
import { withCgroup } from '../rootless.ts';
import type { Runner } from '../runner.ts';
import { holdStore } from '../store-lock.ts';
import { checkVolumeName, VolumeStore } from '../volumes/store.ts';
import { recordEvent } from '../system/events-log.ts';
import { anonymousVolumes, makeAnonymousVolumes, volumeMounts } from './anonymous-volumes.ts';
import { recordContainerEvent } from './events.ts';
import { healthcheckFor, HEALTH_OPTIONS } from './health.ts';
import { stopSettings, STOP_OPTIONS } from './stop.ts';
import { PROCESS_OPTIONS } from './process-options.ts';
import { checkContainerName, ContainerStore, type ContainerConfigRecord } from './store.ts';

/**
 * docker create, and what docker run shares with it: the options that say what the container is, and the
 * container made from them (store.create) — its record, state Created, nothing mounted or started yet.
 */

/** The options of docker create, which docker run takes too (run adds -d). */
export const CONTAINER_OPTIONS = [
  { name: 'rm', type: 'boolean', help: 'remove the container when it exits' },
  { name: 'name', type: 'string', arg: 'NAME', help: "the container's name (default: a random adjective_noun)" },
  PROCESS_OPTIONS.interactive,
  PROCESS_OPTIONS.tty,
  PROCESS_OPTIONS.env,
  PROCESS_OPTIONS.envFile,
  { name: 'publish', short: 'p', type: 'list', arg: 'HOST:CTR', help: 'publish a port (repeat)' },
  { name: 'volume', short: 'v', type: 'list', arg: 'SRC:DST[:ro]', help: 'a bind mount (SRC a host path), a named volume, or (DST alone) an anonymous volume (repeat)' },
  { name: 'tmpfs', type: 'list', arg: 'DST', help: 'a tmpfs (repeat)' },
  { name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit' },
  { name: 'cpus', type: 'string', arg: 'N', help: 'CPU limit' },
  { name: 'pids-limit', type: 'string', arg: 'N', help: 'process limit' },
  { name: 'network', type: 'string', arg: 'NET', help: 'bridge (default), host, none, or a netbridge network' },
  PROCESS_OPTIONS.workdir,
  PROCESS_OPTIONS.user,
  { name: 'hostname', type: 'string', arg: 'NAME', help: "hostname (default: the id's first 12 digits)" },
  { name: 'read-only', type: 'boolean', help: 'read-only rootfs' },
  { name: 'device', type: 'list', arg: 'HOST[:CTR][:rwm]', help: 'add a host device to the container, usable for the rwm given (default rwm) (repeat)' },
  { name: 'privileged', type: 'boolean', help: "every capability, the host's devices and every device usable, no masked or read-only paths" },
  { name: 'security-opt', type: 'list', arg: 'OPT', help: "seccomp=unconfined|builtin|FILE (a profile in Docker's JSON format), no-new-privileges (repeat)" },
  { name: 'entrypoint', type: 'string', arg: 'CMD', help: "replace the image's Entrypoint (its Cmd is dropped too)" },
  { name: 'label', short: 'l', type: 'list', arg: 'K=V', help: "a label, beside the image's (repeat)" },
  ...HEALTH_OPTIONS,
  ...STOP_OPTIONS,
] as const satisfies readonly OptionSpec[];

/** Docker's rule (docs "ENTRYPOINT"/"CMD"): the container's Entrypoint, and its Cmd (the command given or else the image's); --entrypoint drops the image's Cmd. */
export function processParts(image: ContainerConfig | undefined, entrypoint: string | undefined, command: string[]): { entrypoint: string[]; cmd: string[] } {
  return {
    entrypoint: entrypoint !== undefined ? (entrypoint === '' ? [] : [entrypoint]) : (image?.Entrypoint ?? []),
    cmd: command.length ? command : entrypoint !== undefined ? [] : (image?.Cmd ?? []),
  };
}

/** The process: Entrypoint, then Cmd (processParts). */
export function processArgs(image: ContainerConfig | undefined, entrypoint: string | undefined, command: string[]): string[] {
  const { entrypoint: entry, cmd } = processParts(image, entrypoint, command);
  const argv = [...entry, ...cmd];
  if (!argv.length) throw new ToolError('no command specified');
  return argv;
}

/** --security-opt seccomp=FILE with FILE made absolute: ns-exec reads it at each start and each exec, from wherever it runs. */
function securityOption(spec: string): string {
  const m = /^seccomp([:=])(.+)$/.exec(spec);
  return m && m[2] !== 'unconfined' && m[2] !== 'builtin' ? `seccomp${m[1]}${resolve(m[2]!)}` : spec;
}

/** -v: SRC an absolute path binds it; a name is a named volume, volumes/NAME/_data, made on first use. */
function volumeOption(root: string, spec: string, r: Runner): string {
  const [source = '', ...rest] = spec.split(':');
  if (!rest.length) throw new UsageError(`invalid volume ${JSON.stringify(spec)}: expected SRC:DST[:ro]`);
  if (isAbsolute(source)) return spec;
  const volumes = new VolumeStore(root);
  // VolumeStore.create's work, through the runner (a --dry-run script makes it).
  checkVolumeName(source);
  const fresh = !volumes.exists(source);
  r.mkdir(volumes.mountpoint(source));
  // Docker's `volume create` event for a volume run makes.
  if (fresh && !r.dryRun) recordEvent(root, 'volume', 'create', source, { driver: 'local' });
  return [volumes.mountpoint(source), ...rest].join(':');
}

/** What docker create and docker run are asked for: the options, the image and the command given. */
export interface ContainerRequest {
  options: OptionValues<typeof CONTAINER_OPTIONS>;
  ref: string;
  argv: string[];
}

/**
 * The container a create or run asks for, made (store.create, through the runner): the image found (oci-pull
 * when it is missing), the process from its config as under Docker (Entrypoint + Cmd, Env, WorkingDir, User),
 * everything that can be refused checked before the record exists. The caller holds the store (store-lock.ts).
 */
export async function newContainer(store: ContainerStore, { options: o, ref, argv: argvGiven }: ContainerRequest, root: string, r: Runner): Promise<ContainerConfigRecord> {
  const env = { CUTAWAY_ROOT: root };
  if (o.name !== undefined) checkContainerName(o.name);
  const networkOption = o.network ?? 'bridge';
  if (o.publish.length && (networkOption === 'host' || networkOption === 'none')) throw new UsageError(`published ports need a bridge network, not --network ${networkOption}`);
  const image = await imageFor(root, ref, env, r.dryRun ? planningPull(r, env) : undefined);
  const c = image.config.config;
  const argv = processArgs(c, o.entrypoint, argvGiven);
  const workdir = o.workdir ?? c?.WorkingDir;
  const user = o.user ?? c?.User;
  // -e and --env-file resolved now, as Docker's CLI does (ReadKVEnvStrings: the files first): the container keeps them.
  const variables = [...o['env-file'].flatMap((f) => readEnvFile(f)), ...o.env.map((e) => environmentEntry(e))];
  // `-e K` with K unset here unsets the image's K (Docker's ReplaceOrAppendEnvValues).
  const unset = new Set(variables.filter((e) => !e.includes('=')));
  // What the image asks of the runtime (HEALTHCHECK, STOPSIGNAL, VOLUME), with run's options over it.
  const healthcheck = healthcheckFor(c, o);
  const stop = stopSettings(c, o);
  const { volumes: anonymous, others: volumeSpecs } = anonymousVolumes(c, o.volume, o.tmpfs);
  const nsExecOptions = [
    ...(c?.Env ?? []).filter((e) => !unset.has(e.split('=')[0]!)).flatMap((e) => ['-e', e]),
    ...variables.filter((e) => e.includes('=')).flatMap((e) => ['-e', e]),
    ...(workdir ? ['-w', workdir] : []),
    ...(user ? ['-u', user] : []),
    ...volumeSpecs.flatMap((v) => ['-v', volumeOption(root, v, r)]),
    ...volumeMounts(root, anonymous),
    ...o.tmpfs.flatMap((t) => ['--tmpfs', t]),
    ...(o['read-only'] ? ['--read-only'] : []),
    ...(o.tty ? ['-t'] : []),
    ...o.device.flatMap((d) => ['--device', d]),
    ...(o.privileged ? ['--privileged'] : []),
    ...o['security-opt'].flatMap((s) => ['--security-opt', securityOption(s)]),
  ];
  const limits = ([['-m', o.memory], ['--cpus', o.cpus], ['--pids-limit', o['pids-limit']]] as const).flatMap(([flag, v]) => (v !== undefined ? [flag, v] : []));
  // The devices cgroup (cg-limit): Docker's default list plus the --device nodes (lifecycle.ts adds the default);
  // --privileged: every device, as Docker gives a privileged container.
  limits.push(...(o.privileged ? ['--devices', 'all'] : o.device.flatMap((d) => ['--device', d])));
  // Rootless: no cgroup, the limits ignored with a warning (rootless.ts).
  const cgroup = withCgroup(limits);
  const config = await r.createContainer(store, o.name, (id, name): ContainerConfigRecord => ({
    id,
    name,
    image: image.name,
    imageDigest: image.descriptor.digest,
    created: r.now('created'),
    command: argv,
    hostname: o.hostname ?? id.slice(0, 12),
    nsExecOptions,
    cgroup: cgroup ? id.slice(0, 12) : '',
    limits,
    network: networkOption === 'host' || networkOption === 'none' ? { mode: networkOption, ports: [] } : { mode: 'bridge', ...(networkOption !== 'bridge' && { name: networkOption }), ports: o.publish },
    autoRemove: o.rm,
    tty: o.tty,
    interactive: o.interactive,
    // What inspect shows of the request (store.ts): the Entrypoint part of argv, the image as typed, the labels, the -v as given, -d.
    entrypoint: processParts(c, o.entrypoint, argvGiven).entrypoint,
    imageRef: ref,
    labels: { ...c?.Labels, ...Object.fromEntries(o.label.map((l) => (l.includes('=') ? [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] : [l, '']))) },
    binds: volumeSpecs,
    env: variables,
    detached: 'detach' in o && o.detach === true,
    ...(healthcheck && { healthcheck }),
    ...(Array.isArray(c?.Shell) && { shell: c.Shell as string[] }),
    ...stop,
    ...(anonymous.length && { anonymousVolumes: anonymous.map((v) => v.name) }),
  }));
  makeAnonymousVolumes(root, anonymous, r);
  if (!r.dryRun) recordContainerEvent(store, config, 'create');
  return config;
}

/** The synopsis and operands docker create and docker run share. */
export const CONTAINER_OPERANDS = { synopsis: ['[options] IMAGE [COMMAND] [ARG…]'], operands: { min: 1, names: 'IMAGE [COMMAND] [ARG…]' }, interspersed: false, errorStatus: 125 };

export const create = command(
  {
    name: 'create',
    summary: 'Make a container without starting it',
    ...CONTAINER_OPERANDS,
    description: [
      "docker create: the container run would make, with all of run's options (oci-pull when the image is missing),",
      'recorded and left in state Created: nothing mounted, no cgroup, no network, no process until `cutaway start`',
      '(in the background) or `cutaway start -a` (attached, with its exit status). Prints its id.',
    ].join('\n'),
    options: CONTAINER_OPTIONS,
    dryRun: true,
    examples: ['cutaway create --name web -p 8080:80 busybox httpd -f -p 80 && cutaway start web', 'id=$(cutaway create busybox echo hi); cutaway start -a "$id"'],
    classic: ['docker create', 'podman create', 'mkdir containers/ID && echo {…} > containers/ID/config.json'],
  },
  async (inv, root, r) => {
    const [ref, ...argv] = inv.positionals as [string, ...string[]];
    const store = new ContainerStore(root);
    const hold = r.dryRun ? { release: () => {} } : await holdStore(root);
    try {
      const config = await newContainer(store, { options: inv.options, ref, argv }, root, r);
      r.print(config.id);
    } finally {
      hold.release();
    }
  },
);
