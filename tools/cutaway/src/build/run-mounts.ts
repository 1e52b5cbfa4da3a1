import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { DockerfileError, expand, type Env, type EscapeChar } from '@cutaway/dockerfile';
import { resolveInRoot } from '@cutaway/libc/in-root';
import { lockFile, tryLockFile, type FileLock } from '@cutaway/libc';
import { contentHash } from './context.ts';
import { secretFile, type Secrets } from './secrets.ts';
import type { Runner } from '../runner.ts';
import { shellVariable, type ScriptRecorder } from '../script-runner.ts';

/**
 * RUN --mount and RUN --network, as BuildKit's Dockerfile frontend reads them (instructions/commands_runmount.go,
 * dockerfile2llb/convert_runmount.go), and VOLUME's rule for a RUN (the classic builder's and buildah's): what a
 * RUN step's container gets besides its rootfs, handed to ns-exec as -v and --tmpfs, and what is taken out of
 * its upper directory before layer-commit makes the layer of it.
 *
 *  - type=cache: a directory of the state root, $CUTAWAY_ROOT/build-cache/mounts/<sha256(id)>/<n>/ (id: the
 *    target unless given), kept from build to build and never part of a layer; `cutaway builder prune` removes
 *    them. sharing=shared (default) uses instance 0 under a shared flock of <n>.lock, locked waits for an
 *    exclusive one (two builds take turns), private takes the first instance no one holds (a new one when all
 *    are held). Made when first used, empty (or a copy of from=/source=), owned uid:gid, mode (default 0:0 0755).
 *  - type=bind (the default type): source= in the build context, or in from= (a stage or an image, mounted
 *    read-only); read-only unless rw, whose writes go to an overlay (a file's: to a copy) and are discarded.
 *  - type=tmpfs: a tmpfs (size=), exec and dev allowed, as BuildKit's.
 *  - type=secret: build --secret id=…,src=…|env=…: a copy (mode 0400, 0:0 unless mode=, uid=, gid=) in a private
 *    temporary directory, bound read-only at /run/secrets/<id> or target=; required= makes a missing one an
 *    error, else the mount is left out. Never in a layer, the config, the history or a cache key.
 *  - type=ssh: refused (cutaway forwards no ssh agent).
 *  - --network=default|none|host: the RUN's network (default: the build's --network).
 *
 * The mount points ns-exec makes in the rootfs (a missing target, its missing parents) are removed again after
 * the RUN when still empty, as BuildKit's MountStubsCleaner does, so that a mount leaves nothing in the layer.
 * A declared VOLUME's path is taken out of the RUN's upper directory: what the RUN changed there is discarded,
 * as Docker's classic builder (the Dockerfile reference, VOLUME: "changes will be discarded") and buildah 1.28 do
 * (BuildKit keeps them).
 */

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
export type Sharing = 'shared' | 'private' | 'locked';

export interface RunMount {
  type: MountType;
  /** Absolute, normalised (relative ones are taken from the WORKDIR, as BuildKit does). */
  target: string;
  source?: string;
  from?: string;
  readOnly: boolean;
  id?: string;
  sharing: Sharing;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  required: boolean;
}

const TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly Sharing[] = ['shared', 'private', 'locked'];
const NETWORKS = ['default', 'none', 'host'];

/** Go's encoding/csv for one line: fields split at commas, a field in double quotes may hold commas and "" for ". */
function csvFields(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      for (i++; ; i++) {
        if (i >= text.length) throw new DockerfileError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') field += text[++i];
          else break;
        } else field += text[i];
      }
      i++;
      if (i < text.length && text[i] !== ',') throw new DockerfileError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      const comma = text.indexOf(',', i);
      field = comma < 0 ? text.slice(i) : text.slice(i, comma);
      i = comma < 0 ? text.length : comma;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++;
  }
}

const parseBool = (key: string, value: string): boolean => {
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw new DockerfileError(`invalid value for ${key}: ${value}`);
};

const parseNumber = (key: string, value: string, radix: 8 | 10): number => {
  if (!(radix === 8 ? /^[0-7]+$/ : /^\d+$/).test(value) || parseInt(value, radix) > 0xffffffff) throw new DockerfileError(`invalid value ${value} for ${key}`);
  return parseInt(value, radix);
};

