/**
 * netbridge against the reference CNI plugins (Debian's containernetworking-plugins: bridge, portmap,
 * host-local), driven with the same settings: the time to attach one endpoint with one published port to a
 * bridge network and to detach it again.
 *
 *   pnpm exec tsx bench/netbridge.ts [--runs N]      (default 15; as root)
 *
 * Measured, N rounds after one warm-up round; every unit once a round, the units' order rotated every round
 * (round i starts with the i-th); each command a `/bin/sh -ec SCRIPT` under GNU time (h.measure: wall clock
 * from the spawn to the exit, peak RSS, CPU; `sync` first):
 *
 * - netbridge: `netbridge up NAME -p 8080:80 --ip-forward` (it makes the namespace /run/netns/NAME itself),
 *   then `netbridge down NAME` (it removes it), on the default network (cw0, 172.30.0.0/16);
 * - CNI ADD: `ip netns add NAME`, bridge ADD (bridge cwcni0, 172.31.0.0/16, gateway 172.31.0.1, host-local,
 *   isGateway, ipMasq, a default route), then portmap ADD with the bridge's result as prevResult and
 *   runtimeConfig.portMappings [8080 → 80/tcp]; CNI DEL: portmap DEL, bridge DEL (both with the ADD's result as
 *   prevResult, as libcni does), then `ip netns del NAME`. The namespace is in CNI's time because netbridge's
 *   up and down make and remove theirs;
 * - each twice: *steady*, where another endpoint (netbridge up / bridge ADD, no port) holds the bridge and the
 *   rules are there; and *first use*, where the bridge and the packet rules are not there before up/ADD (for
 *   netbridge: its resident endpoint is taken down first, so up makes cw0 and table ip cw and down, of the
 *   last endpoint, removes them; for CNI: cwcni0, the iptables-nft nat tables (ip and ip6) and host-local's leases are
 *   removed first, untimed; CNI's DEL removes neither bridge nor chains);
 * - floors: `node -e 0` (NODE_EXTRA_CA_CERTS unset, as bin/netbridge runs node), `netbridge --version`,
 *   `ip netns add X; ip netns del X`, and `exec /bin/true` (the harness).
 *
 * The "up + down" rows are per-round sums of the up and the down measured that round (peak RSS: the larger).
 *
 * Everything happens in a throwaway network namespace that stands for the host: the run re-executes itself
 * under `unshare --net --mount --propagation private`, brings lo up, mounts a sysfs (so /sys/class/net is this
 * namespace's) and a tmpfs on /run/netns (so `ip netns add` and its bind mounts stay in this mount namespace),
 * and refuses to go on if its network or mount namespace is the one it was started in. The bridges, veths, the nft table ip cw, the CNI
 * plugins' iptables chains and the ip_forward sysctl exist only there and go with it, even on a SIGKILL.
 * CUTAWAY_ROOT, the CNI configs and host-local's dataDir are on a tmpfs at a fresh /tmp/cw-bench-netbridge-XXXXXX.
 * On an error, Ctrl-C or SIGTERM the running command's process group is killed, the endpoints are taken down,
 * the namespaces deleted and the mounts undone. bin/netbridge is used as built (built first only if missing).
 *
 * Prints a markdown table and writes it, with the date and the machine, to bench/results/netbridge.md.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';

import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { cleanups, log, median, REPO_DIR, type Sample } from './harness.ts';

const NETBRIDGE = join(REPO_DIR, 'bin', 'netbridge');
const NETBRIDGE_JS = join(REPO_DIR, 'tools', 'netbridge', 'dist', 'netbridge.cjs');
const RESULTS = join(REPO_DIR, 'bench', 'results', 'netbridge.md');
const CNI_PATH = '/usr/lib/cni';
const PLUGINS = ['bridge', 'portmap', 'host-local'];
const TMPFS_SIZE = '64m';
/** Set in the re-executed run, inside its own network and mount namespaces. */
const NS_MARK = 'CUTAWAY_BENCH_NETBRIDGE_NS';

const HOST_PORT = 8080;
const CONTAINER_PORT = 80;
/** netbridge's default network (tools/netbridge/src/store.ts). */
const NB_BRIDGE = 'cw0';
const NB_GATEWAY = '172.30.0.1';
const CNI_BRIDGE = 'cwcni0';
const CNI_SUBNET = '172.31.0.0/16';
const CNI_GATEWAY = '172.31.0.1';
const CNI_NETWORK = 'cwbench';

