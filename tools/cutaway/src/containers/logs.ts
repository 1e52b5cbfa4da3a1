import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { UsageError } from '@cutaway/cli';
import { command } from '../command.ts';
import { currentState } from './state.ts';
import { ContainerStore } from './store.ts';

interface LogLine {
  log: string;
  stream: 'stdout' | 'stderr';
  time: string;
}

function printLog(line: LogLine, timestamps: boolean): void {
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(timestamps ? `${line.time} ${line.log}` : line.log);
}

/** The bytes of `path` from `start` to `end` (inclusive), as text. */
function readRange(path: string, start: number, end: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let data = '';
    createReadStream(path, { start, end, encoding: 'utf8' }).on('data', (d) => (data += d)).on('end', () => resolve(data)).on('error', reject);
  });
}

/** docker logs: the json-file log; with -f, what is appended until the container exits. */
export const logs = command(
  {
    name: 'logs',
    summary: "Show a container's output",
    synopsis: ['[-f] [--tail N] [-t] CONTAINER'],
    description: "A container's output, from its json-file log.",
    options: [
      { name: 'follow', short: 'f', type: 'boolean', help: 'keep printing until the container exits' },
      { name: 'tail', type: 'string', arg: 'N', help: 'only the last N lines' },
      { name: 'timestamps', short: 't', type: 'boolean', help: 'each line with its time' },
    ],
    operands: { min: 1, max: 1, names: 'CONTAINER' },
    examples: ['cutaway logs web', 'cutaway logs -f --tail 10 web'],
    classic: ['docker logs', 'jq -j .log $CUTAWAY_ROOT/containers/ID/log'],
  },
  async (inv, root) => {
    const store = new ContainerStore(root);
    const id = store.find(inv.positionals[0]!);
    const { tail, timestamps } = inv.options;
    const path = store.path(id, 'log');
    const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
    let lines = text.split('\n').filter(Boolean);
    if (tail !== undefined && tail !== 'all') {
      if (!/^\d+$/.test(tail)) throw new UsageError(`--tail ${tail}: want a number or all`);
      lines = Number(tail) ? lines.slice(-Number(tail)) : [];
    }
    for (const l of lines) printLog(JSON.parse(l) as LogLine, timestamps);
    if (!inv.options.follow) return;
    let offset = Buffer.byteLength(text);
    let pending = '';
    for (;;) {
      const size = existsSync(path) ? statSync(path).size : offset;
      if (size > offset) {
        const chunk = await readRange(path, offset, size - 1);
        offset = size;
        const complete = (pending + chunk).split('\n');
        pending = complete.pop()!;
        for (const l of complete.filter(Boolean)) printLog(JSON.parse(l) as LogLine, timestamps);
      } else if (currentState(store, id).status !== 'running' || !existsSync(store.path(id))) return;
      else await new Promise((r) => setTimeout(r, 100));
    }
  },
);
