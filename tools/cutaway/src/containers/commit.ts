import { imageStoreDir, ToolError, UsageError, type OptionSpec } from '@cutaway/cli';
import { formatReference, parseReference } from '@cutaway/oci';
import { command } from '../command.ts';
import { familiarName } from '../images/store.ts';
import { recordImageEvent } from '../system/events-log.ts';
import { recordContainerEvent } from './events.ts';
import { commitChanges } from './commit-config.ts';
import { currentState, isPaused } from './state.ts';
import { ContainerStore, overlayLowers } from './store.ts';

/** REPO[:TAG] as the store names it (`myapp` is docker.io/library/myapp:latest); Docker's error for anything else. */
export function newImageName(given: string): string {
  let ref;
  try {
    ref = parseReference(given);
  } catch {
    throw new UsageError(`invalid reference format: ${given}`);
  }
  if (ref.digest) throw new UsageError(`invalid reference format: ${given}: a new image gets a tag, not a digest`);
  return formatReference(ref);
}

/** The options docker commit and docker import share: the config changed, the history's comment. */
export const IMAGE_CHANGE_OPTIONS = [
  { name: 'change', short: 'c', type: 'list', arg: 'INSTRUCTION', help: 'apply a Dockerfile instruction to the image (repeat)' },
  { name: 'message', short: 'm', type: 'string', arg: 'TEXT', help: "commit message (the history entry's comment)" },
] as const satisfies readonly OptionSpec[];

/**
 * docker commit: layer-commit of the container's upper directory (overlay-mount's record names it and the
 * image it stacks on) — whiteouts as .wh. files, opaque directories marked — onto its image, with the
 * Dockerfile instructions of -c, the history's comment and author. A container never started has no upper:
 * its commit is the image with an empty history entry, as its diff is empty.
 */
export const commit = command(
  {
    name: 'commit',
    summary: "Make an image of a container's upper directory",
    synopsis: ['[options] CONTAINER [REPOSITORY[:TAG]]'],
    description: [
      "An image of a container's changes: layer-commit of its upper directory onto its image, the",
      '-c instructions applied to the config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, …).',
      'Without REPOSITORY the image has no name (<none>). Prints the image ID (sha256:…).',
      'A running container is paused (its cgroup frozen: cg-limit freeze, as cutaway pause) while its upper is',
      'read, and thawed after, unless --pause=false; one without a cgroup (rootless) is committed running, with a warning.',
    ].join('\n'),
    options: [
      ...IMAGE_CHANGE_OPTIONS,
      { name: 'author', short: 'a', type: 'string', arg: 'NAME', help: 'author (e.g. "Jane Doe <jane@example.com>")' },
      { name: 'pause', short: 'p', type: 'boolean', default: true, help: 'pause the container while committing (default true; --pause=false: not)' },
    ],
    operands: { min: 1, max: 2, names: 'CONTAINER [REPOSITORY[:TAG]]' },
    dryRun: true,
    examples: ['cutaway commit web myweb:1', "cutaway commit -c 'CMD [\"httpd\", \"-f\"]' -m 'with the page' web", 'cutaway run --rm $(cutaway commit web) cat /www/index.html'],
    classic: ['docker commit', 'layer-commit CONTAINER_ID --tag REPO:TAG -c …   # the upper directory as a layer on the image'],
  },
  async (inv, root, r) => {
    const o = inv.options;
    const [name, repository] = inv.positionals as [string, string | undefined];
    const tag = repository !== undefined ? newImageName(repository) : undefined;
    const store = new ContainerStore(root);
    const id = store.find(name);
    const config = store.config(id);
    const env = { CUTAWAY_ROOT: root };
    const mounted = overlayLowers(store.path(id)) !== undefined;
    const args = [
      '-q',
      ...(mounted ? [id] : ['--empty']),
      ...(tag !== undefined ? ['--tag', tag] : []),
      // Its image by digest, as Docker commits onto the container's image ID: overlay-mount's record names the image
      // only when it mounted one (not when export or cp mounted a stopped container on its layers again), and a
      // name may have been moved to another image since.
      '--image', config.imageDigest,
      '--created-by', config.command.join(' '),
      // The container's config, then -c: what Docker's commit makes the image's.
      ...(await commitChanges(store, id, root, o.change)).flatMap((c) => ['--change', c]),
      ...(o.message !== undefined ? ['--message', o.message] : []),
      ...(o.author !== undefined ? ['--author', o.author] : []),
    ];
    if (r.dryRun && tag === undefined) throw new ToolError('--dry-run: name the new image (REPOSITORY[:TAG]): a script finds an image by its name');
    // Docker's --pause: the container frozen while its upper is read, so that the layer is one moment of it.
    const state = r.dryRun ? store.state(id) : currentState(store, id);
    const freeze = o.pause && state.status === 'running' && !isPaused(state);
    if (freeze && !config.cgroup) process.stderr.write(`cutaway commit: warning: ${config.name} has no cgroup (rootless), so no freezer: committed running\n`);
    const frozen = freeze && config.cgroup !== '';
    if (frozen) await r.tool('cg-limit', ['freeze', config.cgroup], env);
    const thaw = async () => {
      if (frozen) await r.tryTool('cg-limit', ['thaw', config.cgroup], env);
    };
    const manifest = await r.guarded(() => r.tool('layer-commit', args, env, 'image'), thaw);
    await thaw();
    const imageId = await r.imageId(imageStoreDir(root), tag ?? manifest);
    if (!r.dryRun) {
      // Docker's: the new name's tag event, then the container's commit (moby daemon/commit.go).
      const imageRef = tag !== undefined ? familiarName(tag) : '';
      if (imageRef) recordImageEvent(root, 'tag', imageId, imageRef);
      recordContainerEvent(store, config, 'commit', { comment: o.message ?? '', imageID: imageId, imageRef });
    }
    r.print(imageId);
  },
);
