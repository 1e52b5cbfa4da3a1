import { ToolError, UsageError } from '@cutaway/cli';

/**
 * Docker's --filter KEY=VALUE (ps, images): the values of one key are alternatives, the keys must all
 * hold. An unknown key is the daemon's `invalid filter 'KEY'`.
 */
export class Filters {
  private readonly byKey = new Map<string, string[]>();

  constructor(given: readonly string[], keys: readonly string[]) {
    for (const filter of given) {
      const at = filter.indexOf('=');
      if (at <= 0) throw new UsageError(`bad format of filter (expected name=value): ${filter}`);
      const key = filter.slice(0, at).toLowerCase();
      if (!keys.includes(key)) throw new ToolError(`invalid filter '${key}'`);
      this.byKey.set(key, [...(this.byKey.get(key) ?? []), filter.slice(at + 1)]);
    }
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  values(key: string): string[] {
    return this.byKey.get(key) ?? [];
  }

  /** Whether the key is not given, or one of its values passes. */
  any(key: string, test: (value: string) => boolean): boolean {
    const values = this.byKey.get(key);
    return values === undefined || values.some(test);
  }

  /** label=KEY, label=KEY=VALUE, label=KEY!=VALUE: every one given holds (Docker ANDs labels). */
  labels(labels: Record<string, string>): boolean {
    return this.values('label').every((l) => {
      const m = /^([^=!]+)(!?=)(.*)$/.exec(l);
      if (!m) return Object.hasOwn(labels, l);
      const [, key, op, value] = m;
      return op === '=' ? labels[key!] === value : Object.hasOwn(labels, key!) && labels[key!] !== value;
    });
  }
}

/** The --filter option (ps, images). */
export const FILTER_OPTION = { name: 'filter', short: 'f', type: 'list', arg: 'KEY=VALUE', help: 'only what matches (Docker\'s filters: see the README)' } as const;
