/**
 * Issue 19's check: everyday Docker one-liners run unchanged with cutaway in docker's place. They make one bash
 * script (set -euo pipefail), each line as a Docker user types it, whose `docker` is a shell function calling
 * cutaway; the script stops at the first line that fails. Each line's output is checked: where podman follows
 * Docker on the same image, against podman's for the same line (the marked lines make a second script, its
 * `docker` calling podman on a throwaway store, test/fixtures/podman.ts, with the overlay driver, as Docker's
 * overlay2 reads a container's changes); otherwise against what Docker documents for it. The image is the
 * busybox fixture under Docker's name for it, `busybox`, in both stores.
 *
 * The work directory has a space in its path, as a checkout may. Cleanup, also on failure: every cutaway
 * container taken down (removeContainers: processes by pid, endpoints, overlays, cgroups), the network the
 * script makes, podman's containers, mounts and cgroups (under a cw-named parent), then the directory. podman
 * runs its containers without a network (containers.conf netns "none"): it makes no bridge.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { BIN_DIR, runCommand, shellWord, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { HAVE_PODMAN, podmanStore, type PodmanStore } from '../../../test/fixtures/podman.ts';

/** What a line printed; a function is also given what an earlier line printed (the first that begins with `start`). */
type Check = string | RegExp | ((out: string, earlier: (start: string) => string) => void);

interface OneLiner {
  line: string;
  /** Docker's documented output (when podman's is not compared, or as well). */
  expected?: Check;
  /** podman on the same image prints the same (ids aside). */
  podman?: true;
}