/** docker/go-units RAMInBytes: 64m, 1g, 512k, 1.5GiB — binary multiples. */
function ramInBytes(value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp])?(?:i?b)?$/i.exec(value.trim());
  if (!m) throw new DockerfileError(`invalid value for size: ${value}`);
  return Math.floor(Number(m[1]) * 1024 ** ' kmgtp'.indexOf((m[2] ?? ' ').toLowerCase()));
}

/**
 * One --mount=… value: its fields substituted with the step's variables (not from=, as BuildKit), checked with
 * BuildKit's messages. `workdir`: what a relative target is taken from.
 */
export function parseMount(text: string, vars: Env, escape: EscapeChar, workdir: string): RunMount {
  const m: Omit<RunMount, 'target'> & { target: string } = { type: 'bind', target: '', readOnly: true, sharing: 'shared', required: false };
  let roAuto = true;
  let sharingSet = false;
  for (const field of csvFields(text)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro' || key === 'readwrite' || key === 'rw') {
        m.readOnly = key === 'readonly' || key === 'ro';
        roAuto = false;
      } else if (key === 'required' && (m.type === 'secret' || m.type === 'ssh')) m.required = true;
      else if (key === 'required') throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`);
      else throw new DockerfileError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const raw = field.slice(eq + 1);
    if (key === 'from' && /\$./.test(raw)) throw new DockerfileError(`'from' doesn't support variable expansion, define alias stage instead`);
    const value = key === 'from' ? raw : expand(raw, vars, escape);
    switch (key) {
      case 'type': {
        const type = value.toLowerCase() as MountType;
        if (!TYPES.includes(type)) throw new DockerfileError(`unsupported mount type "${value}"`);
        m.type = type;
        break;
      }
      case 'from':
        m.from = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro':
        m.readOnly = parseBool(key, value);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readOnly = !parseBool(key, value);
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, value);
        break;
      case 'size':
        if (m.type !== 'tmpfs') throw new DockerfileError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.size = ramInBytes(value);
        break;
      case 'id':
        m.id = value;
        break;
      case 'sharing': {
        const sharing = value.toLowerCase() as Sharing;
        if (!SHARING.includes(sharing)) throw new DockerfileError(`unsupported sharing value "${value}"`);
        m.sharing = sharing;
        sharingSet = true;
        break;
      }
      case 'mode':
        m.mode = parseNumber(key, value, 8);
        break;
      case 'uid':
      case 'gid':
        m[key] = parseNumber(key, value, 10);
        break;
      default:
        throw new DockerfileError(`unexpected key '${key}' in '${field}'`);
    }
  }
  // validateMount's rules.
  if (m.type !== 'secret' && m.type !== 'ssh' && m.type !== 'cache')
    for (const k of ['mode', 'uid', 'gid'] as const) if (m[k] !== undefined) throw new DockerfileError(`${k} not allowed for "${m.type}" type mounts`);
  if (roAuto) m.readOnly = m.type !== 'cache' && m.type !== 'tmpfs';
  if (sharingSet && m.type !== 'cache') throw new DockerfileError(`invalid cache sharing set for ${m.type} mount`);
  if (m.type === 'ssh') throw new DockerfileError('RUN --mount=type=ssh is not supported by cutaway build (it forwards no ssh agent)', undefined, undefined, 'fetch with a type=secret mount (a token) instead');
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new DockerfileError('secret mount should not have a from');
    if (!m.source && !m.target && !m.id) throw new DockerfileError('invalid secret mount. one of source, target required');
    if (m.source && m.id) throw new DockerfileError("both source and id can't be set");
    // The secret's id: id=, else source=, else the target's name; its default place /run/secrets/<id>.
    m.id = m.source || m.id || posix.basename(m.target);
    m.source = undefined;
    if (!m.target) m.target = `/run/secrets/${posix.basename(m.id)}`;
  }
  if (!m.target) throw new DockerfileError('mount target is required');
  const target = posix.resolve('/', workdir, m.target);
  if (target === '/') throw new DockerfileError(`invalid mount target "${target}"`);
  if (target.includes(':')) throw new DockerfileError(`mount target ${JSON.stringify(target)}: a ':' in a mount path is not supported by cutaway build`);
  // A cache's id: the target unless given (BuildKit's default).
  if (m.type === 'cache' && !m.id) m.id = target;
  return { ...m, target };
}

