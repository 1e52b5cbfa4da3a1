import { StringDecoder } from 'node:string_decoder';

/** Docker's json-file driver cuts a line longer than this into entries of this size (as cutaway-shim does). */
const MAX_ENTRY = 16 * 1024;

/**
 * A stream's output cut as Docker's json-file driver logs it: one entry a line (its newline kept), a line over
 * 16 KiB in parts, and what is left without a newline when the stream ends — so that `logs --tail N` counts lines.
 */
export function logLines(entry: (text: string) => void): { write(chunk: Buffer): void; end(): void } {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  const flush = (): void => {
    for (let nl = pending.indexOf('\n'); nl >= 0 || pending.length >= MAX_ENTRY; nl = pending.indexOf('\n')) {
      const cut = nl >= 0 && nl < MAX_ENTRY ? nl + 1 : MAX_ENTRY;
      entry(pending.slice(0, cut));
      pending = pending.slice(cut);
    }
  };
  return {
    write(chunk) {
      pending += decoder.write(chunk);
      flush();
    },
    end() {
      pending += decoder.end();
      flush();
      if (pending) entry(pending);
      pending = '';
    },
  };
}