const ONE_LINERS: OneLiner[] = [
  { line: `docker run --rm busybox echo hello`, podman: true, expected: 'hello\n' },
  { line: `docker run --rm -e GREETING=hi -w /tmp busybox sh -c 'echo "$GREETING from $(pwd)"'`, podman: true, expected: 'hi from /tmp\n' },
  { line: `docker run --rm -v "$PWD/data:/data:ro" busybox cat /data/note.txt`, podman: true, expected: 'a note\n' },
  { line: `docker run --rm busybox sh -c 'exit 3' || echo "exit status $?"`, podman: true, expected: 'exit status 3\n' },
  { line: `docker run --rm -u 1000 --entrypoint "" busybox id -u`, podman: true, expected: '1000\n' },
  { line: `docker run --name talker busybox sh -c 'echo one; echo two; echo three'`, podman: true, expected: 'one\ntwo\nthree\n' },
  { line: `docker logs --tail 2 talker`, podman: true, expected: 'two\nthree\n' },
  { line: `docker wait talker`, podman: true, expected: '0\n' },
  // attach joins a running container's output and exits with its status (Docker's docs; podman 4.3's attach exits 0).
  { line: `docker run -d --name counter busybox sh -c 'sleep 1; echo done; exit 4' >/dev/null && docker attach counter || echo "exit status $?"`, expected: 'done\nexit status 4\n' },
  // --until in whole seconds (Docker's GetTimestamp): the next second's start, so that this second's events are in.
  { line: `docker events --since 10m --until "$(( $(date +%s) + 1 ))" --filter event=die --filter container=counter --format '{{.Actor.Attributes.exitCode}}'`, expected: '4\n' },
  { line: `docker run -d --name web busybox sleep 300`, podman: true, expected: /^[0-9a-f]{64}\n$/ },
  { line: `docker ps --format '{{.Names}}'`, podman: true, expected: 'web\n' },
  // A table as Docker's tabwriter pads it; IMAGE as it was given to run.
  { line: `docker ps --format 'table {{.Names}}\t{{.Image}}'`, expected: 'NAMES     IMAGE\nweb       busybox\n' },
  { line: `docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' web`, expected: /^\d+\.\d+\.\d+\.\d+\n$/ },
  { line: `docker stats --no-stream --format '{{.Name}}'`, expected: 'web\n' },
  { line: `docker inspect -f '{{.State.Running}} {{.Config.Cmd}}' web`, podman: true, expected: 'true [sleep 300]\n' },
  // PID 1 as the host numbers it: top's row shows it running sleep.
  { line: `docker inspect -f '{{.State.Pid}}' web`, expected: /^[1-9]\d*\n$/ },
  {
    // ps -f's columns, as Docker's top runs it.
    line: `docker top web`,
    expected: (out, earlier) => expect(out).toMatch(new RegExp(`^UID +PID +PPID +C +STIME +TTY +TIME +CMD\\nroot +${earlier(`docker inspect -f '{{.State.Pid}}'`).trim()} +\\d+ .* sleep 300\\n$`)),
  },
  { line: `docker exec web ps -o comm`, podman: true, expected: 'COMMAND\nsleep\nps\n' },
  { line: `docker exec -w /tmp -e X=1 web sh -c 'echo "$X $(pwd)"'`, podman: true, expected: '1 /tmp\n' },
  { line: `docker cp data/note.txt web:/tmp/ && docker exec web cat /tmp/note.txt`, podman: true, expected: 'a note\n' },
  { line: `docker cp web:/etc/hosts - | tar t`, podman: true, expected: 'hosts\n' },
  { line: `docker stop -t 0 web`, podman: true, expected: 'web\n' },
  { line: `docker start web`, podman: true, expected: 'web\n' },
  { line: `docker inspect -f '{{.State.Status}}' web`, podman: true, expected: 'running\n' },
  // Docker refuses to start a paused container: "cannot start a paused container, try unpause instead", status 1.
  { line: `docker pause web && docker start web || echo "exit status $?"`, expected: 'web\nexit status 1\n' },
  { line: `docker unpause web && docker restart -t 0 web`, expected: 'web\nweb\n' },
  { line: `docker run --name changer busybox sh -c 'echo hi > /etc/motd; rm /bin/ls; mkdir /srv'`, podman: true, expected: '' },
  { line: `docker diff changer`, podman: true, expected: 'C /bin\nD /bin/ls\nC /etc\nA /etc/motd\nA /srv\n' },
  { line: `docker export changer | tar t | grep -E '^(etc/motd|bin/ls|srv/)$'`, podman: true, expected: 'etc/motd\nsrv/\n' },
  { line: `docker cp changer:/etc/motd - | tar xO`, podman: true, expected: 'hi\n' },
  { line: `docker commit changer snapshot >/dev/null && docker run --rm snapshot cat /etc/motd`, podman: true, expected: 'hi\n' },
  // The image runs the container's command, as Docker's commit keeps it.
  { line: `docker commit talker talker-image >/dev/null && docker run --rm talker-image`, podman: true, expected: 'one\ntwo\nthree\n' },
  { line: `docker run --rm $(docker build -q .)`, podman: true, expected: 'a note\n' },
  { line: `docker inspect -f '{{.Config.Cmd}}' busybox`, podman: true, expected: '[sh]\n' },
  { line: `docker build -t hello:1 . >/dev/null && docker tag hello:1 hello:2 && docker images --format '{{.Repository}}:{{.Tag}}' hello | sort`, expected: 'hello:1\nhello:2\n' },
  { line: `docker rmi hello:2`, expected: 'Untagged: hello:2\n' },
  { line: `docker images -q busybox`, expected: /^[0-9a-f]{12}\n$/ },
  { line: `docker image inspect -f '{{.Id}}' busybox`, expected: (out, earlier) => expect(out).toBe(`sha256:${earlier('docker images -q').trim()}${out.slice(19)}`) },
  {
    line: `docker run -d --name site -p 80 busybox sh -c 'echo served > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null && docker port site 80`,
    expected: /^0\.0\.0\.0:\d+\n$/,
  },
  { line: `for i in $(seq 50); do wget -qO- "http://$(docker port site 80)/" && break; sleep 0.1; done`, expected: 'served\n' },
  { line: `docker volume create data1 && docker run --rm -v data1:/vol busybox sh -c 'echo kept > /vol/f' && docker run --rm -v data1:/vol busybox cat /vol/f`, podman: true, expected: 'data1\nkept\n' },
  // An empty named volume gets the image's content at its path (Docker copies it in at the first mount).
  { line: `docker run --rm -v data2:/home busybox ls /home && docker volume rm data2`, podman: true, expected: 'app\ndata2\n' },
  { line: `docker volume ls -q`, podman: true, expected: 'data1\n' },
  { line: `docker volume rm data1`, podman: true, expected: 'data1\n' },
  { line: `docker network create "$NET" >/dev/null && docker network ls --format '{{.Name}}' | grep -x "$NET"`, expected: (out) => expect(out).toBe(`${network}\n`) },
  { line: `docker network rm "$NET"`, expected: (out) => expect(out).toBe(`${network}\n`) },
  { line: `docker ps -a --filter status=exited --format '{{.Names}}' | sort`, expected: 'changer\ncounter\ntalker\n' },
  // rm prints what it was given: ps -q's 12 digits.
  { line: `docker rm -f $(docker ps -aq --filter name=web)`, expected: (out, earlier) => expect(out).toBe(`${earlier('docker run -d --name web').slice(0, 12)}\n`) },
  { line: `docker rm $(docker ps -aq --filter status=exited) | wc -l`, expected: '3\n' },
  { line: `docker system df --format '{{.Type}}: {{.TotalCount}}'`, expected: /^Images: \d+\nContainers: 1\nLocal Volumes: 0\nBuild Cache: \d+\n$/ },
  { line: `docker version --format '{{.Client.Version}}'`, expected: /^\d+\.\d+\.\d+\n$/ },
  { line: `docker rm -f site`, expected: 'site\n' },
  { line: `docker ps -aq | wc -l`, expected: '0\n' },
];

const MARK = '#-- line ';