/** RUN --network's value: default (the build's), none or host. */
export function runNetwork(value: string | undefined, buildNetwork: string): string {
  if (value === undefined || value === 'default') return buildNetwork;
  if (!NETWORKS.includes(value)) throw new DockerfileError(`unsupported network mode "${value}"`, undefined, undefined, 'RUN --network takes default, none or host');
  return value;
}

/** Where a cache mount's instances are: $CUTAWAY_ROOT/build-cache/mounts/<sha256 of the id>/ (the id in ./id). */
export const cacheMountsDir = (root: string): string => join(root, 'build-cache', 'mounts');
export const cacheDir = (root: string, id: string): string => join(cacheMountsDir(root), createHash('sha256').update(id).digest('hex'));

/**
 * `builder prune` (and `system prune`): every cache mount's directories removed, the caller holding the store's
 * prune lock (so no build uses one). Their ids (the id= of each, as the report lists them) and the bytes freed.
 */
export function removeCacheMounts(root: string): { ids: string[]; freed: number } {
  const dir = cacheMountsDir(root);
  if (!existsSync(dir)) return { ids: [], freed: 0 };
  const ids: string[] = [];
  let freed = 0;
  const size = (path: string): number => {
    const st = lstatSync(path);
    return st.isDirectory() ? readdirSync(path).reduce((n, name) => n + size(join(path, name)), 0) : st.size;
  };
  for (const hash of readdirSync(dir)) {
    const path = join(dir, hash);
    const id = join(path, 'id');
    ids.push(existsSync(id) ? readFileSync(id, 'utf8') : hash);
    freed += size(path);
    rmSync(path, { recursive: true, force: true });
  }
  return { ids, freed };
}

/** What the RUN's mounts need from the build: the runner, the context, an image or a stage to mount. */
export interface MountHost {
  r: Runner;
  env: NodeJS.ProcessEnv;
  root: string;
  context: string;
  contextPaths: readonly string[];
  secrets: Secrets;
  /** A stage (by name or index) or an image (pulled if missing), as COPY --from finds it: its image and digest. */
  source(from: string): Promise<{ image: string; digest: string }>;
  /** overlay-mount ARGS (`--read-only IMAGE`, `--lower DIR`) as a step container of its own: the path it prints. */
  mount(args: string[], what: string): Promise<string>;
  /** Takes down what `mount` made. */
  unmountAll(): Promise<void>;
}

/**
 * Sh run on the host, once with the rootfs before the RUN (STUBS) and once after (CLEAN), the same whether cutaway
 * runs them or a --dry-run script does. A path is walked a component at a time and never through a symlink: the
 * image's symlinks point into the image, not the host (ns-exec resolves a mount target inside the rootfs; a target
 * under a symlink keeps its mount points).
 */
