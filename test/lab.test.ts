/**
 * The lab in README.md ("## The lab: Ubuntu without Docker, with cutaway's tools"), run as written.
 *
 * How the section is read (the section states it too):
 *  - each `### N. TITLE` subsection is one step, and one test here, in order;
 *  - ```sh blocks are run, in order, by one bash (`set -euo pipefail`, started in the checkout, as root), so
 *    that a step sees the variables of the steps before it; a block is `source`d from a file with stdin from
 *    /dev/null, so that no command in it reads the commands after it;
 *  - in a ```console block each `$ COMMAND` line is run in that same bash (stdout and stderr together), and the
 *    lines after it, up to the next `$ ` line, must be lines of what it prints, in that order: `…` stands for
 *    any text, `$lab` for the lab's directory, and a line that is only `…` marks a gap;
 *  - any other block (```text, ```json, …) is shown only.
 *
 * The bash gets LAB (a temporary directory) and LAB_USER (an ordinary user made for this file by
 * test/fixtures/unprivileged-user.ts), and starts in the checkout as shareTools gives it to every user (the
 * checkout itself, or a bind mount of it where the checkout is closed to others, as under /root): the rootless
 * steps run the tools of `$PWD/bin` as that user through the section's own `as_user` (setpriv). The tarball
 * is the fixtures' Debian rootfs, found by scripts/lab-rootfs.sh as a reader's run finds it. What each step
 * prints is checked against what a reader relies on; the last step, the cleanup, must leave no mount, network
 * namespace, bridge, network record, cgroup or nft element of the lab behind. A step that fails ends the bash
 * (`set -e`): the next step gets a new one, which runs step 0 again for its variables. Should any step fail,
 * afterAll runs the section's cleanup step anyway (in a fresh bash, after step 0), then removes what is left.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, shellWord } from './fixtures/commands.ts';
import { ensureDebianRootfsTarball, removeTree, run } from './fixtures/images.ts';
import { mountsUnder } from './fixtures/mounts.ts';
import { createUnprivilegedUser, shareTools, userTraces, type SharedTools, type UnprivilegedUser } from './fixtures/unprivileged-user.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const README = join(REPO, 'README.md');

// ─── The section, read ───────────────────────────────────────────────────────

type Item = { kind: 'sh'; code: string } | { kind: 'console'; command: string; expected: string[] };

interface Step {
  number: number;
  title: string;
  items: Item[];
}

/** The `$ COMMAND` lines of a console block, each with the lines shown after it. */
function consoleItems(lines: string[], where: string): Item[] {
  const items: Item[] = [];
  for (const line of lines) {
    if (line.startsWith('$ ')) items.push({ kind: 'console', command: line.slice(2), expected: [] });
    else if (items.length === 0) throw new Error(`${where}: a console block starts with its "$ " command line`);
    else (items[items.length - 1] as { expected: string[] }).expected.push(line);
  }
  return items;
}

/** The lab's steps, from its `## ` heading to the next one (fenced blocks may hold anything). */
function labSteps(markdown: string): Step[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.startsWith('## The lab'));
  if (start < 0) throw new Error('README.md has no "## The lab" section');
  const steps: Step[] = [];
  let fence: { info: string; body: string[]; line: number } | undefined;
  for (let i = start + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (fence) {
      if (line.trim() !== '```') {
        fence.body.push(line);
        continue;
      }
      const step = steps[steps.length - 1];
      const where = `README.md:${fence.line}`;
      const lang = fence.info.split(/\s+/)[0];
      if ((lang === 'sh' || lang === 'console') && !step) throw new Error(`${where}: a block before the lab's first "### N. " step`);
      if (lang === 'sh') step!.items.push({ kind: 'sh', code: fence.body.join('\n') });
      if (lang === 'console') step!.items.push(...consoleItems(fence.body, where));
      fence = undefined;
    } else if (line.startsWith('```')) {
      fence = { info: line.slice(3).trim(), body: [], line: i + 1 };
    } else if (line.startsWith('## ')) {
      break;
    } else if (line.startsWith('### ')) {
      const m = /^### (\d+)\. (.+)$/.exec(line);
      if (!m) throw new Error(`README.md:${i + 1}: a step of the lab is "### N. TITLE": ${line}`);
      steps.push({ number: Number(m[1]), title: m[2]!, items: [] });
    }
  }
  if (fence) throw new Error(`README.md:${fence.line}: the block is never closed`);
  return steps;
}

/**
 * The first line of `expected` that is not a line of `output` after the lines before it matched (undefined
 * when all are there, in order). `…` in a line stands for any text; a line of `…` alone is skipped.
 */
