/**
 * The runtime honours the image (issue 20, items 6-8): HEALTHCHECK (checks run while the container runs, ps's
 * `(healthy)`, inspect's State.Health, the health_status event), STOPSIGNAL and --stop-signal/--stop-timeout
 * (stop, restart; rm -f kills), VOLUME (anonymous volumes with the image's files, volume ls, rm -v, run --rm), and
 * `load` of an oci-archive. The image is built by buildah (docker format, so that HEALTHCHECK is kept), saved as
 * a docker-archive and loaded into cutaway's store and into podman's, which runs the same image for comparison
 * where podman can (podman runs health checks from systemd timers, absent here: `podman healthcheck run` instead).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { busyboxRoot } from '../../../test/fixtures/containers.ts';
import { buildahComparison, haveBuildah } from '../../../test/fixtures/buildah.ts';
import { BIN_DIR } from '../../../test/fixtures/commands.ts';
import { runScript } from '../../../test/fixtures/dry-run.ts';
import { BUSYBOX_REF } from '../../../test/fixtures/images.ts';
import { HAVE_PODMAN, podmanStore, type PodmanStore } from '../../../test/fixtures/podman.ts';

type Doc = Record<string, any>;

const IMAGE = 'cutaway.test/runtime:latest';

/** The image: files at /data, VOLUME /data, STOPSIGNAL SIGUSR1 (its process exits 3 on USR1, 4 on TERM), a HEALTHCHECK on /tmp/healthy. */
const DOCKERFILE = [
  `FROM ${BUSYBOX_REF}`,
  'RUN mkdir -p /data/sub && echo from-image > /data/hello && echo deep > /data/sub/file && chown -R 1000:1000 /data/sub',
  'VOLUME /data',
  'STOPSIGNAL SIGUSR1',
  'HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD test -e /tmp/healthy',
  `CMD ["sh", "-c", "trap 'exit 3' USR1; trap 'exit 4' TERM; while true; do sleep 0.1; done"]`,
  '',
].join('\n');

const dirs = busyboxRoot('cw-rtimg-');
let podman: PodmanStore | undefined;
let archive = '';

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: dirs.root } });
}

