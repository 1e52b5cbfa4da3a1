/**
 * What the benchmarks that run cutaway beside podman share (cutaway.ts, containers.ts): the throwaway host made
 * fit for podman and runc, podman's containers.conf and global options on a containers-storage store of its
 * own, the cgroups podman makes, the busybox fixture in one OCI layout that every store imports, and cutaway's
 * state root. notes/machine.md says why podman needs runc, cgroupfs and these ulimits here.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { findImage, OciLayout } from '@cutaway/oci';
import { BUSYBOX_REF, buildBusyboxImage, run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { BIN, log } from './harness.ts';

export const CUTAWAY = join(BIN, 'cutaway');
export const REF = BUSYBOX_REF;
/** podman's cgroups (conmon's and the containers') go under this in every hierarchy: cgroupfs is not namespaced. */
export const CGROUP_PARENT = `cwbench-${process.pid}`;
/** Names of what the bench makes in cutaway's stores (mounts, endpoints), so they are told from others'. */
export const PREFIX = `cwbench-${process.pid}-`;

/** tmpfs mounts over /run/runc (runc's state for podman), containers/image's blob-info cache and /var/tmp. */
export async function setUpHost(): Promise<void> {
  await h.tmpfsOver('/run/runc', '16m', '0700');
  await h.tmpfsOver('/var/lib/containers/cache', '64m', '0700');
  await h.tmpfsOver('/var/tmp', '256m', '1777');
}

// ─── cgroups podman makes (cgroupfs is not namespaced) ───────────────────────

/** Our cgroup parent in every hierarchy that has it: podman made it (for conmon and the containers). */
export function cgroupParents(): string[] {
  return readdirSync('/sys/fs/cgroup').map((d) => join('/sys/fs/cgroup', d, CGROUP_PARENT)).filter((d) => existsSync(d));
}

// ─── The stores ──────────────────────────────────────────────────────────────

export interface Ctx {
  work: string;
  /** The OCI layout holding the fixture image, which every store imports. */
  layout: string;
  /** The environment of every podman, buildah and skopeo: TMPDIR and CONTAINERS_CONF ours. */
  env: NodeJS.ProcessEnv;
  cniDir: string;
}

/**
 * In `work` (the bench's tmpfs): a TMPDIR, an empty CNI config dir, podman's containers.conf, and the fixture
 * image in an OCI layout. `env` is the environment the bench was started with.
 */
export async function podmanContext(work: string, env: NodeJS.ProcessEnv): Promise<Ctx> {
  const tmp = join(work, 'tmp');
  const cniDir = join(work, 'cni');
  const conf = join(work, 'containers.conf');
  await mkdir(tmp, { recursive: true });
  await mkdir(cniDir, { recursive: true });
  await writeFile(
    conf,
    [
      '[containers]',
      // this machine's hard limits (notes/machine.md): podman's defaults are above them, and root cannot raise them
      'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
      '[network]',
      `network_config_dir = "${cniDir}"`,
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "none"',
      `image_copy_tmp_dir = "${tmp}"`,
      '',
    ].join('\n'),
  );
  const ctx: Ctx = { work, layout: join(work, 'layout'), cniDir, env: { ...env, TMPDIR: tmp, CONTAINERS_CONF: conf } };
  await buildBusyboxImage(await OciLayout.create(ctx.layout));
  return ctx;
}

/** Removes a store: anything mounted under it first (only an interrupted run leaves mounts), then the tree. */
export async function wipe(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  await h.unmountAll(dir);
  await rm(dir, { recursive: true, force: true });
}

/** A cutaway state root. */
export class CutawayStore {
  constructor(
    readonly root: string,
    private readonly ctx: Ctx,
  ) {}

  get env(): NodeJS.ProcessEnv {
    return { ...this.ctx.env, CUTAWAY_ROOT: this.root };
  }

  /** The fixture pulled from the layout (`oci-pull oci:LAYOUT:REF`) into the root, made if missing. */
  async pull(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await run(join(BIN, 'oci-pull'), ['-q', `oci:${this.ctx.layout}:${REF}`], { env: this.env });
  }

