/**
 * cutaway's own command line, as Docker's: help (`cutaway --help`, `help`, alone, `help COMMAND`), version,
 * an unknown command, the management groups (every verb reachable both ways, the same command), usage
 * errors (125) and `run --entrypoint ""`. Where podman differs from Docker here (its help's sections, its
 * unknown command's `Error: unrecognized command` and 125), Docker's behaviour is copied.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { release } from 'node:os';

let work: string;
let root: string;

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root } });
}

/** The sections of a help text: title → the names its lines start with. */
function sections(help: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of help.split('\n')) {
    if (/^[A-Z][A-Za-z ]+:$/.test(line)) found.set(line.slice(0, -1), (current = []));
    else if (line === '') current = undefined;
    else if (current && line.startsWith('  ')) current.push(line.trim().split(/\s+/)[0]!);
  }
  return found;
}

/** Runs every argument list, a few at a time. */
async function all(argvs: string[][]): Promise<CommandResult[]> {
  const results: CommandResult[] = [];
  for (let i = 0; i < argvs.length; i += 8) results.push(...(await Promise.all(argvs.slice(i, i + 8).map(cutaway))));
  return results;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-cli-'));
  root = join(work, 'root');
  await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
});

afterAll(async () => {
  await removeContainers(root);
  await removeTree(work);
});

