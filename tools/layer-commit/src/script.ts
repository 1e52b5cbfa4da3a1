import { BashScript, shellQuote } from '@cutaway/cli';
import { applyConfigChanges, MediaType, ociLayerMediaType, type Compression, type ContainerConfig, type Descriptor, type ImageConfig } from '@cutaway/oci';

/**
 * layer-commit --dry-run: the same work as a bash script of classic commands (DESIGN.md, issue 18).
 *
 * What it cannot reproduce is the layer tar's bytes: GNU tar (the classic writer) writes the same entries,
 * in the same order, with the same attributes, but cannot write tar-stream's headers (what layer-commit
 * writes with). So the script says so at its top, and everything that follows from those bytes — the
 * diff_id, the layer's digest, the config's and the manifest's digests — differs from the tool's, while the
 * config, history, manifest and tag are built the same way (jq writes the same compact JSON as the tool).
 */

export const TAR_BYTES_NOTE = [
  'Not byte for byte: GNU tar writes the same entries as layer-commit, in the same order, with the same names,',
  'types, modes, owners, mtimes (whole seconds), link targets, devices, xattrs and contents, but it cannot write',
  "layer-commit's (tar-stream's) headers: its numeric fields read \"0000644\\0\" where tar-stream's read",
  '"000644 \\0", the header after a PAX record carries the entry\'s name (tar-stream\'s: "PaxHeader"), and a hard',
  "link's entry carries no xattrs (tar-stream repeats the file's). So the layer's diff_id and digest differ.",
];

/**
 * The lines that turn UPPER (an overlay upper directory) into the layer tar at `tarPath` ($WORK must exist):
 * refuse what layer-commit refuses, stage a hardlinked copy with .wh. files for whiteouts and .wh..wh..opq
 * for opaque directories, list its entries in layer-commit's order, and tar them with GNU tar.
 */
