import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolveInRoot } from '@cutaway/libc/in-root';

/**
 * Users and groups by name in an image's /etc/passwd and /etc/group, as Docker's builder reads them for COPY
 * --chown=NAME: the files as a process whose root is the image would open them (a symlinked /etc or
 * /etc/passwd is followed inside the image, never into the host's files: libs/libc's resolveInRoot), the
 * first line naming it wins. A file that is missing or unreadable has no one in it. ScriptLookup is the same
 * for a --dry-run script (awk over the file that `in_root` resolves).
 */

/** Lines of `file` (a path in the image), each split at `:`; none if it cannot be read. */
function records(root: string, file: string): string[][] {
  try {
    const path = join(root, resolveInRoot(file, (inside) => join(root, inside)));
    return readFileSync(path, 'utf8').split('\n').map((line) => line.split(':'));
  } catch {
    return []; // missing, a directory, a symlink loop: no one
  }
}

const isId = (field: string | undefined) => field !== undefined && /^\d+$/.test(field);

/** A user of the image's /etc/passwd: its uid and primary gid. */
export function imageUser(root: string, name: string): { uid: number; gid: number } | undefined {
  const found = records(root, '/etc/passwd').find((f) => f[0] === name && isId(f[2]) && isId(f[3]));
  return found && { uid: Number(found[2]), gid: Number(found[3]) };
}

/** A group of the image's /etc/group: its gid. */
export function imageGroup(root: string, name: string): number | undefined {
  const found = records(root, '/etc/group').find((f) => f[0] === name && isId(f[2]));
  return found && Number(found[2]);
}

/**
 * The same in a script's bash: `in_root ROOT PATH` prints where PATH is for a process whose root is ROOT
 * (resolveInRoot's walk: each symlink followed, an absolute target starting again at ROOT, `..` stopping at
 * it, 40 links at most); awk takes the first line of the name with numeric ids, as imageUser and imageGroup.
 */
export const IN_ROOT_FUNCTION = [
  '# in_root ROOT PATH: where PATH is for a process whose root is ROOT (symlinks followed inside ROOT, never out of it)',
  'in_root() {',
  '  local root=$1 rest=${2#/} path= part target links=0',
  '  while [ -n "$rest" ]; do',
  '    part=${rest%%/*}',
  '    if [ "$part" = "$rest" ]; then rest=; else rest=${rest#*/}; fi',
  '    case $part in',
  "      ''|.) continue ;;",
  '      ..) path=${path%/*}; continue ;;',
  '    esac',
  '    if [ -L "$root$path/$part" ]; then',
  '      links=$((links + 1))',
  '      [ "$links" -le 40 ] || return 1',
  '      target=$(readlink "$root$path/$part")',
  '      case $target in /*) path= ;; esac',
  '      rest=${target#/}${rest:+/$rest}',
  '      continue',
  '    fi',
  '    path=$path/$part',
  '  done',
  '  printf \'%s\\n\' "$root${path:-/}"',
  '}',
];

/**
 * Script lines that set `variable` to the user's "UID GID" (file /etc/passwd) or the group's GID (/etc/group)
 * of the image mounted at `root` (a quoted word of the script), empty when there is none.
 */
export function scriptLookup(root: string, kind: 'user' | 'group', name: string, variable: string, quote: (text: string) => string): string {
  const [file, match, print] = kind === 'user' ? ['/etc/passwd', '$3 ~ /^[0-9]+$/ && $4 ~ /^[0-9]+$/', '$3 " " $4'] : ['/etc/group', '$3 ~ /^[0-9]+$/', '$3'];
  // The name through the environment: awk -v would read backslashes in it as escapes.
  return `${variable}=$(cw_name=${quote(name)} awk -F: '$1 == ENVIRON["cw_name"] && ${match} { print ${print}; exit }' "$(in_root ${root} ${file} || true)" 2>/dev/null || true)`;
}
