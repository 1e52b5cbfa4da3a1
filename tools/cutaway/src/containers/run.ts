import { isAbsolute, resolve } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';
import type { ContainerConfig } from '@cutaway/oci';
import { checkContainerName, ContainerStore, type ContainerConfigRecord } from './store.ts';
import { imageFor } from '../images/resolve.ts';
import { planningPull } from '../images/planning-pull.ts';
import { command } from '../command.ts';
import { prepare, teardown } from './lifecycle.ts';
import { PROCESS_OPTIONS } from './process-options.ts';
import { holdStore } from '../store-lock.ts';
import { holdSignals, signalled, signalStatus } from '../tools.ts';
import type { Runner } from '../runner.ts';
import { withCgroup } from '../rootless.ts';
import { checkVolumeName, VolumeStore } from '../volumes/store.ts';

/** Docker's rule (docs "ENTRYPOINT"/"CMD"): Entrypoint, then the command given or else the image's Cmd; --entrypoint drops the image's Cmd. */
export function processArgs(image: ContainerConfig | undefined, entrypoint: string | undefined, command: string[]): string[] {
  const entry = entrypoint !== undefined ? (entrypoint === '' ? [] : [entrypoint]) : (image?.Entrypoint ?? []);
  const cmd = command.length ? command : entrypoint !== undefined ? [] : (image?.Cmd ?? []);
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
  r.mkdir(volumes.mountpoint(source));
  return [volumes.mountpoint(source), ...rest].join(':');
}

/**
 * docker run: oci-pull (when the image is missing), overlay-mount, cg-limit (with -m, --cpus or --pids-limit),
 * netbridge (the bridge network and -p), ns-exec. The image config becomes the process as under Docker
 * (Entrypoint + Cmd, Env, WorkingDir, User).
 */
