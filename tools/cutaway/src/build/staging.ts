import { chmodSync, closeSync, copyFileSync, existsSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, statSync, symlinkSync, utimesSync, writeFileSync, type Stats } from 'node:fs';
import { join, posix } from 'node:path';
import { resolveOwner, scriptOwner, type ChownNames } from './copy-options.ts';
import { scriptDownload } from './add-url.ts';

/**
 * Who copied files belong to: a fixed uid:gid (--chown, or root for the context), or their own ('keep', COPY
 * --from), or --chown's names, looked up in the image once it is mounted (copy-options.ts).
 */
export type Owner = [number, number] | 'keep' | ChownNames;

/**
 * The directory a COPY or ADD layer is made from: files at their place in
 * the image, as Docker writes them. Directories on the way to the
 * destination that the image has keep the image's mode, owner and time (the
 * layer must not change /tmp's sticky bit because a file was copied into
 * it); those that are new are 0755 and belong to the --chown owner (BuildKit)
 * or root. Copied files and directories keep their mode and mtime; their
 * owner is the --chown one, root for the context, or their own for --from
 * — set before the mode, as chown(2) clears the set-user-ID and set-group-ID
 * bits (a copied setuid binary keeps them, as under Docker). Directory times
 * are set last, deepest first, as writing into a directory changes its mtime.
 */
export class StagingTree {
  private readonly times = new Map<string, Date>();
  private readonly owner: [number, number] | 'keep';

  constructor(
    readonly root: string,
    owner: Owner,
    /** The image's root filesystem (mounted read-only), for the directories it has (and --chown's names). */
    private readonly image?: string,
    /** --chmod: the mode of every file and directory copied, and of every directory made. */
    private readonly mode?: number,
  ) {
    this.owner = owner === 'keep' || Array.isArray(owner) ? owner : resolveOwner(owner, image);
  }

  private newOwner(st?: Stats): [number, number] {
    if (this.owner !== 'keep') return this.owner;
    return st ? [st.uid, st.gid] : [0, 0];
  }

  /** The directories on the way to `dir` (a path in the image), as the image has them or new. */
  ensureDir(dir: string): void {
    const parts = dir.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const target = join(this.root, rel);
      if (existsSync(target)) continue;
      const inImage = this.image ? lstatOrUndefined(join(this.image, rel)) : undefined;
      mkdirSync(target);
      if (inImage?.isDirectory()) {
        chmodSync(target, inImage.mode & 0o7777);
        lchownSync(target, inImage.uid, inImage.gid);
        this.times.set(target, inImage.mtime);
      } else {
        const [uid, gid] = this.owner === 'keep' ? [0, 0] : this.owner;
        lchownSync(target, uid, gid);
        chmodSync(target, this.mode ?? 0o755);
        this.times.set(target, new Date());
      }
    }
  }

  /** One entry at `rel` (a directory without its contents), its parents made first. */
  entry(source: string, rel: string): void {
    const st = lstatSync(source);
    const target = join(this.root, rel);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const [uid, gid] = this.newOwner(st);
    if (st.isDirectory()) {
      if (!existsSync(target)) mkdirSync(target);
      lchownSync(target, uid, gid);
      chmodSync(target, this.mode ?? st.mode & 0o7777);
      this.times.set(target, st.mtime);
    } else if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(source), target);
      lchownSync(target, uid, gid);
      lutimesSync(target, st.atime, st.mtime);
    } else {
      copyFileSync(source, target);
      lchownSync(target, uid, gid);
      chmodSync(target, this.mode ?? st.mode & 0o7777);
      utimesSync(target, st.atime, st.mtime);
    }
  }

  /** A directory's whole tree, its contents at `rel`. */
  tree(source: string, rel: string): void {
    this.entry(source, rel);
    if (lstatSync(source).isDirectory()) for (const name of readdirSync(source)) this.tree(join(source, name), `${rel}/${name}`);
  }

  ifDirectory(path: string, dir: () => void, file: () => void): void {
    // stat, not lstat: a link to a directory is one, as `[ -d ]` has it.
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) dir();
    else file();
  }

  contentsFrom(source: string, rel: string): void {
    for (const name of readdirSync(source)) this.tree(join(source, name), posix.join(rel, name));
  }

  fileFrom(source: string, rel: string): void {
    this.entry(source, rel);
  }

  download(): void {
    throw new Error('the real build downloads an ADD URL before its step (add-url.ts download), and copies it with entry()');
  }

  inline(rel: string, content: string): void {
    const target = join(this.root, rel);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const [uid, gid] = this.owner === 'keep' ? [0, 0] : this.owner;
    writeFileSync(target, content);
    lchownSync(target, uid, gid);
    chmodSync(target, this.mode ?? 0o644);
  }

  /** Sets the directories' times, deepest first. */
  finish(): void {
    const dirs = [...this.times].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [dir, time] of dirs) utimesSync(dir, time, time);
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** gzip, bzip2, xz or a tar header: what ADD extracts (Docker's archive detection). */
export function isArchive(path: string): boolean {
  const head = Buffer.alloc(512);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, 512, 0);
  } finally {
    closeSync(fd);
  }
  return (
    (head[0] === 0x1f && head[1] === 0x8b) ||
    head.subarray(0, 3).toString() === 'BZh' ||
    head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) ||
    head.subarray(257, 262).toString() === 'ustar'
  );
}

