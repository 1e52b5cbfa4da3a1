import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { imageStoreDir, shellCommand, ToolError, UsageError } from '@cutaway/cli';
import {
  commandArgv, exposedPorts, findStage, hasWildcards, matchSources, parseDockerfile, resolveBase, resolveGlobalArgs, StageScope,
  type AddInstruction, type CopyInstruction, type Instruction, type RunInstruction, type Stage,
} from '@cutaway/dockerfile';
import { applyConfigChanges, findImage, formatReference, OciLayout, parseReference, type ContainerConfig } from '@cutaway/oci';
import { contentHash, listContext } from './context.ts';
import { isArchive, type Owner, type Staging } from './staging.ts';
import { RunMounts, type MountHost } from './run-mounts.ts';
import { parseSecrets, type Secrets } from './secrets.ts';
import { copyOptions } from './copy-options.ts';
import { addUrl, downloadAll, removeDownloads } from './add-url.ts';
import { copyInline, runPlan, pipesMount, type RunPlan } from './heredocs.ts';
import { targetStage, neededStages, unusedBuildArgsWarning } from './stages.ts';
import { buildInput } from './stdin-context.ts';
import { baseTriggers, CLEAR_ONBUILD, healthcheckChange } from './onbuild.ts';
import { baseImage, buildPlatforms, platformArgs, type BuildPlatforms } from './platform.ts';
import { command } from '../command.ts';
import { imageFor } from '../images/resolve.ts';
import { planningPull } from '../images/planning-pull.ts';
import { CACHE_REPOSITORY, familiarName } from '../images/store.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { recordContainerEvent } from '../containers/events.ts';
import { createCgroup, mountRootfs, teardown } from '../containers/lifecycle.ts';
import { netbridgeHere } from '../../../netbridge/src/commands.ts';
import { allDone } from '../containers/parallel.ts';
import { configText, ContainerStore, type ContainerConfigRecord } from '../containers/store.ts';
import { usingStore } from '../store-lock.ts';
import { holdSignals, stopIfSignalled } from '../tools.ts';
import type { Runner } from '../runner.ts';
import { withCgroup } from '../rootless.ts';
import { resolveInRoot } from '@cutaway/libc/in-root';

/** The build log (stderr); `-q` silences it, RUN's output included, as docker build -q does. */
let quiet = false;
/** Planning a --dry-run: no log (the script's RUNs show their output). */
let planning = false;
function say(text: string): void {
  if (!quiet && !planning) process.stderr.write(`${text}\n`);
}

/**
 * A value as `--change` reads it (libs/oci config-change splitWords): in double quotes, with only `"` and `\`
 * escaped, so tabs and newlines arrive as they are (JSON's \n would come back as a plain n).
 */
const quote = (value: string) => `"${value.replace(/["\\]/g, '\\$&')}"`;

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/** Where a stage is: its current image (undefined: scratch, nothing yet), digest, config, variables. */
interface StageState {
  /** The stage's place in the Dockerfile. */
  index: number;
  image?: string;
  digest: string;
  config: ContainerConfig;
  scope: StageScope;
  /** Whether this stage has a CMD of its own: an ENTRYPOINT after it keeps it (Docker's cmdSet). */
  cmdSet?: boolean;
}

class Builder {
  private readonly env: NodeJS.ProcessEnv;
  private readonly containers: ContainerStore;
  private readonly stages: StageState[] = [];
  private readonly contextPaths: string[];
  private layout!: OciLayout;

  constructor(
    private readonly root: string,
    private readonly context: string,
    private readonly noCache: boolean,
    /** RUN's network: a netbridge network, or host or none. */
    private readonly network: string,
    /** --rm: a RUN's container goes once its step has succeeded (Docker's default; --rm=false keeps it). */
    private readonly rm: boolean,
    /** --force-rm: a RUN's container goes whatever happened, a failed one too (which --rm keeps). */
    private readonly forceRm: boolean,
    private readonly r: Runner,
  ) {
    this.env = { CUTAWAY_ROOT: root };
    this.containers = new ContainerStore(root);
    this.contextPaths = listContext(context);
  }

  async open(): Promise<void> {
    // create opens the store when it is there already. (A --dry-run plan reads the store only through imageFor.)
    if (!this.r.dryRun) this.layout = await OciLayout.create(imageStoreDir(this.root));
  }

