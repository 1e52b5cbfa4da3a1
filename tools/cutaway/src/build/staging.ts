import { chmodSync, closeSync, copyFileSync, existsSync, lchownSync, lstatSync, mkdirSync, openSync, readdirSync, readlinkSync, readSync, symlinkSync, utimesSync, type Stats } from 'node:fs';
import { join } from 'node:path';

/** Who copied files belong to: a fixed uid:gid (--chown, or root for the context), or their own ('keep', COPY --from). */
export type Owner = [number, number] | 'keep';

/**
 * The directory a COPY or ADD layer is made from: files at their place in
 * the image, as Docker writes them. Directories on the way to the
 * destination that the image has keep the image's mode, owner and time (the
 * layer must not change /tmp's sticky bit because a file was copied into
 * it); those that are new are 0755 and belong to the --chown owner (BuildKit)
 * or root. Copied files and directories keep their mode and mtime; their
 * owner is the --chown one, root for the context, or their own for --from.
 * Directory times are set last, deepest first, as writing into a directory
 * changes its mtime.
 */
export class StagingTree {
  private readonly times = new Map<string, Date>();

  constructor(
    readonly root: string,
    private readonly owner: Owner,
    /** The image's root filesystem (mounted read-only), for the directories it has. */
    private readonly image?: string,
  ) {}

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
        chmodSync(target, 0o755);
        const [uid, gid] = this.owner === 'keep' ? [0, 0] : this.owner;
        lchownSync(target, uid, gid);
        this.times.set(target, new Date());
      }
    }
  }

  /** One entry at `rel` (a directory without its contents), its parents made first. */
  entry(source: string, rel: string): void {
    const st = lstatSync(source);
    const target = join(this.root, rel);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    if (st.isDirectory()) {
      if (!existsSync(target)) mkdirSync(target);
      chmodSync(target, st.mode & 0o7777);
      this.times.set(target, st.mtime);
    } else if (st.isSymbolicLink()) symlinkSync(readlinkSync(source), target);
    else {
      copyFileSync(source, target);
      chmodSync(target, st.mode & 0o7777);
      utimesSync(target, st.atime, st.mtime);
    }
    const [uid, gid] = this.newOwner(st);
    lchownSync(target, uid, gid);
  }

  /** A directory's whole tree, its contents at `rel`. */
  tree(source: string, rel: string): void {
    this.entry(source, rel);
    if (lstatSync(source).isDirectory()) for (const name of readdirSync(source)) this.tree(join(source, name), `${rel}/${name}`);
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
  ensureDir(dir: string): void;
  entry(source: string, rel: string): void;
  tree(source: string, rel: string): void;
  finish(): void;
}

/** How ScriptStaging writes: its lines, each word quoted (with the script's variables expanded) by `word`. */
export interface ScriptLines {
  add(...lines: string[]): void;
  word(text: string): string;
}

/**
 * StagingTree as a script: the same directory, made by `mkdir`, `cp`, `ln -s`, `chmod`, `chown` and `touch`.
 * The context's files are looked at now (their modes and times are written into the script); the image's
 * directories when it runs (`--reference` to the mounted image), as the image is only made by then.
 */
export class ScriptStaging implements Staging {
  private readonly made = new Set<string>();
  /** Each directory's time, set last, deepest first: `touch` arguments. */
  private readonly times = new Map<string, string[]>();

  constructor(
    private readonly out: ScriptLines,
    readonly root: string,
    private readonly owner: Owner,
    private readonly image?: string,
  ) {
    if (owner === 'keep') throw new Error('ScriptStaging: COPY --from is not planned by --dry-run');
  }

  private owned(target: string, [uid, gid]: [number, number]): string {
    return `chown -h ${uid}:${gid} ${this.out.word(target)}`;
  }

  ensureDir(dir: string): void {
    const parts = dir.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const rel = parts.slice(0, i).join('/');
      const target = join(this.root, rel);
      if (this.made.has(target)) continue;
      this.made.add(target);
      const t = this.out.word(target);
      const fresh = ['chmod 755 ' + t, this.owned(target, this.owner as [number, number])];
      if (!this.image) {
        this.out.add(`mkdir ${t}`, ...fresh);
        this.times.set(target, [t]);
        continue;
      }
      // A directory the image has keeps its mode, owner and time (a copy into /tmp keeps its sticky bit).
      const inImage = this.out.word(join(this.image, rel));
      this.out.add(
        `mkdir ${t}`,
        `if [ -d ${inImage} ] && [ ! -L ${inImage} ]; then chmod --reference=${inImage} ${t}; chown --reference=${inImage} ${t}; else ${fresh.join('; ')}; fi`,
      );
      this.times.set(target, [`$([ -d ${inImage} ] && [ ! -L ${inImage} ] && echo -r ${inImage} || echo -d now)`, t]);
    }
  }

  entry(source: string, rel: string): void {
    const st = lstatSync(source);
    const target = join(this.root, rel);
    const t = this.out.word(target);
    this.ensureDir(rel.split('/').slice(0, -1).join('/'));
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const time = `@${st.mtimeMs / 1000}`;
    if (st.isDirectory()) {
      if (!this.made.has(target)) this.out.add(`mkdir -p ${t}`);
      this.made.add(target);
      this.out.add(`chmod ${mode} ${t}`);
      this.times.set(target, ['-d', time, t]);
    } else if (st.isSymbolicLink()) this.out.add(`ln -s ${this.out.word(readlinkSync(source))} ${t}`);
    else this.out.add(`cp ${this.out.word(source)} ${t}`, `chmod ${mode} ${t}`, `touch -d ${time} ${t}`);
    this.out.add(this.owned(target, this.owner as [number, number]));
  }

  tree(source: string, rel: string): void {
    this.entry(source, rel);
    if (lstatSync(source).isDirectory()) for (const name of readdirSync(source)) this.tree(join(source, name), `${rel}/${name}`);
  }

  finish(): void {
    const dirs = [...this.times].sort(([a], [b]) => b.split('/').length - a.split('/').length);
    for (const [, args] of dirs) this.out.add(`touch ${args.join(' ')}`);
  }
}
