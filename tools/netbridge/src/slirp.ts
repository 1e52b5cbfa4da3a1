import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { shellCommand, shellQuote, ToolError, UsageError } from '@cutaway/cli';
import { withFileLock } from '@cutaway/libc';
import { writeFileAtomic } from '@cutaway/oci';
import type { UpResult } from './endpoints.ts';
import { allocatePorts, parsePort, portKey } from './ports.ts';
import type { Runner } from './runner.ts';
import { checkName, type PortMapping } from './store.ts';

/**
 * netbridge rootless: what rootless podman gives a container on its default network. An ordinary user (or
 * root of a user namespace) cannot make a bridge, a veth pair or nft rules in the host's network namespace;
 * slirp4netns(1) gives a network namespace of the user's a TAP device instead and carries its traffic
 * through ordinary sockets of the host — as the user, like any program of theirs.
 *
 * up NAME: a new network namespace, held by a bind mount on RUN/slirp4netns/netns/NAME (unshare(1)
 * --net=FILE; it lives in the caller's mount namespace, rootless cutaway's, which the container's shim
 * keeps), lo up; slirp4netns attached to it with --configure (eth0 10.0.2.100/24, the default route via
 * 10.0.2.2, DNS at 10.0.2.3, as podman's) and --disable-host-loopback (the container cannot reach the
 * host's 127.0.0.1); each -p HOST:CTR a host forward added through its API socket (add_hostfwd): slirp4netns
 * listens on HOST and connects to 10.0.2.100:CTR. The namespace is made before anything runs in it, so no
 * process of the container's can race its network. Its pid, socket and ports go to RUN/slirp4netns/NAME.json;
 * down kills it and removes the namespace.
 */

/**
 * slirp4netns --configure's addresses (slirp4netns(1), "--configure"), and podman's MTU; dns: its built-in DNS
 * forwarder (slirp4netns(1): 10.0.2.3 unless --disable-dns), which passes queries on to the nameservers of the
 * host's resolv.conf — from slirp4netns, a process of the host's network namespace, so a nameserver on the
 * host's loopback answers too, which the container itself cannot reach (--disable-host-loopback).
 */
export const SLIRP = { ip: '10.0.2.100', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3', ifname: 'eth0', mtu: 65520 } as const;

interface SlirpRecord {
  name: string;
  netns: string;
  apiSocket: string;
  /** slirp4netns's pid; undefined until it has started (a record written first is cleaned up from, as netbridge's leases). */
  pid?: number;
  ports: PortMapping[];
  root: string;
}

/** RUN/slirp4netns: the records, netns/ (the bind-mounted namespaces), each slirp4netns's API socket and log. */
class SlirpStore {
  readonly dir: string;

  constructor(runDir: string) {
    this.dir = join(resolve(runDir), 'slirp4netns');
  }

  path(name: string, suffix: string): string {
    return join(this.dir, `${name}${suffix}`);
  }

  locked<T>(work: () => Promise<T>): Promise<T> {
    mkdirSync(join(this.dir, 'netns'), { recursive: true, mode: 0o700 });
    return withFileLock(join(this.dir, '.lock'), work);
  }

  read(name: string): SlirpRecord | undefined {
    const path = this.path(name, '.json');
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SlirpRecord) : undefined;
  }

  list(): SlirpRecord[] {
    return readdirSync(this.dir).filter((f) => f.endsWith('.json')).map((f) => this.read(f.slice(0, -5))!).filter(Boolean);
  }

  write(record: SlirpRecord): Promise<void> {
    return writeFileAtomic(this.path(record.name, '.json'), `${JSON.stringify(record, null, 2)}\n`);
  }

  remove(name: string): void {
    for (const suffix of ['.json', '.sock', '.log']) rmSync(this.path(name, suffix), { force: true });
  }
}