  /**
   * One image-making step: taken from the cache when its key (parent, the
   * instruction as substituted, and what else it depends on) was built
   * before, made by `produce` otherwise. The result is tagged in the store
   * as localhost/cutaway-cache:<key>, which is the cache.
   */
  private async step(state: StageState, keyParts: unknown[], produce: (tag: string) => Promise<string>, changes: readonly string[] = []): Promise<void> {
    // (In a --dry-run script the parent's digest is a step's output: the key is computed when it runs.)
    const key = this.r.dryRun ? this.r.sha256(JSON.stringify([state.digest, ...keyParts]), 'key') : createHash('sha256').update(JSON.stringify([state.digest, ...keyParts])).digest('hex');
    const tag = `${CACHE_REPOSITORY}:${key}`;
    stopIfSignalled();
    // A --dry-run script builds every step, as --no-cache does: it reproduces the build from scratch.
    const cached = !this.r.dryRun && !this.noCache && (await this.layout.resolve(tag));
    if (cached) say(' ---> Using cache');
    const digest = cached ? undefined : await produce(tag);
    if (this.r.dryRun) {
      // The image is made when the script runs: its digest is the step's output, its config the parent's changed.
      state.image = tag;
      state.digest = digest!;
      state.config = applyConfigChanges(state.config, changes);
      return;
    }
    const image = await findImage(this.layout, tag);
    state.image = tag;
    state.digest = image.descriptor.digest;
    state.config = image.config.config ?? {};
    say(` ---> ${short(image.manifest.config.digest)}`);
  }

  /** A metadata instruction: no layer, a history entry, the config changed (docker commit -c). */
  private async metadata(state: StageState, change: string, before: string[] = []): Promise<void> {
    await this.step(
      state,
      [...before, change],
      (tag) => this.r.tool('layer-commit', ['-q', '--empty', ...[...before, change].flatMap((c) => ['--change', c]), '--image', state.image ?? 'scratch', '--tag', tag, '--created-by', `/bin/sh -c #(nop) ${change}`], this.env, 'image'),
      [...before, change],
    );
  }

  async stage(stage: Stage, globalArgs: Map<string, string>, buildArgs: Record<string, string>, total: number, counter: { step: number }): Promise<void> {
    const base = resolveBase(this.dockerfile, stage, globalArgs);
    say(`Step ${++counter.step}/${total} : ${stage.from.original}`);
    let state: StageState;
    if (base.stage) {
      const parent = this.stages[base.stage.index]!;
      // A new stage starts with the parent's image and variables, but no CMD of its own yet (BuildKit's cmdSet).
      state = { ...parent, index: stage.index, config: { ...parent.config }, cmdSet: false, scope: new StageScope(this.dockerfile, { globalArgs, buildArgs, parent: parent.scope }) };
    } else if (base.image === 'scratch') {
      state = { index: stage.index, digest: 'scratch', config: {}, scope: new StageScope(this.dockerfile, { globalArgs, buildArgs }) };
    } else {
      // For FROM --platform's platform, or --platform's (platform.ts).
      const image = await baseImage(this.root, base.image, base.platform, this.platforms, this.env, this.r.dryRun ? planningPull(this.r, this.env) : undefined);
      const config = image.config.config ?? {};
      state = { index: stage.index, image: image.name, digest: image.descriptor.digest, config, scope: new StageScope(this.dockerfile, { globalArgs, buildArgs, imageEnv: config.Env ?? [], imageShell: (config.Shell as string[] | undefined) ?? [] }) };
    }
    if (!quiet && !planning) say(` ---> ${state.image ? short((await findImage(this.layout, state.image)).manifest.config.digest) : 'scratch'}`);
    // A base image's ONBUILD triggers run first, on its image with OnBuild emptied (onbuild.ts).
    const triggers = base.stage || !state.image ? [] : baseTriggers(state.config, base.image);
    if (triggers.length) {
      say(`# Executing ${triggers.length} build trigger${triggers.length > 1 ? 's' : ''}`);
      await this.metadata(state, CLEAR_ONBUILD);
      for (const trigger of triggers) await this.instruction(state, state.scope.apply(trigger));
    }
    for (const raw of stage.instructions) {
      say(`Step ${++counter.step}/${total} : ${raw.original}`);
      await this.instruction(state, state.scope.apply(raw));
    }
    this.stages[stage.index] = state;
  }