const SAFE = [
  '# safe PATH: $r$PATH is there, and no directory on the way to it is a symlink',
  'safe() {',
  '  a=; rest=${1#/}',
  '  while case $rest in */*) true ;; *) false ;; esac; do',
  '    a=$a/${rest%%/*}; rest=${rest#*/}',
  '    if [ -L "$r$a" ] || [ ! -d "$r$a" ]; then return 1; fi',
  '  done',
  '  [ -e "$r$1" ] || [ -L "$r$1" ]',
  '}',
];
/** STUBS ROOT TARGET…: the paths ns-exec is to make for each target (the target and its missing parents). */
const STUBS = [
  'r=$1; shift',
  'for t do',
  '  p=; rest=${t#/}',
  '  while [ -n "$rest" ]; do',
  '    c=${rest%%/*}; case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac',
  '    p=$p/$c',
  '    if [ -L "$r$p" ]; then break; fi',
  '    if [ ! -e "$r$p" ]; then printf \'%s\\n\' "$p"; fi',
  '  done',
  'done',
].join('\n');
/** MKVOL ROOT PATH…: each declared volume's directory, made as Docker makes a volume's mount point (not through a symlink). */
const MKVOL = [
  'r=$1; shift',
  'for v do',
  '  p=; rest=${v#/}; ok=1',
  '  while [ -n "$rest" ]; do',
  '    c=${rest%%/*}; case $rest in */*) rest=${rest#*/} ;; *) rest= ;; esac',
  '    p=$p/$c',
  '    if [ -L "$r$p" ]; then ok=; break; fi',
  '  done',
  '  if [ -n "$ok" ]; then mkdir -p -- "$r$v"; fi',
  'done',
].join('\n');
/** CLEAN ROOT STUBS: each one still there and empty goes, deepest first, its parent's times kept (BuildKit's cleaner). */
const CLEAN = [
  ...SAFE,
  'r=$1',
  'printf \'%s\\n\' "$2" | awk -F/ \'NF > 1 { print NF "\\t" $0 }\' | sort -k1,1nr -k2 -u | cut -f2- | while IFS= read -r p; do',
  '  if ! safe "$p" || [ -L "$r$p" ]; then continue; fi',
  '  if [ -d "$r$p" ]; then [ -z "$(ls -A "$r$p")" ] || continue',
  '  elif [ -f "$r$p" ]; then [ ! -s "$r$p" ] || continue',
  '  else continue; fi',
  '  d=$r${p%/*}/; t=$(stat -c %y "$d")',
  '  rm -d -- "$r$p" && touch -m -d "$t" "$d"',
  'done',
].join('\n');
/** DISCARD UPPER PATH…: what the RUN did under each declared volume, gone from its upper directory. */
const DISCARD = [...SAFE, 'r=$1; shift', 'for v do if safe "$v"; then rm -rf -- "$r$v"; fi; done'].join('\n');

/** The mounts of one RUN: planned before its step (errors, cache key), made and undone around its process. */
export class RunMounts {
  readonly mounts: RunMount[];
  readonly network: string;
  /** What the RUN's cache key adds: the mounts as read, and what a bind shows (its files' hash, or its image). */
  readonly key: unknown[] = [];
  private readonly bindSources = new Map<RunMount, { image: string; digest: string } | string>();
  private locks: FileLock[] = [];
  private scriptLocks: string[] = [];
  private secretDir?: string;
  private stubs?: string;

  private constructor(
    private readonly host: MountHost,
    mounts: RunMount[],
    network: string,
    /** The declared volumes (the image config's Volumes) the RUN's writes are discarded from. */
    private readonly volumes: string[],
  ) {
    this.mounts = mounts;
    this.network = network;
  }

  /** Parses and checks every mount (nothing is made yet), and finds the stages and images binds read from. */
  static async plan(host: MountHost, raw: { mounts: readonly string[]; network?: string; line: number }, o: { vars: Env; escape: EscapeChar; file: string; workdir: string; buildNetwork: string; volumes: string[] }): Promise<RunMounts> {
    const at = <T>(fn: () => T): T => {
      try {
        return fn();
      } catch (e) {
        if (e instanceof DockerfileError) throw e.at(raw.line, o.file);
        throw e;
      }
    };
    const mounts = at(() => raw.mounts.map((text) => parseMount(text, o.vars, o.escape, o.workdir)));
    const network = at(() => runNetwork(raw.network, o.buildNetwork));
    const plan = new RunMounts(host, mounts, network, o.volumes.map((v) => posix.resolve('/', v)));
    if (raw.network !== undefined) plan.key.push({ network });
    for (const m of mounts) {
      plan.key.push({ ...m });
      if (m.type === 'secret') {
        const given = host.secrets.get(m.id!);
        if (!given && m.required) throw new ToolError(`secret ${m.id}: not found`, `give it with --secret id=${m.id},src=FILE (or env=VARIABLE)`);
      } else if ((m.type === 'bind' || m.type === 'cache') && m.from !== undefined) {
        const source = await host.source(m.from);
        plan.bindSources.set(m, source);
        if (m.type === 'bind') plan.key.push(source.digest);
      } else if (m.type === 'bind') {
        const path = plan.contextPath(m.source ?? '');
        const rel = posix.normalize(path.slice(host.context.length + 1) || '.');
        plan.bindSources.set(m, path);
        const files = statSync(path).isDirectory() ? host.contextPaths.filter((p) => rel === '.' || p.startsWith(`${rel}/`)) : [rel];
        plan.key.push(contentHash(host.context, files.filter((p) => !p.endsWith('/'))));
      }
    }
    return plan;
  }

