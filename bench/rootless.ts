/**
 * Rootless: `cutaway run --rm IMAGE true` as an ordinary user (cutaway re-execs itself in a user namespace with
 * the user's subuid range; no cgroup; slirp4netns for the default network) against rootless podman on the same
 * host (runc, overlay in the user namespace, slirp4netns), and against `cutaway run` as root. As root, which
 * makes the user (useradd, with /etc/subuid and /etc/subgid ranges) and removes it; see bench/README.md.
 */
import { chown, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { findImage, OciLayout } from '@cutaway/oci';
import { BUSYBOX_REF, buildBusyboxImage, run } from '../test/fixtures/images.ts';
import { createUnprivilegedUser, type UnprivilegedUser } from '../test/fixtures/unprivileged-user.ts';
import * as h from './harness.ts';

const CUTAWAY = join(h.BIN, 'cutaway');
const OCI_PULL = join(h.BIN, 'oci-pull');
/** Rootless podman as a user gets it on this host (notes/machine.md: runc, cgroupfs; no journald for events). */
const PODMAN = ['podman', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs', '--events-backend', 'none', '--storage-driver', 'overlay'];

const { runs } = h.parseOptions('rootless', 'cutaway run --rm IMAGE true as an ordinary user (--network none, and the default network through slirp4netns) against rootless podman run --rm (runc, overlay), and cutaway run as root. 11 rounds by default.', { runs: 11 });
await h.inMountNamespace('useradd makes the user; a tmpfs mount');

type Key = 'cwNone' | 'podmanNone' | 'cwSlirp' | 'podmanSlirp' | 'rootNone';

async function main(): Promise<void> {
  await h.need(['podman', 'runc', 'slirp4netns', 'newuidmap', h.GNU_TIME, CUTAWAY], 'bash scripts/setup.sh');
  await h.useTools(['cutaway', 'ns-exec', 'overlay-mount', 'netbridge', 'oci-pull'], 'missing');
  const load: Record<string, string> = { before: await h.loadAverage() };
  const work = await h.workDir('cw-bench-rootless', '1g');

  const user: UnprivilegedUser = createUnprivilegedUser();
  h.cleanups.push(async () => user.remove());
  // The user's home and runtime directory (XDG_RUNTIME_DIR, 0700, as pam_systemd makes /run/user/UID).
  const home = join(work, 'home');
  const runtime = join(work, 'run');
  for (const dir of [home, runtime]) {
    await mkdir(dir, { mode: 0o700 });
    await chown(dir, user.uid, user.gid);
  }
  const userEnv = { XDG_RUNTIME_DIR: runtime };
  const asUser = (argv: string[]) => user.command(argv, { home, env: userEnv });
  // Rootless podman leaves a pause process (it holds the user namespace for later commands): ended by its pid file.
  h.cleanups.push(async () => {
    const pid = Number(await readFile(join(runtime, 'libpod', 'tmp', 'pause.pid'), 'utf8').catch(() => ''));
    if (pid > 0) h.kill(pid);
  });

  // The busybox fixture, in a layout every store imports from: the user's cutaway store, podman's, root's.
  // Its path all in lower case: podman names an image pulled from `oci:DIR:REF` after DIR (mkdtemp's is mixed).
  const layoutDir = `/tmp/cw-bench-rootless-layout-${process.pid}`;
  h.cleanups.push(() => rm(layoutDir, { recursive: true, force: true }));
  const layout = await OciLayout.create(layoutDir);
  await buildBusyboxImage(layout);
  await run('chown', ['-R', `${user.uid}:${user.gid}`, layoutDir]);
  const source = `oci:${layoutDir}:${BUSYBOX_REF}`;
  const userRun = async (argv: string[]) => {
    const [cmd, ...args] = asUser(argv);
    return h.exec(cmd!, args);
  };
  await userRun([OCI_PULL, '-q', source]);
  const podmanId = (await userRun([...PODMAN, 'pull', '-q', source])).trim();
  const rootStore = join(work, 'root');
  const rootEnv = { ...h.ENV, CUTAWAY_ROOT: rootStore };
  await h.exec(OCI_PULL, ['-q', source], rootEnv);
  if (!(await findImage(await OciLayout.open(join(rootStore, 'images')), BUSYBOX_REF))) throw new Error('root store: no image after the pull');

  const userUnit = (key: Key, argv: string[]) =>
    h.unit<Key>(key, async () => {
      const [cmd, ...args] = asUser(argv);
      return h.measure(cmd!, args, h.ENV);
    });
  const samples = new Map<Key, h.Sample[]>();
  await h.rounds(
    samples,
    [
      userUnit('cwNone', [CUTAWAY, 'run', '--rm', '--network', 'none', BUSYBOX_REF, 'true']),
      userUnit('podmanNone', [...PODMAN, 'run', '--rm', '--network', 'none', podmanId, 'true']),
      userUnit('cwSlirp', [CUTAWAY, 'run', '--rm', BUSYBOX_REF, 'true']),
      userUnit('podmanSlirp', [...PODMAN, 'run', '--rm', podmanId, 'true']),
      h.unit<Key>('rootNone', () => h.measure(CUTAWAY, ['run', '--rm', '--network', 'none', BUSYBOX_REF, 'true'], rootEnv)),
    ],
    runs,
    { what: 'run --rm' },
  );
  load.end = await h.loadAverage();

  const r = (k: Key) => samples.get(k)!;
  const rows = [
    { label: '`cutaway run --rm --network none IMAGE true`, rootless', samples: r('cwNone'), vs: r('podmanNone') },
    { label: '`podman run --rm --network none IMAGE true`, rootless (the reference)', samples: r('podmanNone') },
    { label: '`cutaway run --rm IMAGE true`, rootless (slirp4netns)', samples: r('cwSlirp'), vs: r('podmanSlirp') },
    { label: '`podman run --rm IMAGE true`, rootless (slirp4netns; the reference)', samples: r('podmanSlirp') },
    { label: '`cutaway run --rm --network none IMAGE true`, as root', samples: r('rootNone'), vs: r('cwNone') },
  ];
  const m = (k: Key) => h.med(r(k));
  await h.writeResults({
    name: 'rootless',
    title: 'cutaway run as an ordinary user, against rootless podman',
    options: `--runs ${runs}`,
    source: ['tools', 'libs', 'bench'],
    versions: [await h.versionOf('podman'), await h.versionOf('runc'), await h.versionOf('slirp4netns')],
    load,
    about: [
      `The user: made by useradd for the run (${user.name}, subuid ${user.subuid.start}:${user.subuid.count}), removed after; HOME and XDG_RUNTIME_DIR on the bench's tmpfs. Each command runs as the user through \`setpriv --reuid --regid --init-groups env -i …\`, under GNU time (which counts every process of the run, the user namespace's included).`,
      `cutaway: its state under $HOME/.local/share/cutaway and $XDG_RUNTIME_DIR/cutaway; the image pulled with \`oci-pull ${source}\`. podman: \`${PODMAN.join(' ')}\` (its rootless defaults otherwise: slirp4netns, a pause process holding its user namespace between commands, no cgroup on this v1 host). Root: \`cutaway run\` with CUTAWAY_ROOT on the same tmpfs (a cgroup, the devices rules).`,
    ],
    body: [
      ...h.table('rootless `run --rm`', rows, { ratios: [h.ratioColumn('ratio (cutaway / podman; root row: root / rootless)', (row) => row.vs)] }),
      '',
      `- **none**: cutaway / podman ${h.ratio(m('cwNone') / m('podmanNone'))}; **slirp4netns**: ${h.ratio(m('cwSlirp') / m('podmanSlirp'))}. As root cutaway takes ${h.ratio(m('rootNone') / m('cwNone'))}× its rootless time: rootless it makes no cgroup (cg-limit is not run) but re-execs itself once in the user namespace.`,
    ],
    samples: h.sampleList(rows),
  });
}

await h.finish(main);