  dockerfile!: ReturnType<typeof parseDockerfile>;
  /** The build's and the target's platform (platform.ts). */
  platforms!: BuildPlatforms;
  /** --secret: what a RUN's type=secret mounts get (secrets.ts). */
  secrets: Secrets = new Map();

  private async instruction(state: StageState, ins: Instruction): Promise<void> {
    const scope = state.scope;
    switch (ins.keyword) {
      case 'ARG':
        return; // a variable of the build only: nothing in the image (scope.apply recorded it)
      case 'RUN':
        return this.run(state, ins, runPlan(ins, scope.shell));
      case 'COPY':
      case 'ADD':
        return this.copy(state, ins);
      case 'CMD':
        state.cmdSet = true;
        return this.metadata(state, `CMD ${JSON.stringify(commandArgv(ins, scope.shell))}`);
      case 'ENTRYPOINT': {
        // ENTRYPOINT resets the base image's CMD, not one this stage set before it: that CMD goes first again.
        const before = state.cmdSet && state.config.Cmd ? [`CMD ${JSON.stringify(state.config.Cmd)}`] : [];
        return this.metadata(state, `ENTRYPOINT ${JSON.stringify(commandArgv(ins, scope.shell))}`, before);
      }
      case 'ENV':
        return this.metadata(state, `ENV ${ins.pairs.map((p) => `${p.key}=${quote(p.value)}`).join(' ')}`);
      case 'LABEL':
        return this.metadata(state, `LABEL ${ins.pairs.map((p) => `${quote(p.key)}=${quote(p.value)}`).join(' ')}`);
      case 'WORKDIR': {
        // Relative to the WORKDIR before, as Docker resolves it; the directory is made by the next RUN (ns-exec -w) or by COPY.
        const dir = posix.resolve(state.config.WorkingDir || '/', ins.path);
        return this.metadata(state, `WORKDIR ${dir}`);
      }
      case 'EXPOSE':
        return this.metadata(state, `EXPOSE ${exposedPorts(ins.ports).join(' ')}`);
      case 'USER':
        return this.metadata(state, `USER ${ins.user}`);
      case 'VOLUME':
        return this.metadata(state, `VOLUME ${JSON.stringify(ins.paths)}`);
      case 'SHELL':
        return this.metadata(state, `SHELL ${JSON.stringify(ins.shell)}`);
      case 'HEALTHCHECK':
        return this.metadata(state, healthcheckChange(ins.check));
      case 'ONBUILD':
        return this.metadata(state, `ONBUILD ${ins.trigger}`);
      case 'STOPSIGNAL':
        return this.metadata(state, `STOPSIGNAL ${ins.signal}`);
      default:
        throw new ToolError(`${ins.keyword} is not supported by cutaway build (line ${ins.line})`);
    }
  }

  /**
   * A step's container, recorded in the store as Docker's classic builder records one per RUN and COPY: `ps
   * -a` shows it while the step runs (and after a build killed with -9), and rm or `system prune` take down
   * what it had. Removed by the step once it is done (a RUN's: see keepOrRemove). A RUN's (`runs`) gets a
   * cgroup, as a `docker run` container does (see run()); a COPY's only mounts an image and runs nothing.
   */
  private async stepContainer(state: StageState, command: string[], network: string, runs: boolean): Promise<ContainerConfigRecord> {
    const ownNetwork = !['host', 'none'].includes(network);
    const config = await this.r.createContainer(this.containers, undefined, (id, name) => ({
      id,
      name,
      image: state.image!,
      imageDigest: state.digest,
      created: this.r.now('created'),
      command,
      hostname: id.slice(0, 12),
      nsExecOptions: [],
      cgroup: runs && withCgroup([]) ? id.slice(0, 12) : '',
      limits: [],
      // The endpoint is named before it exists, so that whoever takes the container down takes it down too;
      // cwbuild- tells a step's network namespace and veth from a container's.
      network: ownNetwork ? { mode: 'bridge', ...(network !== 'bridge' && { name: network }), endpoint: `cwbuild-${id.slice(0, 10)}`, ports: [] } : { mode: network as 'host' | 'none', ports: [] },
      autoRemove: true,
      tty: false,
      interactive: false,
    }));
    if (!this.r.dryRun) recordContainerEvent(this.containers, config, 'create');
    return config;
  }