  /** A bind's source= in the build context: followed inside it (a symlink never leads out), and there. */
  private contextPath(source: string): string {
    const path = join(this.host.context, resolveInRoot(posix.normalize(`/${source}`), (inside) => join(this.host.context, inside)));
    if (!existsSync(path)) throw new ToolError(`RUN --mount: failed to compute cache key: "/${posix.normalize(source).replace(/^\/+/, '')}" not found in the build context`);
    return path;
  }

  private get script(): ScriptRecorder {
    return this.host.r as unknown as ScriptRecorder;
  }

  /**
   * Makes what the mounts need (cache directories and their locks, images mounted, overlays over rw binds, the
   * secrets' copies) and notes the mount points ns-exec will make in `rootfs`: ns-exec's options for them.
   */
  async prepare(rootfs: string): Promise<string[]> {
    const { r, env } = this.host;
    const args: string[] = [];
    for (const m of this.mounts) {
      switch (m.type) {
        case 'cache':
          args.push('-v', `${await this.cache(m)}:${m.target}${m.readOnly ? ':ro' : ''}`);
          break;
        case 'tmpfs':
          args.push('--tmpfs', `${m.target}:${['exec', 'dev', ...(m.readOnly ? ['ro'] : []), ...(m.size ? [`size=${m.size}`] : [])].join(',')}`);
          break;
        case 'secret': {
          const secret = this.host.secrets.get(m.id!);
          if (!secret) break; // not required: the mount is left out
          this.secretDir ??= r.tempDir('secrets');
          const file = join(this.secretDir, `${this.mounts.indexOf(m)}`);
          await secretFile(r, secret, file, m.uid ?? 0, m.gid ?? 0, m.mode ?? 0o400);
          args.push('-v', `${file}:${m.target}:ro`);
          break;
        }
        case 'bind': {
          const source = this.bindSources.get(m)!;
          let path: string;
          if (typeof source === 'string') path = source;
          else {
            const root = await this.host.mount(['--read-only', source.image], `RUN --mount=from=${m.from}`);
            const inside = posix.normalize(`/${m.source ?? ''}`);
            path = join(root, r.dryRun ? inside : resolveInRoot(inside, (p) => join(root, p)));
          }
          if (!m.readOnly) path = await this.writable(path, m);
          args.push('-v', `${path}:${m.target}${m.readOnly ? ':ro' : ''}`);
          break;
        }
      }
    }
    const targets = this.mounts.filter((m) => m.type !== 'secret' || this.host.secrets.has(m.id!)).map((m) => m.target);
    if (targets.length) this.stubs = await r.tool('sh', ['-c', STUBS, 'sh', rootfs, ...targets], env, 'stubs');
    // A declared volume is there for the RUN, as Docker's anonymous volume is; what it does there is discarded (finish).
    if (this.volumes.length) await r.tool('sh', ['-c', MKVOL, 'sh', rootfs, ...this.volumes], env);
    return args;
  }

  /** A rw bind: writes discarded — a directory through an overlay over it, a file as a copy. */
  private async writable(path: string, m: RunMount): Promise<string> {
    const { r } = this.host;
    const isDir = r.dryRun ? true : statSync(path).isDirectory();
    if (isDir) return this.host.mount(['--lower', path], `RUN --mount=type=bind,rw,target=${m.target}`);
    this.secretDir ??= r.tempDir('secrets');
    const copy = join(this.secretDir, `bind${this.mounts.indexOf(m)}`);
    await r.tool('cp', ['-a', path, copy], this.host.env);
    return copy;
  }