export function layerTarLines(script: BashScript, upper: string, epoch: number | undefined, tarPath: string): void {
  script.need('getfattr', 'mktemp', 'cp', 'find', 'stat', 'touch', 'chmod', 'chown', 'rm', 'tar');
  script.add(
    '',
    `UPPER=${shellQuote(upper)}`,
    '',
    "# What layer-commit refuses: a directory renamed through overlay's redirect_dir, a file copied up metadata-only",
    '# (metacopy) — a layer cannot say either — and whiteouts kept as xattrs (kernel 6.7+), which this script does',
    '# not turn into .wh. files.',
    "found=$(getfattr -R -h --absolute-names -d -m '^(trusted|user)\\.overlay\\.(redirect|metacopy|whiteout)$' \"$UPPER\")",
    'if [ -n "$found" ]; then',
    '  echo "layer-commit: error: $UPPER has overlay redirects, metacopy files or xattr whiteouts:" >&2',
    '  echo "$found" >&2',
    '  exit 1',
    'fi',
    '',
    '# GNU tar cannot write a 0:0 character device (an overlay whiteout) as a .wh. file: a copy of the upper made',
    '# of hard links (cp -al: no data copied; beside the upper, on its filesystem) gets the .wh. files instead.',
    'STAGE=$(mktemp -d "${UPPER%/*}/.cw-layer.XXXXXX")',
    'cp -al "$UPPER/." "$STAGE"',
    '# Each whiteout becomes an empty .wh.NAME, mode 0600, with the owner and time of the device.',
    'find "$STAGE" -type c -print0 > "$WORK/devices"',
    "while IFS= read -r -d '' device; do",
    '  [ "$(stat -c %t:%T "$device")" = 0:0 ] || continue   # a real device node stays what it is',
    '  whiteout=${device%/*}/.wh.${device##*/}',
    '  touch "$whiteout"',
    '  chmod 600 "$whiteout"',
    '  chown --reference="$device" "$whiteout"',
    '  touch -r "$device" "$whiteout"',
    '  rm "$device"',
    'done < "$WORK/devices"',
    '# Each opaque directory (trusted.overlay.opaque=y; user.overlay.opaque in a user namespace) gets a .wh..wh..opq',
    '# with its permissions (no setuid, setgid or sticky bit), owner and time; then every directory gets back the',
    '# time it has in the upper (adding and removing entries changed it).',
    'find "$STAGE" -type d -print0 > "$WORK/directories"',
    "while IFS= read -r -d '' dir; do",
    "  opaque=$(getfattr -h --absolute-names --only-values -d -m '^trusted\\.overlay\\.opaque$' \"$dir\")",
    "  [ -n \"$opaque\" ] || opaque=$(getfattr -h --absolute-names --only-values -d -m '^user\\.overlay\\.opaque$' \"$dir\")",
    '  [ "$opaque" = y ] || continue',
    '  touch "$dir/.wh..wh..opq"',
    '  chmod --reference="$dir" "$dir/.wh..wh..opq"',
    '  chmod ug-s,-t "$dir/.wh..wh..opq"',
    '  chown --reference="$dir" "$dir/.wh..wh..opq"',
    '  touch -r "$UPPER${dir#"$STAGE"}" "$dir/.wh..wh..opq"',
    'done < "$WORK/directories"',
    "while IFS= read -r -d '' dir; do touch -r \"$UPPER${dir#\"$STAGE\"}\" \"$dir\"; done < \"$WORK/directories\"",
    '',
    "# The entries in layer-commit's order: a directory before what is in it; in each directory its opaque marker,",
    '# then its whiteouts, then the rest, each in byte order. A socket cannot go in a tar: left out, as by layer-commit.',
    'export LC_ALL=C',
    'shopt -s dotglob nullglob',
    'list_layer() {   # list_layer DIR/: the entries of a directory of the copy ("" for its top), and below',
    '  local path',
    '  for path in "$STAGE/$1".wh..wh..opq; do list_entry "$path"; done',
    '  for path in "$STAGE/$1".wh.*; do',
    '    if [ "${path##*/}" != .wh..wh..opq ]; then list_entry "$path"; fi',
    '  done',
    '  for path in "$STAGE/$1"*; do',
    '    case ${path##*/} in .wh.*) ;; *) list_entry "$path" ;; esac',
    '  done',
    '}',
    'list_entry() {',
    '  if [ ! -e "$1" ] && [ ! -L "$1" ]; then return 0; fi   # no opaque marker here',
    '  if [ -S "$1" ]; then return 0; fi',
    '  printf \'%s\\0\' "${1#"$STAGE/"}"',
    '  if [ -d "$1" ] && [ ! -L "$1" ]; then list_layer "${1#"$STAGE/"}/"; fi',
    '}',
    'list_layer "" > "$WORK/entries"',
    '',
    '# The tar: those entries alone (no recursion), numeric owners, whole-second mtimes' + (epoch !== undefined ? ` clamped to SOURCE_DATE_EPOCH=${epoch},` : ',') + ' every xattr but',
    "# overlay's own and SELinux's, PAX where ustar falls short (long names, xattrs), hardlinks as links.",
    [
      'tar --create --file',
      tarPath,
      '--directory "$STAGE" --no-recursion --null --verbatim-files-from --files-from "$WORK/entries" \\\n ',
      "--numeric-owner --format=posix --pax-option='exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime,delete=mtime' \\\n ",
      "--xattrs --xattrs-include='*' --xattrs-exclude='trusted.overlay.*' --xattrs-exclude='user.overlay.*' --xattrs-exclude=security.selinux",
      ...(epoch !== undefined ? [`--mtime=@${epoch} --clamp-mtime`] : []),
    ].join(' '),
  );
}

/** The compression step: FROM → TO ("-" for stdout), as the layer's media type says. */
export function compressLine(script: BashScript, compression: Compression, from: string, to: string): string {
  const out = to === '-' ? '' : ` > ${to}`;
  if (compression === 'gzip') {
    script.need('gzip');
    return `gzip -n < ${from}${out}   # layer-commit gzips with zlib: other compressed bytes, the same tar`;
  }
  if (compression === 'zstd') {
    script.need('zstd');
    return `zstd -q -c < ${from}${out}`;
  }
  return to === '-' ? `cat ${from}` : `mv ${from} ${to}`;
}

const OCI_LAYER_TYPES: Record<string, string> = {
  [MediaType.dockerLayerGzip]: MediaType.ociLayerGzip,
  [MediaType.dockerForeignLayerGzip]: MediaType.ociLayerNondistributableGzip,
};

/**
 * The jq program that makes the new config from the base's, as commitImage does: created (and author), the
 * container config with each --change applied (one assignment per key it sets, with the instruction beside
 * it), the diff_id appended (rootfs rewritten as {type, diff_ids}), the history entry appended (after one per
 * base layer when the base has none). Its arguments: $created, $diff_id, $created_by, $author, $comment.
 */
