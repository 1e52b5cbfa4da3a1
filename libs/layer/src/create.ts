import { createReadStream, lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { deviceNumbers, getXattr, listXattrs } from '@cutaway/libc';
import { pack as tarPack, type Header, type Pack } from 'tar-stream';
import { LayerError } from './extract.ts';

/**
 * Turns a directory into an OCI layer tar (image-spec layer.md), the other
 * direction of extract.ts:
 *
 * - from an overlay upper directory: a 0:0 character device becomes an empty
 *   `.wh.NAME` (mode 0600, as moby writes it); a directory marked opaque
 *   (trusted.overlay.opaque=y, or user.overlay.opaque in a user namespace)
 *   becomes the directory plus `DIR/.wh..wh..opq`. Directories renamed with
 *   redirect_dir, or copied up metadata-only with metacopy, hold less than
 *   the change: a layer cannot say that, so they are refused.
 * - from two plain directories (`parent` and the new tree): what differs by
 *   type, mode, owner, size, mtime, device, link target or xattrs (the stat
 *   comparison Docker's naive diff makes), and a whiteout for what is gone.
 *
 * Reproducible: in each directory its whiteouts first, then the other
 * entries, each in byte order of their names; parents before children;
 * times in whole seconds, clamped to SOURCE_DATE_EPOCH when given; no user
 * or group names; hardlinks within the layer as tar hardlinks.
 */

export type LayerSource = { kind: 'upper' } | { kind: 'diff'; parent: string };

export interface CreateOptions {
  source: LayerSource;
  /** Clamp every mtime to this (seconds since the epoch), like tar --clamp-mtime. */
  sourceDateEpoch?: number;
}

export interface CreateStats {
  entries: number;
  whiteouts: number;
  opaqueDirs: number;
  hardlinks: number;
}

type Item =
  | { kind: 'entry'; rel: string; path: string; st: Stats; /** read already while walking an upper */ xattrs?: Map<string, Buffer> }
  | { kind: 'whiteout'; rel: string; st?: Stats }
  | { kind: 'opaque'; rel: string; st: Stats };

const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;
/** Not carried: overlay's own bookkeeping, and the host's SELinux label (umoci drops it too). */
const DROPPED_XATTR = (name: string) => OVERLAY_XATTR.test(name) || name === 'security.selinux';
const SMALL_FILE = 1 << 20;

function byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function children(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    throw new LayerError(`${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function stat(path: string): Stats {
  try {
    return lstatSync(path);
  } catch (e) {
    throw new LayerError(`${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function xattrsOf(path: string): Map<string, Buffer> {
  const map = new Map<string, Buffer>();
  for (const name of listXattrs(path)) map.set(name, getXattr(path, name));
  return map;
}

function overlayXattr(xattrs: Map<string, Buffer>, name: string): string | undefined {
  return (xattrs.get(`trusted.overlay.${name}`) ?? xattrs.get(`user.overlay.${name}`))?.toString('latin1');
}

const isWhiteoutDevice = (st: Stats) => st.isCharacterDevice() && st.rdev === 0;

/**
 * A directory's entries in tar order: its whiteouts first (layer.md: they
 * "SHOULD appear before sibling directory entries"), then everything else;
 * each group in byte order of the name it has in the tar (`.wh.NAME` for a
 * whiteout). Byte order alone would not do: `.bashrc` or `-x` sort before `.wh.`.
 */
function tarOrder<T extends { name: string; whiteout: boolean }>(entries: T[]): T[] {
  const key = (e: T) => (e.whiteout ? `.wh.${e.name}` : e.name);
  return entries.sort((a, b) => Number(b.whiteout) - Number(a.whiteout) || byBytes(key(a), key(b)));
}

/** Everything in an overlay upper directory, in order, with whiteouts and opaque marks recognised. */
function upperItems(root: string, rel: string, out: Item[]): void {
  const entries = children(join(root, rel)).map((name) => {
    const path = join(root, rel ? `${rel}/${name}` : name);
    const st = stat(path);
    const xattrs = xattrsOf(path);
    // A whiteout is a 0:0 character device, or (kernel 6.7+) an empty file marked trusted.overlay.whiteout.
    return { name, path, st, xattrs, whiteout: isWhiteoutDevice(st) || (st.isFile() && overlayXattr(xattrs, 'whiteout') !== undefined) };
  });
  for (const { name, path, st, xattrs, whiteout } of tarOrder(entries)) {
    const childRel = rel ? `${rel}/${name}` : name;
    if (overlayXattr(xattrs, 'redirect') !== undefined) {
      throw new LayerError(`${childRel}: a directory renamed through overlay's redirect_dir, which a layer cannot express (mount without redirect_dir, as overlay-mount does)`);
    }
    if (overlayXattr(xattrs, 'metacopy') !== undefined) {
      throw new LayerError(`${childRel}: copied up metadata-only (overlay metacopy), its data is in a lower layer (mount without metacopy, as overlay-mount does)`);
    }
    if (whiteout) {
      out.push({ kind: 'whiteout', rel: childRel, st });
      continue;
    }
    out.push({ kind: 'entry', rel: childRel, path, st, xattrs });
    if (st.isDirectory()) {
      if (overlayXattr(xattrs, 'opaque') === 'y') out.push({ kind: 'opaque', rel: childRel, st });
      upperItems(root, childRel, out);
    }
  }
}

function sameXattrs(a: string, b: string): boolean {
  const x = xattrsOf(a);
  const y = xattrsOf(b);
  if (x.size !== y.size) return false;
  for (const [k, v] of x) if (!y.get(k)?.equals(v)) return false;
  return true;
}

/** Docker's naive diff: a path changed when its stat or xattrs say so (contents are not read). */
function changed(newPath: string, a: Stats, oldPath: string, b: Stats): boolean {
  if ((a.mode & 0o170000) !== (b.mode & 0o170000) || a.mode !== b.mode || a.uid !== b.uid || a.gid !== b.gid) return true;
  if (a.isDirectory()) return !sameXattrs(newPath, oldPath);
  if (a.size !== b.size || a.mtimeMs !== b.mtimeMs || a.rdev !== b.rdev) return true;
  if (a.isSymbolicLink() && readlinkSync(newPath) !== readlinkSync(oldPath)) return true;
  return !sameXattrs(newPath, oldPath);
}

/** The changes from `oldRoot` to `newRoot` under `rel`; returns whether any were found. */
function diffItems(newRoot: string, oldRoot: string, rel: string, out: Item[]): boolean {
  const newNames = children(join(newRoot, rel));
  const oldNames = new Set(children(join(oldRoot, rel)));
  const present = new Set(newNames);
  const names = tarOrder([...new Set([...newNames, ...oldNames])].map((name) => ({ name, whiteout: !present.has(name) })));
  let any = false;
  for (const { name } of names) {
    const childRel = rel ? `${rel}/${name}` : name;
    if (!present.has(name)) {
      out.push({ kind: 'whiteout', rel: childRel });
      any = true;
      continue;
    }
    const path = join(newRoot, childRel);
    const st = stat(path);
    const oldPath = join(oldRoot, childRel);
    const old = oldNames.has(name) ? stat(oldPath) : undefined;
    if (st.isDirectory() && old?.isDirectory()) {
      // The directory's entry goes first, if it or anything below it changed.
      const below: Item[] = [];
      if (diffItems(newRoot, oldRoot, childRel, below) || changed(path, st, oldPath, old)) {
        out.push({ kind: 'entry', rel: childRel, path, st }, ...below);
        any = true;
      }
      continue;
    }
    if (old && !changed(path, st, oldPath, old)) continue;
    out.push({ kind: 'entry', rel: childRel, path, st });
    // A new directory (or one that replaced a file) comes with everything in it.
    if (st.isDirectory()) upperItems(newRoot, childRel, out);
    any = true;
  }
  return any;
}

class Packer {
  readonly stats: CreateStats = { entries: 0, whiteouts: 0, opaqueDirs: 0, hardlinks: 0 };
  private readonly firstLink = new Map<string, string>();

  constructor(
    readonly tar: Pack,
    private readonly epoch: number | undefined,
  ) {}

  private mtime(st: Stats | undefined): Date {
    const seconds = Math.floor((st?.mtimeMs ?? 0) / 1000);
    return new Date((this.epoch !== undefined ? Math.min(seconds, this.epoch) : seconds) * 1000);
  }

  private add(header: Header, body?: Buffer | Readable): Promise<void> {
    this.stats.entries++;
    return new Promise((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body === undefined || Buffer.isBuffer(body)) {
        this.tar.entry(header, body ?? Buffer.alloc(0), done);
        return;
      }
      const sink = this.tar.entry(header, done);
      body.on('error', (e) => sink.destroy(e));
      body.pipe(sink as unknown as NodeJS.WritableStream);
    });
  }

  async item(item: Item): Promise<void> {
    const slash = item.rel.lastIndexOf('/');
    const dir = slash >= 0 ? `${item.rel.slice(0, slash)}/` : '';
    const base = item.rel.slice(slash + 1);
    const base0 = { uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0 };
    if (item.kind === 'whiteout') {
      this.stats.whiteouts++;
      await this.add({ ...base0, name: `${dir}.wh.${base}`, type: 'file', size: 0, mode: 0o600, uid: item.st?.uid ?? 0, gid: item.st?.gid ?? 0, mtime: this.mtime(item.st) });
      return;
    }
    if (item.kind === 'opaque') {
      this.stats.opaqueDirs++;
      await this.add({ ...base0, name: `${item.rel}/.wh..wh..opq`, type: 'file', size: 0, mode: item.st.mode & 0o777, uid: item.st.uid, gid: item.st.gid, mtime: this.mtime(item.st) });
      return;
    }
    const { st, path } = item;
    const xattrs = [...(item.xattrs ?? xattrsOf(path))].filter(([name]) => !DROPPED_XATTR(name));
    const header: Header = {
      ...base0,
      name: item.rel,
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      mtime: this.mtime(st),
      size: 0,
      type: 'file',
      linkname: '',
      devmajor: 0,
      devminor: 0,
      ...(xattrs.length && { pax: Object.fromEntries(xattrs.map(([k, v]) => [`SCHILY.xattr.${k}`, v.toString('latin1')])) }),
    };
    if (st.isDirectory()) return this.add({ ...header, name: `${item.rel}/`, type: 'directory' });
    if (st.isSymbolicLink()) return this.add({ ...header, type: 'symlink', linkname: readlinkSync(path) });
    if (st.isFIFO()) return this.add({ ...header, type: 'fifo' });
    if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = deviceNumbers(st.rdev);
      return this.add({ ...header, type: st.isCharacterDevice() ? 'character-device' : 'block-device', devmajor: major, devminor: minor });
    }
    if (st.isSocket()) return; // a socket cannot be carried in a tar (layer.md lists no such type)
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = this.firstLink.get(key);
      if (first !== undefined) {
        this.stats.hardlinks++;
        return this.add({ ...header, type: 'link', linkname: first });
      }
      this.firstLink.set(key, item.rel);
    }
    const size = st.size;
    return this.add({ ...header, size }, size <= SMALL_FILE ? readFileSync(path) : createReadStream(path));
  }
}

/**
 * Streams the layer tar of `dir`. `done` resolves with what went in once
 * the tar has been produced; a problem in the tree fails both.
 */
export function createLayerTar(dir: string, options: CreateOptions): { stream: Readable; done: Promise<CreateStats> } {
  const tar = tarPack();
  const packer = new Packer(tar, options.sourceDateEpoch);
  const done = (async () => {
    const items: Item[] = [];
    if (options.source.kind === 'upper') upperItems(dir, '', items);
    else diffItems(dir, options.source.parent, '', items);
    for (const item of items) await packer.item(item);
    tar.finalize();
    return packer.stats;
  })();
  done.catch((e: Error) => tar.destroy(e));
  return { stream: tar as unknown as Readable, done };
}