  /**
   * A cache mount's directory, locked as its sharing says, made if it is new: a copy of from=/source= or an empty
   * directory, owned uid:gid with mode (default 0:0, 0755).
   */
  private async cache(m: RunMount): Promise<string> {
    const { r, env, root } = this.host;
    const dir = cacheDir(root, m.id!);
    r.mkdir(dir);
    await r.writeFile(join(dir, 'id'), m.id!);
    let instance: string;
    if (r.dryRun) instance = this.scriptLock(dir, m.sharing);
    else if (m.sharing === 'private') {
      let n = 0;
      let lock: FileLock | undefined;
      while (!(lock = tryLockFile(join(dir, `${n}.lock`)))) n++;
      this.locks.push(lock);
      instance = join(dir, String(n));
    } else {
      this.locks.push(await lockFile(join(dir, '0.lock'), m.sharing === 'locked' ? 'exclusive' : 'shared'));
      instance = join(dir, '0');
    }
    let from = '';
    const source = this.bindSources.get(m);
    if (source && typeof source !== 'string') {
      const image = await this.host.mount(['--read-only', source.image], `RUN --mount=type=cache,from=${m.from}`);
      const inside = posix.normalize(`/${m.source ?? ''}`);
      from = join(image, r.dryRun ? inside : resolveInRoot(inside, (p) => join(image, p)));
    }
    // Made aside and renamed in, so that a build killed half-way never leaves half a cache.
    const make = [
      'd=$1; [ -d "$d" ] && exit 0',
      'if [ -n "$2" ]; then t=$d.new.$$; cp -a "$2" "$t"; else t=$(mktemp -d "$d.new.XXXXXX"); chmod 755 "$t"; fi',
      '[ -z "$3" ] || chown "$3" "$t"',
      '[ -z "$4" ] || chmod "$4" "$t"',
      'mv -T "$t" "$d" 2>/dev/null || rm -rf "$t"',
    ].join('\n');
    const owner = m.uid !== undefined || m.gid !== undefined ? `${m.uid ?? 0}:${m.gid ?? 0}` : from ? '' : '0:0';
    await r.tool('sh', ['-c', make, 'sh', instance, from, owner, m.mode !== undefined ? m.mode.toString(8) : ''], env);
    return instance;
  }

  /** The same locks, taken by the --dry-run script (flock(1) on a descriptor held until release). */
  private scriptLock(dir: string, sharing: Sharing): string {
    const s = this.script;
    const fd = s.variable('cache_lock');
    const n = s.variable('cache_instance');
    this.scriptLocks.push(fd);
    s.note(`The cache mount's instance, locked as sharing=${sharing} says (held until the RUN has ended).`);
    if (sharing === 'private') {
      s.add(`${n}=0`, `while :; do exec {${fd}}>>${s.word(dir)}"/$${n}.lock"; flock -n "$${fd}" && break; exec {${fd}}>&-; ${n}=$((${n} + 1)); done`);
      return `${dir}/${shellVariable(n)}`;
    }
    s.add(`${n}=0`, `exec {${fd}}>>${s.word(join(dir, '0.lock'))}`, `flock ${sharing === 'locked' ? '' : '-s '}"$${fd}"`);
    return join(dir, '0');
  }

  /**
   * After the RUN's process: the mount points it left empty removed from `rootfs`, the declared volumes' changes
   * from `upper`, then everything `prepare` made undone (release).
   */
  async finish(rootfs: string, upper: string): Promise<void> {
    const { r, env } = this.host;
    if (this.stubs !== undefined) await r.tool('sh', ['-c', CLEAN, 'sh', rootfs, this.stubs], env);
    if (this.volumes.length) await r.tool('sh', ['-c', DISCARD, 'sh', upper, ...this.volumes], env);
    await this.release();
  }

  /** Locks released, mounted images and overlays taken down, the secrets' copies removed. Harmless twice. */
  async release(): Promise<void> {
    const { r } = this.host;
    for (const lock of this.locks.splice(0)) lock.release();
    if (r.dryRun) for (const fd of this.scriptLocks) this.script.add(`exec {${fd}}>&-`);
    await this.host.unmountAll();
    if (this.secretDir) r.removeTree(this.secretDir);
    if (!r.dryRun) this.secretDir = undefined;
  }
}