/** The script: strict bash, the `docker` function, then each line after a marker line on stdout. */
function script(dockerFunction: string, lines: OneLiner[]): string {
  return ['set -euo pipefail', dockerFunction, ...lines.flatMap((l) => [`echo '${MARK}${ONE_LINERS.indexOf(l)}'`, l.line]), ''].join('\n');
}

/** Each line's output, by its index in ONE_LINERS; `last`: the index of the last line that began. */
function outputsOf(stdout: string): { outputs: string[]; last: number } {
  const outputs: string[] = [];
  const parts = stdout.split(new RegExp(`^${MARK}(\\d+)\\n`, 'm'));
  let last = -1;
  for (let i = 1; i < parts.length; i += 2) {
    last = Number(parts[i]);
    outputs[last] = parts[i + 1]!;
  }
  return { outputs, last };
}

const ids = (text: string) => text.replace(/\b[0-9a-f]{64}\b/g, '<id>');

const network = `cwol-${process.pid}`;
const podmanCgroup = `cwol-podman-${process.pid}`;
let work: string;
let root: string;
let app: string;
let podman: PodmanStore | undefined;

async function runScript(name: string, text: string, env: NodeJS.ProcessEnv): Promise<CommandResult> {
  const file = join(work, name);
  writeFileSync(file, text);
  return runCommand('/bin/bash', [file], { cwd: app, env });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw one-liners-'));
  root = join(work, 'root');
  app = join(work, 'app');
  mkdirSync(join(app, 'data'), { recursive: true });
  writeFileSync(join(app, 'data', 'note.txt'), 'a note\n');
  writeFileSync(join(app, 'Dockerfile'), ['FROM busybox', 'COPY data/note.txt /note.txt', 'CMD ["cat", "/note.txt"]', ''].join('\n'));
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
  const tagged = await runCommand('cutaway', ['tag', BUSYBOX_REF, 'busybox'], { env: { CUTAWAY_ROOT: root } });
  expect(tagged.code, tagged.stderr).toBe(0);
  if (HAVE_PODMAN) podman = await podmanStore(join(work, 'podman'), podmanCgroup, { driver: 'overlay', noNetwork: true, images: ['docker.io/library/busybox:latest'] });
});

afterAll(async () => {
  try {
    await removeContainers(root);
    await runCommand('netbridge', ['network', 'rm', network], { env: { CUTAWAY_ROOT: root } });
    await podman?.remove();
  } finally {
    await removeTree(work);
  }
});

describe('everyday Docker one-liners, with cutaway as docker', () => {
  let cutawayOutputs: string[] = [];

  it(`runs ${ONE_LINERS.length} of them unchanged, each printing what Docker prints`, { timeout: 300_000 }, async () => {
    const env = { CUTAWAY_ROOT: root, NET: network, PATH: `${BIN_DIR}:${process.env.PATH ?? ''}` };
    const out = await runScript('with-cutaway.sh', script('docker() { cutaway "$@"; }', ONE_LINERS), env);
    const { outputs, last } = outputsOf(out.stdout);
    cutawayOutputs = outputs;
    expect(out.code, `stopped at ${JSON.stringify(ONE_LINERS[last]?.line)}:\n${out.stderr}`).toBe(0);
    for (const [i, { line, expected }] of ONE_LINERS.entries()) {
      const got = outputs[i]!;
      if (typeof expected === 'string') expect(got, line).toBe(expected);
      else if (expected instanceof RegExp) expect(got, line).toMatch(expected);
      else expected?.(got, (start) => outputs[ONE_LINERS.findIndex((l) => l.line.startsWith(start))]!);
    }
    // What the lines that fail on purpose said, on stderr as Docker says it.
    expect(out.stderr).toContain('cutaway start: error: cannot start a paused container, try unpause instead\n');
  });

  it.skipIf(!HAVE_PODMAN)('prints what podman prints for the same lines on the same image', { timeout: 300_000 }, async () => {
    expect(cutawayOutputs.length, 'the cutaway script ran first').toBe(ONE_LINERS.length);
    const globals = podman!.globalArgs.map(shellWord).join(' ');
    // podman's containers go under a cgroup parent of ours: cgroupfs is not namespaced.
    const dockerFunction = `docker() { case $1 in run|create) local verb=$1; shift; podman ${globals} "$verb" --cgroup-parent ${podmanCgroup} "$@";; *) podman ${globals} "$@";; esac; }`;
    const compared = ONE_LINERS.filter((l) => l.podman);
    const out = await runScript('with-podman.sh', script(dockerFunction, compared), { ...podman!.env, NET: network });
    const { outputs, last } = outputsOf(out.stdout);
    expect(out.code, `podman stopped at ${JSON.stringify(ONE_LINERS[last]?.line)}:\n${out.stderr}`).toBe(0);
    for (const l of compared) {
      const i = ONE_LINERS.indexOf(l);
      expect(ids(cutawayOutputs[i]!), l.line).toBe(ids(outputs[i]!));
    }
  });
});