export function configProgram(baseContainer: ContainerConfig | undefined, changes: string[], history: { author?: string; comment?: string; emptyLayer: boolean }): string {
  const lines = ['(.history // [.rootfs.diff_ids[] | {created_by: "base layer (no history in the base image)"}]) as $base_history', '| .created = $created'];
  // The image's author only when it says something; the history entry's whenever it is given (as commitImage).
  if (history.author) lines.push('| .author = $author');
  lines.push('| .config = (.config // {})');
  let state: ContainerConfig = baseContainer ?? {};
  for (const [i, change] of changes.entries()) {
    const next = applyConfigChanges(baseContainer ?? {}, changes.slice(0, i + 1));
    const set = Object.keys(next).filter((k) => !(k in state) || JSON.stringify(next[k]) !== JSON.stringify(state[k]));
    const comment = `   # -c ${JSON.stringify(change)}`;
    if (!set.length) lines.push(`${comment.trim()}: nothing to change`);
    for (const [j, key] of set.entries()) lines.push(`| .config.${/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? key : JSON.stringify(key)} = ${JSON.stringify(next[key])}${j === 0 ? comment : ''}`);
    state = next;
  }
  lines.push(history.emptyLayer ? '| .rootfs = {type: "layers", diff_ids: .rootfs.diff_ids}' : '| .rootfs = {type: "layers", diff_ids: (.rootfs.diff_ids + [$diff_id])}');
  const entry = ['created: $created', 'created_by: $created_by', ...(history.author !== undefined ? ['author: $author'] : []), ...(history.comment !== undefined ? ['comment: $comment'] : []), ...(history.emptyLayer ? ['empty_layer: true'] : [])];
  lines.push(`| .history = $base_history + [{${entry.join(', ')}}]`);
  return lines.join('\n');
}

/**
 * The jq program that makes the new manifest from the base's (`.layers`), as commitImage does: base layers in
 * the OCI media types, each descriptor's fields in the order libs/oci writes them, then the new layer.
 */
export function manifestProgram(baseLayerTypes: string[], layerMediaType: string | undefined): string {
  const mapping = Object.entries(OCI_LAYER_TYPES).filter(([docker]) => baseLayerTypes.includes(docker));
  const base = ['[.layers[]', ...(mapping.length ? [`| .mediaType |= (${JSON.stringify(Object.fromEntries(mapping))}[.] // .)`] : []), '| {mediaType, digest, size, urls, annotations, platform, artifactType, data} | with_entries(select(.value != null))]'].join(' ');
  return [
    '{',
    '  schemaVersion: 2,',
    `  mediaType: ${JSON.stringify(MediaType.ociManifest)},`,
    `  config: {mediaType: ${JSON.stringify(MediaType.ociConfig)}, digest: $config_digest, size: $config_size},`,
    `  layers: (${base}${layerMediaType ? ` + [{mediaType: ${JSON.stringify(layerMediaType)}, digest: $layer_digest, size: $layer_size}]` : ''})`,
    '}',
  ].join('\n');
}

/** The jq program that tags the manifest in index.json, as OciLayout.addRef does (one entry per name). */
export function indexProgram(): string {
  const ref = 'org.opencontainers.image.ref.name';
  return [
    '{',
    '  schemaVersion,',
    `  mediaType: (.mediaType // ${JSON.stringify(MediaType.ociIndex)}),`,
    `  manifests: ([.manifests[] | select(.annotations[${JSON.stringify(ref)}] != $tag) | {mediaType, digest, size, urls, annotations, platform, artifactType, data} | with_entries(select(.value != null))]`,
    `    + [{mediaType: ${JSON.stringify(MediaType.ociManifest)}, digest: $manifest_digest, size: $manifest_size, annotations: {${JSON.stringify(ref)}: $tag}}]),`,
    '  artifactType, subject, annotations',
    '} | with_entries(select(.value != null))',
  ].join('\n');
}

const scriptArgv = () => process.argv.slice(2);

