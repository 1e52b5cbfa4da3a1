import { randomBytes } from 'node:crypto';
import { BashScript, shellQuote } from '@cutaway/cli';
import type { ContainerConfigRecord, ContainerStore } from './containers/store.ts';
import { configText, stateText } from './containers/store.ts';
import { randomName } from './containers/names.ts';
import type { ExecOptions } from './containers/exec.ts';
import { healthLoopLines, healthShimArgs } from './containers/health.ts';
import { signalName } from './containers/signals.ts';
import { stopSignalOf, TEARDOWN_CLAIM } from './containers/stop.ts';
import { shimStdin, type ProcessIO } from './containers/lifecycle.ts';
import type { Runner } from './runner.ts';
import { ScriptStaging, type Owner, type Staging } from './build/staging.ts';

/**
 * The --dry-run runner: each step a line of a bash script instead of done (runner.ts). A value that is only
 * known once a step has run comes back as a reference to the shell variable the script keeps it in
 * (`merged=$(overlay-mount …)`), written into later words and files as `"${merged}"`. The state root is the
 * script's $CUTAWAY_ROOT (the one planned against unless set), so the script can be run against another.
 */

/** A shell variable's reference inside a word or a file's text: private-use characters, kept as they are by JSON.stringify. */
const OPEN = '\uE000';
const CLOSE = '\uE001';
export const shellVariable = (name: string): string => `${OPEN}${name}${CLOSE}`;
const REFERENCE = /\uE000([A-Za-z_][A-Za-z0-9_]*)\uE001/;

/** Bash functions a script may use, each defined once before its first use. */
const HELPERS: Record<string, string[]> = {
  write_file: [
    '# write_file FILE: stdin into FILE, whole or not at all (a temp file beside it, renamed), as cutaway writes its files',
    'write_file() {',
    '  local tmp',
    '  tmp=$(mktemp "$1.XXXXXX")',
    '  cat > "$tmp"',
    '  chmod 644 "$tmp"',
    '  mv -f "$tmp" "$1"',
    '}',
  ],
  reserve_name: [
    '# reserve_name NAME ID: containers/.names/NAME made for ID under containers/.names/.lock, as cutaway reserves a',
    "# container's name; one that a container still there holds is Docker's conflict.",
    'reserve_name() {',
    '  local names=$CUTAWAY_ROOT/containers/.names holder',
    '  mkdir -p "$names"',
    '  exec 8>>"$names/.lock"',
    '  flock 8',
    '  holder=$(cat "$names/$1" 2>/dev/null || true)',
    '  if [ -n "$holder" ] && [ -d "$CUTAWAY_ROOT/containers/$holder" ]; then',
    '    rm -rf "${CUTAWAY_ROOT:?}/containers/$2"',
    '    echo "Conflict. The container name \\"/$1\\" is already in use by container \\"$holder\\". You have to remove (or rename) that container to be able to reuse that name." >&2',
    '    exit 125',
    '  fi',
    '  printf %s "$2" | write_file "$names/$1"',
    '  exec 8>&-',
    '}',
  ],
  release_name: [
    "# release_name NAME ID: the name's reservation goes with its container (unless another holds it by now)",
    'release_name() {',
    '  local file=$CUTAWAY_ROOT/containers/.names/$1',
    '  if [ "$(cat "$file" 2>/dev/null || true)" = "$2" ]; then rm -f "$file"; fi',
    '}',
  ],
  log_lines: [
    "# log_lines STREAM: each line read becomes a line of Docker's json-file log",
    'log_lines() {',
    '  jq -R -c --unbuffered --arg stream "$1" \'{log: (. + "\\n"), stream: $stream, time: (now | todate)}\'',
    '}',
  ],
  record_running: [
    '# record_running DIR STARTED DONE: once ns-exec has written the pid file, state.json says running, with PID 1\'s',
    '# host pid (unless DONE appears first: ns-exec ended before)',
    'record_running() {',
    '  until [ -s "$1/pid" ] || [ -e "$3" ]; do sleep 0.01; done',
    '  if [ -s "$1/pid" ]; then',
    '    jq -n -c --argjson pid "$(cat "$1/pid")" --arg startedAt "$2" \'{status: "running", pid: $pid, startedAt: $startedAt}\' | write_file "$1/state.json"',
    '  fi',
    '}',
  ],
};