  /**
   * RUN: a temporary container on the bridge network; its upper directory becomes the layer. Docker's classic
   * builder runs each RUN in a container made as `docker run` makes one (moby's builder gives it the daemon's
   * default HostConfig): the same devices cgroup (cg-limit --devices default, through lifecycle.ts createCgroup,
   * as run's prepare makes it; none rootless) and the same seccomp profile (ns-exec's default, Docker's).
   */
  private async run(state: StageState, ins: RunInstruction | undefined, { argv, script }: RunPlan): Promise<void> {
    // --mount, --network and the declared volumes (run-mounts.ts): checked now, made and undone around the process.
    const mounts = await RunMounts.plan(this.mountHost(state), ins ?? { mounts: [], line: 0 }, {
      vars: state.scope.vars, escape: this.dockerfile.escape, file: this.dockerfile.file, workdir: state.config.WorkingDir || '/', buildNetwork: this.network, volumes: Object.keys(state.config.Volumes ?? {}),
    });
    const network = mounts.network;
    const args = [...state.scope.vars].filter(([k]) => !state.scope.env.has(k));
    // Docker's created_by for a RUN with build args: `|N K=V… /bin/sh -c …`.
    const createdBy = `${args.length ? `|${args.length} ${args.map(([k, v]) => `${k}=${v}`).join(' ')} ` : ''}${argv.join(' ')}`;
    await this.step(state, ['RUN', argv, args, ...mounts.key, ...(script ? [script.body] : [])], async (tag) => {
      if (!state.image) throw new ToolError('RUN needs a base image with a shell: FROM scratch has none');
      const config = await this.stepContainer(state, argv, network, true);
      const { id } = config;
      say(` ---> Running in ${id.slice(0, 12)}`);
      // A `#!` heredoc's script, mounted at /dev/pipes (heredocs.ts).
      const pipes = script && (await pipesMount(this.r, script));
      const env = [...state.scope.vars].map(([k, v]) => `${k}=${v}`);
      const identity = [...(state.config.WorkingDir ? ['-w', state.config.WorkingDir] : []), ...(state.config.User ? ['-u', state.config.User] : [])];
      // Until the command has run, a failure (a tool's, a signal) takes the step's container down whole.
      const removeIt = async () => {
        if (pipes) this.r.removeTree(pipes.dir);
        await mounts.release();
        await teardown(this.containers, config, this.env, true, this.r);
      };
      const code = await this.r.guarded(async () => {
        // Side by side, as run's prepare does them, and all waited for before a failure goes on, so that removeIt finds
        // each done or not begun. The network by netbridge's own code here (a Node start fewer for each RUN: issue 22).
        const cgroup = createCgroup(config, this.env, this.r);
        const rootfs = mountRootfs(this.containers, ['-q', state.image!, '--name', id], this.env, this.r);
        const up = config.network?.endpoint ? ['up', config.network.endpoint, '--network', network] : undefined;
        const endpoint = up ? this.r.inProcess('netbridge', up, this.env, 'netns', (steps) => netbridgeHere(up, this.env, steps)) : undefined;
        const [merged, , netns] = await allDone([rootfs, cgroup, endpoint] as const);
        const mountArgs = await mounts.prepare(merged);
        stopIfSignalled();
        const nsExecArgs = [
          '--rootfs', merged, ...(netns ? ['--netns', netns] : ['--net', network]), '--hostname', config.hostname,
          '--pid-file', this.containers.path(id, 'pid'), '--exit-file', this.containers.path(id, 'exit'),
          ...(config.cgroup ? ['--cgroup', config.cgroup] : []),
          ...env.flatMap((e) => ['-e', e]), ...identity, ...mountArgs, ...(pipes?.args ?? []),
          '--', ...argv,
        ];
        // The command's output is the build's log: stderr (nothing with -q). A signal to the build kills it.
        const log = quiet ? undefined : process.stderr;
        const code = await this.r.runProcess(this.containers, config, nsExecArgs, { stdin: 'ignore', out: log, err: log }, this.env, 'kill');
        await mounts.finish(merged, this.containers.path(id, 'upper'));
        if (pipes) this.r.removeTree(pipes.dir);
        stopIfSignalled();
        return code;
      }, removeIt);
      // The command failed: Docker's classic builder keeps the step's container unless --force-rm (ps -a shows
      // it, with its upper directory: what the step changed up to the failure; rm or prune removes it).
      await this.r.checkStatus(code, (status) => `The command '${argv.join(' ')}' returned a non-zero code: ${status}`, async () => {
        const kept = await this.keepOrRemove(config, false);
        const image = await this.r.imageId(imageStoreDir(this.root), state.image!, true);
        // The image's ID goes in as it is: hex digits need no quotes, and in a script it is a variable's reference.
        const rerun = `${shellCommand(['cutaway', 'run', '--rm', '--network', network, ...env.flatMap((e) => ['-e', e]), ...identity, '--entrypoint', argv[0]!])} ${image} ${shellCommand(argv.slice(1))}`.trimEnd();
        return `rerun the step: ${rerun}${kept ? `; its container ${id.slice(0, 12)} is kept (cutaway ps -a)` : ''}`;
      });
      const made = await this.r.guarded(() => this.r.tool('layer-commit', ['-q', id, '--image', state.image!, '--tag', tag, '--created-by', createdBy], this.env, 'image'), removeIt);
      await this.keepOrRemove(config, true);
      return made;
    });
  }