  /** Fresh, with the fixture pulled from the layout and its layer unpacked (a mount and unmount). */
  async fresh(): Promise<void> {
    await this.tearDown();
    await wipe(this.root);
    await this.pull();
    await run(join(BIN, 'overlay-mount'), ['-q', REF, '--name', `${PREFIX}unpack`], { env: this.env });
    await run(join(BIN, 'overlay-mount'), ['--unmount', `${PREFIX}unpack`, '--rm'], { env: this.env });
  }

  /** Containers left (only after an interruption): their endpoints down, their mounts and directories removed. */
  async tearDown(): Promise<void> {
    if (!existsSync(this.root)) return;
    await h.downEndpoints(this.root, this.env);
    const containers = join(this.root, 'containers');
    for (const c of existsSync(containers) ? readdirSync(containers).filter((d) => /^[0-9a-f]{64}$/.test(d)) : []) {
      await run(join(BIN, 'overlay-mount'), ['--unmount', c, '--rm'], { env: this.env }).then(() => log(`cleanup: overlay-mount --unmount ${c} --rm`), (err: Error) => log(`cleanup: ${err.message}`));
      await rm(join(containers, c), { recursive: true, force: true });
    }
  }

  /** Containers in the store (there must be none after a `run --rm`): their directories, not `.names` (the name reservations). */
  containers(): string[] {
    const dir = join(this.root, 'containers');
    return existsSync(dir) ? readdirSync(dir).filter((d) => /^[0-9a-f]{64}$/.test(d)) : [];
  }

  async layerCount(ref: string): Promise<number> {
    return (await findImage(await OciLayout.open(join(this.root, 'images')), ref)).manifest.layers.length;
  }
}

/** A containers-storage store (root + runroot) used by buildah and podman. */
export class ContainersStore {
  constructor(
    readonly dir: string,
    readonly driver: 'vfs' | 'overlay',
    private readonly ctx: Ctx,
  ) {}

  // Short names: podman refuses a runroot path over 50 characters with the overlay driver.
  get root(): string {
    return join(this.dir, 'root');
  }

  get runroot(): string {
    return join(this.dir, 'run');
  }

  get storageArgs(): string[] {
    return ['--root', this.root, '--runroot', this.runroot, '--storage-driver', this.driver];
  }

  buildah(args: string[]): string[] {
    return [...this.storageArgs, ...args];
  }

  /** podman's global options: this store, its own libpod tmpdir, runc, cgroupfs, no events, our CNI dir. */
  podman(args: string[]): string[] {
    return [...this.storageArgs, '--tmpdir', join(this.dir, 'libpod-tmp'), '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--network-config-dir', this.ctx.cniDir, ...args];
  }

  async fresh(): Promise<void> {
    await this.tearDown();
    await wipe(this.dir);
    await mkdir(this.dir, { recursive: true });
    await run('skopeo', ['copy', '--quiet', `oci:${this.ctx.layout}:${REF}`, `containers-storage:[${this.driver}@${this.root}+${this.runroot}]${REF}`], { env: this.ctx.env });
  }

  /** podman's containers in this store (ids). */
  async podmanContainers(): Promise<string[]> {
    return (await run('podman', this.podman(['ps', '-a', '-q', '--no-trunc']), { env: this.ctx.env })).split('\n').filter(Boolean);
  }

  /** Containers left: removed with `podman rm -f --time 0` (a PID 1 such as sleep ignores the SIGTERM podman would wait 10 s on). */
  async tearDown(): Promise<void> {
    if (!existsSync(join(this.dir, 'libpod-tmp'))) return;
    const left = await this.podmanContainers().catch(() => []);
    if (left.length) await run('podman', this.podman(['rm', '-f', '--time', '0', ...left]), { env: this.ctx.env }).then(() => log(`cleanup: podman rm -f ${left.join(' ')}`), (e: Error) => log(`cleanup: ${e.message}`));
  }
}
