/**
 * cutaway events (issue 19 part 5): the events every command records in ROOT/events.log, shown as `docker
 * events` shows them. The reference is Docker's documented events.Message and docker/cli's text line, not
 * podman: `podman events --format json` prints another shape (Name, Status, Time, Type, Attributes, …), so
 * nothing here is compared with it. Containers are real (busybox, no network), cleaned up as in verbs2.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCommand, shellWord, toolPath, waitFor, type CommandResult } from '../../../test/fixtures/commands.ts';
import { busyboxRoot } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF } from '../../../test/fixtures/images.ts';
import { createUnprivilegedUser } from '../../../test/fixtures/unprivileged-user.ts';

const state = busyboxRoot('cw-events-');
let root: string;

beforeAll(() => {
  ({ root } = state);
});

function cutaway(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root, ...env } });
}

interface Event {
  status?: string;
  id?: string;
  from?: string;
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: string;
  time: number;
  timeNano: number;
}

/** The events of the whole log so far (--until now, as Unix seconds with a fraction), with `args`, as JSON. */
async function past(args: string[] = []): Promise<Event[]> {
  const r = await cutaway(['events', '--since', '0', '--until', String(Date.now() / 1000), '--format', '{{json .}}', ...args]);
  expect(r).toMatchObject({ code: 0, stderr: '' });
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event);
}

const actions = (events: Event[]) => events.map((e) => e.Action);
/** Unix seconds with nine decimals: the exact time of an event, as docker's --since/--until take it. */
const unixTime = (e: Event) => `${Math.floor(e.timeNano / 1e9)}.${String(Math.round(e.timeNano / 1000) % 1e6).padStart(6, '0')}000`;