const runs = h.parseRuns(
  'netbridge',
  15,
  'netbridge up + down of one endpoint with one published port, against the CNI bridge + portmap plugins (host-local IPAM) ADD + DEL in a fresh network namespace; in a throwaway network namespace. See bench/README.md.',
);

const ENV = await h.inThrowawayHost(NS_MARK, 'bridges, veths, network namespaces, nftables and iptables rules, in a namespace of their own', log);
h.cleanUpOnSignals();

/** The Node floor is taken as bin/netbridge's shebang runs node: with NODE_EXTRA_CA_CERTS unset. */
const ENV_NO_CA = { ...ENV };
delete ENV_NO_CA.NODE_EXTRA_CA_CERTS;

const PREFIX = `cwbench-${process.pid}-`;
const ms = (x: number) => x.toFixed(1);
const ratio = (x: number) => x.toFixed(2);
const signed = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(1)}`;
const sleep = (t: number) => new Promise((r) => setTimeout(r, t));
/** sha256 of netbridge's bundle: the test suite rebuilds every tool when it starts, most often to the same bytes. */
const bundleHash = () => createHash('sha256').update(readFileSync(NETBRIDGE_JS)).digest('hex');
const netnsExists = (name: string) => existsSync(`/run/netns/${name}`);
/** Our network namespace's interfaces: the sysfs mounted here is this namespace's. */
const links = () => readdirSync('/sys/class/net').sort();

// ─── The throwaway host ──────────────────────────────────────────────────────

/** Mounts that make this network namespace a host of its own; undone (and their netns deleted) on the way out. */
async function setUpHost(): Promise<void> {
  await run('ip', ['link', 'set', 'lo', 'up']);
  await run('mount', ['-t', 'sysfs', '-o', 'nosuid,nodev,noexec', 'cwbench-sysfs', '/sys']);
  cleanups.push(() => run('umount', ['/sys']));
  const madeRunNetns = !existsSync('/run/netns');
  if (madeRunNetns) {
    await mkdir('/run/netns');
    cleanups.push(() => rmdir('/run/netns'));
  }
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'cwbench-netns', '/run/netns']);
  cleanups.push(() => h.unmountAll('/run/netns'));
  const left = links().filter((l) => l !== 'lo');
  if (left.length) throw new Error(`the new network namespace has interfaces already: ${left.join(' ')}`);
}

// ─── netbridge ───────────────────────────────────────────────────────────────

interface Tool {
  up(name: string, ports: boolean): Promise<Sample>;
  down(name: string): Promise<Sample>;
}

function netbridge(work: string, env: NodeJS.ProcessEnv): Tool {
  const sh = (script: string, vars: Record<string, string>) => h.measure(work, 'sh', ['-ec', script], { ...env, ...vars });
  return {
    async up(name, ports) {
      const sample = await sh(`exec "$NB" up "$CWB_NS" ${ports ? `-p ${HOST_PORT}:${CONTAINER_PORT} ` : ''}--ip-forward`, { NB: NETBRIDGE, CWB_NS: name });
      if (sample.stdout !== `/run/netns/${name}\n`) throw new Error(`netbridge up ${name} printed ${JSON.stringify(sample.stdout)}, not /run/netns/${name}`);
      if (!netnsExists(name)) throw new Error(`netbridge up ${name}: no /run/netns/${name}`);
      return sample;
    },
    async down(name) {
      const sample = await sh('exec "$NB" down "$CWB_NS"', { NB: NETBRIDGE, CWB_NS: name });
      if (netnsExists(name)) throw new Error(`netbridge down ${name} left /run/netns/${name}`);
      return sample;
    },
  };
}

// ─── The CNI plugins, chained as libcni chains them ──────────────────────────

interface CniResult {
  interfaces?: { name: string; sandbox?: string }[];
  ips?: { address: string; gateway?: string }[];
}

/**
 * bridge then portmap, as a conflist of the two would run them (libcni's AddNetworkList / DelNetworkList):
 * ADD in order, each plugin's result the next one's prevResult, portmap given runtimeConfig.portMappings (its
 * capability); DEL in reverse order, each with the ADD's final result as prevResult. The "resident" endpoint
 * is bridge only (no port), like netbridge's.
 */
function cni(work: string, env: NodeJS.ProcessEnv, cniDir: string) {
  const dataDir = join(cniDir, 'ipam');
  const bridgeConf = {
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    type: 'bridge',
    bridge: CNI_BRIDGE,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'host-local', ranges: [[{ subnet: CNI_SUBNET, gateway: CNI_GATEWAY }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
  };
  const portmapConf = {
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    type: 'portmap',
    capabilities: { portMappings: true },
    runtimeConfig: { portMappings: [{ hostPort: HOST_PORT, containerPort: CONTAINER_PORT, protocol: 'tcp' }] },
  };
  const bridgeFile = join(cniDir, 'bridge.json');
  /** A config without its closing brace and with `,"prevResult":`: the shell appends the result and the brace. */
  const head = (conf: object) => `${JSON.stringify(conf).slice(0, -1)},"prevResult":`;
  const vars = { CNI_PATH, CNI_IFNAME: 'eth0', CWB_BRIDGE: bridgeFile, CWB_BR_HEAD: head(bridgeConf), CWB_PM_HEAD: head(portmapConf) };
  /** The ADD result of each container added and not deleted yet, and whether it has the port (portmap in its chain). */
  const added = new Map<string, { result: CniResult; ports: boolean }>();
  const envOf = (name: string, command: 'ADD' | 'DEL', prev = ''): NodeJS.ProcessEnv => ({
    ...env,
    ...vars,
    CNI_COMMAND: command,
    CNI_CONTAINERID: name,
    CNI_NETNS: `/run/netns/${name}`,
    CWB_NS: name,
    CWB_PREV: prev,
  });
  const delScript = (ports: boolean) =>
    [
      ...(ports ? ['printf \'%s%s}\' "$CWB_PM_HEAD" "$CWB_PREV" | "$CNI_PATH/portmap"'] : []),
      'printf \'%s%s}\' "$CWB_BR_HEAD" "$CWB_PREV" | "$CNI_PATH/bridge"',
      'ip netns del "$CWB_NS"',
    ].join('\n');
  const tool = {
    dataDir,
    added,
    /** ADD: the namespace, bridge ADD, and with `ports` portmap ADD given bridge's result. */
    async up(name: string, ports: boolean): Promise<Sample> {
      await mkdir(cniDir, { recursive: true });
      if (!existsSync(bridgeFile)) await writeFile(bridgeFile, JSON.stringify(bridgeConf));
      const script = ports
        ? 'ip netns add "$CWB_NS"\nr=$("$CNI_PATH/bridge" < "$CWB_BRIDGE")\nprintf \'%s%s}\' "$CWB_PM_HEAD" "$r" | "$CNI_PATH/portmap"'
        : 'ip netns add "$CWB_NS"\nexec "$CNI_PATH/bridge" < "$CWB_BRIDGE"';
      const sample = await h.measure(work, 'sh', ['-ec', script], envOf(name, 'ADD'));
      const result = JSON.parse(sample.stdout) as CniResult;
      added.set(name, { result, ports });
      const address = result.ips?.[0]?.address ?? '';
      if (!address.startsWith('172.31.') || !result.interfaces?.some((i) => i.name === CNI_BRIDGE) || !result.interfaces.some((i) => i.name === 'eth0' && i.sandbox === `/run/netns/${name}`))
        throw new Error(`CNI ADD ${name}: unexpected result ${sample.stdout}`);
      return sample;
    },
    /** DEL in reverse order, each plugin given the ADD's result; then the namespace. */
    async down(name: string): Promise<Sample> {
      const entry = added.get(name);
      if (!entry) throw new Error(`CNI DEL ${name}: no ADD result`);
      const sample = await h.measure(work, 'sh', ['-ec', delScript(entry.ports)], envOf(name, 'DEL', JSON.stringify(entry.result)));
      added.delete(name);
      if (netnsExists(name)) throw new Error(`CNI DEL ${name} left /run/netns/${name}`);
      const ip = entry.result.ips?.[0]?.address.split('/')[0] ?? '';
      if (existsSync(join(dataDir, CNI_NETWORK, ip))) throw new Error(`CNI DEL ${name} left host-local's lease of ${ip}`);
      return sample;
    },
    /** DEL outside the measurements, for the cleanup (h.measure refuses to start anything then). */
    async cleanUp(): Promise<void> {
      for (const [name, entry] of added) {
        await run('sh', ['-ec', delScript(entry.ports)], { env: envOf(name, 'DEL', JSON.stringify(entry.result)) }).then(() => log(`cleanup: CNI DEL ${name}`));
        added.delete(name);
      }
    },
  };
  return tool satisfies Tool;
}

