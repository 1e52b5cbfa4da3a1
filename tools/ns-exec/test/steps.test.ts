/**
 * The plan's step names live on both sides of the plan: StepName in
 * src/steps.ts, which the planner's code is type-checked against, and
 * step_names in src/ns-exec.c, which the binary reads the plan by. Nothing
 * at build time ties the two, so this reads both sources and holds them
 * equal, one for one: the union as TypeScript's own checker resolves it,
 * the C table by its designated initializers (`[STEP_X] = "name"`).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { PLAN_FILE_HEADER } from '../src/plan.ts';

const stepsTs = fileURLToPath(new URL('../src/steps.ts', import.meta.url));
const nsExecC = fileURLToPath(new URL('../src/ns-exec.c', import.meta.url));

/** The string literals that the type alias `name` in `file` stands for. */
function unionMembers(file: string, name: string): string[] {
  // steps.ts imports nothing and its names need no lib: the checker alone, without Node's or the DOM's types.
  const program = ts.createProgram([file], { noLib: true, noResolve: true, types: [] });
  const source = program.getSourceFile(file)!;
  const alias = source.statements.find((s): s is ts.TypeAliasDeclaration => ts.isTypeAliasDeclaration(s) && s.name.text === name);
  if (!alias) throw new Error(`${file} declares no type ${name}`);
  const type = program.getTypeChecker().getTypeAtLocation(alias.name);
  return (type.isUnion() ? type.types : [type]).map((t) => {
    if (!t.isStringLiteral()) throw new Error(`${name} has a member that is not a string literal`);
    return t.value;
  });
}

/** ns-exec.c's `enum step` members and its `step_names` table, comments left out. */
function cSteps(file: string): { members: string[]; table: [string, string][] } {
  const c = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
  const enumBody = /\benum step \{([^}]*)\}/.exec(c)?.[1];
  const tableBody = /\bstep_names\[\] = \{([^}]*)\}/.exec(c)?.[1];
  if (enumBody === undefined || tableBody === undefined) throw new Error(`${file}: no enum step or step_names table`);
  return {
    members: [...enumBody.matchAll(/\bSTEP_\w+/g)].map((m) => m[0]),
    table: [...tableBody.matchAll(/\[(STEP_\w+)\]\s*=\s*"([^"]*)"/g)].map((m) => [m[1]!, m[2]!]),
  };
}

const sorted = (names: Iterable<string>) => [...names].sort();

describe('the plan\'s step names', () => {
  const c = cSteps(nsExecC);

  it('ns-exec.c names every member of its enum step once, each with a name of its own', () => {
    expect(c.members.length).toBeGreaterThan(0);
    expect(sorted(c.table.map(([id]) => id))).toEqual(sorted(new Set(c.members)));
    expect(c.table.length).toBe(c.members.length);
    expect(new Set(c.table.map(([, name]) => name)).size).toBe(c.table.length);
  });

  it('are the same in ns-exec.c\'s step_names and in steps.ts\'s StepName', () => {
    expect(sorted(c.table.map(([, name]) => name))).toEqual(sorted(unionMembers(stepsTs, 'StepName')));
  });
});

describe('a plan handed over in a file (NS_EXEC_PLAN_FILE)', () => {
  it('starts with the same format word in plan.ts and in ns-exec.c, which reads no plan of another', () => {
    const c = /#define PLAN_FILE_HEADER "([^"]*)"/.exec(readFileSync(nsExecC, 'utf8'))?.[1];
    expect(c).toBe(PLAN_FILE_HEADER);
  });
});
