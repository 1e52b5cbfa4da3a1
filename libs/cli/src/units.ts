import { UsageError } from './errors.ts';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `32m`, `1.5g`, `512k`, `1048576`: bytes, with Docker's binary units (go-units RAMInBytes). */
export function parseBytes(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw new UsageError(`${option} ${JSON.stringify(text)}: want a size such as 64m, 1.5g or 1048576`);
  return Math.floor(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
}