  /** What a RUN's mounts need of the build (run-mounts.ts): the images they read, mounted as step containers of their own. */
  private mountHost(state: StageState): MountHost {
    const mounted: ContainerConfigRecord[] = [];
    return {
      r: this.r, env: this.env, root: this.root, context: this.context, contextPaths: this.contextPaths, secrets: this.secrets,
      source: (from) => this.copySource(from, state.index, []),
      mount: async (args, what) => {
        const config = await this.stepContainer(state, ['/bin/sh', '-c', `#(nop) ${what}`], 'none', false);
        mounted.push(config);
        return this.r.tool('overlay-mount', ['-q', ...args, '--name', config.id], this.env, 'mount_root');
      },
      // (A script's undo is recorded after its body: it takes them all down again.)
      unmountAll: async () => {
        for (const config of this.r.dryRun ? [...mounted] : mounted.splice(0)) await teardown(this.containers, config, this.env, true, this.r);
      },
    };
  }

  /**
   * A RUN's container once its command has ended, taken down, and removed as Docker's classic builder removes
   * its intermediate containers (moby's dispatch: after a step, all of them with --force-rm, or with --rm, the
   * default, when the step succeeded), saying so as it does; else kept, an ordinary exited container (`ps -a`,
   * `start`, `rm`: not one to remove when it exits again). Returns whether it is kept.
   */
  private async keepOrRemove(config: ContainerConfigRecord, succeeded: boolean): Promise<boolean> {
    const remove = this.forceRm || (this.rm && succeeded);
    if (!remove) await this.r.writeFile(this.containers.path(config.id, 'config.json'), configText({ ...config, autoRemove: false }));
    await teardown(this.containers, config, this.env, remove, this.r);
    if (remove) say(`Removing intermediate container ${config.id.slice(0, 12)}`);
    return !remove;
  }