/** The store helpers: blobs renamed into blobs/sha256 under their digest, under a lease, as OciLayout stores them. */
function storeLines(script: BashScript, layoutDir: string, newStore: boolean): void {
  script.need('mkdir', 'mktemp', 'flock', 'sha256sum', 'mv', 'stat', 'rm');
  script.add('', `LAYOUT=${shellQuote(layoutDir)}`);
  if (newStore) {
    script.add(
      '# A new store, as layer-commit makes one for an image on scratch',
      'mkdir -p "$LAYOUT/blobs/sha256" "$LAYOUT/.cutaway"',
      `[ -e "$LAYOUT/oci-layout" ] || printf '%s' '{"imageLayoutVersion":"1.0.0"}' > "$LAYOUT/oci-layout"`,
      `[ -e "$LAYOUT/index.json" ] || printf '%s' '{"schemaVersion":2,"mediaType":"${MediaType.ociIndex}","manifests":[]}' > "$LAYOUT/index.json"`,
    );
  }
  script.add(
    '# Work files beside the blobs (a rename into blobs/ is atomic), removed at the end.',
    'WORK=$(mktemp -d "$LAYOUT/.cw-commit.XXXXXX")',
    'STAGE=',
    "trap 'rm -rf \"$WORK\" \"$STAGE\"' EXIT",
    "# A lease, as layer-commit holds one: a garbage collection (cutaway system prune) waits for it, so it never",
    '# takes a blob stored here before the tag names it.',
    'exec 8>>"$LAYOUT/.cutaway/gc.lock"',
    'flock --shared 8',
    '# put_blob FILE: FILE renamed into the store under its sha256; prints its digest.',
    'put_blob() {',
    '  local sum',
    '  sum=$(sha256sum < "$1")',
    '  mv "$1" "$LAYOUT/blobs/sha256/${sum%% *}"',
    '  echo "sha256:${sum%% *}"',
    '}',
  );
}

export interface ImageScriptInput {
  /** The upper directory whose layer goes on the image; none with --empty. */
  upper?: string;
  epoch?: number;
  compression: Compression;
  layoutDir: string;
  /** Whether the store is made now (scratch on a root without one). */
  newStore: boolean;
  /** The base: its config, its manifest (absent for scratch) and that manifest's descriptor. */
  base: { config: ImageConfig; manifest: { layers: Descriptor[]; config?: Descriptor }; descriptor?: Descriptor };
  tag: string;
  createdBy: string;
  author?: string;
  comment?: string;
  changes: string[];
}