function firstMissingLine(output: string, expected: string[]): string | undefined {
  const lines = output.split('\n').map((l) => l.trimEnd());
  let at = 0;
  for (const want of expected.map((l) => l.trimEnd())) {
    if (want === '' || want === '…') continue;
    const pattern = new RegExp(`^${want.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
    const found = lines.findIndex((l, i) => i >= at && pattern.test(l));
    if (found < 0) return want;
    at = found + 1;
  }
  return undefined;
}

// ─── One bash for the whole lab ──────────────────────────────────────────────

interface Output {
  stdout: string;
  stderr: string;
}

/**
 * A bash reading commands from a pipe: `run` writes a block to a file, has the bash source it, and waits for
 * the marker it prints after it on both streams. The bash is the leader of a process group of its own, so
 * that a step that hangs can be ended with everything it started.
 */
class LabShell {
  private readonly child: ChildProcessWithoutNullStreams;
  private stdout = '';
  private stderr = '';
  private status: string | undefined;
  private blocks = 0;
  private wake: () => void = () => {};

  constructor(
    private readonly scratch: string,
    cwd: string,
    env: NodeJS.ProcessEnv,
    strict: boolean,
  ) {
    this.child = spawn('bash', ['--noprofile', '--norc'], { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => ((this.stdout += d), this.wake()));
    this.child.stderr.on('data', (d: Buffer) => ((this.stderr += d), this.wake()));
    this.child.on('close', (code, signal) => ((this.status = signal ? `killed by ${signal}` : `exit ${code}`), this.wake()));
    this.child.stdin.on('error', () => {});
    this.child.stdin.write(strict ? 'set -euo pipefail\n' : 'set +e\n');
  }

  get ended(): boolean {
    return this.status !== undefined;
  }

  async run(code: string, timeoutMs = 100_000): Promise<Output> {
    if (this.status) throw new Error(`the lab's bash has ended (${this.status})`);
    const n = ++this.blocks;
    const file = join(this.scratch, `block-${n}.sh`);
    writeFileSync(file, `${code}\n`);
    const mark = `@@cw-lab-block-${n}@@`;
    const [out0, err0] = [this.stdout.length, this.stderr.length];
    this.child.stdin.write(`source ${shellWord(file)} </dev/null\nprintf '\\n%s\\n' ${mark}; printf '\\n%s\\n' ${mark} >&2\n`);
    const done = () => this.stdout.indexOf(`\n${mark}\n`, out0) >= 0 && this.stderr.indexOf(`\n${mark}\n`, err0) >= 0;
    const deadline = Date.now() + timeoutMs;
    while (!done() && !this.status && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1000);
        this.wake = () => (clearTimeout(timer), resolve());
      });
    }
    const cut = (text: string, from: number) => {
      const end = text.indexOf(`\n${mark}\n`, from);
      return text.slice(from, end < 0 ? undefined : end);
    };
    const output = { stdout: cut(this.stdout, out0), stderr: cut(this.stderr, err0) };
    if (done()) return output;
    const why = this.status ? `the bash ended (${this.status})` : `it did not finish in ${timeoutMs / 1000} s`;
    if (!this.status) this.kill();
    throw new Error(`${why} running:\n${code}\n--- stdout:\n${output.stdout}\n--- stderr:\n${output.stderr}`);
  }

  kill(): void {
    if (this.status || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }

  async end(): Promise<void> {
    if (this.status) return;
    const closed = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.stdin.end();
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    this.kill();
  }
}

// ─── The run ─────────────────────────────────────────────────────────────────

const steps = labSteps(readFileSync(README, 'utf8'));
const CLEANUP = steps[steps.length - 1]!;

let user: UnprivilegedUser | undefined;
/** The checkout as the user reaches it: where the lab's bash starts. */
let tools: SharedTools | undefined;
let lab: string;
let scratch: string;
let shell: LabShell;
let cleanedUp = false;
/** Found on the way, for the cleanup's checks: the lab network's bridge, the cgroup `cutaway run` made. */
let bridge: string | undefined;
let cgroup: string | undefined;

const CUTAWAY_RUN = process.env.CUTAWAY_RUN || '/run/cutaway';

/** A bash for the lab, in the checkout the user reaches: `set -euo pipefail` (strict) or not. */
function labShell(strict: boolean): LabShell {
  const checkout = dirname(tools!.bin);
  // PWD too: bash keeps an inherited PWD that names its directory by another path (the checkout, not its bind).
  const env: NodeJS.ProcessEnv = { ...process.env, PWD: checkout, LAB: lab, LAB_USER: user!.name };
  // What the section sets itself, or a reader's shell would not have.
  for (const name of ['OLDPWD', 'TARBALL', 'CUTAWAY_ROOT', 'CUTAWAY_TRACE', 'CUTAWAY_DEBUG', 'BASH_ENV', 'ENV']) delete env[name];
  return new LabShell(scratch, checkout, env, strict);
}