  /**
   * COPY and ADD: the sources (context paths, or paths of another stage or
   * image with --from) are copied into an empty directory at their
   * destination, which layer-commit turns into the layer. A directory source
   * copies its contents; a local tar archive given to ADD is extracted.
   */
  private async copy(state: StageState, ins: CopyInstruction | AddInstruction): Promise<void> {
    const from = ins.keyword === 'COPY' ? ins.from : undefined;
    const workdir = state.config.WorkingDir || '/';
    // posix.join keeps a trailing slash: `COPY a b ./` means the directory /app/.
    const dest = ins.dest.startsWith('/') ? ins.dest : posix.join(workdir, ins.dest);
    // --chmod, --chown, ADD's URLs and --checksum (copy-options.ts).
    const options = copyOptions(ins);
    // --chown's owner; else root for the context, and what the files have for --from (as Docker keeps it).
    const owner: Owner = options.chown ?? (from !== undefined ? 'keep' : [0, 0]);
    const matchesIn = (paths: readonly string[]) =>
      options.local.flatMap((source) => {
        const found = matchSources(paths, source);
        if (!found.length) throw new ToolError(`${ins.keyword} failed: file not found in build context or excluded by .dockerignore: stat ${source}: file does not exist`);
        return found;
      });
    // --from: an earlier stage or an image, known by its digest (the cache key); mounted only when the step runs.
    const source = from === undefined ? undefined : await this.copySource(from, state.index, ins.sources);
    const contextMatches = source ? [] : matchesIn(this.contextPaths);
    const files = contextMatches.flatMap((m) => (m.endsWith('/') ? this.contextPaths.filter((p) => p.startsWith(m === './' ? '' : m)) : [m])).filter((p) => !p.endsWith('/'));
    // ADD's URLs: downloaded now, their content part of the key (a script downloads them when it runs).
    const fetched = this.r.dryRun ? [] : await downloadAll(options.urls, options.checksum);
    const keyParts = [ins.keyword, ins.sources, dest, ins.chown ?? '', source ? source.digest : contentHash(this.context, files), ...(ins.chmod ? [ins.chmod] : []), ...fetched.map((f) => f.digest), ...ins.inline.map((f) => [f.name, f.data])];
    await this.step(state, keyParts, async (tag) => {
      const mounted: ContainerConfigRecord[] = [];
      // An image to read from, mounted read-only as a step container of its own (see stepContainer).
      const mount = async (image: string, digest: string) => {
        const config = await this.stepContainer({ ...state, image, digest }, ['/bin/sh', '-c', `#(nop) ${ins.keyword} ${ins.sources.join(' ')} in ${dest}`], 'none', false);
        mounted.push(config);
        return this.r.tool('overlay-mount', ['-q', '--read-only', image, '--name', config.id], this.env, 'image_root');
      };
      const staging = this.r.tempDir('staging');
      // Whatever happens, the staging directory and the mounts go (in a script: also when a step of its fails).
      const cleanUp = async () => {
        this.r.removeTree(staging);
        for (const config of mounted) await teardown(this.containers, config, this.env, true, this.r);
      };
      const image = await this.r.guarded(async () => {
        const sourceRoot = source ? await mount(source.image, source.digest) : undefined;
        // The image as it is, for the directories on the way to the destination that it has already.
        const tree = this.r.staging(staging, owner, state.image ? await mount(state.image, state.digest) : undefined, options.mode);
        if (sourceRoot) copyFromImage(tree, sourceRoot, ins.sources, dest, ins.dest, !this.r.dryRun);
        else {
          const intoDir = namesDirectory(ins.dest) || contextMatches.length + options.urls.length + ins.inline.length > 1 || contextMatches.some((m) => m.endsWith('/'));
          const destDir = intoDir ? dest : posix.dirname(dest);
          tree.ensureDir(destDir);
          for (const m of contextMatches) {
            const path = join(this.context, m);
            if (m.endsWith('/')) {
              // A directory copies its contents: from the context, only what .dockerignore lets through.
              const prefix = m === './' ? '' : m;
              for (const p of this.contextPaths.filter((q) => q.startsWith(prefix) && q !== prefix)) tree.entry(join(this.context, p), posix.join(dest, p.slice(prefix.length).replace(/\/$/, '')));
            } else if (ins.keyword === 'ADD' && isArchive(path)) {
              // Into <dest> as a directory, whatever it is named (Docker: ADD p.tar.gz /opt/p.tar.gz makes /opt/p.tar.gz/).
              tree.ensureDir(dest);
              await this.r.tool('tar', ['-x', '-f', path, '-C', join(staging, dest)], {});
            } else tree.entry(path, intoDir ? posix.join(dest, posix.basename(m)) : dest);
          }
          options.urls.forEach((url, i) => addUrl(tree, url, fetched[i], dest, intoDir, options.checksum));
          copyInline(tree, ins, dest, intoDir);
        }
        tree.finish();
        const created = `/bin/sh -c #(nop) ${ins.keyword} ${ins.sources.join(' ')} in ${dest}`;
        return this.r.tool('layer-commit', ['-q', staging, '--image', state.image ?? 'scratch', '--tag', tag, '--created-by', created], this.env, 'image');
      }, cleanUp);
      await cleanUp();
      return image;
    }).finally(() => removeDownloads(fetched));
  }

  /** COPY --from's source: an earlier stage (by name or index) or an image (pulled if missing), with its digest. */
  private async copySource(from: string, current: number, sources: readonly string[]): Promise<{ image: string; digest: string }> {
    // Its paths are looked at only once it is mounted: a pattern would need its listing.
    const pattern = sources.find(hasWildcards);
    if (pattern) throw new ToolError(`COPY --from=${from} ${pattern}: wildcards in a --from source are not supported yet`);
    const stage = findStage(this.dockerfile, from, current);
    if (stage) {
      const built = this.stages[stage.index];
      if (!built?.image) throw new ToolError(`COPY --from=${from}: that stage has no image`);
      return { image: built.image, digest: built.digest };
    }
    const image = await imageFor(this.root, from, this.env, this.r.dryRun ? planningPull(this.r, this.env) : undefined);
    return { image: image.name, digest: image.descriptor.digest };
  }

