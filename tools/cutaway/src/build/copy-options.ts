import { ToolError } from '@cutaway/cli';
import type { AddInstruction, CopyInstruction } from '@cutaway/dockerfile';
import { isUrl } from './add-url.ts';
import { imageGroup, imageUser, IN_ROOT_FUNCTION, scriptLookup } from './image-users.ts';

/**
 * COPY and ADD's options, checked as Docker checks them before anything is copied: --chmod, --chown, and ADD's
 * --checksum and URL sources. (--link is accepted and copies as without it: see README, `cutaway build`.)
 */

/** --chown=USER[:GROUP] with a name in it: looked up in the stage's image when the step runs (image-users.ts). */
export interface ChownNames {
  user: string;
  group?: string;
}

export interface CopyOptions {
  /** The owner given by --chown: ids, or names to look up; undefined without --chown. */
  chown?: [number, number] | ChownNames;
  /** --chmod's mode, for the files and directories the step copies or makes. */
  mode?: number;
  /** ADD's http(s) URLs, and the other sources. */
  urls: string[];
  local: string[];
  /** ADD --checksum's sha256 hex digits. */
  checksum?: string;
}

const isId = (text: string) => /^\d+$/.test(text);

export function copyOptions(ins: CopyInstruction | AddInstruction): CopyOptions {
  const urls = ins.sources.filter(isUrl);
  if (urls.length && ins.keyword === 'COPY') throw new ToolError(`source can't be a URL for COPY`);
  const local = ins.sources.filter((s) => !isUrl(s));
  const options: CopyOptions = { urls, local };
  if (ins.chmod !== undefined) options.mode = parseChmod(ins.chmod);
  if (ins.chown !== undefined) options.chown = parseChown(ins.chown);
  if (ins.keyword === 'ADD' && ins.checksum !== undefined) {
    // BuildKit's checks and words.
    if (ins.sources.length !== 1) throw new ToolError(`checksum can't be specified for multiple sources`);
    if (!urls.length) throw new ToolError(`checksum can't be specified for non-HTTP(S) sources`);
    const m = /^sha256:([0-9a-f]{64})$/.exec(ins.checksum);
    if (!m) throw new ToolError(`invalid checksum digest format: ${ins.checksum} (ADD --checksum takes sha256:<64 hex digits>)`);
    options.checksum = m[1];
  }
  return options;
}

/**
 * --chmod: octal, up to 07777 (BuildKit's error otherwise). BuildKit 1.14's symbolic modes (`u+x`, `g=u`) are
 * refused with a line that says so.
 */
function parseChmod(chmod: string): number {
  if (/^[0-7]+$/.test(chmod) && parseInt(chmod, 8) <= 0o7777) return parseInt(chmod, 8);
  if (/^[ugoa]*[-+=]/.test(chmod)) throw new ToolError(`--chmod=${chmod}: symbolic modes are not supported by cutaway build yet; give the mode in octal`);
  throw new ToolError(`invalid chmod parameter: '${chmod}'. it should be octal string and between 0 and 07777`);
}

/**
 * --chown=USER[:GROUP], each an id or a name. Ids alone are final: USER without GROUP has the gid of the same
 * number (BuildKit, and the Dockerfile reference: "the GID is set to the same numeric value as the UID").
 */
function parseChown(chown: string): [number, number] | ChownNames {
  const parts = chown.split(':');
  const [user = '', group] = parts;
  if (parts.length > 2 || user === '' || group === '') throw new ToolError(`invalid chown string format: ${chown}`);
  if (isId(user) && (group === undefined || isId(group))) return [Number(user), Number(group ?? user)];
  return group === undefined ? { user } : { user, group };
}

const convertError = (what: string) => new ToolError(`unable to convert uid/gid chown string to host mapping: ${what}`);
const noUser = (user: string) => convertError(`can't find uid for user ${user}: no such user: ${user}`);
const noGroup = (group: string) => convertError(`can't find gid for group ${group}: no such group: ${group}`);

/**
 * Names as the image `root` (mounted; undefined: FROM scratch, which has no /etc/passwd) has them: a user
 * without a group gets the user's primary group (BuildKit and buildah), a name missing is Docker's error.
 */
export function resolveOwner({ user, group }: ChownNames, root: string | undefined): [number, number] {
  let uid: number;
  let primary: number;
  if (isId(user)) uid = primary = Number(user);
  else {
    const found = root === undefined ? undefined : imageUser(root, user);
    if (!found) throw noUser(user);
    ({ uid, gid: primary } = found);
  }
  if (group === undefined) return [uid, primary];
  if (isId(group)) return [uid, Number(group)];
  const gid = root === undefined ? undefined : imageGroup(root, group);
  if (gid === undefined) throw noGroup(group);
  return [uid, gid];
}

/**
 * resolveOwner in a script: lines that look the names up in the image mounted at `root` (a quoted word of the
 * script) when it runs, failing with the same error line, and the owner as the script's `$cw_uid` and `$cw_gid`.
 */
export function scriptOwner({ user, group }: ChownNames, root: string | undefined, quote: (text: string) => string): { lines: string[]; owner: [string, string] } {
  // FROM scratch: nothing to look up, now as when the script runs.
  if (root === undefined) resolveOwner({ user, group }, undefined);
  const fail = (error: ToolError) => `if [ -z "$cw_found" ]; then echo ${quote(`cutaway build: error: ${error.message}`)} >&2; exit 1; fi`;
  const lines = [...IN_ROOT_FUNCTION];
  if (isId(user)) lines.push(`cw_uid=${user} cw_gid=${user}`);
  else lines.push(scriptLookup(root!, 'user', user, 'cw_found', quote), fail(noUser(user)), 'cw_uid=${cw_found% *} cw_gid=${cw_found#* }');
  if (group !== undefined && isId(group)) lines.push(`cw_gid=${group}`);
  else if (group !== undefined) lines.push(scriptLookup(root!, 'group', group, 'cw_found', quote), fail(noGroup(group)), 'cw_gid=$cw_found');
  return { lines, owner: ['$cw_uid', '$cw_gid'] };
}
