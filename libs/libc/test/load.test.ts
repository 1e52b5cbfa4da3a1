/**
 * What loading the libc bindings costs a tool: nothing until the first call, then koffi's native addon and
 * glibc, without the https, crypto and zlib modules koffi's own index.js loads for its installer (libc.ts).
 * Run in a fresh Node, as a tool starts, through the same bundle a tool is built into.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeTree } from '../../../test/fixtures/images.ts';

let work: string;
let bundle: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'cw-libc-load-'));
  const entry = join(work, 'entry.ts');
  // Which built-in modules are loaded before and after a libc call (flock on a file of this directory).
  writeFileSync(
    entry,
    [
      `import { tryLockFile } from ${JSON.stringify(join(import.meta.dirname, '../src/flock.ts'))};`,
      `const builtins = () => process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13));`,
      `const before = builtins();`,
      `const locked = tryLockFile(${JSON.stringify(join(work, 'lock'))}) !== undefined;`,
      `console.log(JSON.stringify({ before, after: builtins(), locked }));`,
    ].join('\n'),
  );
  bundle = join(work, 'entry.cjs');
  await build({ entryPoints: [entry], outfile: bundle, bundle: true, platform: 'node', format: 'cjs', external: ['koffi'], define: { 'import.meta.url': JSON.stringify(`file://${bundle}`) }, logLevel: 'warning' });
});

afterAll(async () => {
  await removeTree(work);
});

describe('loading libc', () => {
  it('loads koffi only at the first call, and then neither https, crypto nor zlib', () => {
    const { before, after, locked } = JSON.parse(execFileSync(process.execPath, [bundle], { encoding: 'utf8', env: { ...process.env, NODE_PATH: join(import.meta.dirname, '../node_modules') } })) as { before: string[]; after: string[]; locked: boolean };
    expect(locked).toBe(true);
    for (const name of ['https', 'crypto', 'zlib']) {
      expect(before).not.toContain(name);
      expect(after).not.toContain(name);
    }
  });
});