// ─── Checks ──────────────────────────────────────────────────────────────────

/** GET url's body (a connection of its own, no keep-alive), or an error after `timeout` ms. */
function get(url: string, timeout = 3000): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const request = httpGet(url, { agent: false, timeout }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (d: string) => (body += d));
      response.on('end', () => (response.statusCode === 200 ? resolvePromise(body) : reject(new Error(`GET ${url}: ${response.statusCode}`))));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url}: no answer in ${timeout} ms`)));
    request.on('error', reject);
  });
}

/**
 * That the endpoint works: busybox httpd on port CONTAINER_PORT in its namespace answers at its own address
 * (through the bridge), and at HOST_PORT of 127.0.0.1 and of the bridge's address (the published port, DNAT in
 * the output hook, and for 127.0.0.1 a masquerade so the reply finds its way).
 */
async function checkServes(work: string, netns: string, address: string, gateway: string): Promise<void> {
  const www = join(work, 'www');
  await mkdir(www, { recursive: true });
  const token = `${netns}\n`;
  await writeFile(join(www, 'index.html'), token);
  const httpd = h.start('ip', ['netns', 'exec', netns, 'busybox', 'httpd', '-f', '-p', String(CONTAINER_PORT), '-h', www]);
  httpd.stdout.resume();
  httpd.stderr.resume();
  const closed = new Promise<void>((r) => httpd.on('close', () => r()));
  try {
    for (let began = Date.now(); ; await sleep(20)) {
      const direct = await get(`http://${address}:${CONTAINER_PORT}/`, 500).catch((e: Error) => e);
      if (direct === token) break;
      if (Date.now() - began > 5000) throw new Error(`${netns}: httpd at ${address}:${CONTAINER_PORT} does not answer: ${direct instanceof Error ? direct.message : JSON.stringify(direct)}`);
    }
    for (const host of ['127.0.0.1', gateway]) {
      const body = await get(`http://${host}:${HOST_PORT}/`).catch((e: Error) => e);
      if (body !== token) throw new Error(`${netns}: the published port ${host}:${HOST_PORT} does not reach it: ${body instanceof Error ? body.message : JSON.stringify(body)}`);
    }
  } finally {
    try {
      process.kill(-httpd.pid!, 'SIGKILL');
    } catch {
      // gone already
    }
    await closed;
  }
}