async function ok(args: string[]): Promise<string> {
  const r = await cutaway(args);
  expect(r.code, `cutaway ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

async function inspect(name: string): Promise<Doc> {
  return (JSON.parse(await ok(['inspect', name])) as Doc[])[0]!;
}

const volumeNames = async () => (await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean);

/** The processes whose command line names `word` (a container's id): none may be left once it has stopped. */
function processesNaming(word: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmd.includes(word) ? [cmd] : [];
      } catch {
        return [];
      }
    });
}

describe.skipIf(!haveBuildah)('the runtime honours the image', () => {
  const both = buildahComparison(() => dirs);

  beforeAll(async () => {
    const context = join(dirs.work, 'context');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), DOCKERFILE);
    await both.contained('buildah', ['bud', '--format', 'docker', '--isolation', 'chroot', '-t', IMAGE, '-f', join(context, 'Dockerfile'), context]);
    archive = join(dirs.work, 'runtime.tar');
    // A docker-archive keeps the config as buildah wrote it (Healthcheck included); an OCI copy would drop it.
    await both.contained('buildah', ['push', '--quiet', IMAGE, `docker-archive:${archive}:${IMAGE}`]);
    expect(await ok(['load', '-i', archive])).toBe(`Loaded image: ${IMAGE}`);
    if (HAVE_PODMAN) {
      podman = await podmanStore(join(dirs.work, 'podman'), `cwrtimg${process.pid}`, { noNetwork: true });
      const loaded = await podman.run(['load', '-i', archive]);
      expect(loaded.code, loaded.stderr).toBe(0);
    }
  });

  afterAll(async () => {
    await podman?.remove();
  });

  describe('VOLUME', () => {
    it('gives an anonymous volume with the image files, as podman does; run --rm removes it', async () => {
      const ours = await cutaway(['run', '--rm', '--network', 'none', IMAGE, 'sh', '-c', 'cat /data/hello /data/sub/file; stat -c %u /data/sub/file; grep " /data " /proc/mounts | wc -l']);
      expect(ours.code, ours.stderr).toBe(0);
      expect(ours.stdout).toBe('from-image\ndeep\n1000\n1\n');
      expect(await volumeNames()).toEqual([]);
      if (podman) {
        const theirs = await podman.run(['run', '--rm', IMAGE, 'sh', '-c', 'cat /data/hello /data/sub/file; stat -c %u /data/sub/file; grep " /data " /proc/mounts | wc -l']);
        expect(theirs.stdout).toBe(ours.stdout);
        expect((await podman.run(['volume', 'ls', '-q'])).stdout).toBe('');
      }
    });

    it('is listed, shown in inspect Mounts, kept by rm and removed by rm -v', async () => {
      await ok(['run', '--name', 'cw-vol1', '--network', 'none', IMAGE, 'sh', '-c', 'echo more >> /data/hello']);
      const [name, ...rest] = await volumeNames();
      expect(rest).toEqual([]);
      expect(name).toMatch(/^[0-9a-f]{64}$/);
      const mounts = (await inspect('cw-vol1')).Mounts as Doc[];
      expect(mounts).toEqual([{ Type: 'volume', Name: name, Source: join(dirs.root, 'volumes', name!, '_data'), Destination: '/data', Driver: 'local', Mode: '', RW: true, Propagation: '' }]);
      expect(readFileSync(join(dirs.root, 'volumes', name!, '_data', 'hello'), 'utf8')).toBe('from-image\nmore\n');
      // Started again: the volume keeps what it has (no second copy).
      await ok(['start', '-a', 'cw-vol1']);
      expect(readFileSync(join(dirs.root, 'volumes', name!, '_data', 'hello'), 'utf8')).toBe('from-image\nmore\nmore\n');
      await ok(['rm', 'cw-vol1']);
      expect(await volumeNames()).toEqual([name]);
      await ok(['volume', 'rm', name!]);

      await ok(['create', '--name', 'cw-vol2', '--network', 'none', IMAGE]);
      expect(await volumeNames()).toHaveLength(1);
      await ok(['rm', '-v', 'cw-vol2']);
      expect(await volumeNames()).toEqual([]);
      if (podman) {
        await podman.run(['run', '--name', 'cwvol1', IMAGE, 'true']);
        expect((await podman.run(['volume', 'ls', '-q'])).stdout.trim()).toMatch(/^[0-9a-f]{64}$/);
        await podman.run(['rm', '-v', 'cwvol1']);
        expect((await podman.run(['volume', 'ls', '-q'])).stdout).toBe('');
      }
    });

    it('is not made where -v or --tmpfs covers the path; -v /DST makes one', async () => {
      // A named volume takes the path instead (no anonymous one); being empty, it gets the image's files there, as Docker's.
      expect(await ok(['run', '--rm', '--network', 'none', '-v', 'cw-named:/data', IMAGE, 'ls', '/data'])).toBe('hello\nsub');
      expect(await volumeNames()).toEqual(['cw-named']);
      await ok(['volume', 'rm', 'cw-named']);
      expect(await ok(['run', '--rm', '--network', 'none', '--tmpfs', '/data', IMAGE, 'ls', '/data'])).toBe('');
      expect(await ok(['run', '--rm', '--network', 'none', '-v', '/extra', IMAGE, 'sh', '-c', 'grep -c -e " /data " -e " /extra " /proc/mounts'])).toBe('2');
      expect(await volumeNames()).toEqual([]);
    });

    it('--dry-run: the script makes and fills the volume, and removes it with --rm', async () => {
      const printed = await cutaway(['run', '--dry-run', '--rm', '--network', 'none', IMAGE, 'cat', '/data/sub/file']);
      expect(printed.code, printed.stderr).toBe(0);
      expect(printed.stdout).toContain('cp -a');
      expect(await volumeNames()).toEqual([]);
      const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: dirs.root, PATH: `${BIN_DIR}:${process.env.PATH}` });
      expect(scripted.stderr).toBe('');
      expect(scripted.stdout).toBe('deep\n');
      expect(await volumeNames()).toEqual([]);
    });
  });

  describe('STOPSIGNAL', () => {
    it('stop sends the image STOPSIGNAL, as podman stop does; inspect shows it', async () => {
      const id = await ok(['run', '-d', '--name', 'cw-sig1', '--network', 'none', IMAGE]);
      expect((await inspect('cw-sig1')).Config.StopSignal).toBe('SIGUSR1');
      const started = Date.now();
      await ok(['stop', 'cw-sig1']);
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await inspect('cw-sig1')).State.ExitCode).toBe(3);
      // restart stops it the same way.
      await ok(['restart', 'cw-sig1']);
      await ok(['stop', 'cw-sig1']);
      expect((await inspect('cw-sig1')).State.ExitCode).toBe(3);
      const events = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${id}`, '--filter', 'event=kill', '--format', '{{.Actor.Attributes.signal}}']);
      expect(events.split('\n')).toEqual(['10', '10']);
      if (podman) {
        await podman.run(['run', '-d', '--name', 'cwsig1', IMAGE]);
        await podman.run(['stop', 'cwsig1']);
        expect((await podman.run(['inspect', '-f', '{{.State.ExitCode}}', 'cwsig1'])).stdout.trim()).toBe('3');
      }
    });

    it('--stop-signal and --stop-timeout on run and create; rm -f sends SIGKILL', async () => {
      await ok(['run', '-d', '--name', 'cw-sig2', '--network', 'none', '--stop-signal', 'TERM', IMAGE]);
      await ok(['stop', 'cw-sig2']);
      expect((await inspect('cw-sig2')).State.ExitCode).toBe(4);

      // A signal it ignores: stop waits --stop-timeout, then SIGKILL.
      await ok(['create', '--name', 'cw-sig3', '--network', 'none', '--stop-signal', 'SIGHUP', '--stop-timeout', '1', IMAGE, 'sh', '-c', "trap '' HUP; while true; do sleep 0.1; done"]);
      const config = (await inspect('cw-sig3')).Config;
      expect([config.StopSignal, config.StopTimeout]).toEqual(['SIGHUP', 1]);
      await ok(['start', 'cw-sig3']);
      const started = Date.now();
      await ok(['stop', 'cw-sig3']);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect((await inspect('cw-sig3')).State.ExitCode).toBe(137);

      const id = await ok(['run', '-d', '--name', 'cw-sig4', '--network', 'none', IMAGE]);
      await ok(['rm', '-f', '-v', 'cw-sig4']);
      const kills = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${id}`, '--filter', 'event=kill', '--format', '{{.Actor.Attributes.signal}}']);
      expect(kills).toBe('9');

      const bad = await cutaway(['run', '--rm', '--stop-signal', 'SIGNOPE', IMAGE, 'true']);
      expect(bad.stderr).toBe('cutaway run: error: Invalid signal: SIGNOPE\n');
      expect(bad.code).toBe(125);
      await ok(['rm', 'cw-sig2', 'cw-sig3']);
      for (const v of await volumeNames()) await ok(['volume', 'rm', v]);
      expect(readdirSync(join(dirs.root, 'containers')).filter((d) => /^[0-9a-f]{64}$/.test(d))).toEqual([]);
    });

    it('--dry-run: stop kills with the stop signal', async () => {
      await ok(['run', '-d', '--name', 'cw-sig5', '--network', 'none', IMAGE]);
      const printed = await cutaway(['stop', '--dry-run', 'cw-sig5']);
      expect(printed.stdout).toContain('kill -USR1');
      const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: dirs.root, PATH: `${BIN_DIR}:${process.env.PATH}` });
      expect(scripted.stderr).toBe('');
      expect((await inspect('cw-sig5')).State.ExitCode).toBe(3);
      await ok(['rm', '-v', 'cw-sig5']);
    });
  });

  describe('HEALTHCHECK', () => {
    const status = async (name: string) => ((await inspect(name)).State.Health as Doc | undefined)?.Status;
    const psStatus = async (name: string) => ok(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}']);

    it('runs the check every interval: starting, healthy, unhealthy; ps, inspect and events show it', async () => {
      const id = await ok(['run', '-d', '--name', 'cw-hc1', '--network', 'none', IMAGE]);
      expect(await psStatus('cw-hc1')).toMatch(/^Up .* \(health: starting\)$/);
      const config = (await inspect('cw-hc1')).Config.Healthcheck;
      expect(config).toEqual({ Test: ['CMD-SHELL', 'test -e /tmp/healthy'], Interval: 1e9, Timeout: 2e9, Retries: 2 });
      await ok(['exec', 'cw-hc1', 'touch', '/tmp/healthy']);
      await waitFor('healthy', () => readFileSync(join(dirs.root, 'containers', id, 'health.json'), 'utf8').includes('"healthy"'), 10_000);
      expect(await psStatus('cw-hc1')).toMatch(/^Up .* \(healthy\)$/);
      let health = (await inspect('cw-hc1')).State.Health as Doc;
      expect(health.FailingStreak).toBe(0);
      expect(health.Log.at(-1)).toMatchObject({ ExitCode: 0, Output: '' });
      await ok(['exec', 'cw-hc1', 'rm', '/tmp/healthy']);
      await waitFor('unhealthy', () => readFileSync(join(dirs.root, 'containers', id, 'health.json'), 'utf8').includes('"unhealthy"'), 10_000);
      expect(await psStatus('cw-hc1')).toMatch(/^Up .* \(unhealthy\)$/);
      health = (await inspect('cw-hc1')).State.Health as Doc;
      expect(health.FailingStreak).toBeGreaterThanOrEqual(2);
      expect(health.Log.length).toBeLessThanOrEqual(5);
      for (const entry of health.Log) expect(Object.keys(entry)).toEqual(['Start', 'End', 'ExitCode', 'Output']);
      const changes = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', `container=${id}`, '--format', '{{.Action}}']);
      expect(changes.split('\n').filter((a) => a.startsWith('health_status'))).toEqual(['health_status: healthy', 'health_status: unhealthy']);
      // Stopped: no check left running, the status unhealthy (Docker's), none in ps.
      await ok(['stop', 'cw-hc1']);
      expect(processesNaming(`__health ${id}`)).toEqual([]);
      expect(await status('cw-hc1')).toBe('unhealthy');
      expect(await psStatus('cw-hc1')).toMatch(/^Exited \(3\)/);
      if (podman) {
        await podman.run(['run', '-d', '--name', 'cwhc1', IMAGE]);
        const theirs = JSON.parse((await podman.run(['inspect', 'cwhc1'])).stdout)[0] as Doc;
        expect(theirs.Config.Healthcheck).toEqual(config);
        expect((await podman.run(['healthcheck', 'run', 'cwhc1'])).code).toBe(1);
        await podman.run(['exec', 'cwhc1', 'touch', '/tmp/healthy']);
        expect((await podman.run(['healthcheck', 'run', 'cwhc1'])).code).toBe(0);
      }
      await ok(['rm', '-v', 'cw-hc1']);
    });

    it('--health-* over the image: timeout, start period, --no-healthcheck; bad values refused', async () => {
      const id = await ok(['run', '-d', '--name', 'cw-hc2', '--network', 'none', '--health-cmd', 'echo checking; sleep 5.123', '--health-timeout', '300ms', '--health-interval', '500ms', IMAGE]);
      await waitFor('a timed-out check', () => existsSync(join(dirs.root, 'containers', id, 'health.json')) && readFileSync(join(dirs.root, 'containers', id, 'health.json'), 'utf8').includes('exceeded'), 10_000);
      const health = (await inspect('cw-hc2')).State.Health as Doc;
      expect(health.Log[0]).toMatchObject({ ExitCode: -1, Output: 'Health check exceeded timeout (300ms)' });
      expect((await inspect('cw-hc2')).Config.Healthcheck).toEqual({ Test: ['CMD-SHELL', 'echo checking; sleep 5.123'], Interval: 5e8, Timeout: 3e8, StartPeriod: 0, Retries: 2 });

      const idStart = await ok(['run', '-d', '--name', 'cw-hc3', '--network', 'none', '--health-interval', '200ms', '--health-start-period', '1m', IMAGE]);
      await waitFor('three checks', () => (JSON.parse(readFileSync(join(dirs.root, 'containers', idStart, 'health.json'), 'utf8')) as Doc).Log.length >= 3, 10_000);
      expect(((await inspect('cw-hc3')).State.Health as Doc).FailingStreak).toBe(0);
      expect(await status('cw-hc3')).toBe('starting');

      await ok(['run', '-d', '--name', 'cw-hc4', '--network', 'none', '--no-healthcheck', IMAGE]);
      const doc = await inspect('cw-hc4');
      expect(doc.State.Health).toBeUndefined();
      expect(doc.Config.Healthcheck).toEqual({ Test: ['NONE'] });
      expect(await psStatus('cw-hc4')).toMatch(/^Up [^(]*$/);

      for (const [args, message] of [
        [['--no-healthcheck', '--health-retries', '3'], '--no-healthcheck conflicts with --health-* options'],
        [['--health-interval', 'soon'], 'invalid argument "soon" for "--health-interval" flag: time: invalid duration "soon"'],
        [['--health-timeout', '-1s'], '--health-timeout cannot be negative'],
      ] as const) {
        const before = readdirSync(join(dirs.root, 'containers')).length;
        const bad = await cutaway(['run', '--rm', ...args, IMAGE, 'true']);
        expect(bad.stderr).toContain(message);
        expect(bad.code).toBe(125);
        expect(readdirSync(join(dirs.root, 'containers'))).toHaveLength(before);
      }
      await ok(['rm', '-f', '-v', 'cw-hc2', 'cw-hc3', 'cw-hc4']);
      // Nothing of the checks is left: no __health, no check's process (the container's pid namespace went with it).
      expect(processesNaming(`__health ${id}`)).toEqual([]);
      expect(processesNaming('sleep 5.123')).toEqual([]);
      expect(await volumeNames()).toEqual([]);
    });

    it('a foreground run checks from its own process; the --dry-run script too', async () => {
      const ours = await cutaway(['run', '--name', 'cw-hc5', '--network', 'none', IMAGE, 'sh', '-c', 'touch /tmp/healthy; sleep 2.5']);
      expect(ours.code, ours.stderr).toBe(0);
      expect(await status('cw-hc5')).toBe('unhealthy');
      const log = ((await inspect('cw-hc5')).State.Health as Doc).Log as Doc[];
      expect(log.length).toBeGreaterThanOrEqual(1);
      expect(log[0]).toMatchObject({ ExitCode: 0 });
      const changes = await ok(['events', '--since', '0', '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=cw-hc5', '--format', '{{.Action}}']);
      expect(changes).toContain('health_status: healthy');
      await ok(['rm', '-v', 'cw-hc5']);

      const printed = await cutaway(['run', '--dry-run', '--name', 'cw-hc6', '--network', 'none', IMAGE, 'sh', '-c', 'touch /tmp/healthy; sleep 2.5']);
      expect(printed.stdout).toContain('cutaway __health');
      const scripted = await runScript(printed.stdout, { CUTAWAY_ROOT: dirs.root, PATH: `${BIN_DIR}:${process.env.PATH}` });
      expect(scripted.code, scripted.stderr).toBe(0);
      expect(((await inspect('cw-hc6')).State.Health as Doc).Log[0]).toMatchObject({ ExitCode: 0 });

      const detached = await cutaway(['run', '--dry-run', '-d', '--name', 'cw-hc7', '--network', 'none', IMAGE]);
      expect(detached.stdout).toContain('-H 1000');
      const started = await runScript(detached.stdout, { CUTAWAY_ROOT: dirs.root, PATH: `${BIN_DIR}:${process.env.PATH}` });
      expect(started.code, started.stderr).toBe(0);
      await ok(['exec', 'cw-hc7', 'touch', '/tmp/healthy']);
      await waitFor('healthy', () => readFileSync(join(dirs.root, 'containers', started.stdout.trim(), 'health.json'), 'utf8').includes('"healthy"'), 10_000);
      await ok(['rm', '-f', '-v', 'cw-hc6', 'cw-hc7']);
      expect(await volumeNames()).toEqual([]);
    });
  });

  describe('load of an oci-archive', () => {
    it("loads skopeo's and podman's oci-archives; refuses an archive of neither kind", async () => {
      const skopeoArchive = join(dirs.work, 'skopeo-oci.tar');
      await both.contained('skopeo', ['copy', '--quiet', `oci:${join(dirs.root, 'images')}:${BUSYBOX_REF}`, `oci-archive:${skopeoArchive}:cutaway.test/ocibox:v1`]);
      expect(await ok(['load', '-i', skopeoArchive])).toBe('Loaded image: cutaway.test/ocibox:v1');
      expect(await ok(['run', '--rm', '--network', 'none', 'cutaway.test/ocibox:v1', 'echo', 'hi'])).toBe('hi');
      const viaStdin = await runCommand('/bin/sh', ['-c', `gzip -c ${skopeoArchive} | cutaway load`], { env: { CUTAWAY_ROOT: dirs.root, PATH: `${BIN_DIR}:${process.env.PATH}` } });
      expect(viaStdin.stdout, viaStdin.stderr).toBe('Loaded image: cutaway.test/ocibox:v1\n');
      if (podman) {
        const podmanArchive = join(dirs.work, 'podman-oci.tar');
        const saved = await podman.run(['save', '--format', 'oci-archive', '-o', podmanArchive, IMAGE]);
        expect(saved.code, saved.stderr).toBe(0);
        await ok(['rmi', IMAGE]);
        expect(await ok(['load', '-i', podmanArchive])).toBe(`Loaded image: ${IMAGE}`);
        // podman's oci-archive is OCI: the Healthcheck (Docker's) is not in it; the rest is.
        expect((await ok(['image', 'inspect', '-f', '{{.Config.StopSignal}}', IMAGE]))).toBe('SIGUSR1');
        await ok(['load', '-i', archive]);
      }
      const empty = join(dirs.work, 'empty.tar');
      await runCommand('/bin/tar', ['-cf', empty, '-C', join(dirs.work, 'context'), 'Dockerfile']);
      const bad = await cutaway(['load', '-i', empty]);
      expect(bad.stderr).toBe(`cutaway load: error: ${empty}: no manifest.json: not a docker save archive\n`);
      expect(readdirSync('/tmp').filter((d) => d.startsWith('cutaway-load-oci-'))).toEqual([]);
    });
  });
});
