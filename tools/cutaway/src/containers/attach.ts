import { closeSync, openSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { CLOSED_OUTPUT_STATUS, ToolError, whenStdoutCloses } from '@cutaway/cli';
import { command } from '../command.ts';
import { PROXIED_SIGNALS } from '../tools.ts';
import { recordContainerEvent } from './events.ts';
import { signalPid } from './signals.ts';
import { currentState, isPaused, runningPid } from './state.ts';
import { waitForExit } from './wait.ts';
import { ContainerStore } from './store.ts';

/** Docker's default detach keys (docker/cli opts: DefaultEscapeKeys), ctrl-p then ctrl-q. */
export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Docker's --detach-keys: comma-separated keys, each one character or `ctrl-X` where X is a letter or one of
 * @ [ \ ] ^ _ (moby's pkg/term ToBytes: the control code is X's ASCII code minus 64).
 */
export function parseDetachKeys(text: string): Buffer {
  const invalid = (): never => {
    throw new ToolError(`Invalid detach keys (${text}) provided`);
  };
  return Buffer.from(
    text.split(',').map((key) => {
      const ctrl = /^ctrl-(.)$/i.exec(key);
      if (ctrl) {
        const code = ctrl[1]!.toUpperCase().charCodeAt(0);
        return code >= 64 && code <= 95 ? code - 64 : invalid();
      }
      return key.length === 1 ? key.charCodeAt(0) : invalid();
    }),
  );
}

/**
 * What the user types, before it goes to the container: the detach keys held back while they match (Docker's
 * escape proxy). The whole sequence detaches; a key that breaks it lets the held keys go on, with it.
 */
export class DetachWatch {
  private matched = 0;
  constructor(private readonly keys: Buffer) {}

  /** The bytes to send on, and whether the sequence is complete (then nothing after it is sent). */
  filter(chunk: Buffer): { send: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const byte of chunk) {
      if (byte === this.keys[this.matched]) {
        if (++this.matched === this.keys.length) return { send: Buffer.from(out), detach: true };
        continue;
      }
      out.push(...this.keys.subarray(0, this.matched));
      this.matched = 0;
      if (byte === this.keys[0]) this.matched = 1;
      else out.push(byte);
    }
    return { send: Buffer.from(out), detach: false };
  }
}

/** The stream frames of the shim's attach socket (cutaway-shim.c, moby's stdcopy): [stream, 0, 0, 0, length BE32] then the bytes. */
function onFrames(socket: Socket, deliver: (stream: number, data: Buffer) => boolean): void {
  let pending: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const length = pending.readUInt32BE(4);
      if (pending.length < 8 + length) break;
      // A sink that is full holds the socket until it drains: the shim's writes then wait, as Docker's attach does.
      if (!deliver(pending[0]!, pending.subarray(8, 8 + length))) socket.pause();
      pending = pending.subarray(8 + length);
    }
  });
}

/** The shim's socket, reached through /proc/self/fd: sun_path holds 108 bytes, a state root's path may be longer. */
async function connectShim(store: ContainerStore, id: string): Promise<Socket> {
  const dir = openSync(store.path(id), 'r');
  try {
    return await new Promise<Socket>((resolve, reject) => {
      const socket = connect(`/proc/self/fd/${dir}/attach.sock`);
      socket.once('connect', () => resolve(socket));
      socket.once('error', reject);
    });
  } finally {
    closeSync(dir);
  }
}

export interface AttachOptions {
  /** The user's stdin goes to the container's (it must have been made with -i). */
  stdin: boolean;
  /** Signals to cutaway go to the container's PID 1 (not with a terminal: there Ctrl-C is a key the container reads). */
  sigProxy: boolean;
  detachKeys: Buffer;
}

/**
 * docker attach: this terminal joined to a running container's stdio through its shim — its output from now
 * on (stdout and stderr kept apart), the user's input to its stdin, until it exits (its status) or the detach
 * keys are typed ("read escape sequence", status 1, as docker attach).
 */