/** One request to slirp4netns's API socket: JSON in, the write side shut (slirp4netns(1), "API SOCKET"), JSON out. */
function slirpApi(socket: string, request: object): Promise<unknown> {
  return new Promise((resolvePromise, reject) => {
    let answer = '';
    const conn = createConnection({ path: socket }, () => conn.end(JSON.stringify(request)));
    conn.on('data', (d: Buffer) => (answer += d));
    conn.on('error', (e) => reject(new ToolError(`slirp4netns API ${socket}: ${e.message}`)));
    conn.on('close', () => {
      try {
        const reply = JSON.parse(answer) as { return?: unknown; error?: { desc?: string } };
        if (reply.error) reject(new ToolError(`slirp4netns: ${reply.error.desc ?? JSON.stringify(reply.error)}`));
        else resolvePromise(reply.return);
      } catch {
        reject(new ToolError(`slirp4netns API ${socket}: no answer`));
      }
    });
  });
}

/** A host forward as the API takes it: guest_addr is --configure's address when left out. */
function hostForward(port: PortMapping): object {
  return { execute: 'add_hostfwd', arguments: { proto: port.protocol, host_addr: '0.0.0.0', host_port: port.hostPort, guest_port: port.containerPort } };
}

/**
 * slirp4netns for the namespace at `netns`, in a session of its own (the caller's Ctrl-C is not its), its output
 * in a log beside its socket; returns its pid once it says it is ready (--ready-fd).
 */