export const run = command(
  {
    name: 'run',
    synopsis: ['[options] IMAGE [COMMAND] [ARG…]'],
    description: [
      'docker run, from the tools: oci-pull (when the image is missing), overlay-mount, cg-limit (with -m,',
      '--cpus or --pids-limit), netbridge (the bridge network and -p), ns-exec. The image config becomes the',
      'process as under Docker (Entrypoint + Cmd, Env, WorkingDir, User). The container gets a 64-hex id and a',
      "name; its state is in $CUTAWAY_ROOT/containers/<id>. Exits with the command's status (125: cutaway failed).",
    ].join('\n'),
    errorStatus: 125,
    interspersed: false,
    operands: { min: 1, names: 'IMAGE [COMMAND] [ARG…]' },
    options: [
      { name: 'rm', type: 'boolean', help: 'remove the container when it exits' },
      { ...PROCESS_OPTIONS.detach, help: 'run in the background and print the container id' },
      { name: 'name', type: 'string', arg: 'NAME', help: "the container's name (default: a random adjective_noun)" },
      PROCESS_OPTIONS.interactive,
      PROCESS_OPTIONS.tty,
      PROCESS_OPTIONS.env,
      PROCESS_OPTIONS.envFile,
      { name: 'publish', short: 'p', type: 'list', arg: 'HOST:CTR', help: 'publish a port (repeat)' },
      { name: 'volume', short: 'v', type: 'list', arg: 'SRC:DST[:ro]', help: 'a bind mount (SRC a host path) or a named volume (repeat)' },
      { name: 'tmpfs', type: 'list', arg: 'DST', help: 'a tmpfs (repeat)' },
      { name: 'memory', short: 'm', type: 'string', arg: 'BYTES', help: 'memory limit' },
      { name: 'cpus', type: 'string', arg: 'N', help: 'CPU limit' },
      { name: 'pids-limit', type: 'string', arg: 'N', help: 'process limit' },
      { name: 'network', type: 'string', arg: 'NET', help: 'bridge (default), host, none, or a netbridge network' },
      PROCESS_OPTIONS.workdir,
      PROCESS_OPTIONS.user,
      { name: 'hostname', type: 'string', arg: 'NAME', help: "hostname (default: the id's first 12 digits)" },
      { name: 'read-only', type: 'boolean', help: 'read-only rootfs' },
      { name: 'device', type: 'list', arg: 'HOST[:CTR][:rwm]', help: "add a host device to the container, usable for the rwm given (default rwm) (repeat)" },
      { name: 'privileged', type: 'boolean', help: "every capability, the host's devices and every device usable, no masked or read-only paths" },
      { name: 'security-opt', type: 'list', arg: 'OPT', help: "seccomp=unconfined|builtin|FILE (a profile in Docker's JSON format), no-new-privileges (repeat)" },
      { name: 'entrypoint', type: 'string', arg: 'CMD', help: "replace the image's Entrypoint (its Cmd is dropped too)" },
    ],
    dryRun: true,
    examples: ['cutaway run --rm busybox echo hello', 'cutaway run --dry-run --rm -p 8080:80 busybox httpd -f -p 80 > run.sh   # the tool commands, as a script', 'cutaway run -d --name web -p 8080:80 busybox httpd -f -p 80', 'cutaway run --rm -it -m 64m debian bash'],
    classic: ['docker run', 'podman run'],
  },
  async (inv, root, r) => {
    const o = inv.options;
    const [ref, ...argvGiven] = inv.positionals as [string, ...string[]];
    const env = { CUTAWAY_ROOT: root };
    const store = new ContainerStore(root);
    // From here on a signal (Ctrl-C, kill) is passed to the container or, before it runs, ends the run once
    // what was made is taken down: never a half-made container left behind.
    if (!r.dryRun) holdSignals();
    if (o.name !== undefined) checkContainerName(o.name);
    const networkOption = o.network ?? 'bridge';
    if (o.publish.length && (networkOption === 'host' || networkOption === 'none')) throw new UsageError(`published ports need a bridge network, not --network ${networkOption}`);
    // From the image until the container runs, the store's shared lock (store-lock.ts): a prune at the same
    // time waits, and then sees a running container, whose image and layers it keeps.
    // (Not while planning a --dry-run: that changes nothing, not even the lock file; the script takes no lock.)
    const hold = r.dryRun ? { release: () => {} } : await holdStore(root);
    try {
      const image = await imageFor(root, ref, env, r.dryRun ? planningPull(r, env) : undefined);
      const c = image.config.config;
      const argv = processArgs(c, o.entrypoint, argvGiven);
      // Everything that can be refused is checked before the container exists.
      const workdir = o.workdir ?? c?.WorkingDir;
      const user = o.user ?? c?.User;
      const nsExecOptions = [
        ...(c?.Env ?? []).flatMap((e) => ['-e', e]),
        ...o['env-file'].flatMap((f) => ['--env-file', f]),
        ...o.env.flatMap((e) => ['-e', e]),
        ...(workdir ? ['-w', workdir] : []),
        ...(user ? ['-u', user] : []),
        ...o.volume.flatMap((v) => ['-v', volumeOption(root, v, r)]),
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
      }));
      let nsExecArgs: string[];
      try {
        nsExecArgs = await r.guarded(
          () => prepare(store, config, env, r),
          () => teardown(store, config, env, true, r),
        );
      } catch (e) {
        // Ctrl-C reaches the tools prepare runs too (the terminal signals the whole group): no failure of theirs.
        const interrupted = signalled();
        if (interrupted) return signalStatus(interrupted);
        throw e;
      }
      const interrupted = signalled();
      if (interrupted) {
        await teardown(store, config, env, config.autoRemove, r);
        return signalStatus(interrupted);
      }
      if (o.detach) {
        await r.guarded(
          () => r.startShim(store, config.id, nsExecArgs, root),
          () => teardown(store, config, env, true, r),
        );
        r.print(config.id);
        return 0;
      }
      const code = await r.runProcess(store, config, nsExecArgs, { stdin: o.interactive ? 'inherit' : 'ignore', out: process.stdout, err: process.stderr, running: () => hold.release() }, env);
      await teardown(store, config, env, config.autoRemove, r);
      return r.status(code);
    } finally {
      hold.release();
    }
  },
);