export async function attachTo(store: ContainerStore, id: string, options: AttachOptions): Promise<number> {
  const state = currentState(store, id);
  // moby daemon/attach.go's errors.
  if (state.status !== 'running') throw new ToolError('You cannot attach to a stopped container, start it first');
  if (isPaused(state)) throw new ToolError('You cannot attach to a paused container, unpause it first');
  const config = store.config(id);
  const input = options.stdin && config.interactive;
  if (input && config.tty && !process.stdin.isTTY) throw new ToolError('the input device is not a TTY');
  const socket = await connectShim(store, id).catch(() => {
    throw new ToolError(`cannot attach to container ${config.name}: its shim does not answer (it ran in the foreground, or has just exited)`);
  });

  recordContainerEvent(store, config, 'attach');
  /** Why attach left before the container ended: the detach keys, or our reader gone. */
  let left: 'detach-keys' | 'output-closed' | undefined;
  const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const sinks = [process.stdout, process.stderr];
  onFrames(socket, (stream, data) => {
    const sink = sinks[stream === 2 ? 1 : 0]!;
    return sink.write(data);
  });
  for (const sink of sinks) sink.on('drain', () => socket.resume());
  // Our reader gone (`cutaway attach c | head -1`): we leave; the container goes on.
  whenStdoutCloses(() => {
    left = 'output-closed';
    socket.destroy();
  });

  const raw = input && config.tty && process.stdin.isTTY;
  if (raw) process.stdin.setRawMode(true);
  const watch = new DetachWatch(options.detachKeys);
  if (input) {
    process.stdin.on('data', (chunk: Buffer) => {
      const { send, detach } = watch.filter(chunk);
      if (send.length) socket.write(send);
      if (detach) {
        left = 'detach-keys';
        socket.destroy();
      }
    });
    // The user's input has ended: the socket's sending side closes, the container's stdin stays open (Docker's -d -i).
    process.stdin.on('end', () => socket.end());
  }
  const pid = runningPid(store, id);
  const passOn = (signal: NodeJS.Signals): void => signalPid(pid, signal);
  const proxied = options.sigProxy && !config.tty;
  if (proxied) for (const s of PROXIED_SIGNALS) process.on(s, passOn);
  try {
    await ended;
  } finally {
    if (raw) process.stdin.setRawMode(false);
    if (input) process.stdin.pause();
    if (proxied) for (const s of PROXIED_SIGNALS) process.off(s, passOn);
  }
  if (left === 'detach-keys') throw new ToolError('read escape sequence');
  // As a command whose output pipe has closed ends (SIGPIPE's status): the container goes on.
  if (left === 'output-closed') return CLOSED_OUTPUT_STATUS;
  // The shim has closed the socket once the container's output ended and state.json says exited.
  return waitForExit(store, id, 10);
}

export const attach = command(
  {
    name: 'attach',
    summary: "Attach the terminal to a running container's input and output",
    synopsis: ['[--no-stdin] [--sig-proxy=false] [--detach-keys KEYS] CONTAINER'],
    description: [
      "Join a running detached container's stdio through its shim (cutaway-shim, containers/<id>/attach.sock): its",
      'stdout and stderr from now on, and — for a container made with -i — your input to its stdin. Signals go to its',
      "PID 1 (--sig-proxy, not with -t). Ctrl-P Ctrl-Q (--detach-keys) leaves it running; else exits with its status.",
    ].join('\n'),
    options: [
      { name: 'no-stdin', type: 'boolean', help: 'do not attach stdin' },
      { name: 'sig-proxy', type: 'boolean', default: true, help: 'pass the signals cutaway gets to the container' },
      { name: 'detach-keys', type: 'string', arg: 'KEYS', help: `the keys that detach (default "${DEFAULT_DETACH_KEYS}")` },
    ],
    operands: { min: 1, max: 1, names: 'CONTAINER' },
    examples: ['cutaway run -d -it --name shell busybox sh && cutaway attach shell   # Ctrl-P Ctrl-Q to leave it', 'cutaway attach --no-stdin --sig-proxy=false web'],
    classic: ['docker attach', 'socat - UNIX-CONNECT:$CUTAWAY_ROOT/containers/ID/attach.sock   # the raw stream: 8-byte frame headers, then the bytes'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const id = store.find(inv.positionals[0]!);
    const o = inv.options;
    return attachTo(store, id, { stdin: !o['no-stdin'], sigProxy: o['sig-proxy'], detachKeys: parseDetachKeys(o['detach-keys'] ?? DEFAULT_DETACH_KEYS) });
  },
);
