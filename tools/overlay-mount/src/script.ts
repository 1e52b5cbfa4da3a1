import { BashScript } from '@cutaway/cli';

/**
 * overlay-mount --dry-run: the same work as a bash script of classic commands (DESIGN.md, issue 18). Run
 * with bash on a clean host, it leaves what overlay-mount leaves: the same layer directories (whiteouts as
 * 0:0 character devices, opaque directories marked, times as tar gives them), the same lock files, the same
 * container directories, the same mount with the same options, the same overlay.json — and prints the same
 * line. It checks its own prerequisites first and stops at the first failure (set -euo pipefail).
 */

/** overlay-mount's --dry-run script: its command line, what the script is, the prerequisite check (libs/cli), its lines. */
export function overlayScript(argv: readonly string[]): BashScript {
  return new BashScript('overlay-mount', argv, ['as classic commands (overlay-mount --dry-run): run it with bash; it leaves what overlay-mount would.']);
}

/**
 * The bash function that unpacks one layer as overlay-mount (libs/layer's unpackLayer) does. `prefix` is the
 * overlay xattr namespace (trusted.overlay. as root, user.overlay. in a user namespace); `userNamespace` whether
 * it runs in a user namespace, where an owner it does not map and a device node cannot be made.
 */
export function unpackFunction(prefix: string, userNamespace: boolean): string[] {
  return [
    '',
    '# unpack_layer DECOMPRESS BLOB DIFF_ID DIR: one layer unpacked once into DIR, named by its diff_id and shared',
    '# by every container, as overlay-mount unpacks it:',
    '#  - the uncompressed blob must hash to the diff_id the image config names;',
    '#  - it is extracted into a temp directory beside DIR and renamed into place when complete, under DIR.lock:',
    '#    a concurrent overlay-mount (or this script) waits, then finds it done;',
    "#  - OCI whiteouts become overlay's: .wh..wh..opq marks its directory opaque, .wh.NAME becomes NAME as a 0:0",
    "#    character device (unless the layer has NAME itself); each directory keeps the time tar gave it.",
    ...(userNamespace
      ? [
          '# In a user namespace chown(2) to an id it does not map fails (EINVAL), and so does mknod(2) of a device (EPERM):',
          '# the entry stays the namespace root\'s, or is left out, as overlay-mount leaves them. tar complains of each and',
          '# exits 2: those complaints are expected, any other one stops the script.',
        ]
      : []),
    'TMP=',
    `trap 'if [ -n "$TMP" ]; then rm -rf "$TMP" "$TMP.whiteouts" "$TMP.time"${userNamespace ? ' "$TMP.errors"' : ''}; fi' EXIT`,
    'unpack_layer() {',
    '  local decompress=$1 blob=$2 diff_id=$3 dir=$4 sum wh d name',
    '  [ ! -d "$dir" ] || return 0',
    '  mkdir -p "${dir%/*}"',
    '  exec 9>>"$dir.lock"',
    '  flock 9',
    '  if [ -d "$dir" ]; then exec 9>&-; return 0; fi',
    '  sum=$($decompress < "$blob" | sha256sum)',
    '  if [ "sha256:${sum%% *}" != "$diff_id" ]; then',
    '    echo "$blob: uncompressed, it is sha256:${sum%% *}, not its diff_id $diff_id" >&2',
    '    exit 1',
    '  fi',
    '  TMP=$(mktemp -d "$dir.XXXXXX.tmp")',
    '  chmod 755 "$TMP"',
    ...(userNamespace
      ? [
          `  if ! $decompress < "$blob" | ${TAR} -C "$TMP" 2> "$TMP.errors"; then`,
          "    if grep -v -e ': Cannot change ownership to ' -e ': Cannot mknod: ' -e '^tar: Exiting with failure status' \"$TMP.errors\" >&2; then exit 1; fi",
          '  fi',
          '  rm -f "$TMP.errors"',
        ]
      : [`  $decompress < "$blob" | ${TAR} -C "$TMP"`]),
    '  find "$TMP" -type f -name \'.wh.*\' -print0 > "$TMP.whiteouts"',
    '  while IFS= read -r -d \'\' wh; do',
    '    d=${wh%/*}',
    '    name=${wh##*/.wh.}',
    '    touch -r "$d" "$TMP.time"   # the time tar gave the directory',
    '    case $name in',
    `      .wh..opq) setfattr -n ${prefix}opaque -v y "$d" ;;`,
    "      .wh.*) ;;   # other .wh..wh. names (AUFS's) mean nothing to overlay",
    '      "" | . | ..) echo "$wh: a whiteout without a name" >&2; exit 1 ;;',
    '      *) if [ ! -e "$d/$name" ] && [ ! -L "$d/$name" ]; then mknod -m 000 "$d/$name" c 0 0; fi ;;',
    '    esac',
    '    rm "$wh"',
    '    touch -r "$TMP.time" "$d"',
    '  done < "$TMP.whiteouts"',
    '  rm -f "$TMP.whiteouts" "$TMP.time"',
    '  mv -T "$TMP" "$dir"',
    '  TMP=',
    '  exec 9>&-',
    '}',
  ];
}

/** tar as unpack_layer runs it: owners, modes and xattrs kept, but overlay's own marks (a layer says those with .wh. files). */
const TAR = "tar -x --numeric-owner --same-owner --same-permissions --xattrs --xattrs-include='*' --xattrs-exclude='trusted.overlay.*' --xattrs-exclude='user.overlay.*'";

/** The decompressor of a layer blob, by its media type. */
export function decompressor(mediaType: string): { command: string; needs: string } {
  if (mediaType.endsWith('zstd')) return { command: 'zstd -dc', needs: 'zstd' };
  if (mediaType.endsWith('gzip')) return { command: 'gzip -dc', needs: 'gzip' };
  return { command: 'cat', needs: 'cat' };
}