/** The --dry-run script of layer-commit … --tag NEW: the layer (unless --empty), then config, manifest and tag. */
export function imageScript(a: ImageScriptInput): string {
  const emptyLayer = a.upper === undefined;
  const script = new BashScript('layer-commit', scriptArgv(), [
    'as classic commands (layer-commit --dry-run): run it with bash; it does what layer-commit does and prints the',
    `new image's manifest digest${emptyLayer ? ' — the same digest as layer-commit (no layer: nothing GNU tar writes).' : '.'}`,
    ...(emptyLayer ? [] : ['', ...TAR_BYTES_NOTE, 'The config, history, manifest and tag are made the same way; the digests in them follow from the layer\'s.']),
  ]).need('jq');
  storeLines(script, a.layoutDir, a.newStore);
  const baseBlob = (d: Descriptor) => `"$LAYOUT/blobs/sha256/${d.digest.slice('sha256:'.length)}"`;
  script.add('', `# The base image${a.base.descriptor ? `: manifest ${a.base.descriptor.digest}` : ': scratch (no layers; the config layer-commit starts from)'}`);
  if (a.base.descriptor && a.base.manifest.config) {
    script.add(`BASE_MANIFEST=${baseBlob(a.base.descriptor)}`, `BASE_CONFIG=${baseBlob(a.base.manifest.config)}`);
  } else {
    script.add('BASE_MANIFEST=$WORK/base-manifest.json', 'BASE_CONFIG=$WORK/base-config.json');
    script.add(`printf '%s' '{"layers":[]}' > "$BASE_MANIFEST"`, `printf '%s' ${shellQuote(JSON.stringify(a.base.config))} > "$BASE_CONFIG"`);
  }
  script.add(`TAG=${shellQuote(a.tag)}`);
  script.add(
    a.epoch !== undefined
      ? `CREATED=${new Date(a.epoch * 1000).toISOString()}   # SOURCE_DATE_EPOCH=${a.epoch}`
      : "CREATED=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)   # now, in whole seconds (set SOURCE_DATE_EPOCH for a fixed time)",
  );
  if (a.epoch === undefined) script.need('date');

  let layerType: string | undefined;
  if (!emptyLayer) {
    layerTarLines(script, a.upper!, a.epoch, '"$WORK/layer.tar"');
    layerType = ociLayerMediaType(a.compression);
    script.add(
      '',
      "# The layer: its diff_id is the tar's sha256; the blob is the tar compressed",
      "DIFF_ID=sha256:$(sha256sum < \"$WORK/layer.tar\" | cut -d' ' -f1)",
      compressLine(script, a.compression, '"$WORK/layer.tar"', '"$WORK/layer.blob"'),
      'LAYER_SIZE=$(stat -c %s "$WORK/layer.blob")',
      'LAYER_DIGEST=$(put_blob "$WORK/layer.blob")',
    );
    script.need('cut');
  }

  const jqArgs = [
    '--arg created "$CREATED"',
    ...(emptyLayer ? [] : ['--arg diff_id "$DIFF_ID"']),
    `--arg created_by ${shellQuote(a.createdBy)}`,
    ...(a.author !== undefined ? [`--arg author ${shellQuote(a.author)}`] : []),
    ...(a.comment !== undefined ? [`--arg comment ${shellQuote(a.comment)}`] : []),
  ];
  const program = configProgram(a.base.config.config ?? undefined, a.changes, { ...(a.author !== undefined && { author: a.author }), ...(a.comment !== undefined && { comment: a.comment }), emptyLayer });
  script.add(
    '',
    `# The config: the base's, with the time, ${a.changes.length ? 'the --change instructions, ' : ''}${emptyLayer ? 'the diff_ids as they were' : 'the diff_id'} and a history entry${emptyLayer ? ' (empty_layer)' : ''}; compact JSON (jq -cj), as layer-commit writes it`,
    `jq -cj ${jqArgs.join(' ')} ${shellQuote(program)} "$BASE_CONFIG" > "$WORK/config.json"`,
    'CONFIG_SIZE=$(stat -c %s "$WORK/config.json")',
    'CONFIG_DIGEST=$(put_blob "$WORK/config.json")',
    '',
    `# The manifest: the base's layers${emptyLayer ? '' : ' and the new one'}, the new config`,
    `jq -cj --arg config_digest "$CONFIG_DIGEST" --argjson config_size "$CONFIG_SIZE"${emptyLayer ? '' : ' --arg layer_digest "$LAYER_DIGEST" --argjson layer_size "$LAYER_SIZE"'} ${shellQuote(manifestProgram(a.base.manifest.layers.map((l) => l.mediaType), layerType))} "$BASE_MANIFEST" > "$WORK/manifest.json"`,
    'MANIFEST_SIZE=$(stat -c %s "$WORK/manifest.json")',
    'MANIFEST_DIGEST=$(put_blob "$WORK/manifest.json")',
    '',
    '# The tag: index.json rewritten (temp file, rename) under the store\'s index lock, this name pointing at the manifest',
    'exec 7>>"$LAYOUT/.cutaway/index.lock"',
    'flock 7',
    `jq -cj --arg tag "$TAG" --arg manifest_digest "$MANIFEST_DIGEST" --argjson manifest_size "$MANIFEST_SIZE" ${shellQuote(indexProgram())} "$LAYOUT/index.json" > "$WORK/index.json"`,
    'mv "$WORK/index.json" "$LAYOUT/index.json"',
    'exec 7>&-',
    'echo "$MANIFEST_DIGEST"',
  );
  return script.toString();
}

/** The --dry-run script of layer-commit UPPER -o FILE|-: the layer tar alone, compressed when asked. */
export function outputScript(upper: string, epoch: number | undefined, compression: Compression, output: string): string {
  const script = new BashScript('layer-commit', scriptArgv(), ['as classic commands (layer-commit --dry-run): run it with bash; it writes the layer tar as layer-commit does.', '', ...TAR_BYTES_NOTE]);
  script.need('mktemp', 'rm');
  script.add('', 'WORK=$(mktemp -d)', 'STAGE=', "trap 'rm -rf \"$WORK\" \"$STAGE\"' EXIT");
  layerTarLines(script, upper, epoch, '"$WORK/layer.tar"');
  script.add('', output === '-' ? '# To stdout' : `# To ${output}`, compressLine(script, compression, '"$WORK/layer.tar"', output === '-' ? '-' : shellQuote(output)));
  if (compression === 'none' && output === '-') script.need('cat');
  return script.toString();
}

/** --diff PARENT has no classic equivalent: the script says so and fails, rather than pretend. */
export function diffScript(parent: string): string {
  return new BashScript('layer-commit', scriptArgv(), [
    `layer-commit --diff compares DIR with ${parent} entry by entry (type, mode, owner, size, mtime, device, link`,
    "target, xattrs: Docker's naive diff) to find what changed and what is gone. No classic command lists that",
    '(rsync -ani --delete comes close, but decides differently), so this script only says so.',
  ])
    .add(`echo 'layer-commit --diff has no classic equivalent: run layer-commit itself (--trace shows its steps)' >&2`, 'exit 1')
    .toString();
}
