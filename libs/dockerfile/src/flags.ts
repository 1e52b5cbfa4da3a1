import { DockerfileError } from './errors.ts';

/**
 * `--name=value` flags of one instruction, checked as BuildKit's BFlags does:
 * unknown and repeated flags are errors; a string flag needs `=value`; a bool
 * flag is `--name`, `--name=true` or `--name=false`; a list flag may repeat.
 */

type FlagKind = 'string' | 'bool' | 'list';

export class Flags {
  private readonly values = new Map<string, string | boolean | string[]>();

  constructor(words: readonly string[], spec: Readonly<Record<string, FlagKind>>) {
    for (const word of words) {
      const eq = word.indexOf('=');
      const name = (eq < 0 ? word : word.slice(0, eq)).slice(2);
      const value = eq < 0 ? undefined : word.slice(eq + 1);
      const kind = Object.hasOwn(spec, name) ? spec[name] : undefined;
      if (!kind) throw new DockerfileError(`unknown flag: --${name}`);
      if (kind !== 'list' && this.values.has(name)) throw new DockerfileError(`duplicate flag specified: --${name}`);
      if (kind === 'bool') {
        if (value === '') throw new DockerfileError(`missing a value on flag: --${name}`);
        const lower = value?.toLowerCase() ?? 'true';
        if (lower !== 'true' && lower !== 'false') throw new DockerfileError(`expecting boolean value for flag --${name}, not: ${value}`);
        this.values.set(name, lower === 'true');
      } else {
        if (value === undefined) throw new DockerfileError(`missing a value on flag: --${name}`);
        if (kind === 'string') this.values.set(name, value);
        else this.values.set(name, [...this.list(name), value]);
      }
    }
  }

  string(name: string): string | undefined {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : undefined;
  }
  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}