/** The commands each helper runs (checked for at the script's top). */
const HELPER_NEEDS: Record<string, string[]> = { write_file: ['mktemp', 'chmod', 'mv'], reserve_name: ['flock', 'rm'], log_lines: ['jq'], record_running: ['jq', 'sleep'], release_name: [] };

export class ScriptRecorder implements Runner {
  readonly dryRun = true;
  private body: string[] = [];
  private readonly used = new Set<string>();
  private readonly helpers = new Set<string>();
  private readonly rootPattern: RegExp;
  /** The variable holding the status of the last process run, and the one the script exits with (Runner.status). */
  private processStatus?: string;
  private exitWith?: string;
  private readonly output: string[] = [];

  /**
   * `root`: the state root planned against (its paths become $CUTAWAY_ROOT's); `failureStatus`: what the
   * script exits with when a step fails (the command's own, 125 for run); `tool`: the command's name, which
   * starts its error lines, as cutaway's own (`cutaway build: error: …`).
   */
  constructor(
    private readonly script: BashScript,
    private readonly root: string,
    private readonly failureStatus: number,
    private readonly commandName = 'cutaway',
  ) {
    this.rootPattern = new RegExp(`${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=/|$|[^A-Za-z0-9._-])`, 'g');
    script.need('jq');
    this.used.add('CUTAWAY_ROOT');
  }

  // ─── Shell text ───────────────────────────────────────────────────────────

  /** A fresh variable name from `base`: merged, merged2, … */
  variable(base: string): string {
    const clean = base.replace(/[^A-Za-z0-9_]/g, '_');
    let name = clean;
    for (let i = 2; this.used.has(name); i++) name = `${clean}${i}`;
    this.used.add(name);
    return name;
  }

  /** The state root's paths in `text` written as $CUTAWAY_ROOT's. */
  private rooted(text: string): string {
    return this.root.length > 1 ? text.replace(this.rootPattern, shellVariable('CUTAWAY_ROOT')) : text;
  }

