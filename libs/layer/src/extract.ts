import { closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, rmSync, symlinkSync, unlinkSync, writeSync, chmodSync, chownSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { mknod, S_IFBLK, S_IFCHR, S_IFIFO, setXattr } from '@cutaway/libc';
import { idMapped, type IdRange } from '@cutaway/libc/userns';
import { extract as tarExtract, type Header } from 'tar-stream';

/**
 * Extracts one layer tar into an empty directory, ready to be an overlayfs
 * lower layer (image-spec layer.md "Whiteouts", overlayfs.rst "whiteouts and
 * opaque directories"):
 *   .wh.NAME      → NAME as a 0:0 character device (an overlay whiteout)
 *   .wh..wh..opq  → the directory marked opaque with the <prefix>opaque=y xattr
 * Everything a layer can carry is kept: modes (setuid, setgid, sticky), owners,
 * mtimes, symlinks, hardlinks, devices, fifos, xattrs, long (PAX/GNU) names.
 *
 * Nothing is written outside `dir`: names with "..", absolute names, writes
 * through a symlink an earlier entry planted (every parent is checked with
 * lstat, never followed) and hardlinks to anything outside the layer are
 * refused with a LayerError.
 */

export class LayerError extends Error {
  override name = 'LayerError';
}

export interface ExtractOptions {
  /** `trusted.overlay.` as root; `user.overlay.` in a user namespace (mounted with userxattr). */
  overlayXattrPrefix: string;
  /**
   * chown entries to their uid/gid: `true` as root of the initial user namespace; in another user namespace, the
   * ids it maps (@cutaway/libc/userns). chown(2) to an id a user namespace does not map fails (EINVAL,
   * user_namespaces(7)): such an owner is left as the unpacker (the namespace's root) and counted, as rootless
   * podman does with ignore_chown_errors. `false`: every entry stays the unpacker's.
   */
  owners: boolean | { uids: readonly IdRange[]; gids: readonly IdRange[] };
  /**
   * Create block and character devices. In a user namespace mknod(2) of a real
   * device fails with EPERM; like moby's archive package there, skip them (and
   * count them) rather than refuse the image.
   */
  devices: boolean;
}

export interface ExtractStats {
  entries: number;
  whiteouts: number;
  opaqueDirs: number;
  /** Device nodes left out (devices: false). */
  skippedDevices: number;
  /** Entries whose owner (uid, gid or both) the user namespace does not map: they keep the unpacker's. */
  unmappedOwners: number;
}

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE = '.wh..wh..opq';

/** The components of a member name, refusing anything that could leave the layer. */
export function safeComponents(name: string, what = 'entry'): string[] {
  if (name.startsWith('/')) throw new LayerError(`${what} ${JSON.stringify(name)}: absolute path in a layer`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new LayerError(`${what} ${JSON.stringify(name)}: path leaves the layer ("..")`);
  if (name.includes('\0')) throw new LayerError(`${what} ${JSON.stringify(name)}: NUL in a name`);
  return parts;
}

class Extractor {
  /** Directories known to be real directories of this layer (not symlinks): their children are safe to create. */
  private readonly realDirs = new Set<string>(['']);
  /** Directory mtimes by relative path, set last (creating children changes them); a later entry for the same directory wins. */
  private readonly dirTimes = new Map<string, Date>();
  readonly stats: ExtractStats = { entries: 0, whiteouts: 0, opaqueDirs: 0, skippedDevices: 0, unmappedOwners: 0 };

  constructor(
    private readonly root: string,
    private readonly options: ExtractOptions,
  ) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /**
   * Makes sure every parent of `parts` is a real directory inside the layer,
   * creating missing ones (0755, as tar does); a symlink among them is an
   * attempt to write elsewhere.
   */
  private parentOf(parts: string[], what: string): string {
    let rel = '';
    for (const part of parts.slice(0, -1)) {
      rel = rel === '' ? part : `${rel}/${part}`;
      if (this.realDirs.has(rel)) continue;
      const st = lstatSync(this.abs(rel), { throwIfNoEntry: false });
      if (!st) mkdirSync(this.abs(rel), 0o755);
      else if (st.isSymbolicLink()) throw new LayerError(`${what}: its parent ${rel} is a symlink in the layer (a write through it could land anywhere)`);
      else if (!st.isDirectory()) throw new LayerError(`${what}: its parent ${rel} is not a directory`);
      this.realDirs.add(rel);
    }
    return rel;
  }

  /** Clears the way for a new entry at `rel`: a directory stays for a directory entry; anything else goes. */
  private clear(rel: string, keepDir: boolean): boolean {
    const path = this.abs(rel);
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return false;
    if (keepDir && st.isDirectory()) return true;
    if (st.isDirectory()) {
      rmSync(path, { recursive: true, force: true });
      for (const known of this.realDirs) if (known === rel || known.startsWith(`${rel}/`)) this.realDirs.delete(known);
      // What replaces it may be a symlink: its old mtime must never be set through it (finish).
      for (const known of this.dirTimes.keys()) if (known === rel || known.startsWith(`${rel}/`)) this.dirTimes.delete(known);
    } else unlinkSync(path);
    return false;
  }

  /**
   * The owner to give an entry, as chown(2)'s pair (-1: leave that id as it is), or undefined for none. An
   * entry's owner is set before its mode: chown clears setuid and setgid bits.
   */
  private owner(header: Header): [number, number] | undefined {
    const { owners } = this.options;
    if (owners === false) return undefined;
    if (owners === true) return [header.uid, header.gid];
    const uid = idMapped(owners.uids, header.uid) ? header.uid : -1;
    const gid = idMapped(owners.gids, header.gid) ? header.gid : -1;
    if (uid === -1 || gid === -1) this.stats.unmappedOwners++;
    return uid === -1 && gid === -1 ? undefined : [uid, gid];
  }

  private xattrs(header: Header): [string, Buffer][] {
    const pax = (header.pax ?? {}) as Record<string, string>;
    // PAX SCHILY.xattr.NAME records (GNU tar, Docker). Their values are raw bytes — a security.capability with
    // cap_setuid has bytes >= 0x80 — which tar-stream, as patched here (patches/tar-stream@3.2.2.patch), hands
    // over as latin1 strings: latin1 gives the exact bytes back.
    return Object.entries(pax)
      // A layer says "deleted" and "opaque" with .wh. files only; overlay xattrs of its own (a redirect, say) would steer the mount.
      .filter(([k]) => k.startsWith('SCHILY.xattr.') && !/^SCHILY\.xattr\.(trusted|user)\.overlay\./.test(k))
      .map(([k, v]) => [k.slice('SCHILY.xattr.'.length), Buffer.from(v, 'latin1')]);
  }

  async entry(header: Header, body: AsyncIterable<Buffer>): Promise<void> {
    this.stats.entries++;
    const parts = safeComponents(header.name);
    const base = parts[parts.length - 1] ?? '';

    if (base.startsWith(WHITEOUT_PREFIX)) {
      for await (const _ of body); // whiteouts are empty; drain anyway
      this.whiteout(parts, header.name);
      return;
    }

    const rel = parts.join('/');
    // "." or "./" as anything but a directory would replace the layer's root itself (a symlink there redirects every later entry).
    if (rel === '' && header.type !== 'directory') throw new LayerError(`entry ${JSON.stringify(header.name)}: a ${header.type} at the layer's root (only a directory can be there)`);
    if (rel !== '') this.parentOf(parts, `entry ${JSON.stringify(header.name)}`);
    const path = this.abs(rel);
    const mode = header.mode & 0o7777;

    switch (header.type) {
      case 'directory': {
        const existed = rel === '' || this.clear(rel, true);
        if (!existed) mkdirSync(path, 0o700);
        this.realDirs.add(rel);
        const owner = this.owner(header);
        if (owner) chownSync(path, ...owner);
        chmodSync(path, mode);
        this.setXattrs(path, header);
        this.dirTimes.delete(rel);
        this.dirTimes.set(rel, header.mtime);
        for await (const _ of body);
        return;
      }
      case 'file':
      case 'contiguous-file': {
        this.clear(rel, false);
        // O_EXCL: the path was just cleared, so this never opens through a symlink.
        const fd = openSync(path, 'wx', 0o600);
        try {
          for await (const chunk of body) writeSync(fd, chunk);
          // chown before chmod: chown clears setuid/setgid bits.
          const owner = this.owner(header);
          if (owner) fchownSync(fd, ...owner);
          fchmodSync(fd, mode);
          this.setXattrs(path, header);
          futimesSync(fd, header.mtime, header.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'symlink': {
        this.clear(rel, false);
        symlinkSync(header.linkname, path);
        const owner = this.owner(header);
        if (owner) lchownSync(path, ...owner);
        this.setXattrs(path, header);
        lutimesSync(path, header.mtime, header.mtime);
        for await (const _ of body);
        return;
      }
      case 'link': {
        const target = safeComponents(header.linkname, `hardlink ${JSON.stringify(header.name)} to`);
        this.parentOf(target, `hardlink ${JSON.stringify(header.name)} to ${JSON.stringify(header.linkname)}`);
        const targetPath = this.abs(target.join('/'));
        const st = lstatSync(targetPath, { throwIfNoEntry: false });
        if (!st) throw new LayerError(`hardlink ${JSON.stringify(header.name)}: its target ${header.linkname} is not in the layer`);
        if (st.isDirectory()) throw new LayerError(`hardlink ${JSON.stringify(header.name)}: its target ${header.linkname} is a directory`);
        if (targetPath === path) return;
        this.clear(rel, false);
        linkSync(targetPath, path);
        for await (const _ of body);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        if (header.type !== 'fifo' && !this.options.devices) {
          this.stats.skippedDevices++;
          for await (const _ of body);
          return;
        }
        this.clear(rel, false);
        const kind = header.type === 'fifo' ? S_IFIFO : header.type === 'character-device' ? S_IFCHR : S_IFBLK;
        mknod(path, kind | 0o600, header.devmajor, header.devminor);
        const owner = this.owner(header);
        if (owner) lchownSync(path, ...owner);
        chmodSync(path, mode);
        this.setXattrs(path, header);
        lutimesSync(path, header.mtime, header.mtime);
        for await (const _ of body);
        return;
      }
      default:
        throw new LayerError(`entry ${JSON.stringify(header.name)}: unsupported tar entry type ${header.type}`);
    }
  }

  private whiteout(parts: string[], name: string): void {
    const base = parts[parts.length - 1]!;
    const dirParts = parts.slice(0, -1);
    const dirRel = this.parentOf([...dirParts, ''], `entry ${JSON.stringify(name)}`);
    if (base === OPAQUE) {
      // The directory's contents in lower layers are hidden; its own entries (before or after this one) stay.
      setXattr(this.abs(dirRel), `${this.options.overlayXattrPrefix}opaque`, 'y');
      this.stats.opaqueDirs++;
      return;
    }
    // AUFS's hardlink directory and other .wh..wh. names mean nothing to overlay (moby ignores them too).
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return;
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw new LayerError(`entry ${JSON.stringify(name)}: a whiteout without a name`);
    const path = join(this.abs(dirRel), hidden);
    // An entry of this same layer at that name wins: whiteouts hide only lower layers (layer.md).
    if (lstatSync(path, { throwIfNoEntry: false })) return;
    mknod(path, S_IFCHR, 0, 0);
    this.stats.whiteouts++;
  }

  private setXattrs(path: string, header: Header): void {
    for (const [name, value] of this.xattrs(header)) setXattr(path, name, value);
  }

  finish(): void {
    // lutimes: never follows a symlink, whatever replaced a directory since.
    for (const [rel, mtime] of this.dirTimes) if (lstatSync(this.abs(rel)).isDirectory()) lutimesSync(this.abs(rel), mtime, mtime);
  }
}

/** Extracts an uncompressed layer tar stream into `dir` (which should be empty). */
export async function extractLayer(tar: Readable, dir: string, options: ExtractOptions): Promise<ExtractStats> {
  const extractor = new Extractor(dir, options);
  const reader = tarExtract();
  tar.on('error', (e) => reader.destroy(e));
  tar.pipe(reader as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of reader) {
      await extractor.entry(entry.header, entry as unknown as AsyncIterable<Buffer>);
    }
  } catch (e) {
    // Stop the producer too: left paused, a zstd child blocks on its full pipe forever and keeps the process alive.
    tar.destroy();
    throw e;
  }
  extractor.finish();
  return extractor.stats;
}
