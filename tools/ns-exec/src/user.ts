import { ToolError } from '@cutaway/cli';
import { readInRoot } from './rootfs.ts';

/** Who the command runs as, resolved as docker run resolves `-u` (moby getUser + runc setupUser). */
export interface Identity {
  uid: number;
  gid: number;
  /** Supplementary groups: the primary gid, then the /etc/group memberships (Docker's additionalGids). */
  groups: number[];
  /** HOME when the environment has none: the user's passwd entry, else `/`. */
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const ID = /^\d+$/;
const MAX_ID = 2 ** 32 - 2; // (uid_t)-1 means "unchanged" to setresuid(2)

function records(text: string | undefined): string[][] {
  return (text ?? '').split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

function parsePasswd(text: string | undefined): PasswdEntry[] {
  return records(text)
    .filter((f) => f.length >= 7 && ID.test(f[2]!) && ID.test(f[3]!))
    .map((f) => ({ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  return records(text)
    .filter((f) => f.length >= 4 && ID.test(f[2]!))
    .map((f) => ({ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(',').filter(Boolean) }));
}

function numericId(value: string, what: string): number {
  const n = Number(value);
  if (n > MAX_ID) throw new ToolError(`${what} ${value} is out of range (at most ${MAX_ID})`);
  return n;
}

/** `-u USER[:GROUP]`: names are looked up in the rootfs' /etc/passwd and /etc/group, numbers need no entry. */
export function resolveUser(rootfs: string, spec: string): Identity {
  const [userPart = '', groupPart, extra] = spec.split(':');
  if (extra !== undefined || (spec !== '' && userPart === '')) throw new ToolError(`invalid user ${JSON.stringify(spec)}: expected USER[:GROUP]`);
  const passwd = parsePasswd(readInRoot(rootfs, '/etc/passwd'));
  const groups = parseGroup(readInRoot(rootfs, '/etc/group'));
  const name = userPart || '0';
  const entry = ID.test(name) ? passwd.find((p) => p.uid === Number(name)) : passwd.find((p) => p.name === name);
  if (!entry && !ID.test(name)) throw new ToolError(`unable to find user ${name}: no matching entries in passwd file`);
  const uid = entry?.uid ?? numericId(name, 'uid');
  let gid = entry?.gid ?? 0;
  let memberships: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    const group = ID.test(groupPart) ? { gid: numericId(groupPart, 'gid') } : groups.find((g) => g.name === groupPart);
    if (!group) throw new ToolError(`unable to find group ${groupPart}: no matching entries in group file`);
    gid = group.gid;
  } else if (entry) {
    // "Supplementary group ids only make sense if in the implicit form" (runc's libcontainer/user).
    memberships = groups.filter((g) => g.members.includes(entry.name)).map((g) => g.gid);
  }
  return { uid, gid, groups: [...new Set([gid, ...memberships])], home: entry?.home || '/' };
}