  /** One word of a command line: quoted as it needs, with the variables it holds expanded ("${merged}/x"). */
  word(text: string): string {
    const parts = this.rooted(text).split(REFERENCE);
    if (parts.length === 1) return shellQuote(text);
    return `"${parts.map((p, i) => (i % 2 ? `\${${p}}` : p.replace(/[\\$`"]/g, '\\$&'))).join('')}"`;
  }

  command(words: readonly string[]): string {
    return words.map((w) => this.word(w)).join(' ');
  }

  /** A file's text as a here-document (`<<'EOF'`, or `<<EOF` with the variables it holds), or printf for one without a final newline. */
  private fileInput(content: string): string[] {
    const parts = this.rooted(content).split(REFERENCE);
    if (!content.endsWith('\n')) return [`printf %s ${this.word(content)} |`];
    let delimiter = 'EOF';
    for (let i = 2; content.split('\n').includes(delimiter); i++) delimiter = `EOF${i}`;
    if (parts.length === 1) return [`<<'${delimiter}'`, ...content.slice(0, -1).split('\n'), delimiter];
    const text = parts.map((p, i) => (i % 2 ? `\${${p}}` : p.replace(/[\\$`]/g, '\\$&'))).join('');
    return [`<<${delimiter}`, ...text.slice(0, -1).split('\n'), delimiter];
  }

  private helper(name: string): void {
    if (this.helpers.has(name)) return;
    this.helpers.add(name);
    if (name === 'reserve_name') this.helper('write_file');
    if (name === 'record_running') this.helper('write_file');
    this.script.need(...HELPER_NEEDS[name]!);
    // Helpers go before the body's first line (a function must be defined before it is called).
    this.preamble.push('', ...HELPERS[name]!);
  }

  private readonly preamble: string[] = [];

  add(...lines: string[]): void {
    this.body.push(...lines);
  }

  /** The lines `record` adds, taken out of the body (for a function's). */
  private async capture(record: () => Promise<void>): Promise<string[]> {
    const outer = this.body;
    this.body = [];
    try {
      await record();
      return this.body;
    } finally {
      this.body = outer;
    }
  }

  // ─── Runner ───────────────────────────────────────────────────────────────

  async tool(name: string, args: readonly string[], _env: NodeJS.ProcessEnv, as?: string): Promise<string> {
    this.script.need(name);
    const line = this.command([name, ...args]);
    if (as === undefined) {
      // Its output is not used: as cutaway runs a tool, stdout is captured (here: dropped), stderr shown.
      this.add(`${line} >/dev/null`);
      return '';
    }
    const v = this.variable(as);
    this.add(`${v}=$(${line})`);
    return shellVariable(v);
  }

  async inProcessFields<K extends string>(name: string, args: readonly string[], env: NodeJS.ProcessEnv, as: string, fields: readonly K[]): Promise<Record<K, string>> {
    const out = await this.tool(name, args, env, as);
    const v = out.slice(1, -1);
    return Object.fromEntries(
      fields.map((f) => {
        const field = this.variable(`${v}_${f}`);
        this.add(`${field}=$(jq -r ${shellQuote(`.${f}`)} <<<"$${v}")`);
        return [f, shellVariable(field)];
      }),
    ) as Record<K, string>;
  }

  async tryTool(name: string, args: readonly string[]): Promise<void> {
    this.script.need(name);
    // As cutaway's teardown: each step harmless when done already, so a failure (its line on stderr) goes on.
    this.add(`${this.command([name, ...args])} >/dev/null || true`);
  }

  tryInProcess(name: string, args: readonly string[]): Promise<void> {
    return this.tryTool(name, args);
  }

  inProcess(name: string, args: readonly string[], env: NodeJS.ProcessEnv, as: string | undefined): Promise<string> {
    return this.tool(name, args, env, as);
  }

  async writeFile(path: string, content: string): Promise<void> {
    this.helper('write_file');
    const input = this.fileInput(content);
    if (input[0]!.startsWith('printf')) this.add(`${input[0]} write_file ${this.word(path)}`);
    else this.add(`write_file ${this.word(path)} ${input[0]}`, ...input.slice(1));
  }

  mkdir(path: string): void {
    this.add(`mkdir -p -m 755 ${this.word(path)}`);
  }

  now(as: string): string {
    this.script.need('date');
    const v = this.variable(as);
    this.add(`${v}=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)`);
    return shellVariable(v);
  }

  sha256(text: string, as: string): string {
    this.script.need('sha256sum');
    const v = this.variable(as);
    this.add(`${v}=$(printf %s ${this.word(text)} | sha256sum)`, `${v}=\${${v}%% *}`);
    return shellVariable(v);
  }

  async guarded<T>(body: () => Promise<T>, undo: () => Promise<void>): Promise<T> {
    const fn = this.variable('undo');
    let result!: T;
    const steps = await this.capture(async () => {
      result = await body();
    });
    // Recorded after the body: what it is to take down (a network endpoint, say) is known once the body has named it.
    const lines = await this.capture(undo);
    this.add(
      `# Should a step below fail, what was made is taken down (${fn}) and the script exits ${this.failureStatus}, as cutaway does.`,
      `${fn}() {`,
      ...lines.map((l) => `  ${l}`),
      '}',
      `trap 'trap - EXIT; ${fn}; exit ${this.failureStatus}' EXIT`,
      ...steps,
      'trap - EXIT',
    );
    return result;
  }

  note(text: string): void {
    this.add('', ...text.split('\n').map((l) => `# ${l}`.trimEnd()));
  }

  status(): number {
    this.exitWith = this.processStatus;
    return 0;
  }

  async checkStatus(_code: number, message: (status: string) => string, failed?: () => Promise<string | undefined>): Promise<void> {
    const status = this.processStatus!;
    let hint: string | undefined;
    // Not indented: a line of `failed`'s may be a here-document's.
    const lines = failed ? await this.capture(async () => void (hint = await failed())) : [];
    const error = `${this.commandName}: error: ${message(shellVariable(status))}${hint ? ` (hint: ${hint})` : ''}`;
    this.add(`if [ "$${status}" -ne 0 ]; then`, ...lines, `echo ${this.word(error)} >&2`, `exit "$${status}"`, 'fi');
  }

  tempDir(as: string): string {
    const v = this.variable(as);
    this.add(`${v}=$(mktemp -d)`);
    return shellVariable(v);
  }

  removeTree(path: string): void {
    this.add(`rm -rf ${this.word(path)}`);
  }

  async tagImage(layoutDir: string, image: string, name: string): Promise<void> {
    this.script.need('flock', 'jq');
    this.helper('write_file');
    const index = this.word(`${layoutDir}/index.json`);
    const ref = 'org.opencontainers.image.ref.name';
    // As OciLayout.addRef: under the layout's index lock, the entry of `image` again under `name`, replacing what `name` named.
    this.add(
      `mkdir -p ${this.word(`${layoutDir}/.cutaway`)}`,
      `(`,
      `  flock 9`,
      `  jq -c --arg image ${this.word(image)} --arg name ${this.word(name)} '(.manifests | map(select(.annotations["${ref}"] == $image)) | last) as $d | .manifests = [.manifests[] | select(.annotations["${ref}"] != $name)] + [$d | .annotations["${ref}"] = $name]' ${index} | write_file ${index}`,
      `) 9>>${this.word(`${layoutDir}/.cutaway/index.lock`)}`,
    );
  }

  async imageId(layoutDir: string, image: string, short?: boolean): Promise<string> {
    const v = this.variable('id');
    const ref = 'org.opencontainers.image.ref.name';
    this.add(
      `${v}=$(jq -r --arg image ${this.word(image)} '.manifests | map(select(.annotations["${ref}"] == $image)) | last | .digest' ${this.word(`${layoutDir}/index.json`)})`,
      `${v}=$(jq -r .config.digest ${this.word(`${layoutDir}/blobs/sha256/`)}"\${${v}#sha256:}")`,
      ...(short ? [`${v}=\${${v}#sha256:}`, `${v}=\${${v}:0:12}`] : []),
    );
    return shellVariable(v);
  }

  staging(root: string, owner: Owner, image?: string, mode?: number): Staging {
    this.script.need('chown', 'chmod', 'touch', 'cp', 'ln', 'find');
    return new ScriptStaging(this, root, owner, image, mode);
  }

  /** Commands some lines run (ScriptLines), checked for at the script's top. */
  need(...commands: string[]): void {
    this.script.need(...commands);
  }

  print(line: string): void {
    this.output.push(line);
    this.add(`echo ${this.word(line)}`);
  }

  async createContainer(store: ContainerStore, name: string | undefined, configOf: (id: string, name: string) => ContainerConfigRecord): Promise<ContainerConfigRecord> {
    // The id and a random name are chosen now, as cutaway would choose them: the script makes this container.
    const id = randomBytes(32).toString('hex');
    const config = configOf(id, name ?? randomName(store.names()));
    this.helper('reserve_name');
    this.note('The container\'s record: containers/ID with state.json and config.json, then its name reserved.');
    this.add(`mkdir -p ${this.word(store.dir)}`, `mkdir ${this.word(store.path(id))}`);
    await this.writeFile(store.path(id, 'state.json'), stateText({ status: 'created' }));
    await this.writeFile(store.path(id, 'config.json'), configText(config));
    this.add(`reserve_name ${this.command([config.name, id])}`);
    return config;
  }

  removeContainer(store: ContainerStore, id: string, name: string): void {
    this.helper('release_name');
    this.add(`rm -rf ${this.word(store.path(id))}`, `release_name ${this.command([name, id])}`);
  }

  async markDown(store: ContainerStore, id: string): Promise<void> {
    this.helper('write_file');
    const state = this.word(store.path(id, 'state.json'));
    this.add(
      `if [ "$(jq -r .status ${state})" = exited ]; then jq -c '. + {down: true}' ${state} | write_file ${state}; fi`,
      `if [ "$(cat ${this.word(store.path(id, 'shim.pid'))} 2>/dev/null || true)" = "$$" ]; then rm -f ${this.word(store.path(id, 'shim.pid'))}; fi`,
    );
  }

  async runProcess(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[], io: ProcessIO): Promise<number> {
    this.script.need('ns-exec', 'mkfifo', 'tee');
    const dir = (file: string) => this.word(store.path(config.id, file));
    const status = this.variable('status');
    this.processStatus = status;
    const stdin = io.stdin === 'ignore' ? ' </dev/null' : '';
    const command = this.command(['ns-exec', ...nsExecArgs]);
    this.note(
      [
        "The container's process. This script keeps it as cutaway run does (shim.pid is its pid): state.json says",
        "running once ns-exec has written the pid file, and exited with the status after; its output is shown and,",
        "line by line, written to the log as Docker's json-file driver writes it.",
      ].join('\n'),
    );
    this.add(`rm -f ${dir('pid')}`, `printf %s "$$" > ${dir('shim.pid')}`);
    const started = this.now('started');
    this.helper('record_running');
    const logs = this.variable('logs');
    const shown = (sink: NodeJS.WritableStream | undefined, fd: 1 | 2) => (sink === undefined ? ' >/dev/null' : sink === process.stderr ? ' >&2' : fd === 2 ? ' >&2' : '');
    this.add(`${logs}=$(mktemp -d)`, `record_running ${dir('')} "\${${started.slice(1, -1)}}" "$${logs}/done" &`, `running=$!`);
    const health = healthLoopLines(config, (w) => this.word(w));
    if (health.start.length) this.script.need('cutaway');
    this.add(...health.start);
    if (config.tty && io.out !== undefined) {
      // A terminal (-t) is ns-exec's own: nothing is logged.
      this.add(`${status}=0`, `${command}${stdin} || ${status}=$?`);
    } else {
      this.helper('log_lines');
      this.add(
        `mkfifo "$${logs}/stdout" "$${logs}/stderr"`,
        `log_lines stdout < "$${logs}/stdout" >> ${dir('log')} &`,
        'log_stdout=$!',
        `log_lines stderr < "$${logs}/stderr" >> ${dir('log')} &`,
        'log_stderr=$!',
        `${status}=0`,
        `${command}${stdin} > >(tee "$${logs}/stdout"${shown(io.out, 1)}) 2> >(tee "$${logs}/stderr"${shown(io.err, 2)}) || ${status}=$?`,
        'wait "$log_stdout" "$log_stderr"',
      );
    }
    const finished = this.variable('finished');
    this.add(
      ...health.stop,
      `touch "$${logs}/done"`,
      'wait "$running"',
      `rm -rf "$${logs}"`,
      `${finished}=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)`,
      `if [ -d ${dir('')} ]; then`,
      `  jq -n -c --argjson exitCode "$${status}" --arg startedAt "$${started.slice(1, -1)}" --arg finishedAt "$${finished}" '{status: "exited", exitCode: $exitCode, startedAt: $startedAt, finishedAt: $finishedAt}' | write_file ${dir('state.json')}`,
      'fi',
    );
    return 0;
  }

  async startShim(store: ContainerStore, config: ContainerConfigRecord, nsExecArgs: string[]): Promise<void> {
    const id = config.id;
    this.script.need('cutaway-shim', 'cutaway', 'setsid', 'ns-exec');
    const after = ['cutaway', '__teardown', id];
    this.note(
      [
        '-d: the container is kept by cutaway-shim, as under cutaway run -d — not by this script — because that is what',
        'a detached container needs: a keeper in a session of its own that outlives the script, logs its output, records',
        'its states and, once it has exited, becomes `cutaway __teardown ID` to take it down. (In the foreground, this',
        'script does that itself: run it without -d to see each step.)',
      ].join('\n'),
    );
    this.add(
      `setsid ${this.command(['cutaway-shim', ...shimStdin(config), ...healthShimArgs(config, ['cutaway']), store.path(id), String(after.length), ...after, 'ns-exec', ...nsExecArgs])} </dev/null >/dev/null 2>>${this.word(store.path(id, 'shim.err'))} &`,
      `printf %s "$!" > ${this.word(store.path(id, 'shim.pid'))}`,
      '# It returns once the container runs (or has ended already), as docker run -d does.',
      `for _ in $(seq 400); do [ "$(jq -r .status ${this.word(store.path(id, 'state.json'))})" = created ] || break; sleep 0.01; done`,
    );
  }

  containerPid(store: ContainerStore, id: string): string {
    const pid = this.variable('pid');
    const state = this.word(store.path(id, 'state.json'));
    this.script.need('kill');
    this.note("The container's PID 1, as the host sees it, when the script runs: it must be running.");
    this.add(
      `${pid}=$(jq -r 'select(.status == "running") | .pid' ${state})`,
      `if [ -z "$${pid}" ] || ! kill -0 "$${pid}" 2>/dev/null; then echo ${this.word(`container ${store.config(id).name} is not running`)} >&2; exit ${this.failureStatus}; fi`,
    );
    return shellVariable(pid);
  }

  async execProcess(args: string[], o: ExecOptions): Promise<number> {
    this.script.need('ns-exec');
    const command = this.command(['ns-exec', ...args]);
    if (o.detach) {
      this.script.need('setsid');
      this.add('# -d: left running in a session of its own, as cutaway exec -d leaves it', `setsid ${command} </dev/null >/dev/null 2>&1 &`);
    } else this.add("# The script becomes ns-exec: its status is the command's.", `exec ${command}${o.interactive ? '' : ' </dev/null'}`);
    return 0;
  }

  async stopContainer(store: ContainerStore, id: string, seconds: number, signal?: number, claimTeardown = false): Promise<void> {
    this.script.need('kill', 'seq', 'sleep');
    // Its stop signal (STOPSIGNAL, --stop-signal; rm -f's KILL), and a wait without limit for a negative --stop-timeout.
    const first = signalName(signal ?? stopSignalOf(store.config(id)));
    const pid = this.variable('pid');
    const grace = seconds < 0 ? `while kill -0 "$${pid}" 2>/dev/null; do sleep 0.05; done` : `for _ in $(seq ${Math.round(seconds * 20)}); do kill -0 "$${pid}" 2>/dev/null || break; sleep 0.05; done`;
    const state = this.word(store.path(id, 'state.json'));
    const shim = this.word(store.path(id, 'shim.pid'));
    this.note(
      [
        `Stop ${store.config(id).name} if it runs: SIG${first} to its PID 1, SIGKILL ${seconds < 0 ? 'never (no limit)' : `after ${seconds} s`}, then wait for its shim to have`,
        claimTeardown
          ? 'recorded the exit and ended: the claim file tells it that this script takes the container down (below).'
          : 'recorded the exit and taken the container down, as docker stop returns once it is cleaned up.',
      ].join('\n'),
    );
    this.add(
      `${pid}=$(jq -r 'select(.status == "running") | .pid' ${state} 2>/dev/null || true)`,
      `if [ -n "$${pid}" ] && kill -0 "$${pid}" 2>/dev/null; then`,
      ...(claimTeardown ? [`  echo "$$" > ${this.word(store.path(id, TEARDOWN_CLAIM))}`] : []),
      `  kill -${first} "$${pid}"`,
      `  ${grace}`,
      `  if kill -0 "$${pid}" 2>/dev/null; then kill -KILL "$${pid}"; fi`,
      `  while [ -e ${state} ] && [ "$(jq -r .status ${state})" = running ]; do sleep 0.05; done`,
      `  for _ in $(seq 300); do shim=$(cat ${shim} 2>/dev/null || true); { [ -n "$shim" ] && kill -0 "$shim" 2>/dev/null; } || break; sleep 0.02; done`,
      'fi',
    );
  }

  async whenDown(store: ContainerStore, id: string, down: () => Promise<void>, up: () => Promise<void>): Promise<void> {
    const state = this.word(store.path(id, 'state.json'));
    const downLines = await this.capture(down);
    const upLines = await this.capture(up);
    this.add(
      `if [ ! -e ${state} ]; then`,
      '  : # removed already (its shim took down a --rm container)',
      `elif [ "$(jq -r '.down // false' ${state})" = true ]; then`,
      '  # taken down when it exited: only its directory is left',
      ...downLines.map((l) => `  ${l}`),
      'else',
      ...upLines.map((l) => `  ${l}`),
      'fi',
    );
  }

  async each(ids: string[], names: string[], operation: (id: string) => Promise<void>): Promise<void> {
    // One after the other: a script's steps are easier to follow than several at once.
    for (const [i, id] of ids.entries()) {
      await operation(id);
      this.print(names[i]!);
    }
  }

  // ─── The script ───────────────────────────────────────────────────────────

  /** The whole script: head, prerequisite check, $CUTAWAY_ROOT, helpers, steps, and the process's status as its own. */
  toString(): string {
    const lines = [
      `export CUTAWAY_ROOT=\${CUTAWAY_ROOT:-${shellQuote(this.root)}}`,
      ...this.preamble,
      ...this.body,
      ...(this.exitWith ? [`exit "$${this.exitWith}"`] : []),
    ];
    return this.script.add(...lines).toString();
  }
}