/**
 * A step's sh blocks and console commands, in order; the console excerpts checked. Should an earlier step have
 * ended the bash (a command failed under `set -e`), a new one runs step 0 again first: the steps need no
 * variable but step 0's, so one that fails does not fail the others.
 */
async function runStep(step: Step): Promise<Output & { console: string[] }> {
  if (shell.ended && step.number !== 0) {
    shell = labShell(true);
    for (const item of steps[0]!.items) if (item.kind === 'sh') await shell.run(item.code);
  }
  const result = { stdout: '', stderr: '', console: [] as string[] };
  for (const item of step.items) {
    if (item.kind === 'sh') {
      const out = await shell.run(item.code);
      result.stdout += out.stdout;
      result.stderr += out.stderr;
      continue;
    }
    const out = await shell.run(`${item.command} 2>&1`);
    const shown = out.stdout.split(lab).join('$lab');
    result.console.push(shown);
    const missing = firstMissingLine(shown, item.expected);
    if (missing !== undefined) {
      throw new Error(`step ${step.number}: "$ ${item.command}" does not print (in the README's order) the line\n  ${missing}\nIt printed:\n${shown}`);
    }
  }
  return result;
}

const lines = (text: string) => text.trim().split('\n').map((l) => l.trim());

/** Every cgroup hierarchy's directory NAME (v1: one per mount; v2: the unified one). */
function cgroupDirs(name: string): string[] {
  const top = '/sys/fs/cgroup';
  const dirs = existsSync(join(top, 'cgroup.controllers')) ? [top] : readdirSync(top).map((h) => join(top, h));
  return dirs.map((d) => join(d, name)).filter((d) => existsSync(d));
}