describe('help', () => {
  it("cutaway --help, help and alone: Docker's sections, each command once, exit 0 (alone: on stderr, as docker)", async () => {
    const help = await cutaway(['--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    expect(help.stdout.split('\n').slice(0, 4)).toEqual(['', 'Usage:  cutaway [OPTIONS] COMMAND', '', "Docker's commands, each a script over cutaway's tools"]);
    const found = sections(help.stdout);
    expect([...found.keys()]).toEqual(['Common Commands', 'Management Commands', 'Commands', 'Global Options']);
    expect(found.get('Common Commands')).toEqual(['run', 'exec', 'ps', 'build', 'pull', 'push', 'images', ...found.get('Common Commands')!.slice(7)]);
    expect(found.get('Common Commands')).toEqual(expect.arrayContaining(['version', 'info']));
    expect(found.get('Management Commands')).toEqual(['builder', 'container', 'image', 'network', 'system', 'volume']);
    const listed = [...found.get('Common Commands')!, ...found.get('Commands')!];
    expect(new Set(listed).size).toBe(listed.length);
    expect(listed).toEqual(expect.arrayContaining(['rm', 'rmi', 'logs', 'inspect', 'history', 'unshare']));
    expect(listed).not.toContain('__teardown');
    expect(found.get('Commands')).toEqual([...found.get('Commands')!].sort());
    expect(found.get('Global Options')).toEqual(['--root', '--trace', '-q,', '--debug', '-v,']);
    // Every command has its one line.
    for (const line of help.stdout.split('\n').filter((l) => /^ {2}[a-z]/.test(l))) expect(line, line).toMatch(/^ {2}\S+ +\S.*$/);
    expect(help.stdout).toMatch(/\nRun 'cutaway COMMAND --help' for more information on a command\.\n$/);

    expect(await cutaway(['help'])).toEqual(help);
    expect(await cutaway(['-h'])).toEqual(help);
    const alone = await cutaway([]);
    expect({ code: alone.code, stdout: alone.stdout, stderr: alone.stderr }).toEqual({ code: 0, stdout: '', stderr: help.stdout });
  });

  it("every command's help is reachable both ways, and help COMMAND is COMMAND --help", async () => {
    const found = sections((await cutaway(['--help'])).stdout);
    const top = [...found.get('Common Commands')!, ...found.get('Commands')!];
    const groups = found.get('Management Commands')!;
    const groupHelps = await all(groups.map((g) => [g, '--help']));
    const grouped = groups.flatMap((g, i) => {
      const help = groupHelps[i]!;
      expect(help.code, g).toBe(0);
      expect(help.stdout.split('\n').slice(0, 4), g).toEqual(['', `Usage:  cutaway ${g} COMMAND`, '', expect.stringMatching(/^Manage /)]);
      const verbs = sections(help.stdout).get('Commands')!;
      expect(new Set(verbs).size, g).toBe(verbs.length);
      return verbs.map((v) => [g, v]);
    });
    expect(grouped).toEqual(expect.arrayContaining([['container', 'ls'], ['container', 'run'], ['image', 'ls'], ['image', 'rm'], ['image', 'build'], ['system', 'df'], ['system', 'info'], ['builder', 'prune'], ['volume', 'prune'], ['network', 'connect']]));
    const argvs = [...top.map((v) => [v]), ...grouped];
    const [helps, helped] = await Promise.all([all(argvs.map((a) => [...a, '--help'])), all(argvs.map((a) => ['help', ...a]))]);
    argvs.forEach((argv, i) => {
      expect({ argv, code: helps[i]!.code, usage: helps[i]!.stdout.split('\n')[0] }).toEqual({ argv, code: 0, usage: expect.stringMatching(new RegExp(`^Usage: cutaway ${argv.join(' ')}( |$)`)) });
      expect(helped[i], argv.join(' ')).toEqual(helps[i]);
    });
    // A command's other names, as docker container ls --help lists them.
    expect((await cutaway(['images', '--help'])).stdout).toContain('\nAliases:\n  cutaway image ls, cutaway image list, cutaway images\n');
    // docker network alone: the group's help on stderr, exit 0.
    const alone = await cutaway(['network']);
    expect(alone).toMatchObject({ code: 0, stdout: '', stderr: (await cutaway(['network', '--help'])).stdout });
  });
});

describe('version', () => {
  it("cutaway --version and -v: docker --version's one line; cutaway version: client and server, each tool's", async () => {
    const line = await cutaway(['--version']);
    expect(line).toMatchObject({ code: 0, stderr: '', stdout: expect.stringMatching(/^cutaway version \d+\.\d+\.\d+(, build [0-9a-f]{4,})?\n$/) });
    expect(await cutaway(['-v'])).toEqual(line);
    const out = await cutaway(['version']);
    expect(out.code, out.stderr).toBe(0);
    const text = out.stdout;
    expect(text).toMatch(/^Client:\n Version: +\d+\.\d+\.\d+\n/);
    expect(text).toMatch(new RegExp(`\n Node version: +${process.version.replace(/\./g, '\\.')}\n`));
    expect(text).toMatch(/\n\nServer: cutaway\n Engine:\n {2}Version: +\S+\n {2}Kernel version: +\S+\n {2}Cgroup version: +[12]\n {2}Rootless: +false\n/);
    for (const tool of ['oci-pull', 'oci-push', 'overlay-mount', 'ns-exec', 'cg-limit', 'netbridge', 'layer-commit']) expect(text, tool).toMatch(new RegExp(`\n ${tool}:\n {2}Version: +\\d+\\.\\d+\\.\\d+\n`));
    // --format: docker version's document (Client, Server, Server.Components).
    const formatted = await cutaway(['version', '--format', '{{.Server.KernelVersion}}|{{range .Server.Components}}{{.Name}},{{end}}']);
    expect(formatted).toMatchObject({ code: 0, stderr: '', stdout: `${release()}|Engine,oci-pull,oci-push,overlay-mount,ns-exec,cg-limit,netbridge,layer-commit,\n` });
  });
});

describe('unknown commands and usage errors', () => {
  it("an unknown command: docker's line and status 1", async () => {
    // docker/cli cmd/docker/docker.go: the root command's RunE returns `docker: '%s' is not a docker command.\nSee
    // 'docker --help'`, a plain error, which main prints and exits 1 with (not a StatusError, so not 125).
    expect(await cutaway(['foo'])).toMatchObject({ code: 1, stdout: '', stderr: "cutaway: 'foo' is not a cutaway command.\nSee 'cutaway --help'\n" });
    expect(await cutaway(['help', 'foo'])).toMatchObject({ code: 1, stderr: "cutaway: 'foo' is not a cutaway command.\nSee 'cutaway --help'\n" });
    // docker/cli cli/required.go NoArgs, for a group given a verb it does not have: also a plain error, 1.
    const sub = await cutaway(['network', 'foo']);
    expect(sub).toMatchObject({ code: 1, stdout: '' });
    expect(sub.stderr.split('\n')).toEqual(['cutaway: unknown command: cutaway network foo', '', 'Usage:  cutaway network COMMAND', '', "Run 'cutaway network --help' for more information", '']);
  });

  it('usage errors exit 125, as Docker\'s flag errors (cli/cobra.go FlagErrorFunc: StatusError 125)', async () => {
    const cases: [string[], RegExp][] = [
      [['--bogus'], /^cutaway: error: unknown flag: --bogus$/],
      [['network', '--bogus'], /^cutaway network: error: unknown flag: --bogus$/],
      [['ps', '--bogus'], /^cutaway ps: error: unknown option --bogus$/],
      [['container', 'ls', '--bogus'], /^cutaway container ls: error: unknown option --bogus$/],
      [['volume', 'ls', '--bogus'], /^cutaway volume ls: error: unknown option --bogus$/],
      [['tag', BUSYBOX_REF], /^cutaway tag: error: "cutaway tag" requires exactly 2 arguments/],
      [['image', 'tag', BUSYBOX_REF], /^cutaway image tag: error: "cutaway image tag" requires exactly 2 arguments/],
      [['system', 'df', 'x'], /"cutaway system df" accepts no arguments/],
      [['logs'], /requires exactly 1 argument/],
      [['stop', '-t'], /option --time needs a value|option -t|needs a value/],
      [['builder', 'prune', 'x'], /"cutaway builder prune" accepts no arguments/],
    ];
    const results = await all(cases.map(([argv]) => argv));
    cases.forEach(([argv, message], i) => {
      const out = results[i]!;
      expect({ argv, code: out.code, stdout: out.stdout }).toEqual({ argv, code: 125, stdout: '' });
      expect(out.stderr.split('\n')[0], argv.join(' ')).toMatch(message);
    });
  });
});

describe('groups', () => {
  it('container ls is ps, image ls is images, image rm is rmi: the same commands', async () => {
    const name = `cw-cli-${process.pid}`;
    const made = await cutaway(['run', '--network', 'none', '--name', name, BUSYBOX_REF, 'true']);
    expect(made.code, made.stderr).toBe(0);
    const [ps, ls, list, containerPs] = await all([['ps', '-aq'], ['container', 'ls', '-aq'], ['container', 'list', '-aq'], ['container', 'ps', '-aq']]);
    expect(ps!.stdout).toMatch(/^[0-9a-f]{12}\n$/);
    expect([ls, list, containerPs]).toEqual([ps, ps, ps]);
    const [images, imageLs] = await all([['images'], ['image', 'ls']]);
    expect(images!.stdout).toContain('cutaway.test/busybox');
    expect(imageLs).toEqual(images);
    expect(await cutaway(['tag', BUSYBOX_REF, 'cw-cli-tag:1'])).toMatchObject({ code: 0 });
    expect(await cutaway(['image', 'rm', 'cw-cli-tag:1'])).toMatchObject({ code: 0, stdout: 'Untagged: cw-cli-tag:1\n' });
    expect(await cutaway(['container', 'rm', name])).toMatchObject({ code: 0, stdout: `${name}\n` });
    expect((await cutaway(['ps', '-aq'])).stdout).toBe('');
  });

  it('builder prune -f removes the build cache and keeps the images; run --entrypoint "" runs the command given', async () => {
    const context = join(work, 'ctx');
    mkdirSync(context);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${BUSYBOX_REF}\nENV CW=1\nENTRYPOINT ["echo","x"]\n`);
    const built = await cutaway(['build', '-q', '-t', 'cw-cli-ep:1', '--network', 'none', context]);
    expect(built.code, built.stderr).toBe(0);
    // The build's step images, which images -a lists as <none>, as Docker lists its intermediate images.
    const cache = async () => (await cutaway(['images', '-a'])).stdout.split('\n').filter((l) => l.startsWith('<none>')).length;
    const before = await cache();
    expect(before).toBeGreaterThan(0);

    // Docker: --entrypoint "" resets the image's Entrypoint (and drops its Cmd); the command given is the process.
    expect(await cutaway(['run', '--rm', '--network', 'none', 'cw-cli-ep:1', 'hi'])).toMatchObject({ code: 0, stdout: 'x hi\n' });
    expect(await cutaway(['run', '--rm', '--network', 'none', '--entrypoint', '', 'cw-cli-ep:1', 'echo', 'hi'])).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect(await cutaway(['run', '--rm', '--network', 'none', '--entrypoint=', 'cw-cli-ep:1', 'echo', 'hi'])).toMatchObject({ code: 0, stdout: 'hi\n' });

    const pruned = await cutaway(['builder', 'prune', '-f']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted build cache objects:\n([0-9a-f]+\n)+\nTotal reclaimed space: .+\n$/);
    expect(await cache()).toBeLessThan(before);
    expect(await cutaway(['builder', 'prune', '-f'])).toMatchObject({ code: 0, stdout: 'Total reclaimed space: 0B\n' });
    // The images stay, and still run.
    expect(await cutaway(['run', '--rm', '--network', 'none', 'cw-cli-ep:1', 'still'])).toMatchObject({ code: 0, stdout: 'x still\n' });
    expect(await cutaway(['image', 'rm', 'cw-cli-ep:1'])).toMatchObject({ code: 0 });
  });
});
