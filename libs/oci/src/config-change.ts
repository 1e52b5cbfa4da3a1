import type { ContainerConfig } from './config.ts';
import { OciError } from './errors.ts';

/**
 * Dockerfile instructions that change only the image config, as
 * `docker commit --change` takes them (and as `docker build` applies its
 * metadata instructions): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME,
 * WORKDIR, STOPSIGNAL, SHELL. Shell forms run through the image's SHELL
 * (default ["/bin/sh", "-c"]), as Docker does.
 */

/** Splits `a=1 "b c"=2 d='e f'` into words, honouring quotes and backslash escapes. */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < text.length) {
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new OciError(`unterminated ${quote} in ${JSON.stringify(text)}`);
  if (inWord) words.push(word);
  return words;
}

/** `["a", "b"]` (exec form) if the argument is a JSON array of strings, else undefined (shell form). */
function execForm(arg: string): string[] | undefined {
  if (!arg.startsWith('[')) return undefined;
  try {
    const value = JSON.parse(arg) as unknown;
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  } catch {
    // not JSON: Docker takes it as a shell command, so do we
  }
  return undefined;
}

/** KEY=VALUE pairs (or the legacy `KEY VALUE` form with a single pair). */
function pairs(instruction: string, arg: string): [string, string][] {
  const words = splitWords(arg);
  if (!words.length) throw new OciError(`${instruction} needs KEY=VALUE`);
  if (!words[0]!.includes('=')) {
    const space = arg.search(/\s/);
    if (space < 0) throw new OciError(`${instruction} ${arg}: needs a value (${instruction} KEY=VALUE)`);
    return [[arg.slice(0, space), splitWords(arg.slice(space + 1)).join(' ')]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw new OciError(`${instruction} ${arg}: ${JSON.stringify(w)} is not KEY=VALUE`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** Replaces or adds NAME=VALUE in an Env list, keeping its order. */
export function setEnv(env: string[], name: string, value: string): string[] {
  const entry = `${name}=${value}`;
  const i = env.findIndex((e) => e === name || e.startsWith(`${name}=`));
  return i >= 0 ? env.map((e, j) => (j === i ? entry : e)) : [...env, entry];
}

/**
 * Applies instructions in order, as one `docker commit --change …` or one
 * build stage does: an ENTRYPOINT resets the Cmd unless a CMD came before it.
 */
export function applyConfigChanges(config: ContainerConfig, changes: readonly string[]): ContainerConfig {
  let next = config;
  let cmd: ContainerConfig['Cmd'] | undefined;
  for (const change of changes) {
    next = applyConfigChange(next, change);
    if (/^\s*cmd\b/i.test(change)) cmd = next.Cmd;
    else if (/^\s*entrypoint\b/i.test(change) && cmd !== undefined) next = { ...next, Cmd: cmd };
  }
  return next;
}

/** Applies one instruction, e.g. `CMD ["./app"]`, to a copy of the config. */
export function applyConfigChange(config: ContainerConfig, change: string): ContainerConfig {
  const match = /^\s*([A-Za-z]+)(?:\s+([\s\S]*))?$/.exec(change);
  if (!match) throw new OciError(`invalid change ${JSON.stringify(change)}: want INSTRUCTION ARGUMENTS, e.g. 'CMD ["./app"]'`);
  const instruction = match[1]!.toUpperCase();
  const arg = (match[2] ?? '').trim();
  const next: ContainerConfig = { ...config };
  const shell = (next.Shell as string[] | undefined) ?? ['/bin/sh', '-c'];
  const command = () => execForm(arg) ?? (arg ? [...shell, arg] : []);
  const needArg = () => {
    if (!arg) throw new OciError(`${instruction} needs an argument`);
  };
  switch (instruction) {
    case 'CMD':
      needArg();
      next.Cmd = command();
      break;
    case 'ENTRYPOINT':
      needArg();
      next.Entrypoint = command();
      // The Dockerfile reference, "Understand how CMD and ENTRYPOINT interact": a new ENTRYPOINT resets the
      // CMD the image had, not one given among the same changes (applyConfigChanges; Docker's cmdSet).
      next.Cmd = null;
      break;
    case 'ENV':
      for (const [k, v] of pairs(instruction, arg)) next.Env = setEnv(next.Env ?? [], k, v);
      break;
    case 'LABEL':
      next.Labels = { ...(next.Labels ?? {}), ...Object.fromEntries(pairs(instruction, arg)) };
      break;
    case 'EXPOSE': {
      needArg();
      const ports = { ...(next.ExposedPorts ?? {}) };
      for (const word of splitWords(arg)) {
        const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
        if (!m) throw new OciError(`EXPOSE ${word}: want PORT[/tcp|udp|sctp] or a range PORT-PORT`);
        const from = Number(m[1]);
        const to = Number(m[2] ?? m[1]);
        if (from < 1 || to > 65535 || to < from) throw new OciError(`EXPOSE ${word}: ports are 1-65535`);
        for (let p = from; p <= to; p++) ports[`${p}/${(m[3] ?? 'tcp').toLowerCase()}`] = {};
      }
      next.ExposedPorts = ports;
      break;
    }
    case 'USER':
      needArg();
      next.User = arg;
      break;
    case 'WORKDIR':
      needArg();
      // A relative WORKDIR is relative to the previous one (Dockerfile reference).
      next.WorkingDir = arg.startsWith('/') ? arg : `${(next.WorkingDir ?? '/').replace(/\/$/, '')}/${arg}`;
      break;
    case 'VOLUME': {
      needArg();
      const volumes = { ...(next.Volumes ?? {}) };
      for (const v of execForm(arg) ?? splitWords(arg)) volumes[v] = {};
      next.Volumes = volumes;
      break;
    }
    case 'STOPSIGNAL':
      needArg();
      next.StopSignal = arg;
      break;
    case 'SHELL': {
      const form = execForm(arg);
      if (!form?.length) throw new OciError('SHELL takes the JSON form, e.g. SHELL ["/bin/bash", "-c"]');
      next.Shell = form;
      break;
    }
    case 'HEALTHCHECK':
      next.Healthcheck = healthcheck(arg);
      break;
    case 'ONBUILD': {
      needArg();
      // cutaway's own: `ONBUILD [...]` sets the whole list, `ONBUILD []` clears it (a build's stage, once its base's triggers ran).
      const list = execForm(arg);
      if (list) {
        next.OnBuild = list.length ? list : null;
        break;
      }
      const trigger = /^[A-Za-z]+/.exec(arg)?.[0]?.toUpperCase();
      if (trigger === 'ONBUILD') throw new OciError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (trigger === 'FROM' || trigger === 'MAINTAINER') throw new OciError(`${trigger} isn't allowed as an ONBUILD trigger`);
      next.OnBuild = [...((next.OnBuild as string[] | null | undefined) ?? []), arg];
      break;
    }
    default:
      throw new OciError(`${instruction} cannot be applied to an image config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD can)`);
  }
  return next;
}

/** Docker's Healthcheck: the test and its durations in nanoseconds; zero (Docker's default) left out, as Docker writes it. */
export interface Healthcheck {
  Test: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

const HEALTHCHECK_FLAGS: Record<string, keyof Omit<Healthcheck, 'Test'>> = {
  interval: 'Interval',
  timeout: 'Timeout',
  'start-period': 'StartPeriod',
  'start-interval': 'StartInterval',
  retries: 'Retries',
};

/**
 * `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D]
 * [--retries=N] CMD command` (exec form: Test ["CMD", …]; shell form: ["CMD-SHELL", text]), as docker commit
 * --change and the Dockerfile take it. Durations are Go's (`30s`, `1m30s`, `500ms`).
 */
function healthcheck(arg: string): Healthcheck {
  let rest = arg;
  const check: Omit<Healthcheck, 'Test'> = {};
  for (let m = /^--([a-z-]+)=(\S*)\s*/.exec(rest); m; m = /^--([a-z-]+)=(\S*)\s*/.exec(rest)) {
    const field = HEALTHCHECK_FLAGS[m[1]!];
    if (!field) throw new OciError(`HEALTHCHECK: unknown flag --${m[1]}`);
    const value = field === 'Retries' ? Number(m[2]) : goDuration(m[2]!);
    if (!Number.isSafeInteger(value) || value < 0) throw new OciError(`HEALTHCHECK --${m[1]}=${m[2]}: not a valid ${field === 'Retries' ? 'count' : 'duration'}`);
    if (value) check[field] = value;
    rest = rest.slice(m[0].length);
  }
  const type = /^\S*/.exec(rest)![0].toUpperCase();
  const command = rest.slice(type.length).trim();
  if (type === 'NONE' && !command) return { Test: ['NONE'] };
  if (type !== 'CMD' || !command) throw new OciError('HEALTHCHECK takes NONE, or CMD and a command');
  const exec = execForm(command);
  return { Test: exec ? ['CMD', ...exec] : ['CMD-SHELL', command], ...check };
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, μs: 1e3, ms: 1e6, s: 1e9, m: 6e10, h: 3.6e12 };

/** A Go duration (`1m30s`, `250ms`, `0`) in nanoseconds; NaN if it is not one. */
function goDuration(text: string): number {
  if (text === '0') return 0;
  const parts = [...text.matchAll(/(\d+(?:\.\d*)?|\.\d+)([a-zµμ]+)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text) return NaN;
  return Math.round(parts.reduce((ns, [, n, unit]) => ns + Number(n) * (DURATION_UNITS[unit!] ?? NaN), 0));
}