/** What COPY and ADD do to the staging directory: StagingTree now, or ScriptStaging's lines for --dry-run. */
export interface Staging {
  /** The directories on the way to `dir`, a path in the image. */
  ensureDir(dir: string): void;
  /** One source known now (a context path): a directory without its contents, a file or a symlink, at `rel`. */
  entry(source: string, rel: string): void;
  tree(source: string, rel: string): void;
  // A source in a mounted image (COPY --from) is only there once the step runs: what it is, and what it
  // holds, are looked at then.
  /** `dir` if `path` is a directory (or a link to one) when the copy is made, else `file`. */
  ifDirectory(path: string, dir: () => void, file: () => void): void;
  /** The whole tree under the directory `source`, not itself, at `rel` (made already). */
  contentsFrom(source: string, rel: string): void;
  /** A file or symlink `source` at `rel`. */
  fileFrom(source: string, rel: string): void;
  /** ADD's http(s) `url` at `rel`, downloaded when the step runs (--dry-run; the real build's was downloaded before it). */
  download(url: string, rel: string, checksum?: string): void;
  /** A file written from `content` at `rel` (a COPY heredoc), 0644 unless --chmod, owned by --chown's owner or root. */
  inline(rel: string, content: string): void;
  finish(): void;
}

/** How ScriptStaging writes: its lines, each word quoted (with the script's variables expanded) by `word`. */
export interface ScriptLines {
  add(...lines: string[]): void;
  word(text: string): string;
  /** Commands the lines run, checked for at the script's top. */
  need(...commands: string[]): void;
}

/**
 * StagingTree as a script: the same directory, made by `mkdir`, `cp`, `ln -s`, `chown`, `chmod` and `touch`.
 * The context's files are looked at now (their modes and times are written into the script); the image's
 * directories when it runs (`--reference` to the mounted image), as the image is only made by then; and so are
 * COPY --from's sources: `if [ -d … ]` chooses what is copied where, `cp -R -P --preserve` copies it as
 * StagingTree's entry() does (mode, owner, times; links as links; no hard links, no xattrs).
 */
export class ScriptStaging implements Staging {
  private made = new Set<string>();
  /** Each directory's `touch` line, run last, deepest first. */
  private times = new Map<string, string>();
  /** While a branch of ifDirectory is recorded: its lines. */
  private branch?: string[];
  /** The owner's ids as the script has them: numbers, or the variables --chown's names were looked up into. */
  private readonly owner: [number | string, number | string] | 'keep';
  /** --chmod's mode, in octal. */
  private readonly mode?: string;

  constructor(
    private readonly out: ScriptLines,
    readonly root: string,
    owner: Owner,
    private readonly image?: string,
    mode?: number,
  ) {
    this.mode = mode?.toString(8).padStart(4, '0');
    if (owner === 'keep' || Array.isArray(owner)) this.owner = owner;
    else {
      out.need('awk', 'readlink');
      const looked = scriptOwner(owner, image === undefined ? undefined : out.word(image), (text) => out.word(text));
      out.add(...looked.lines);
      this.owner = looked.owner;
    }
  }

  private add(...lines: string[]): void {
    if (this.branch) this.branch.push(...lines);
    else this.out.add(...lines);
  }

  private owned(target: string, [uid, gid]: [number | string, number | string]): string {
    return `chown -h ${uid}:${gid} ${this.out.word(target)}`;
  }

