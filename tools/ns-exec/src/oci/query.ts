/**
 * The verbs that only read: `state`, `list`, `ps` — printed byte for byte as runc 1.1 prints them, since
 * engines parse them (containerd's go-runc reads `state` and `list --format json`, `ps --format json` for
 * `ctr task ps`; podman reads `state`).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ToolError } from '@cutaway/cli';
import { cgroupPids } from './cgroups.ts';
import type { RuntimeContext } from './runtime-context.ts';
import { ociState, type ContainerRecord } from './state-dir.ts';

/** `state ID`: Go's json.MarshalIndent with two spaces, and no newline after it, as runc writes it. */
export function state(ctx: RuntimeContext, id: string): string {
  const record = ctx.state.get(id);
  const { status, pid } = ctx.state.status(record);
  return JSON.stringify(ociState(record, status, pid), null, 2);
}

/** A uid's name in /etc/passwd, or runc's `#UID` for one without an entry. */
function userName(uid: number): string {
  let passwd = '';
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    // no passwd file: every owner is a number
  }
  const entry = passwd.split('\n').map((l) => l.split(':')).find((f) => f[2] === String(uid));
  return entry?.[0] ?? `#${uid}`;
}

/**
 * Go's text/tabwriter as runc's list sets it up (minwidth 12, padding 3, spaces): every column but the last as
 * wide as its widest cell plus 3, at least 12.
 */
function tabulate(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(12, ...rows.map((r) => r[i]!.length + 3)));
  return rows.map((r) => r.map((cell, i) => (i < r.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('')).join('\n') + '\n';
}

/** `list [--format table|json] [-q]`: runc's columns; json is `null` for none, as Go encodes an empty slice it never made. */
export function list(ctx: RuntimeContext, format: string, quiet: boolean): string {
  const records = ctx.state.all();
  if (quiet) return records.map((r) => `${r.id}\n`).join('');
  const states = records.map((r) => {
    const { status, pid } = ctx.state.status(r);
    return ociState(r, status, pid, userName(ctx.state.ownerUid(r.id)));
  });
  if (format === 'json') return `${JSON.stringify(states.length ? states : null)}\n`;
  if (format !== 'table') throw new ToolError(`invalid format option`);
  return tabulate([['ID', 'PID', 'STATUS', 'BUNDLE', 'CREATED', 'OWNER'], ...states.map((s) => [s.id, String(s.pid), s.status, s.bundle, s.created, s.owner])]);
}

/** The processes of a container: those of its cgroups, or only its first one when it has no cgroup of its own. */
function containerPids(ctx: RuntimeContext, record: ContainerRecord): number[] {
  const { status, pid } = ctx.state.status(record);
  if (status === 'stopped' || pid === undefined) return [];
  return record.cgroups.length ? cgroupPids(record.cgroups) : [pid];
}

/**
 * `ps [--format table|json] ID [PS_ARGS…]`: as runc's, `ps` (default `-ef`) filtered to the container's
 * processes by the PID column; json is the pids alone.
 */
export function ps(ctx: RuntimeContext, id: string, format: string, psArgs: string[]): string {
  const pids = containerPids(ctx, ctx.state.get(id));
  if (format === 'json') return `${JSON.stringify(pids)}\n`;
  if (format !== 'table') throw new ToolError(`invalid format option`);
  const out = spawnSync('ps', psArgs.length ? psArgs : ['-ef'], { encoding: 'utf8' });
  if (out.status !== 0) throw new ToolError(`ps: ${out.error?.message ?? out.stderr.trim()}`);
  const [header = '', ...lines] = out.stdout.split('\n');
  const column = header.trim().split(/\s+/).indexOf('PID');
  if (column < 0) throw new ToolError("couldn't find PID field in ps output");
  const wanted = new Set(pids.map(String));
  return [header, ...lines.filter((l) => wanted.has(l.trim().split(/\s+/)[column] ?? ''))].join('\n') + '\n';
}
