import { atLine, DockerfileError } from './errors.ts';
import type { InlineFile, Instruction } from './instructions.ts';
import { expand, expandHeredoc, expandList, expandWords, type Env } from './lex.ts';
import type { EscapeChar } from './lines.ts';

/**
 * Variable substitution per instruction, as Docker does it ("Environment
 * replacement" in the Dockerfile reference; BuildKit's Expand methods):
 * ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR
 * and ARG defaults substitute and remove quotes. RUN, CMD and ENTRYPOINT do
 * not: the shell form goes to the shell verbatim, the exec form as written.
 * ONBUILD triggers substitute when they run, in the child build.
 */

export interface ExpandOptions {
  escape?: EscapeChar;
  /** For error messages; default `Dockerfile`. */
  file?: string;
}

export function expandInstruction<T extends Instruction>(ins: T, env: Env, options: ExpandOptions = {}): T {
  const escape = options.escape ?? '\\';
  const file = options.file ?? 'Dockerfile';
  const one = (word: string): string => expand(word, env, escape);
  const maybe = (word: string | undefined): string | undefined => (word === undefined ? undefined : one(word));
  const inline = (files: InlineFile[]) => files.map((f) => (f.expand ? { ...f, data: expandHeredoc(f.data, env, escape) } : f));
  return atLine(ins.line, file, (): T => {
    const i = ins as Instruction;
    switch (i.keyword) {
      case 'FROM': {
        const image = one(i.image);
        if (image === '') throw new DockerfileError(`base name (${i.image}) should not be blank`);
        return { ...i, image, platform: maybe(i.platform) } as T;
      }
      case 'COPY':
        return { ...i, sources: expandList(i.sources, env, escape), inline: inline(i.inline), dest: one(i.dest), chown: maybe(i.chown), chmod: maybe(i.chmod), from: maybe(i.from) } as T;
      case 'ADD':
        return { ...i, sources: expandList(i.sources, env, escape), inline: inline(i.inline), dest: one(i.dest), chown: maybe(i.chown), chmod: maybe(i.chmod), checksum: maybe(i.checksum) } as T;
      case 'ENV':
      case 'LABEL':
        // Every pair sees the variables from before the instruction:
        // `ENV a=1 b=$a` sets b to the old a.
        return { ...i, pairs: i.pairs.map((kv) => ({ key: one(kv.key), value: one(kv.value) })) } as T;
      case 'ARG':
        return { ...i, args: i.args.map((a) => (a.default === undefined ? a : { ...a, default: one(a.default) })) } as T;
      case 'EXPOSE':
        // EXPOSE splits after substitution: with PORTS="80 443", `EXPOSE $PORTS` is two ports.
        return { ...i, ports: i.ports.flatMap((p) => expandWords(p, env, escape)) } as T;
      case 'VOLUME': {
        // Even the JSON form substitutes and removes quotes, so VOLUME ["/it's"] fails as in Docker.
        const paths = expandList(i.paths, env, escape);
        if (paths.includes('')) throw new DockerfileError('VOLUME specified can not be an empty string');
        return { ...i, paths } as T;
      }
      case 'WORKDIR':
        return { ...i, path: one(i.path) } as T;
      case 'USER':
        return { ...i, user: one(i.user) } as T;
      case 'STOPSIGNAL':
        return { ...i, signal: one(i.signal) } as T;
      default:
        return ins;
    }
  });
}