  /** The last stage's image, tagged with every -t; returns its ID. */
  async finish(tags: string[]): Promise<string> {
    const last = this.stages.at(-1)!;
    if (!last.image) throw new ToolError('the build made no image (FROM scratch and nothing else)');
    const store = imageStoreDir(this.root);
    for (const t of tags) await this.r.tagImage(store, last.image, t);
    // The image's ID, as Docker's: its config's digest (what `images` shows and every command takes).
    const id = await this.r.imageId(store, last.image);
    if (!this.r.dryRun) for (const t of tags) recordImageEvent(this.root, 'tag', id, familiarName(t));
    say(`Successfully built ${short(id)}`);
    for (const t of tags) say(`Successfully tagged ${t}`);
    return id;
  }
}

/**
 * Docker's COPY rules (Dockerfile reference, COPY): with several sources, or a <dest> ending in `/`, <dest> is
 * a directory the sources go into; a directory source copies its contents, not itself; a single file source
 * is otherwise written at <dest> itself. Whether a source of another stage or image is a directory is known
 * only once it is mounted: `tree` decides it then (a `[ -d ]` test in a --dry-run script).
 */
function copyFromImage(tree: Staging, root: string, sources: readonly string[], dest: string, written: string, inRoot: boolean): void {
  // A source's symlinks are followed inside the image (an absolute target starts again at its root), never into
  // the host's tree: where the image is mounted now. A --dry-run script's image is mounted only when it runs.
  const paths = sources.map((s) => join(root, inRoot ? resolveInRoot(s, (inside) => join(root, inside)) : posix.normalize(`/${s}`)));
  // Each keeps the name it was given (a followed symlink's name, not its target's).
  const into = (path: string, given: string, rel: string) => tree.ifDirectory(path, () => tree.contentsFrom(path, rel), () => tree.fileFrom(path, posix.join(rel, posix.basename(posix.normalize(`/${given}`)))));
  if (paths.length > 1 || namesDirectory(written)) {
    tree.ensureDir(dest);
    paths.forEach((path, i) => into(path, sources[i]!, dest));
    return;
  }
  const path = paths[0]!;
  tree.ifDirectory(
    path,
    () => {
      tree.ensureDir(dest);
      tree.contentsFrom(path, dest);
    },
    () => {
      tree.ensureDir(posix.dirname(dest));
      tree.fileFrom(path, dest);
    },
  );
}

/** A <dest> written as a directory: ending in `/`, or `.` (the WORKDIR itself, as Docker reads `COPY app .`). */
const namesDirectory = (dest: string) => dest.endsWith('/') || dest === '.' || dest.endsWith('/.');

/** `-t hello` is docker.io/library/hello:latest, as Docker names it (so `cutaway run hello` finds it). */
function normaliseTag(tag: string): string {
  try {
    return formatReference(parseReference(tag));
  } catch {
    throw new UsageError(`invalid tag ${JSON.stringify(tag)}: invalid reference format`);
  }
}