  ensureDir(dir: string): void {
    const parts = dir.split('/').filter(Boolean);
    // A new directory belongs to --chown's owner, else root (COPY --from's too: they are not the source's).
    const owner = this.owner === 'keep' ? [0, 0] as [number, number] : this.owner;
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const target = join(this.root, rel);
      if (this.made.has(target)) continue;
      this.made.add(target);
      const t = this.out.word(target);
      const fresh = [this.owned(target, owner), `chmod ${this.mode ?? 755} ${t}`];
      if (!this.image) {
        this.add(`mkdir ${t}`, ...fresh);
        this.times.set(target, `touch -d now ${t}`);
        continue;
      }
      // A directory the image has keeps its mode, owner and time (a copy into /tmp keeps its sticky bit).
      const inImage = this.out.word(join(this.image, rel));
      this.add(
        `mkdir ${t}`,
        `if [ -d ${inImage} ] && [ ! -L ${inImage} ]; then chown --reference=${inImage} ${t}; chmod --reference=${inImage} ${t}; else ${fresh.join('; ')}; fi`,
      );
      this.times.set(target, `touch $([ -d ${inImage} ] && [ ! -L ${inImage} ] && echo -r ${inImage} || echo -d now) ${t}`);
    }
  }

  entry(source: string, rel: string): void {
    const st = lstatSync(source);
    const target = join(this.root, rel);
    const t = this.out.word(target);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const mode = this.mode ?? (st.mode & 0o7777).toString(8).padStart(4, '0');
    const time = `@${st.mtimeMs / 1000}`;
    const owned = this.owned(target, this.owner === 'keep' ? [st.uid, st.gid] : this.owner);
    if (st.isDirectory()) {
      if (!this.made.has(target)) this.add(`mkdir -p ${t}`);
      this.made.add(target);
      this.add(owned, `chmod ${mode} ${t}`);
      this.times.set(target, `touch -d ${time} ${t}`);
    } else if (st.isSymbolicLink()) this.add(`ln -s ${this.out.word(readlinkSync(source))} ${t}`, owned, `touch -h -d ${time} ${t}`);
    else this.add(`cp ${this.out.word(source)} ${t}`, owned, `chmod ${mode} ${t}`, `touch -d ${time} ${t}`);
  }

  tree(source: string, rel: string): void {
    this.entry(source, rel);
    if (lstatSync(source).isDirectory()) for (const name of readdirSync(source)) this.tree(join(source, name), `${rel}/${name}`);
  }

  /**
   * `if [ -d PATH ]; then` dir's lines `else` file's `fi`. What each branch made is known to the script only
   * when it runs: afterwards this staging counts as made only what both made, and a directory whose time the
   * branches set differently (or one of them only) has its `touch` chosen by the same test when finish() runs
   * (the mounted image is still there then).
   */
  ifDirectory(path: string, dir: () => void, file: () => void): void {
    const test = `[ -d ${this.out.word(path)} ]`;
    const outer = this.branch;
    const before = { made: new Set(this.made), times: new Map(this.times) };
    const record = (body: () => void) => {
      this.made = new Set(before.made);
      this.times = new Map(before.times);
      this.branch = [];
      try {
        body();
        return { lines: this.branch.length ? this.branch : [':'], made: this.made, times: this.times };
      } finally {
        this.branch = outer;
      }
    };
    const d = record(dir);
    const f = record(file);
    this.made = new Set([...d.made].filter((m) => f.made.has(m)));
    this.times = new Map();
    for (const key of new Set([...d.times.keys(), ...f.times.keys()])) {
      const [a, b] = [d.times.get(key), f.times.get(key)];
      this.times.set(key, a === b ? a! : `if ${test}; then ${a ?? ':'}; else ${b ?? ':'}; fi`);
    }
    this.add(`if ${test}; then`, ...d.lines.map((l) => `  ${l}`), 'else', ...f.lines.map((l) => `  ${l}`), 'fi');
  }

  contentsFrom(source: string, rel: string): void {
    const [s, t] = [this.out.word(source), this.out.word(join(this.root, rel))];
    // find -H: a source that is a link to a directory is followed, as readdir follows it.
    const copy = (preserve: string) => `find -H ${s} -mindepth 1 -maxdepth 1 -exec cp -R -P --preserve=${preserve} -t ${t} {} +`;
    // --chmod: the mode of everything under the destination (this COPY's), links aside.
    const chmod = this.mode === undefined ? [] : [`find ${t} -mindepth 1 ! -type l -exec chmod ${this.mode} {} +`];
    if (this.owner === 'keep') return this.add(copy('mode,ownership,timestamps'), ...chmod);
    // --chown: everything under the destination is this COPY's; then the modes again where chown cleared a
    // set-user-ID or set-group-ID bit.
    const [uid, gid] = this.owner;
    this.add(
      copy('mode,timestamps'),
      `find ${t} -mindepth 1 -exec chown -h ${uid}:${gid} {} +`,
      ...(chmod.length ? chmod : [`(cd ${s} && find . -mindepth 1 ! -type l -perm /6000 -exec chmod --reference={} ${t}/{} \\;)`]),
    );
  }

  fileFrom(source: string, rel: string): void {
    const target = join(this.root, rel);
    const [s, t] = [this.out.word(source), this.out.word(target)];
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const chmod = `if [ ! -L ${t} ]; then chmod ${this.mode ?? `--reference=${s}`} ${t}; fi`;
    if (this.owner === 'keep') return this.add(`cp -P --preserve=mode,ownership,timestamps ${s} ${t}`, ...(this.mode === undefined ? [] : [chmod]));
    this.add(`cp -P --preserve=mode,timestamps ${s} ${t}`, this.owned(target, this.owner), chmod);
  }

  download(url: string, rel: string, checksum?: string): void {
    this.out.need('curl', ...(checksum === undefined ? [] : ['sha256sum']));
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const [uid, gid] = this.owner === 'keep' ? [0, 0] : this.owner;
    this.add(...scriptDownload(url, this.out.word(join(this.root, rel)), checksum, this.mode ?? '0600', `${uid}:${gid}`, (text) => this.out.word(text)));
  }

  inline(rel: string, content: string): void {
    const target = join(this.root, rel);
    const t = this.out.word(target);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const [uid, gid] = this.owner === 'keep' ? [0, 0] : this.owner;
    this.add(`printf %s ${this.out.word(content)} > ${t}`, this.owned(target, [uid, gid]), `chmod ${this.mode ?? '0644'} ${t}`);
  }

  finish(): void {
    const dirs = [...this.times].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [, line] of dirs) this.add(line);
  }
}
