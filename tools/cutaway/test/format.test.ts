/**
 * --format: the Go template module (src/template.ts) construct by construct and its errors, checked against
 * Go's own text/template where one is at hand (podman's `version --format` runs a template with no store,
 * so templates of literals and functions give Go's output); format.ts's tabwriter, table and json modes;
 * then end to end on a root of this file's own: ps, images, inspect -f, history, volume and network ls and
 * inspect, system df, info with --format, and ps's and images' filters, -n/-l, --no-trunc and -q.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '@cutaway/oci';
import { runCommand, type CommandResult } from '../../../test/fixtures/commands.ts';
import { removeContainers } from '../../../test/fixtures/containers.ts';
import { BUSYBOX_REF, buildBusyboxImage, removeTree } from '../../../test/fixtures/images.ts';
import { formatInspect, formatOutput, goTime, table, tabwrite } from '../src/format.ts';
import { parseTemplate, TemplateError } from '../src/template.ts';

const DATA = {
  Names: 'web',
  State: { Pid: 42, Status: 'running', Running: true },
  List: ['a', 'b', 'c'],
  Labels: { zeta: '2', alpha: '1' },
  Empty: [],
  Zero: 0,
  Nil: null,
  Label: (key: string) => `L:${key}`,
};

const render = (source: string, data: unknown = DATA) => parseTemplate(source).execute(data, { missingKey: 'error' });
const failure = (run: () => unknown): string => {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(TemplateError);
    return (e as Error).message;
  }
  throw new Error('no error');
};

describe('template', () => {
  it.each([
    ['{{.Names}}', 'web'],
    ['{{.State.Pid}}', '42'],
    ['{{.}}', 'map[Empty:[] Label:function Labels:map[alpha:1 zeta:2] List:[a b c] Names:web Nil:<nil> State:map[Pid:42 Running:true Status:running] Zero:0]'.replace('function', String(DATA.Label))],
    ['{{json .State}}', '{"Pid":42,"Status":"running","Running":true}'],
    ['{{json .Names}}', '"web"'],
    ['{{json "<a&b>"}}', '"<a&b>"'],
    ['{{.List}} {{.Labels}} {{.Nil}} {{.Empty}}', '[a b c] map[alpha:1 zeta:2] <nil> []'],
    ['{{range .List}}[{{.}}]{{end}}', '[a][b][c]'],
    ['{{range $i, $v := .List}}{{$i}}={{$v}} {{end}}', '0=a 1=b 2=c '],
    ['{{range $v := .List}}{{$v}}{{end}}', 'abc'],
    ['{{range $k, $v := .Labels}}{{$k}}:{{$v}};{{end}}', 'alpha:1;zeta:2;'],
    ['{{range .Empty}}x{{else}}none{{end}}', 'none'],
    ['{{range .List}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', 'ac'],
    ['{{range .List}}{{if eq . "b"}}{{break}}{{end}}{{.}}{{end}}', 'a'],
    ['{{range 3}}{{.}}{{end}}', '012'],
    ['{{range .List}}{{$.Names}}{{end}}', 'webwebweb'],
    ['{{if .Zero}}y{{else}}n{{end}}', 'n'],
    ['{{if .State.Running}}up{{end}}', 'up'],
    ['{{if eq .Names "db"}}db{{else if eq .Names "web"}}web{{else}}?{{end}}', 'web'],
    ['{{if and .Names .Zero}}1{{else}}0{{end}} {{or .Zero .Names}} {{not .Zero}}', '0 web true'],
    ['{{with .State}}{{.Status}}{{end}}{{with .Empty}}x{{else}}-{{end}}', 'running-'],
    ['{{index .Labels "alpha"}} {{index .List 1}} {{index . "Names"}}', '1 b web'],
    ['{{index .Labels "missing"}}', '<no value>'],
    ['{{join .List ","}}', 'a,b,c'],
    ['{{join (split "x:y:z" ":") "-"}}', 'x-y-z'],
    ['{{lower "AbC"}} {{upper "AbC"}} {{title "hello big-world"}}', 'abc ABC Hello Big-World'],
    ['{{println "a" 1}}', 'a 1\n'],
    ['{{print "a" 1 2 "b"}}', 'a1 2b'],
    ['{{printf "%s=%d" .Names .State.Pid}}', 'web=42'],
    ['{{printf "%-6s|%6s|%05d|%.2f|%q|%v|%x|%t|%%" "ab" "cd" 42 3.14159 "q" .List 255 true}}', 'ab    |    cd|00042|3.14|"q"|[a b c]|ff|true|%'],
    ['{{printf "%d"}}', '%!d(MISSING)'],
    ['{{len .List}} {{len .Labels}} {{len "héllo"}}', '3 2 6'],
    ['{{.Names | upper}}', 'WEB'],
    ['{{.Names | printf "%s!" | upper}}', 'WEB!'],
    ['{{.List | len}}', '3'],
    ['{{pad .Names 1 2}}|{{truncate "abcdef" 3}}', ' web  |abc'],
    ['{{slice "abcdef" 1 3}} {{slice .List 1}}', 'bc [b c]'],
    ['{{eq .Zero 0}} {{ne .Names "x"}} {{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}', 'true true true true true false'],
    ['{{$x := .Names}}{{$x}}{{$x = "db"}} {{$x}}', 'web db'],
    ['{{(index .List 0) | upper}} {{(.State).Pid}}', 'A 42'],
    ['{{.Label "k"}}', 'L:k'],
    ['{{/* a comment */}}x', 'x'],
    ['a  {{- .Names -}}  b', 'awebb'],
    ['a \n {{- /* c */ -}} \n b', 'ab'],
    ['{{- .Names}} {{.Names -}}\n', 'web web'],
    ['{{"tab\\there"}} {{`raw\\t`}} {{\'a\'}} {{0x10}} {{1e3}} {{-2}}', 'tab\there raw\\t 97 16 1000 -2'],
    ['{{true}} {{false}} {{nil | print}}', 'true false <nil>'],
    ['line1\n{{.Names}}', 'line1\nweb'],
  ])('%s', (source, expected) => {
    expect(render(source)).toBe(expected);
  });

  it.each([
    ['{{.Names', 'template: :1: unclosed action'],
    ['{{foo .X}}', 'template: :1: function "foo" not defined'],
    ['{{if .X}}open', 'template: :1: unexpected EOF'],
    ['{{end}}', 'template: :1: unexpected {{end}}'],
    ['{{range}}{{end}}', 'template: :1: missing value for range'],
    ['{{$nope}}', 'template: :1: undefined variable "$nope"'],
    ['x\n{{break}}', 'template: :2: {{break}} outside {{range}}'],
    ['{{"open}}', 'template: :1: unterminated quoted string'],
    ['{{/* open', 'template: :1: unclosed comment'],
    ['{{}}', 'template: :1: missing value for command'],
  ])('parse error %s', (source, message) => {
    expect(failure(() => parseTemplate(source))).toBe(message);
  });

  it.each([
    ['{{.Nope}}', 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"'],
    ['{{.State.Nope}}', 'template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"'],
    ['x\nab {{.Names.Length}}', 'template: :2:11: executing "" at <.Names.Length>: can\'t evaluate field Length in type string'],
    ['{{.Nil.X}}', 'template: :1:6: executing "" at <.Nil.X>: nil pointer evaluating interface {}.X'],
    ['{{index .List 7}}', 'template: :1:2: executing "" at <index .List 7>: error calling index: index out of range: 7'],
    ['{{len 3}}', 'template: :1:2: executing "" at <len 3>: error calling len: len of type int'],
    ['{{.Label}}', 'template: :1:2: executing "" at <.Label>: wrong number of args for Label: want 1 got 0'],
    ['{{.Names "x"}}', 'template: :1:2: executing "" at <.Names>: Names has arguments but cannot be invoked as function'],
    ['{{lt 1 "a"}}', 'template: :1:2: executing "" at <lt 1 "a">: error calling lt: incompatible types for comparison'],
  ])('exec error %s', (source, message) => {
    expect(failure(() => render(source))).toBe(message);
  });

  it('names a struct type for a field its top object lacks, and prints <no value> for a map without missingkey=error', () => {
    expect(failure(() => parseTemplate('{{.Nope}}').execute({ A: 1 }, { structType: '*formatter.ContainerContext' }))).toBe(
      'template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext',
    );
    expect(parseTemplate('{{.Nope}}').execute({ A: 1 })).toBe('<no value>');
  });

  // Go's own text/template, through podman (version --format needs no store): the same output for templates
  // of literals and functions.
  const GO_ORACLE = [
    '{{printf "%-5s|%5s|%03d|%.3f|%q|%x|%X|%t|%5.1f|%+d" "ab" "cd" 7 3.14159 "q\\"x" 255 255 true 2.25 3}}',
    '{{print "a" 1 2 "b" true}}|{{println 1 "x"}}|{{len "héllo"}}|{{title "hello big-world x_y"}}',
    '{{join (split "a,b,,c" ",") "-"}}|{{upper "abc"}}|{{lower "ABC"}}|{{pad "x" 2 1}}|{{truncate "abcdef" 3}}',
    '{{range $i, $v := split "x y z" " "}}{{$i}}{{$v}}{{end}}|{{range split "" ","}}[{{.}}]{{else}}none{{end}}',
    '{{if and 1 0}}a{{else if or 0 "x"}}b{{end}}|{{eq 1 2 1}}|{{ne "a" "b"}}|{{not 0}}|{{and 1 "x"}}|{{or 0 ""}}',
    'a  {{- "b" -}}  c {{/* comment */}} {{- 3}}|{{"x" | printf "%s%s" "y"}}|{{slice "abcdef" 2 4}}|{{index (split "a b" " ") 1}}',
    '{{json "<é>"}}|{{json (split "a b" " ")}}|{{$x := 1}}{{$x = 2}}{{$x}}',
    '{{range split "a b c" " "}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}|{{printf "%v %s" (split "a b" " ") 1.5}}|{{1e3}} {{0x1F}} {{\'a\'}}',
  ];
  const hasPodman = (() => {
    try {
      execFileSync('podman', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();
  it.skipIf(!hasPodman)('gives Go text/template\'s output (podman version --format runs Go\'s)', async () => {
    for (const source of GO_ORACLE) {
      const go = execFileSync('podman', ['version', '--format', source], { encoding: 'utf8' });
      // podman ends the output with a newline of its own.
      expect(`${render(source, {})}\n`, source).toBe(go);
    }
  });
});

describe('format.ts', () => {
  it('aligns cells as Go tabwriter does: column blocks, a minimum of 10, padding 3, the last cell free', () => {
    expect(tabwrite('a\tb\tc\nlonger cell\tx\ny\n')).toBe('a             b         c\nlonger cell   x\ny\n');
    // A line without the column ends the block: the next block has its own width.
    expect(tabwrite('aaaaaaaaaaaaaa\tb\nno tab\nc\td\n')).toBe('aaaaaaaaaaaaaa   b\nno tab\nc         d\n');
    expect(table([['CONTAINER ID', 'NAMES'], ['abc', 'web']])).toBe('CONTAINER ID   NAMES\nabc            web\n');
  });

  const rows = [
    { ID: 'abc', Names: 'web', Label: (k: string) => `v-${k}` },
    { ID: 'defghijklmnop', Names: 'db', Label: (k: string) => `w-${k}` },
  ];
  const spec = { table: 'table {{.ID}}\t{{.Names}}', headers: { ID: 'CONTAINER ID' }, structType: '*formatter.ContainerContext' };

  it('table, table TEMPLATE (\\t as typed), json, a template per row', () => {
    expect(formatOutput(undefined, rows, spec)).toBe('CONTAINER ID    NAMES\nabc             web\ndefghijklmnop   db\n');
    expect(formatOutput('table', rows, spec)).toBe(formatOutput(undefined, rows, spec));
    expect(formatOutput('table {{.Names}}\\t{{.Label "x"}}', rows, spec)).toBe('NAMES     LABEL\nweb       v-x\ndb        w-x\n');
    expect(formatOutput('{{.Names}}\\t{{.ID}}', rows, spec)).toBe('web\tabc\ndb\tdefghijklmnop\n');
    expect(formatOutput('json', rows, spec)).toBe('{"ID":"abc","Names":"web"}\n{"ID":"defghijklmnop","Names":"db"}\n');
    expect(formatOutput('table {{.Names}}', [], spec)).toBe('NAMES\n');
    expect(formatOutput('{{.Version}}', { Version: '1.0' })).toBe('1.0\n');
    expect(() => formatOutput('{{.Nope}}', rows, spec)).toThrow('template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext');
    expect(() => formatOutput('{{.Names', rows, spec)).toThrow('template parsing error: template: :1: unclosed action');
  });

  it('inspect: JSON by default and for json, else the template per document with missingkey=error', () => {
    const docs = [{ Id: 'a', State: { Pid: 1 } }, { Id: 'b', State: { Pid: 2 } }];
    expect(formatInspect(undefined, docs)).toBe(`${JSON.stringify(docs, null, 2)}\n`);
    expect(formatInspect('json', docs)).toBe(`${JSON.stringify(docs, null, 2)}\n`);
    expect(formatInspect('{{.Id}} {{.State.Pid}}', docs)).toBe('a 1\nb 2\n');
    expect(() => formatInspect('{{.State.Nope}}', docs)).toThrow('map has no entry for key "Nope"');
  });

  it("prints times as Go's time.Time String()", () => {
    const saved = process.env.TZ;
    expect(goTime('2020-01-01T00:00:00Z')).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [-+]\d{4} \S+$/);
    if (saved === undefined || saved === 'UTC') expect(goTime('2020-01-01T00:00:00Z')).toBe('2020-01-01 00:00:00 +0000 UTC');
    expect(goTime(undefined)).toBe('');
  });
});

// ─── end to end ──────────────────────────────────────────────────────────────

let work: string;
let root: string;

function cutaway(args: string[]): Promise<CommandResult> {
  return runCommand('cutaway', args, { env: { CUTAWAY_ROOT: root, TZ: 'UTC' } });
}

async function ok(args: string[]): Promise<string> {
  const out = await cutaway(args);
  expect(out.stderr, args.join(' ')).toBe('');
  expect(out.code, args.join(' ')).toBe(0);
  return out.stdout;
}

describe('--format and --filter, end to end', () => {
  let exited: string;
  let running: string;
  let imageId: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cw-format-'));
    root = join(work, 'root');
    await buildBusyboxImage(await OciLayout.create(join(root, 'images')));
    await ok(['tag', BUSYBOX_REF, 'cwfmt/other:v1']);
    await ok(['volume', 'create', 'cwfmt-vol']);
    exited = (await ok(['run', '-d', '--network', 'none', '--name', 'cwfmt-exited', '--label', 'tier=db', BUSYBOX_REF, 'sh', '-c', 'exit 3'])).trim();
    for (let i = 0; i < 200 && !(await ok(['ps', '-a', '--format', '{{.State}}', '-f', 'name=cwfmt-exited'])).startsWith('exited'); i++) await new Promise((r) => setTimeout(r, 50));
    running = (await ok(['run', '-d', '--network', 'none', '--name', 'cwfmt-running', '--label', 'tier=web', '-v', 'cwfmt-vol:/data', BUSYBOX_REF, 'sleep', '60'])).trim();
    imageId = JSON.parse(await ok(['image', 'inspect', BUSYBOX_REF]))[0].Id;
  });

  afterAll(async () => {
    await removeContainers(root);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(root);
    await removeTree(work);
  });

  it('ps --format: fields, table with headers, json, -q, --no-trunc, -n and -l', async () => {
    expect(await ok(['ps', '--format', '{{.Names}}'])).toBe('cwfmt-running\n');
    expect(await ok(['ps', '-a', '--format', '{{.Names}} {{.State}} {{.Label "tier"}} {{.Labels}}'])).toBe('cwfmt-running running web tier=web\ncwfmt-exited exited db tier=db\n');
    expect(await ok(['ps', '-a', '--format', 'table {{.ID}}\\t{{.Names}}'])).toBe(
      ['CONTAINER ID   NAMES', `${running.slice(0, 12)}   cwfmt-running`, `${exited.slice(0, 12)}   cwfmt-exited`, ''].join('\n'),
    );
    expect(await ok(['ps', '--format', '{{.Command}} {{.Mounts}} {{.LocalVolumes}} {{.Networks}} {{.Status}}'])).toMatch(/^"sleep 60" cwfmt-vol 1 none Up .*\n$/);
    expect(await ok(['ps', '-a', '--no-trunc', '--format', '{{.ID}}'])).toBe(`${running}\n${exited}\n`);
    const json = JSON.parse(await ok(['ps', '--format', '{{json .}}'])) as Record<string, string>;
    expect(Object.keys(json)).toEqual(['Command', 'CreatedAt', 'ID', 'Image', 'Labels', 'LocalVolumes', 'Mounts', 'Names', 'Networks', 'Ports', 'RunningFor', 'Size', 'State', 'Status']);
    expect(json.CreatedAt).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC$/);
    expect(json.Size).toBe('0B');
    expect(await ok(['ps', '--format', '{{.Size}}'])).toMatch(/^\d+(\.\d+)?k?B \(virtual 1\.\d+MB\)\n$/);
    expect(await ok(['ps', '-s'])).toMatch(/^CONTAINER ID .* NAMES +SIZE\n.*cwfmt-running +\d.*B \(virtual .*MB\)\n$/);
    expect(await ok(['ps', '-n', '1', '--format', '{{.Names}}'])).toBe('cwfmt-running\n');
    expect(await ok(['ps', '-l', '-q'])).toBe(`${running.slice(0, 12)}\n`);
    const both = await cutaway(['ps', '-q', '--format', '{{.Names}}']);
    expect(both.stdout).toBe(`${running.slice(0, 12)}\n`);
    expect(both.stderr).toBe('WARNING: Ignoring custom format, because both --format and --quiet are set.\n');
  });

  it('ps --filter: status (every state), exited, name, id, label, ancestor, volume, before/since; -q with them', async () => {
    expect(await ok(['ps', '-f', 'status=exited', '-q'])).toBe(`${exited.slice(0, 12)}\n`);
    expect(await ok(['ps', '-a', '--filter', 'exited=3', '--format', '{{.Names}}'])).toBe('cwfmt-exited\n');
    expect(await ok(['ps', '-a', '--filter', 'exited=0', '-q'])).toBe('');
    expect(await ok(['ps', '-a', '-f', 'name=running', '-q'])).toBe(`${running.slice(0, 12)}\n`);
    expect(await ok(['ps', '-a', '-f', `id=${exited.slice(0, 5)}`, '-q'])).toBe(`${exited.slice(0, 12)}\n`);
    expect(await ok(['ps', '-a', '-f', 'label=tier=db', '--format', '{{.Names}}'])).toBe('cwfmt-exited\n');
    expect(await ok(['ps', '-a', '-f', 'label=tier', '-f', 'label=tier!=db', '--format', '{{.Names}}'])).toBe('cwfmt-running\n');
    expect(await ok(['ps', '-a', '-f', `ancestor=${imageId.slice(7, 19)}`, '-q'])).toBe(`${running.slice(0, 12)}\n${exited.slice(0, 12)}\n`);
    expect(await ok(['ps', '-a', '-f', 'ancestor=cwfmt/none:1', '-q'])).toBe('');
    expect(await ok(['ps', '-a', '-f', 'volume=cwfmt-vol', '--format', '{{.Names}}'])).toBe('cwfmt-running\n');
    expect(await ok(['ps', '-a', '-f', 'before=cwfmt-running', '--format', '{{.Names}}'])).toBe('cwfmt-exited\n');
    expect(await ok(['ps', '-a', '-f', 'since=cwfmt-exited', '--format', '{{.Names}}'])).toBe('cwfmt-running\n');
    // Two values of one key: either; two keys: both.
    expect(await ok(['ps', '-a', '-f', 'status=exited', '-f', 'status=running', '-f', 'name=cwfmt', '-q'])).toBe(`${running.slice(0, 12)}\n${exited.slice(0, 12)}\n`);
    const bad = await cutaway(['ps', '-f', 'colour=red']);
    expect([bad.code, bad.stderr]).toEqual([1, "cutaway ps: error: invalid filter 'colour'\n"]);
    const badStatus = await cutaway(['ps', '-f', 'status=sleepy']);
    expect([badStatus.code, badStatus.stderr]).toEqual([1, "cutaway ps: error: invalid filter 'status=sleepy'\n"]);
  });

  it("ps --format errors as Docker's: one line, exit 1", async () => {
    const missing = await cutaway(['ps', '--format', '{{.Nope}}']);
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, '', 'cutaway ps: error: template parsing error: template: :1:2: executing "" at <.Nope>: can\'t evaluate field Nope in type *formatter.ContainerContext\n']);
    const unclosed = await cutaway(['ps', '--format', '{{.Names']);
    expect([unclosed.code, unclosed.stderr]).toEqual([1, 'cutaway ps: error: template parsing error: template: :1: unclosed action\n']);
  });

  it('inspect -f / --format on containers and images, image inspect, volume and network inspect', async () => {
    const pid = Number(await ok(['inspect', '-f', '{{.State.Pid}}', 'cwfmt-running']));
    expect(pid).toBeGreaterThan(1);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe('sleep\x0060\x00');
    expect(await ok(['inspect', '--format', '{{.Name}} {{.State.ExitCode}}', 'cwfmt-exited', 'cwfmt-running'])).toBe('/cwfmt-exited 3\n/cwfmt-running 0\n');
    expect(await ok(['inspect', '-f', '{{json .Config.Labels}}', 'cwfmt-exited'])).toBe('{"tier":"db"}\n');
    expect(await ok(['inspect', '-f', '{{index .Config.Labels "tier"}}', 'cwfmt-running'])).toBe('web\n');
    expect(await ok(['inspect', '-f', '{{.Id}}', BUSYBOX_REF])).toBe(`${imageId}\n`);
    expect(await ok(['image', 'inspect', '-f', '{{join .RepoTags ","}} {{.Os}}', BUSYBOX_REF])).toBe('cutaway.test/busybox:latest,cwfmt/other:v1 linux\n');
    expect(await ok(['inspect', '--format', 'json', 'cwfmt-running'])).toBe(await ok(['inspect', 'cwfmt-running']));
    const missing = await cutaway(['inspect', '-f', '{{.State.Nope}}', 'cwfmt-running']);
    expect([missing.code, missing.stderr]).toEqual([1, 'cutaway inspect: error: template parsing error: template: :1:8: executing "" at <.State.Nope>: map has no entry for key "Nope"\n']);
    expect(await ok(['volume', 'inspect', '-f', '{{.Name}} {{.Driver}}', 'cwfmt-vol'])).toBe('cwfmt-vol local\n');
    expect(await ok(['network', 'inspect', '-f', '{{.Name}} {{.Driver}}', 'none'])).toBe('none null\n');
  });

  it('images --format and --filter: fields, json, table, dangling, reference, before/since, label', async () => {
    expect(await ok(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).toBe(`cutaway.test/busybox:latest ${imageId.slice(7, 19)}\ncwfmt/other:v1 ${imageId.slice(7, 19)}\n`);
    const json = (await ok(['images', '--format', '{{json .}}'])).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(json.length).toBe(2);
    expect(Object.keys(json[0]!)).toEqual(['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
    expect(json[0]).toMatchObject({ Containers: 'N/A', CreatedAt: '2020-01-01 00:00:00 +0000 UTC', Repository: 'cutaway.test/busybox', Tag: 'latest', ID: imageId.slice(7, 19) });
    expect(json[0]!.Digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(await ok(['images', '--format', 'json'])).toBe(await ok(['images', '--format', '{{json .}}']));
    expect(await ok(['images', '--format', 'table {{.Repository}}\\t{{.Tag}}'])).toBe('REPOSITORY             TAG\ncutaway.test/busybox   latest\ncwfmt/other            v1\n');
    expect(await ok(['images', '--no-trunc', '--format', '{{.ID}}', 'cwfmt/other'])).toBe(`${imageId}\n`);
    expect(await ok(['images', '-f', 'reference=cwfmt/*', '--format', '{{.Repository}}'])).toBe('cwfmt/other\n');
    expect(await ok(['images', '-f', 'reference=*:latest', '--format', '{{.Repository}}'])).toBe('');
    expect(await ok(['images', '-f', 'reference=cutaway.test/busybox:latest', '-q'])).toBe(`${imageId.slice(7, 19)}\n`);
    expect(await ok(['images', '-f', 'dangling=true', '-q'])).toBe('');
    expect(await ok(['images', '-f', 'dangling=false', '-q'])).toBe(`${imageId.slice(7, 19)}\n`);
    expect(await ok(['images', '-f', 'label=nope', '-q'])).toBe('');
    expect(await ok(['images', '-f', 'before=cwfmt/other:v1', '-q'])).toBe('');
    const bad = await cutaway(['images', '-f', 'dangling=maybe']);
    expect([bad.code, bad.stderr]).toEqual([1, "cutaway images: error: invalid filter 'dangling=maybe'\n"]);
  });

  it('history, volume ls, network ls, system df and info take --format', async () => {
    expect(await ok(['history', '--format', '{{.ID}}|{{.CreatedAt}}', BUSYBOX_REF])).toMatch(new RegExp(`^${imageId.slice(7, 19)}\\|2020-01-01 00:00:00 \\+0000 UTC\\n`));
    expect(await ok(['history', '--format', 'table {{.ID}}\\t{{.Size}}', BUSYBOX_REF])).toMatch(/^IMAGE          SIZE\n/);
    expect(await ok(['volume', 'ls', '--format', '{{.Name}}:{{.Driver}}'])).toBe('cwfmt-vol:local\n');
    expect(await ok(['volume', 'ls', '--format', 'table {{.Name}}'])).toBe('VOLUME NAME\ncwfmt-vol\n');
    expect(await ok(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).toMatch(/^none null$/m);
    const df = await ok(['system', 'df', '--format', '{{.Type}}={{.TotalCount}}']);
    expect(df).toBe('Images=1\nContainers=2\nLocal Volumes=1\nBuild Cache=0\n');
    expect(await ok(['system', 'df', '--format', 'table {{.Type}}\\t{{.Active}}'])).toBe('TYPE            ACTIVE\nImages          1\nContainers      1\nLocal Volumes   1\nBuild Cache     0\n');
    expect(await ok(['info', '--format', '{{.Containers}} {{.ContainersRunning}} {{.Images}} {{.OSType}}'])).toBe('2 1 1 linux\n');
    expect(JSON.parse(await ok(['info', '--format', '{{json .}}'])).Driver).toBe('overlay');
  });
});