export const build = command(
  {
    name: 'build',
    summary: 'Build an image from a Dockerfile',
    synopsis: ['[-t TAG]… [-f Dockerfile|-] [--build-arg K=V]… [--target STAGE] [--platform P] [--no-cache] [--rm=false|--force-rm] [--network NET] CONTEXT|-'],
    description: [
      'docker build, from the tools. Each RUN runs in a temporary container (overlay-mount, netbridge, ns-exec with',
      "the image's env, workdir and user) whose upper directory becomes a layer (layer-commit); COPY and ADD make a",
      'layer of the context files; metadata instructions add an empty history entry and change the config',
      '(layer-commit --empty --change). A step whose parent and instruction (and copied files) are unchanged is',
      'taken from the cache. The log goes to stderr; stdout gets the image ID (its config digest). --dry-run prints',
      'the build as a bash script of those tool commands that builds every step, as --no-cache.',
    ].join('\n'),
    options: [
      { name: 'tag', short: 't', type: 'list', arg: 'NAME[:TAG]', help: 'name the image (repeat)' },
      { name: 'file', short: 'f', type: 'string', arg: 'FILE', help: 'the Dockerfile (default CONTEXT/Dockerfile)' },
      { name: 'build-arg', type: 'list', arg: 'K=V', help: 'set a build-time variable (repeat)' },
      { name: 'no-cache', type: 'boolean', help: 'run every step (--dry-run: its script always does, reproducing the build from scratch)' },
      { name: 'rm', type: 'boolean', default: true, help: "remove each RUN's container once its step has succeeded (--rm=false: keep them, as ps -a shows); a failed RUN's is kept" },
      { name: 'force-rm', type: 'boolean', help: "always remove a RUN's container, a failed one's too" },
      { name: 'network', type: 'string', arg: 'NET', help: "RUN's network: bridge (default), a netbridge network, host or none" },
      { name: 'target', type: 'string', arg: 'STAGE', help: 'build this stage (a name or an index), and only the stages it needs' },
      { name: 'platform', type: 'string', arg: 'OS/ARCH[/VARIANT]', help: "the target platform: TARGETPLATFORM, TARGETARCH…, and a FROM's image without --platform (only this host's can run steps)" },
      { name: 'secret', type: 'list', arg: 'id=ID,src=FILE|env=VAR', help: 'a secret for RUN --mount=type=secret (repeat); never stored in the image' },
    ],
    operands: { min: 1, max: 1, names: 'CONTEXT' },
    dryRun: true,
    examples: ['cutaway build -t hello:1 examples/hello', 'cutaway build --build-arg VERSION=2 -f Dockerfile.dev .', 'cutaway build --dry-run -t hello:1 examples/hello > build.sh   # the tool commands, as a script'],
    classic: ['docker build', 'buildah bud'],
  },
  async (inv, root, r) => {
    const o = inv.options;
    // A directory, or stdin (`-`: a tar or a Dockerfile alone; `-f -`: the Dockerfile), as stdin-context.ts reads them.
    const input = buildInput(inv.positionals[0]!, o.file);
    if (r.dryRun && input.fromStdinTar) throw new ToolError('--dry-run cannot take a build context on stdin: the script would copy from files gone by the time it runs (unpack the tar and give its directory)', undefined, 125);
    const contextDir = input.contextDir;
    const buildArgs = Object.fromEntries(
      o['build-arg'].flatMap((a) => {
        const eq = a.indexOf('=');
        if (eq >= 0) return [[a.slice(0, eq), a.slice(eq + 1)]];
        return process.env[a] === undefined ? [] : [[a, process.env[a]!]];
      }),
    ) as Record<string, string>;
    quiet = o.quiet;
    planning = r.dryRun;
    const tags = o.tag.map(normaliseTag);
    const builder = new Builder(root, contextDir, o['no-cache'], o.network ?? 'bridge', o.rm, o['force-rm'], r);
    builder.dockerfile = parseDockerfile(input.dockerfile, { file: input.dockerfileName });
    builder.platforms = buildPlatforms(o.platform);
    // --target, and the stages it needs (stages.ts); BUILDPLATFORM, TARGETARCH… are global ARGs (platform.ts).
    const globalArgs = resolveGlobalArgs(builder.dockerfile, { buildArgs, automatic: platformArgs(builder.platforms) });
    const stages = neededStages(builder.dockerfile, targetStage(builder.dockerfile, o.target), globalArgs, buildArgs);
    builder.secrets = parseSecrets(o.secret);
    // A signal (Ctrl-C, kill) goes to the RUN that runs, and the build stops there, taking down its step's
    // container; the store's shared lock keeps a prune from taking images and layers from under the build.
    if (!r.dryRun) holdSignals();
    // (A --dry-run plan takes no lock, and makes no lock file.)
    const holding = r.dryRun ? <T>(_root: string, work: () => Promise<T>) => work() : usingStore;
    const id = await holding(root, async () => {
      await builder.open();
      const total = stages.reduce((n, s) => n + 1 + s.instructions.length, 0);
      const counter = { step: 0 };
      for (const stage of stages) await builder.stage(stage, globalArgs, buildArgs, total, counter);
      const unused = unusedBuildArgsWarning(builder.dockerfile, stages, buildArgs);
      if (unused) say(unused);
      return builder.finish(tags);
    });
    r.print(id);
  },
);