describe('what commands record', () => {
  it("run -d, stop, rm: create, start, kill (15), die with the exit code, stop, destroy — Docker's order and attributes", async () => {
    // SIGTERM is trapped: it ends with 7 before stop's 5 s are up, so no second kill.
    const run = await cutaway(['run', '-d', '--name', 'cw-ev', '--network', 'none', '-l', 'team=a', BUSYBOX_REF, 'sh', '-c', 'trap "exit 7" TERM; while :; do sleep 0.1; done']);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect((await cutaway(['stop', '-t', '5', 'cw-ev'])).code).toBe(0);
    expect((await cutaway(['rm', 'cw-ev'])).code).toBe(0);

    const events = await past(['--filter', `container=${id}`]);
    expect(actions(events)).toEqual(['create', 'start', 'kill', 'die', 'stop', 'destroy']);
    for (const e of events) {
      expect(e).toMatchObject({ Type: 'container', status: e.Action, id, from: BUSYBOX_REF, scope: 'local', Actor: { ID: id } });
      // A container's labels come with its image and name, as moby's LogContainerEventWithAttributes adds them.
      expect(e.Actor.Attributes).toMatchObject({ image: BUSYBOX_REF, name: 'cw-ev', team: 'a' });
      expect(e.time).toBe(Math.floor(e.timeNano / 1e9));
    }
    expect(events[2]!.Actor.Attributes.signal).toBe('15');
    expect(events[3]!.Actor.Attributes.exitCode).toBe('7');
    // In time order, as they happened.
    expect(events.map((e) => e.timeNano)).toEqual(events.map((e) => e.timeNano).sort((a, b) => a - b));
  });

  it('a foreground run --rm: create, attach, start, die (its status), destroy; a stop after the timeout adds kill 9', async () => {
    const fg = await cutaway(['run', '--rm', '--name', 'cw-fg', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'exit 3']);
    expect(fg.code).toBe(3);
    const events = await past(['--filter', 'container=cw-fg']);
    expect(actions(events)).toEqual(['create', 'attach', 'start', 'die', 'destroy']);
    expect(events[3]!.Actor.Attributes.exitCode).toBe('3');

    // sleep as PID 1 ignores SIGTERM: SIGKILL after the second, 137.
    expect((await cutaway(['run', '-d', '--name', 'cw-stubborn', '--network', 'none', BUSYBOX_REF, 'sleep', '60'])).code).toBe(0);
    expect((await cutaway(['restart', '-t', '1', 'cw-stubborn'])).code).toBe(0);
    expect((await cutaway(['rm', '-f', 'cw-stubborn'])).code).toBe(0);
    const stubborn = await past(['--filter', 'container=cw-stubborn']);
    // restart: SIGTERM, then SIGKILL after the timeout; rm -f: SIGKILL alone, as Docker's.
    expect(actions(stubborn)).toEqual(['create', 'start', 'kill', 'kill', 'die', 'stop', 'start', 'restart', 'kill', 'die', 'destroy']);
    expect(stubborn.filter((e) => e.Action === 'kill').map((e) => e.Actor.Attributes.signal)).toEqual(['15', '9', '9']);
    // One die per exit, each with its status.
    expect(stubborn.filter((e) => e.Action === 'die').map((e) => e.Actor.Attributes.exitCode)).toEqual(['137', '137']);
  });

  it('rename, pause, exec and commit; image tag, untag and delete; volumes', async () => {
    const run = await cutaway(['run', '-d', '--name', 'cw-x', '--network', 'none', BUSYBOX_REF, 'sleep', '60']);
    expect(run.code).toBe(0);
    expect((await cutaway(['rename', 'cw-x', 'cw-y'])).code).toBe(0);
    expect((await cutaway(['pause', 'cw-y'])).code).toBe(0);
    expect((await cutaway(['unpause', 'cw-y'])).code).toBe(0);
    expect((await cutaway(['exec', 'cw-y', 'sh', '-c', 'exit 4'])).code).toBe(4);
    const commit = await cutaway(['commit', '-m', 'snap', 'cw-y', 'cwev/snap:1']);
    expect(commit.code).toBe(0);
    const imageId = commit.stdout.trim();
    expect((await cutaway(['rm', '-f', 'cw-y'])).code).toBe(0);
    expect((await cutaway(['tag', 'cwev/snap:1', 'cwev/other:2'])).code).toBe(0);
    expect((await cutaway(['rmi', 'cwev/snap:1', 'cwev/other:2'])).code).toBe(0);
    expect((await cutaway(['volume', 'create', 'cwev-vol'])).code).toBe(0);
    expect((await cutaway(['volume', 'rm', 'cwev-vol'])).code).toBe(0);

    // By id: its first events name it cw-x.
    const y = await past(['--filter', `container=${run.stdout.trim()}`]);
    expect(actions(y)).toEqual([
      'create', 'start', 'rename', 'pause', 'unpause', 'exec_create: sh -c exit 4', 'exec_start: sh -c exit 4', 'exec_die', 'commit', 'kill', 'die', 'destroy',
    ]);
    expect(y[0]!.Actor.Attributes.name).toBe('cw-x');
    expect(y[2]!.Actor.Attributes).toMatchObject({ name: 'cw-y', oldName: 'cw-x' });
    const execId = y[5]!.Actor.Attributes.execID;
    expect(execId).toMatch(/^[0-9a-f]{64}$/);
    expect(y[7]!.Actor.Attributes).toMatchObject({ execID: execId, exitCode: '4' });
    expect(y[8]!.Actor.Attributes).toMatchObject({ comment: 'snap', imageID: imageId, imageRef: 'cwev/snap:1' });

    const images = await past(['--filter', 'type=image', '--filter', `image=${imageId}`]);
    expect(images.map((e) => [e.Action, e.Actor.ID, e.Actor.Attributes.name])).toEqual([
      ['tag', imageId, 'cwev/snap:1'],
      ['tag', imageId, 'cwev/other:2'],
      // Docker names the image by its ID in untag and delete (moby image_delete.go).
      ['untag', imageId, imageId],
      ['untag', imageId, imageId],
      ['delete', imageId, imageId],
    ]);
    // Image events keep the old fields too, but no `from`.
    expect(images.every((e) => e.status === e.Action && e.id === e.Actor.ID && !('from' in e))).toBe(true);
    // --filter image= takes a repository without its tag too.
    expect(actions(await past(['--filter', 'image=cwev/other']))).toEqual(['tag']);

    const volumes = await past(['--filter', 'volume=cwev-vol']);
    expect(volumes.map((e) => [e.Type, e.Action, e.Actor.ID, e.Actor.Attributes.driver])).toEqual([
      ['volume', 'create', 'cwev-vol', 'local'],
      ['volume', 'destroy', 'cwev-vol', 'local'],
    ]);
    // Docker keeps status/id/from for containers and images only.
    expect(Object.keys(volumes[0]!)).toEqual(['Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
  });

  it('commands at once never interleave their lines', async () => {
    const names = Array.from({ length: 8 }, (_, i) => `cwev-many-${i}`);
    const results = await Promise.all(names.map((n) => cutaway(['volume', 'create', n])));
    expect(results.every((r) => r.code === 0)).toBe(true);
    const lines = readFileSync(join(root, 'events.log'), 'utf8').split('\n').filter(Boolean);
    for (const line of lines) expect(() => JSON.parse(line) as unknown).not.toThrow();
    const created = lines.map((l) => JSON.parse(l) as Event).filter((e) => e.Actor.ID.startsWith('cwev-many-'));
    expect(created.map((e) => e.Actor.ID).sort()).toEqual(names);
    await Promise.all(names.map((n) => cutaway(['volume', 'rm', n])));
  });

  it('--dry-run records nothing', async () => {
    const before = readFileSync(join(root, 'events.log'), 'utf8');
    expect((await cutaway(['run', '--dry-run', '--rm', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    expect((await cutaway(['create', '--dry-run', '--name', 'cw-dry', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    expect(readFileSync(join(root, 'events.log'), 'utf8')).toBe(before);
  });
});

describe('cutaway events', () => {
  it("prints docker/cli's line by default: the time to the nanosecond, type, action, actor, the attributes in key order", async () => {
    expect((await cutaway(['run', '--rm', '--name', 'cw-text', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    const [create] = await past(['--filter', 'container=cw-text']);
    // docker prints the time in the local zone: Z in UTC.
    const r = await cutaway(['system', 'events', '--since', unixTime(create!), '--until', unixTime(create!)], { TZ: 'UTC' });
    expect(r.code).toBe(0);
    const when = new Date(create!.timeNano / 1e6).toISOString().slice(0, 19);
    const fraction = String(Math.round(create!.timeNano / 1000) % 1e6).padStart(6, '0');
    expect(r.stdout).toBe(`${when}.${fraction}000Z container create ${create!.Actor.ID} (image=${BUSYBOX_REF}, name=cw-text)\n`);
  });

  it('--format json and {{json .}}: one object a line, the keys in the order Docker sends them; templates see events.Message', async () => {
    expect((await cutaway(['run', '--rm', '--name', 'cw-json', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    const events = await past(['--filter', 'container=cw-json']);
    expect(Object.keys(events[0]!)).toEqual(['status', 'id', 'from', 'Type', 'Action', 'Actor', 'scope', 'time', 'timeNano']);
    expect(Object.keys(events[0]!.Actor)).toEqual(['ID', 'Attributes']);
    const [first, last] = [events[0]!, events.at(-1)!];
    const window = ['--since', unixTime(first), '--until', unixTime(last), '--filter', 'container=cw-json'];
    const json = await cutaway(['events', ...window, '--format', 'json']);
    expect(json.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Event)).toEqual(events);
    const fields = await cutaway(['events', ...window, '--format', '{{.Type}} {{.Status}} {{truncate .ID 12}} {{.From}} {{.Actor.Attributes.name}} {{.Scope}} {{.Time}} {{.TimeNano}}']);
    expect(fields.stdout.split('\n')[3]).toBe(`container die ${first.id!.slice(0, 12)} ${BUSYBOX_REF} cw-json local ${events[3]!.time} ${events[3]!.timeNano}`);
  });

  it('--since and --until: an RFC 3339 or Unix window, inclusive at both ends; a duration before now', async () => {
    expect((await cutaway(['run', '--rm', '--name', 'cw-win', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    const events = await past(['--filter', 'container=cw-win']);
    expect(actions(events)).toEqual(['create', 'attach', 'start', 'die', 'destroy']);
    const iso = (e: Event) => `${new Date(e.timeNano / 1e6).toISOString().slice(0, 19)}.${String(Math.round(e.timeNano / 1000) % 1e6).padStart(6, '0')}Z`;
    const rfc = await cutaway(['events', '--since', iso(events[1]!), '--until', iso(events[3]!), '-f', 'container=cw-win', '--format', '{{.Action}}']);
    expect(rfc.stdout).toBe('attach\nstart\ndie\n');
    const offset = await cutaway(['events', '--since', iso(events[2]!).replace(/Z$/, '+00:00'), '--until', unixTime(events[2]!), '-f', 'container=cw-win', '--format', '{{.Action}}']);
    expect(offset.stdout).toBe('start\n');
    // A duration is that long before now, to the second (docker's GetTimestamp): an hour back has them all.
    await new Promise((r) => setTimeout(r, 1000));
    const recent = await cutaway(['events', '--since', '1h', '--until', '0s', '-f', 'container=cw-win', '--format', '{{.Action}}']);
    expect(recent.stdout).toBe('create\nattach\nstart\ndie\ndestroy\n');
    const none = await cutaway(['events', '--since', '2001-01-01', '--until', '2001-01-02', '-f', 'container=cw-win']);
    expect(none).toMatchObject({ code: 0, stdout: '' });
  });

  it('--filter: event, container (ID or name, a prefix too), type; one key ORs its values, keys AND', async () => {
    expect((await cutaway(['run', '--rm', '--name', 'cw-filt-a', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'exit 1'])).code).toBe(1);
    expect((await cutaway(['run', '--rm', '--name', 'cw-filt-b', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'exit 2'])).code).toBe(2);
    expect((await cutaway(['tag', BUSYBOX_REF, 'cwev/filtered:1'])).code).toBe(0);
    const dies = await past(['--filter', 'event=die', '--filter', 'container=cw-filt-a', '--filter', 'container=cw-filt-b']);
    expect(dies.map((e) => [e.Actor.Attributes.name, e.Actor.Attributes.exitCode])).toEqual([['cw-filt-a', '1'], ['cw-filt-b', '2']]);
    const [fa] = await past(['--filter', 'container=cw-filt-a', '--filter', 'event=create']);
    expect(actions(await past(['--filter', `container=${fa!.Actor.ID.slice(0, 10)}`]))).toEqual(['create', 'attach', 'start', 'die', 'destroy']);
    expect(actions(await past(['--filter', 'container=cw-filt-', '--filter', 'event=destroy']))).toEqual(['destroy', 'destroy']);
    const images = await past(['--filter', 'type=image', '--filter', 'event=tag']);
    expect(images.map((e) => e.Actor.Attributes.name)).toContain('cwev/filtered:1');
    expect(images.every((e) => e.Type === 'image')).toBe(true);
    expect((await cutaway(['rmi', 'cwev/filtered:1'])).code).toBe(0);
  });

  it('follows: an event that happens after it started is printed; SIGTERM ends it with status 0', async () => {
    const child = spawn(toolPath('cutaway'), ['events', '--filter', 'container=cw-follow', '--format', '{{.Action}} {{.Actor.Attributes.exitCode}}'], {
      env: { ...process.env, CUTAWAY_ROOT: root },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (err += d));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
    // It watches the state root (inotify) once it has looked at events.log: from then on, what is appended is new.
    const watching = () => readdirSync(`/proc/${child.pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${child.pid}/fd/${fd}`) === 'anon_inode:inotify';
      } catch {
        return false;
      }
    });
    await waitFor('cutaway events to watch', watching);
    expect((await cutaway(['run', '--rm', '--name', 'cw-follow', '--network', 'none', BUSYBOX_REF, 'sh', '-c', 'exit 9'])).code).toBe(9);
    await waitFor('the destroy event', () => out.includes('destroy'));
    expect(out).toBe('create <no value>\nattach <no value>\nstart <no value>\ndie 9\ndestroy <no value>\n');
    child.kill('SIGTERM');
    expect(await exited).toEqual([0, null]);
    expect(err).toBe('');
  });

  it('--until to come: waits for it, prints what happens meanwhile, and ends by itself', async () => {
    const until = new Date(Date.now() + 4000).toISOString();
    const since = String(Date.now() / 1000);
    const events = runCommand('cutaway', ['events', '--since', since, '--until', until, '-f', 'container=cw-until', '-f', 'event=start', '--format', '{{.Action}}'], { env: { CUTAWAY_ROOT: root } });
    expect((await cutaway(['run', '--rm', '--name', 'cw-until', '--network', 'none', BUSYBOX_REF, 'true'])).code).toBe(0);
    expect(await events).toMatchObject({ code: 0, stdout: 'start\n', stderr: '' });
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(until));
  });

  it("gives one-line errors: an unknown filter key, a malformed filter, a bad time, --since after --until, a field events.Message lacks", async () => {
    const cases: [string[], number, string][] = [
      [['--filter', 'colour=red'], 1, "cutaway events: error: invalid filter 'colour'\n"],
      [['--since', 'yesterday'], 1, 'cutaway events: error: --since yesterday: failed to parse value as time or duration: "yesterday"\n'],
      [['--until', '2024-13-01'], 1, 'cutaway events: error: --until 2024-13-01: parsing time "2024-13-01" as "2006-01-02": month out of range\n'],
      [['--since', '2h', '--until', '3h'], 1, 'cutaway events: error: `since` time (2h) cannot be after `until` time (3h)\n'],
      [['--until', '0s', '--format', '{{.Nope}}'], 1, 'cutaway events: error: template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type events.Message\n'],
    ];
    for (const [args, code, stderr] of cases) expect(await cutaway(['events', ...args])).toMatchObject({ code, stdout: '', stderr });
    // Usage errors: 125, as every cutaway command's.
    const malformed = await cutaway(['events', '--filter', 'colour']);
    expect(malformed.code).toBe(125);
    expect(malformed.stderr.split('\n')[0]).toBe('cutaway events: error: bad format of filter (expected name=value): colour');
    expect((await cutaway(['events', '--dry-run'])).code).toBe(125);
  });
});

const rootlessTools = process.getuid?.() === 0 && ['setpriv', 'useradd', 'userdel', 'newuidmap'].every((c) => {
  try {
    execFileSync('sh', ['-c', `command -v ${c}`], { stdio: 'ignore', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(!rootlessTools)('rootless', () => {
  it("records in the user's own store, from inside its user namespace (run, the shim's teardown) and outside (exec, stop)", async () => {
    const work = join(state.work, 'rootless');
    mkdirSync(work, { mode: 0o755 });
    chmodSync(state.work, 0o755);
    const user = createUnprivilegedUser();
    try {
      const home = join(work, 'home');
      const xdg = join(work, 'xdg');
      for (const dir of [home, xdg]) {
        mkdirSync(dir, { mode: 0o700 });
        chownSync(dir, user.uid, user.gid);
      }
      // The image reaches the user's store as a docker save archive.
      const archive = join(work, 'busybox.tar');
      expect((await cutaway(['save', '-o', archive, BUSYBOX_REF])).code).toBe(0);
      chmodSync(archive, 0o644);
      const asUser = (args: string[]) => user.run(`exec ${['cutaway', ...args].map(shellWord).join(' ')}`, { cwd: work, env: { HOME: home, XDG_RUNTIME_DIR: xdg } });
      for (const args of [['load', '-i', archive], ['run', '-d', '--name', 'cw-rl', '--network', 'none', BUSYBOX_REF, 'sleep', '300'], ['exec', 'cw-rl', 'true'], ['stop', '-t', '1', 'cw-rl'], ['rm', 'cw-rl']]) {
        const r = await asUser(args);
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      }
      const r = await asUser(['events', '--since', '1h', '--until', String(Date.now() / 1000), '--format', '{{.Type}} {{.Action}} {{.Actor.Attributes.exitCode}}']);
      expect(r.stdout.split('\n')).toEqual([
        'image load <no value>',
        'container create <no value>',
        'container start <no value>',
        'container exec_create: true  <no value>',
        'container exec_start: true  <no value>',
        'container exec_die 0',
        'container kill <no value>',
        'container kill <no value>',
        'container die 137',
        'container stop <no value>',
        'container destroy <no value>',
        '',
      ]);
      expect(statSync(join(home, '.local', 'share', 'cutaway', 'events.log')).uid).toBe(user.uid);
    } finally {
      user.remove();
    }
  });
});