function startSlirp(args: string[], log: string): Promise<number> {
  const out = openSync(log, 'a');
  const child = spawn('slirp4netns', args, { detached: true, stdio: ['ignore', out, out, 'pipe'] });
  closeSync(out);
  return new Promise<number>((resolvePromise, reject) => {
    const ready = child.stdio[3]!;
    const fail = (why: string) => {
      const said = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter((l) => !/^(sent|received) tapfd|WARNING: Support for seccomp/.test(l)).at(-1) : undefined;
      reject(new ToolError(`slirp4netns ${why}${said ? `: ${said}` : ''}`, 'apt-get install slirp4netns, for rootless networks'));
    };
    const timer = setTimeout(() => fail('did not get ready in 10 s'), 10_000);
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited (${signal ?? code})`));
    ready.once('data', () => {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      ready.destroy();
      child.unref();
      resolvePromise(child.pid!);
    });
  });
}

/** Whether `pid` is the slirp4netns of `record` (its socket on the command line), not a process that got the pid since. */
function isOurs(pid: number, record: SlirpRecord): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(`--api-socket=${record.apiSocket}`);
  } catch {
    return false;
  }
}

/** The options a root netbridge takes that mean nothing here; refused rather than ignored. */
export function refuseRootlessOptions(options: { network?: string; netns?: string; pid?: string; ip?: string; ifname?: string; 'ip-forward'?: boolean }, defaultNetwork: string): void {
  const why = 'rootless, a container gets slirp4netns on the default network (10.0.2.100)';
  if (options.network !== undefined && options.network !== defaultNetwork) throw new ToolError(`--network ${options.network}: ${why}; other networks need root`);
  for (const name of ['netns', 'pid', 'ip', 'ifname', 'ip-forward'] as const)
    if (options[name] !== undefined && options[name] !== false) throw new UsageError(`--${name} is not supported rootless: ${why}`);
}

/**
 * Rootless, ports below net.ipv4.ip_unprivileged_port_start cannot be bound by slirp4netns, which runs as the
 * user: said as such, with the sysctl that allows them (as rootless podman says it).
 */
function checkUnprivilegedPorts(specs: string[]): void {
  const start = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim());
  for (const spec of specs) {
    const { hostPort } = parsePort(spec);
    if (hostPort !== undefined && hostPort < start)
      throw new ToolError(`rootless: cannot publish privileged port ${hostPort}: ports below ${start} need root`, `as root: sysctl -w net.ipv4.ip_unprivileged_port_start=${hostPort}`);
  }
}

export async function slirpUp(run: Runner, runDir: string, root: string, name: string, publish: string[]): Promise<UpResult> {
  checkName(name, 'endpoint');
  checkUnprivilegedPorts(publish);
  const store = new SlirpStore(runDir);
  return store.locked(async () => {
    if (store.read(name)) throw new ToolError(`endpoint ${name} already exists`, `netbridge down ${name} removes it`);
    const taken = new Set(store.list().flatMap((r) => r.ports.map((p) => portKey(p.protocol, p.hostPort))));
    const ports = await allocatePorts(publish, taken);
    const record: SlirpRecord = { name, netns: join(store.dir, 'netns', name), apiSocket: store.path(name, '.sock'), ports, root };
    const slirpArgs = [
      '--configure', `--mtu=${SLIRP.mtu}`, '--disable-host-loopback', '--enable-sandbox', '--enable-seccomp',
      '--netns-type=path', `--api-socket=${record.apiSocket}`, record.netns, SLIRP.ifname,
    ];
    run.note(`up ${name}: slirp4netns, ${SLIRP.ifname} ${SLIRP.ip}/${SLIRP.prefix} via ${SLIRP.gateway}${ports.length ? `, ports ${ports.map((p) => `${p.hostPort}→${p.containerPort}/${p.protocol}`).join(' ')}` : ''}`);
    if (!run.dryRun) await store.write(record);
    try {
      // The namespace, kept by a bind mount on an empty file, with lo up: unshare(1) --net=FILE.
      run.script(`: > ${shellQuote(record.netns)}`);
      if (!run.dryRun) writeFileSync(record.netns, '');
      await run.command(['unshare', `--net=${record.netns}`, 'ip', 'link', 'set', 'lo', 'up']);
      run.script(`${shellCommand(['slirp4netns', ...slirpArgs, '--ready-fd=3'])} 3>${shellQuote(store.path(name, '.ready'))} >>${shellQuote(store.path(name, '.log'))} 2>&1 &`, `while [ ! -s ${shellQuote(store.path(name, '.ready'))} ]; do sleep 0.05; done; rm ${shellQuote(store.path(name, '.ready'))}`);
      if (!run.dryRun) {
        record.pid = await startSlirp([...slirpArgs, '--ready-fd=3'], store.path(name, '.log'));
        run.trace(shellCommand(['slirp4netns', ...slirpArgs]) + ' &');
        await store.write(record);
      }
      for (const port of ports) {
        const request = JSON.stringify(hostForward(port));
        run.script(`printf '%s' ${shellQuote(request)} | nc -U -N ${shellQuote(record.apiSocket)}`);
        if (!run.dryRun) {
          run.trace(`add_hostfwd ${port.protocol} 0.0.0.0:${port.hostPort} → ${SLIRP.ip}:${port.containerPort}`);
          await slirpApi(record.apiSocket, hostForward(port));
        }
      }
    } catch (e) {
      if (!run.dryRun) await takeDown(run, store, record);
      throw e;
    }
    return { name, network: 'slirp4netns', netns: record.netns, ifname: SLIRP.ifname, ip: SLIRP.ip, prefix: SLIRP.prefix, gateway: SLIRP.gateway, mac: '', bridge: '', veth: '', ports, dns: SLIRP.dns };
  });
}

/** slirp4netns ended (SIGTERM, then SIGKILL after a second), the namespace's bind mount and file gone, the record too: each step harmless when done already. */
async function takeDown(run: Runner, store: SlirpStore, record: SlirpRecord): Promise<void> {
  const pid = record.pid;
  if (pid !== undefined && isOurs(pid, record)) {
    run.trace(`kill ${pid}`);
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 100 && isOurs(pid, record); i++) await new Promise((r) => setTimeout(r, 10));
    if (isOurs(pid, record)) process.kill(pid, 'SIGKILL');
  }
  // Mounted only in the mount namespace of the netbridge that made it: elsewhere umount finds nothing, and
  // unlinking the file detaches the mount wherever it is (since Linux 3.18).
  if (existsSync(record.netns)) await run.command(['umount', record.netns]).catch(() => {});
  rmSync(record.netns, { force: true });
  store.remove(record.name);
}

export async function slirpDown(run: Runner, runDir: string, name: string): Promise<string> {
  const store = new SlirpStore(runDir);
  return store.locked(async () => {
    const record = store.read(name);
    if (!record) throw new ToolError(`no endpoint named ${name}`);
    if (run.dryRun) {
      run.note(`down ${name}: slirp4netns${record.pid !== undefined ? ` (pid ${record.pid})` : ''}`);
      if (record.pid !== undefined) run.script(`kill ${record.pid} 2>/dev/null || true`);
      run.script(`umount ${shellQuote(record.netns)} 2>/dev/null || true`, `rm -f ${[record.netns, store.path(name, '.json'), record.apiSocket, store.path(name, '.log')].map((p) => shellQuote(p)).join(' ')}`);
    } else await takeDown(run, store, record);
    return name;
  });
}
