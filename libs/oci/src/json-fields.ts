import { OciError } from './errors.ts';

/**
 * Small typed readers for JSON documents. Each takes the value and the path of
 * the field it came from, so a rejection names the field that is wrong
 * (`manifests[2].platform.os: must be a string`).
 */

export type JsonObject = Record<string, unknown>;

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

export function parseJson(bytes: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new OciError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}

export function object(value: unknown, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OciError(`must be an object, got ${describe(value)}`, field);
  }
  return value as JsonObject;
}

export function string(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new OciError(`must be a string, got ${describe(value)}`, field);
  return value;
}

export function optional<T>(value: unknown, read: (v: unknown, field: string) => T, field: string): T | undefined {
  return value === undefined ? undefined : read(value, field);
}

/** A non-negative integer within JavaScript's exact range (sizes are int64 in the spec). */
export function size(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new OciError(`must be a non-negative integer, got ${describe(value)}`, field);
  }
  return value;
}

export function array<T>(value: unknown, read: (v: unknown, field: string) => T, field: string): T[] {
  if (!Array.isArray(value)) throw new OciError(`must be an array, got ${describe(value)}`, field);
  return value.map((item, i) => read(item, `${field}[${i}]`));
}

/** An array of strings that may also be null (Docker writes `"Cmd": null`). */
export function stringList(value: unknown, field: string): string[] | null {
  return value === null ? null : array(value, string, field);
}

export function stringMap(value: unknown, field: string): Record<string, string> {
  const obj = object(value, field);
  for (const [k, v] of Object.entries(obj)) string(v, `${field}.${k}`);
  return obj as Record<string, string>;
}

export function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new OciError(`must be true or false, got ${describe(value)}`, field);
  return value;
}

/** Joins a parent path and a key (`''` + `config` → `config`). */
export function at(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}