/** What each step must have printed and made, by step number. */
const CHECKS: Record<number, (out: Output & { console: string[] }) => Promise<void> | void> = {
  0: async () => {
    const probe = await shell.run('printf "%s\\n" "$lab" "$tarball" "$CUTAWAY_ROOT"');
    const [labDir, tarball, root] = probe.stdout.trim().split('\n');
    expect(labDir).toBe(lab);
    expect(tarball).toBe((await ensureDebianRootfsTarball()).path);
    expect(root).toBe(join(lab, 'store'));
  },
  1: (out) => {
    expect(lines(out.stdout)).toEqual(['uid=0(root) gid=0(root) groups=0(root)', 'cw-lab', 'pid 1', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"']);
    expect(mountsUnder(lab)).toEqual([]);
  },
  2: (out) => {
    const [id, map] = lines(out.stdout);
    expect(id).toBe('uid=0(root) gid=0(root) groups=0(root)');
    // Root inside is the user outside (with its /etc/subuid range mapped after it, where it has one).
    expect(map?.split(/\s+/)).toEqual(['0', String(user!.uid), '1']);
  },
  3: (out) => {
    // The lab's own upper (--upper), not the container's: the container's directory holds only its record.
    const upper = join(lab, 'upper');
    expect(out.stdout.trim().split('\n').sort()).toEqual([join(upper, 'root/note'), join(upper, 'usr/local/bin/busybox')]);
    expect(readdirSync(join(lab, 'store/containers/cw-lab'))).toEqual(['overlay.json']);
    expect(mountsUnder(join(lab, 'merged'))).toEqual([join(lab, 'merged')]);
    expect(readFileSync(join(lab, 'merged/root/note'), 'utf8')).toBe('written in the container\n');
    expect(existsSync(join(lab, 'rootfs/root/note'))).toBe(false);
  },
  4: (out) => {
    expect(out.stdout).toMatch(/^uid=0\(root\) gid=0\(root\) groups=0\(root\)$/m);
    const note = join(lab, 'rootless/containers/cw-lab-rootless/upper/root/note');
    expect(readFileSync(note, 'utf8')).toBe('written rootless\n');
    expect(statSync(note).uid).toBe(user!.uid);
    expect(out.stdout).toMatch(new RegExp(`^-rw-r--r-- 1 ${user!.uid} ${user!.gid} .* note$`, 'm'));
    // The overlay lived in the user's mount namespace, gone with it.
    expect(mountsUnder(join(lab, 'rootless'))).toEqual([]);
  },
  5: async (out) => {
    expect(out.stdout.match(/^1 packets transmitted, 1 packets received, 0% packet loss$/gm)).toHaveLength(2);
    const probe = await shell.run('echo "$ip_a $ip_b"');
    const [a, b] = probe.stdout.trim().split(' ');
    expect(a).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(b).not.toBe(a);
    expect(out.stdout).toContain(`from ${b}`);
    expect(out.stdout).toContain(`from ${a}`);
    const inspect = await runCommand('netbridge', ['network', 'inspect', 'cw-lab']);
    expect(inspect.code).toBe(0);
    bridge = (JSON.parse(inspect.stdout) as { Options: Record<string, string> }[])[0]!.Options['com.docker.network.bridge.name'];
    expect(bridge).toMatch(/^cw-/);
  },
  6: (out) => {
    expect(lines(out.stdout)).toEqual(['from the host', 'from the container']);
    expect(readFileSync(join(lab, 'shared/reply.txt'), 'utf8')).toBe('from the container\n');
    // The bind mount was the container's: the host has none.
    expect(mountsUnder(join(lab, 'merged'))).toEqual([join(lab, 'merged')]);
  },
  7: (out) => {
    // overlay-mount --unmount's line, two digests (layer-commit), then what the image's containers print.
    expect(lines(out.stdout)).toEqual([join(lab, 'merged'), expect.stringMatching(/^sha256:[0-9a-f]{64}$/), expect.stringMatching(/^sha256:[0-9a-f]{64}$/), 'written in the container', 'busybox']);
    // The snapshot was of the lab's upper, which unmounting kept.
    expect(readFileSync(join(lab, 'upper/root/note'), 'utf8')).toBe('written in the container\n');
    expect(mountsUnder(lab)).toEqual([]);
    cgroup = /^\+ cg-limit create (\S+)/m.exec(out.console.join('\n'))?.[1];
    expect(cgroup).toMatch(/^[0-9a-f]{12}$/);
  },
  8: async () => {
    await expectNothingLeft();
    cleanedUp = true;
  },
};

/** What the cleanup must have removed: the lab's directory, mounts, namespaces, bridge, network, cgroup, nft elements. */
async function expectNothingLeft(): Promise<void> {
  expect(existsSync(lab)).toBe(false);
  expect(mountsUnder(lab)).toEqual([]);
  expect(['cw-lab-a', 'cw-lab-b', 'cw-lab-c'].filter((ns) => existsSync(`/run/netns/${ns}`))).toEqual([]);
  expect(existsSync(join(CUTAWAY_RUN, 'networks/cw-lab.json'))).toBe(false);
  if (bridge) expect(await run('ip', ['link', 'show', bridge]).then(() => 'still there', () => 'gone')).toBe('gone');
  if (cgroup) expect(cgroupDirs(`cw-${cgroup}`)).toEqual([]);
  // The table is the host's: another root's network may keep it; none of the lab's elements may stay.
  const table = await run('nft', ['list', 'table', 'ip', 'cw']).catch(() => '');
  if (bridge) expect(table).not.toContain(bridge);
}

describe("the lab in README.md, run as written", () => {
  beforeAll(async () => {
    // The debootstrap (~30 s the first time) here, not in step 0's time.
    await ensureDebianRootfsTarball();
    user = createUnprivilegedUser();
    tools = shareTools();
    lab = mkdtempSync(join(tmpdir(), 'cw-lab-'));
    chmodSync(lab, 0o755); // the user's steps go in
    scratch = mkdtempSync(join(tmpdir(), 'cw-lab-blocks-'));
    shell = labShell(true);
  });

  afterAll(async () => {
    try {
      await shell?.end();
      if (lab && !cleanedUp && steps[0]) {
        // A step failed: the section's own cleanup, as a reader would run it, whatever is left to remove.
        const again = labShell(false);
        try {
          for (const item of [...steps[0].items, ...CLEANUP.items]) if (item.kind === 'sh') await again.run(item.code).catch((e: Error) => console.warn(e.message));
        } finally {
          await again.end();
        }
      }
    } finally {
      if (lab) await removeTree(lab);
      if (scratch) rmSync(scratch, { recursive: true, force: true });
      tools?.release();
      if (user) {
        user.remove();
        expect(userTraces(user.name)).toEqual([]);
      }
    }
  });

  it('has steps 0 to 8, each with something to run, the last one the cleanup', () => {
    expect(steps.map((s) => s.number)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    for (const step of steps) expect(step.items.filter((i) => i.kind === 'sh').length, `step ${step.number}`).toBeGreaterThan(0);
    expect(CLEANUP.title).toMatch(/^Cleanup/);
  });

  for (const step of steps) {
    it(`${step.number}. ${step.title}`, async () => {
      const out = await runStep(step);
      await CHECKS[step.number]?.(out);
    });
  }
});
