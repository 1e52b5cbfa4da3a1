/**
 * The one reader of user namespaces and subordinate ids (userns.ts) that rootless cutaway, ns-exec and the
 * test fixtures share: /etc/subuid lines as subuid(5) writes them, ids mapped in and out as uid_map says.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inInitialUserNamespace, insideId, parseIdMap, subordinateRange, userNamespaceOf } from '../src/userns.ts';

const work = mkdtempSync(join(tmpdir(), 'cw-userns-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('subordinateRange', () => {
  const file = join(work, 'subuid');
  writeFileSync(file, ['# a comment', 'bob:200000:65536', 'cwalice:bad:10', '1001:100000:0', '1001:300000:65536', 'cwalice:400000:1000', ''].join('\n'));

  it('takes the first usable line for the name or the uid', () => {
    expect(subordinateRange(file, 'cwalice', 1001)).toEqual({ start: 300000, count: 65536 });
    expect(subordinateRange(file, 'cwalice', 4242)).toEqual({ start: 400000, count: 1000 });
    expect(subordinateRange(file, 'bob', 1002)).toEqual({ start: 200000, count: 65536 });
  });

  it('says none where the user has none, or the file is missing', () => {
    expect(subordinateRange(file, 'carol', 1003)).toBeUndefined();
    expect(subordinateRange(join(work, 'missing'), 'bob', 1002)).toBeUndefined();
  });
});

describe('uid_map', () => {
  const rootless = parseIdMap('         0       1001          1\n         1     100000      65536\n');

  it('maps a host id in, the overflow id where it is not mapped', () => {
    expect(insideId(rootless, 1001)).toBe(0);
    expect(insideId(rootless, 100999)).toBe(1000);
    expect(insideId(rootless, 5)).toBe(65534);
  });

  it('tells the initial namespace (every id to itself) from another', () => {
    expect(inInitialUserNamespace()).toBe(userNamespaceOf().initial);
    expect(inInitialUserNamespace()).toBe(userNamespaceOf().uids.length === 1 && userNamespaceOf().uids[0]!.count === 4294967295);
  });
});