const nft = (args: string[]) => run('nft', args);
const natRules = async () => (await run('iptables-save', ['-t', 'nat'])).split('\n');

/**
 * After each round, the host namespace must be as the residents alone leave it: lo, the two bridges and the two
 * residents' veths; only the residents' namespaces; no element in netbridge's port maps; no CNI-DN chain and
 * one masquerade chain (the resident's) in CNI's iptables; one endpoint in netbridge's state; one lease.
 */
async function checkBaseline(root: string, dataDir: string, residents: { nb: string; cni: string }): Promise<void> {
  const problems: string[] = [];
  const others = links().filter((l) => !['lo', NB_BRIDGE, CNI_BRIDGE].includes(l));
  if (!links().includes(NB_BRIDGE) || !links().includes(CNI_BRIDGE)) problems.push(`a bridge is missing: ${links().join(' ')}`);
  if (others.filter((l) => l.startsWith('cwv')).length !== 1 || others.filter((l) => l.startsWith('veth')).length !== 1 || others.length !== 2) problems.push(`interfaces: ${links().join(' ')}`);
  const namespaces = readdirSync('/run/netns').sort();
  if (namespaces.join(' ') !== [residents.cni, residents.nb].sort().join(' ')) problems.push(`network namespaces: ${namespaces.join(' ')}`);
  const tcpPorts = await nft(['list', 'map', 'ip', 'cw', 'tcp-ports']);
  if (/elements/.test(tcpPorts)) problems.push(`netbridge's tcp-ports map: ${tcpPorts}`);
  const nat = await natRules();
  const dn = nat.filter((l) => /^:CNI-DN-/.test(l));
  const masq = nat.filter((l) => /^-A POSTROUTING -s /.test(l));
  if (dn.length || masq.length !== 1) problems.push(`CNI's nat rules: ${[...dn, ...masq].join('; ')}`);
  const state = JSON.parse(await readFile(join(root, 'networks', 'bridge.json'), 'utf8')) as { endpoints: Record<string, unknown> };
  if (Object.keys(state.endpoints).join(' ') !== residents.nb) problems.push(`netbridge's endpoints: ${Object.keys(state.endpoints).join(' ')}`);
  const leases = readdirSync(join(dataDir, CNI_NETWORK)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  if (leases.length !== 1) problems.push(`host-local's leases: ${leases.join(' ')}`);
  if (problems.length) throw new Error(`after a round, the host namespace is not as the residents alone leave it:\n  ${problems.join('\n  ')}`);
}

// ─── Main ────────────────────────────────────────────────────────────────────

type Key =
  | 'nbUp'
  | 'nbDown'
  | 'cniAdd'
  | 'cniDel'
  | 'nbFirstUp'
  | 'nbLastDown'
  | 'cniFirstAdd'
  | 'cniFirstDel'
  | 'node'
  | 'version'
  | 'netns'
  | 'floor';

async function main(): Promise<void> {
  for (const p of PLUGINS) if (!existsSync(join(CNI_PATH, p))) throw new Error(`${CNI_PATH}/${p} is missing: apt-get install containernetworking-plugins`);
  if (!existsSync(h.GNU_TIME)) throw new Error(`${h.GNU_TIME} is missing: apt-get install time`);
  for (const cmd of ['iptables', 'iptables-save', 'nft', 'ip', 'busybox', 'unshare']) if (!(await run('sh', ['-c', `command -v ${cmd}`]).catch(() => ''))) throw new Error(`${cmd} is missing${cmd.startsWith('iptables') ? ' (the CNI plugins run it: apt-get install iptables)' : ''}`);
  const built = existsSync(NETBRIDGE) && existsSync(NETBRIDGE_JS);
  if (!built) {
    log('bin/netbridge is missing: building it');
    await h.buildTool('netbridge');
  }
  const builtAt = statSync(NETBRIDGE_JS).mtime.toISOString();
  const builtHash = bundleHash();
  const shebang = readFileSync(NETBRIDGE_JS, 'utf8').split('\n', 1)[0] ?? '';
  const netbridgeUnsetsCa = /-u NODE_EXTRA_CA_CERTS/.test(shebang);

  await setUpHost();
  const work = await h.tmpfsWorkDir('cw-bench-netbridge', TMPFS_SIZE);
  const root = join(work, 'root');
  const nb = netbridge(work, { ...ENV, CUTAWAY_ROOT: root });
  const c = cni(work, ENV, join(work, 'cni'));
  const residents = { nb: `${PREFIX}nres`, cni: `${PREFIX}cres` };
  let serial = 0;
  const name = (tool: 'n' | 'c') => `${PREFIX}${tool}${++serial}`;

  // On the way out (before the unmounts): every endpoint netbridge still has, every CNI container still added,
  // every namespace left. All of it would go with the namespace anyway.
  cleanups.push(async () => {
    const state = await readFile(join(root, 'networks', 'bridge.json'), 'utf8').then((t) => JSON.parse(t) as { endpoints: Record<string, unknown> }, () => ({ endpoints: {} }));
    for (const e of Object.keys(state.endpoints)) await run(NETBRIDGE, ['down', e], { env: { ...ENV, CUTAWAY_ROOT: root } }).then(() => log(`cleanup: netbridge down ${e}`));
    await c.cleanUp();
    for (const ns of existsSync('/run/netns') ? readdirSync('/run/netns') : []) if (ns.startsWith('cwbench-')) await run('ip', ['netns', 'del', ns]).then(() => log(`cleanup: ip netns del ${ns}`));
  });

  const resetCni = async () => {
    // As before CNI's first ADD ever: no bridge, no nat tables (iptables-nft's `table ip nat`, where the CNI chains are, and
    // `table ip6 nat`, which portmap also touches), no leases.
    if (links().includes(CNI_BRIDGE)) await run('ip', ['link', 'del', CNI_BRIDGE]);
    const tables = (await nft(['list', 'tables'])).split('\n');
    for (const family of ['ip', 'ip6']) if (tables.includes(`table ${family} nat`)) await nft(['delete', 'table', family, 'nat']);
    await rm(c.dataDir, { recursive: true, force: true });
  };

  interface Unit {
    keys: Key[];
    run(warmUp: boolean): Promise<Sample[]>;
  }
  const pair = (tool: Tool, which: 'n' | 'c', gateway: string, address: (n: string) => Promise<string>) => async (warmUp: boolean) => {
    const n = name(which);
    const up = await tool.up(n, true);
    if (warmUp) await checkServes(work, n, await address(n), gateway);
    return [up, await tool.down(n)];
  };
  const nbAddress = async (n: string) => {
    const state = JSON.parse(await readFile(join(root, 'networks', 'bridge.json'), 'utf8')) as { endpoints: Record<string, { ip: string }> };
    return state.endpoints[n]!.ip;
  };
  const cniAddress = async (n: string) => c.added.get(n)!.result.ips![0]!.address.split('/')[0]!;
  const nbPair = pair(nb, 'n', NB_GATEWAY, nbAddress);
  const cniPair = pair(c, 'c', CNI_GATEWAY, cniAddress);
  const units: Unit[] = [
    { keys: ['nbUp', 'nbDown'], run: nbPair },
    { keys: ['cniAdd', 'cniDel'], run: cniPair },
    {
      keys: ['nbFirstUp', 'nbLastDown'],
      async run(warmUp) {
        await nb.down(residents.nb);
        if (links().includes(NB_BRIDGE) || (await nft(['list', 'tables'])).includes('table ip cw')) throw new Error('netbridge down of the only endpoint left cw0 or table ip cw');
        const samples = await nbPair(warmUp);
        if (links().includes(NB_BRIDGE) || (await nft(['list', 'tables'])).includes('table ip cw')) throw new Error('netbridge down of the last endpoint left cw0 or table ip cw');
        await nb.up(residents.nb, false);
        return samples;
      },
    },
    {
      keys: ['cniFirstAdd', 'cniFirstDel'],
      async run(warmUp) {
        await c.down(residents.cni);
        await resetCni();
        const samples = await cniPair(warmUp);
        await c.up(residents.cni, false);
        return samples;
      },
    },
    { keys: ['node'], run: async () => [await h.measure(work, 'sh', ['-ec', 'exec node -e 0'], ENV_NO_CA)] },
    { keys: ['version'], run: async () => [await h.measure(work, 'sh', ['-ec', `exec "${NETBRIDGE}" --version`], ENV)] },
    { keys: ['netns'], run: async () => [await h.measure(work, 'sh', ['-ec', 'ip netns add "$CWB_NS"\nexec ip netns del "$CWB_NS"'], { ...ENV, CWB_NS: name('c') })] },
    { keys: ['floor'], run: async () => [await h.measure(work, 'sh', ['-ec', 'exec /bin/true'], ENV)] },
  ];

  const loadBefore = await h.loadAverage();
  log(`the residents: netbridge up ${residents.nb}, CNI bridge ADD ${residents.cni} (no ports)`);
  await nb.up(residents.nb, false);
  await c.up(residents.cni, false);
  log(`warm-up round (not counted; each endpoint must serve http at :${CONTAINER_PORT} and at the published :${HOST_PORT}); load average ${loadBefore}`);
  for (const unit of units) await unit.run(true);
  await checkBaseline(root, c.dataDir, residents);

  const samples = new Map<Key, Sample[]>(units.flatMap((u) => u.keys.map((k) => [k, []] as [Key, Sample[]])));
  for (let round = 0; round < runs; round++) {
    for (const unit of h.rotated(units, round)) {
      const got = await unit.run(false);
      unit.keys.forEach((k, i) => samples.get(k)!.push(got[i]!));
    }
    await checkBaseline(root, c.dataDir, residents);
    const last = (k: Key) => ms(samples.get(k)!.at(-1)!.wallMs);
    log(
      `round ${round + 1}/${runs}: netbridge up ${last('nbUp')} + down ${last('nbDown')}, CNI ADD ${last('cniAdd')} + DEL ${last('cniDel')}; first use: netbridge ${last('nbFirstUp')} + ${last('nbLastDown')}, CNI ${last('cniFirstAdd')} + ${last('cniFirstDel')} ms`,
    );
  }
  await nb.down(residents.nb);
  await c.down(residents.cni);
  const loadAfter = await h.loadAverage();

  // ─── The report ──────────────────────────────────────────────────────────
  const sum = (a: Key, b: Key): Sample[] =>
    samples.get(a)!.map((x, i) => {
      const y = samples.get(b)![i]!;
      return { wallMs: x.wallMs + y.wallMs, maxRssKiB: Math.max(x.maxRssKiB, y.maxRssKiB), cpuS: x.cpuS + y.cpuS, stdout: '' };
    });
  interface Line {
    label: string;
    samples: Sample[];
    /** The CNI line it is compared with. */
    vs?: Line;
  }
  const line = (label: string, s: Sample[], vs?: Line): Line => (vs ? { label, samples: s, vs } : { label, samples: s });
  const s = (k: Key) => samples.get(k)!;
  const cniBoth = line(`CNI: ADD + DEL (steady: ${CNI_BRIDGE} and the chains there)`, sum('cniAdd', 'cniDel'));
  const cniAdd = line('CNI ADD: ip netns add + bridge ADD + portmap ADD (steady)', s('cniAdd'));
  const cniDel = line('CNI DEL: portmap DEL + bridge DEL + ip netns del (steady)', s('cniDel'));
  const cniFirstBoth = line(`CNI: ADD + DEL, first use (no ${CNI_BRIDGE}, no nat tables, no leases before the ADD)`, sum('cniFirstAdd', 'cniFirstDel'));
  const cniFirstAdd = line('CNI ADD, first use', s('cniFirstAdd'));
  const cniFirstDel = line('CNI DEL after a first ADD (leaves bridge and chains)', s('cniFirstDel'));
  const nbBoth = line(`netbridge up + down (steady: another endpoint holds ${NB_BRIDGE})`, sum('nbUp', 'nbDown'), cniBoth);
  const nbFirstBoth = line(`netbridge up + down, first use (up makes ${NB_BRIDGE} and table ip cw, down removes them)`, sum('nbFirstUp', 'nbLastDown'), cniFirstBoth);
  const lines: Line[] = [
    nbBoth,
    cniBoth,
    line(`netbridge up NAME -p ${HOST_PORT}:${CONTAINER_PORT} --ip-forward (steady)`, s('nbUp'), cniAdd),
    cniAdd,
    line('netbridge down NAME (steady)', s('nbDown'), cniDel),
    cniDel,
    nbFirstBoth,
    cniFirstBoth,
    line('netbridge up, first use', s('nbFirstUp'), cniFirstAdd),
    cniFirstAdd,
    line('netbridge down, the last endpoint', s('nbLastDown'), cniFirstDel),
    cniFirstDel,
    line(`floor: node -e 0${ENV.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, s('node')),
    line('floor: netbridge --version', s('version')),
    line('floor: ip netns add X; ip netns del X', s('netns')),
    line('floor: exec /bin/true (the harness)', s('floor')),
  ];
  const wall = (l: Line) => l.samples.map((x) => x.wallMs);
  const med = (l: Line) => median(wall(l));
  const table = [
    '| measurement | median ms | min ms | max ms | × CNI | peak RSS median MiB | CPU (user+sys) median ms |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...lines.map((l) => {
      const xs = wall(l);
      const vs = l.vs ? ratio(med(l) / med(l.vs)) : l.label.startsWith('CNI') ? '1.00' : '';
      return `| ${l.label} | ${ms(median(xs))} | ${ms(Math.min(...xs))} | ${ms(Math.max(...xs))} | ${vs} | ${h.mib(median(l.samples.map((x) => x.maxRssKiB)))} | ${ms(median(l.samples.map((x) => x.cpuS * 1000)))} |`;
    }),
  ];
  const m = (k: Key) => median(s(k).map((x) => x.wallMs));
  const notes = [
    `- up + down, steady: netbridge / CNI ${ratio(med(nbBoth) / med(cniBoth))} (${ms(med(nbBoth))} against ${ms(med(cniBoth))} ms); up / ADD ${ratio(m('nbUp') / m('cniAdd'))}, down / DEL ${ratio(m('nbDown') / m('cniDel'))}.`,
    `- up + down, first use: netbridge / CNI ${ratio(med(nbFirstBoth) / med(cniFirstBoth))}. Against the steady rows (differences of medians): netbridge's first up, which makes the bridge and the table, ${signed(m('nbFirstUp') - m('nbUp'))} ms; its down of the last endpoint, which removes them, ${signed(m('nbLastDown') - m('nbDown'))} ms; CNI's first ADD ${signed(m('cniFirstAdd') - m('cniAdd'))} ms, and its DEL after it ${signed(m('cniFirstDel') - m('cniDel'))} ms.`,
    `- floors: Node's start ${ms(m('node'))} ms, netbridge --version ${ms(m('version'))} ms (so each netbridge command spends ~${ms(m('version'))} ms before it does anything), a namespace made and deleted ${ms(m('netns'))} ms, the harness ${ms(m('floor'))} ms.`,
    `- peak RSS is GNU time's %M over \`sh -ec\`: the largest of sh and each process it waited for. For netbridge that is node; for CNI the largest of ip, bridge, portmap, host-local (bridge execs host-local) and iptables.`,
  ];
  const report = [
    `${runs} rounds after one warm-up round; every unit once a round, the order rotated every round; each command one \`sh -ec\` under GNU time (\`sync\` before each), wall clock from the spawn to the exit. The "up + down" rows are the per-round sums of the up and the down.`,
    '',
    ...table,
    '',
    ...notes,
  ].join('\n');
  process.stdout.write(`\n${report}\n`);

  const version = h.versionOf;
  const machine = await h.machineLine([
    `containernetworking-plugins ${await version('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins'])}`,
    await version('iptables', ['--version']),
    await version('nft', ['--version']),
    await version('ip', ['-V']),
  ]);
  const commit = (await h.gitCommit()) ?? 'unknown';
  const dirty = await h.gitDirty(['libs', 'tools/netbridge', 'scripts/build.ts']);
  const rebuiltAt = statSync(NETBRIDGE_JS).mtime.toISOString();
  const sameBundle = bundleHash() === builtHash;
  const doc = [
    '# netbridge against the CNI bridge + portmap plugins: one endpoint with one published port, up and down',
    '',
    `Written by \`pnpm exec tsx bench/netbridge.ts --runs ${runs}\` on ${new Date().toISOString()}, at commit ${commit}${dirty ? ' (with uncommitted changes in libs/, tools/netbridge/ or scripts/build.ts)' : ''}; bin/netbridge ${built ? 'as built' : 'built by the bench'} at ${builtAt}${rebuiltAt === builtAt ? '' : `, and rebuilt during the run at ${rebuiltAt} (${sameBundle ? 'to the same bytes: the test suite builds every tool when it starts' : 'to other bytes: the samples span two builds'})`}.`,
    '',
    `Machine: ${machine}. Load average ${loadBefore} before, ${loadAfter} after. NODE_EXTRA_CA_CERTS ${ENV.NODE_EXTRA_CA_CERTS ? `was set (${ENV.NODE_EXTRA_CA_CERTS})` : 'was not set'}; bin/netbridge's shebang ${netbridgeUnsetsCa ? 'unsets it' : 'does not unset it'} (\`${shebang}\`).`,
    '',
    `Both in a throwaway network namespace (\`unshare --net --mount\`) standing for the host. netbridge: \`netbridge up NAME -p ${HOST_PORT}:${CONTAINER_PORT} --ip-forward\` and \`netbridge down NAME\`, default network (${NB_BRIDGE}, 172.30.0.0/16). CNI (${CNI_PATH}): bridge \`${CNI_BRIDGE}\` ${CNI_SUBNET}, gateway ${CNI_GATEWAY}, isGateway, ipMasq, host-local IPAM with a default route; portmap with runtimeConfig.portMappings [${HOST_PORT} → ${CONTAINER_PORT}/tcp]; ADD = \`ip netns add\` + bridge ADD + portmap ADD (prevResult: bridge's result), DEL = portmap DEL + bridge DEL (prevResult: the ADD's result) + \`ip netns del\`.`,
  ];
  const everySample = ['Every sample, in run order (ms):', '', ...lines.map((l) => `- ${l.label}: ${wall(l).map(ms).join(' ')}`)];
  await h.writeResults(RESULTS, doc, report, everySample);
}

await h.finish(main);
