/**
 * netbridge against the reference CNI plugins (Debian's containernetworking-plugins: bridge, portmap,
 * host-local), driven with the same settings: the time to attach one endpoint with one published port to a
 * bridge network and to detach it again, in a throwaway network namespace. As root; see bench/README.md.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { join } from 'node:path';
import { run } from '../test/fixtures/images.ts';
import * as h from './harness.ts';
import { ms, ratio, type Sample } from './harness.ts';

const NETBRIDGE = join(h.BIN, 'netbridge');
const CNI_PATH = '/usr/lib/cni';
const PLUGINS = ['bridge', 'portmap', 'host-local'];
const HOST_PORT = 8080;
const CONTAINER_PORT = 80;
/** netbridge's default network (tools/netbridge/src/store.ts). */
const NB_BRIDGE = 'cw0';
const NB_GATEWAY = '172.30.0.1';
const CNI_BRIDGE = 'cwcni0';
const CNI_SUBNET = '172.31.0.0/16';
const CNI_GATEWAY = '172.31.0.1';
const CNI_NETWORK = 'cwbench';
const PREFIX = `cwbench-${process.pid}-`;

const { runs } = h.parseOptions(
  'netbridge',
  'netbridge up + down of one endpoint with one published port, against the CNI bridge + portmap plugins (host-local IPAM) ADD + DEL in a fresh network namespace; in a throwaway network namespace. 15 rounds by default.',
  { runs: 15 },
);
await h.inThrowawayHost('bridges, veths, network namespaces, nftables and iptables rules, in a namespace of their own');

const signed = (x: number) => `${x < 0 ? '−' : '+'}${Math.abs(x).toFixed(1)}`;
const netnsExists = (name: string) => existsSync(`/run/netns/${name}`);

// ─── netbridge ───────────────────────────────────────────────────────────────

interface Tool {
  up(name: string, ports: boolean): Promise<Sample>;
  down(name: string): Promise<Sample>;
}

function netbridge(env: NodeJS.ProcessEnv): Tool {
  const sh = (script: string, vars: Record<string, string>) => h.measure('sh', ['-ec', script], { ...env, ...vars });
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
function cni(env: NodeJS.ProcessEnv, cniDir: string) {
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
      const sample = await h.measure('sh', ['-ec', script], envOf(name, 'ADD'));
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
      const sample = await h.measure('sh', ['-ec', delScript(entry.ports)], envOf(name, 'DEL', JSON.stringify(entry.result)));
      added.delete(name);
      if (netnsExists(name)) throw new Error(`CNI DEL ${name} left /run/netns/${name}`);
      const ip = entry.result.ips?.[0]?.address.split('/')[0] ?? '';
      if (existsSync(join(dataDir, CNI_NETWORK, ip))) throw new Error(`CNI DEL ${name} left host-local's lease of ${ip}`);
      return sample;
    },
    /** DEL outside the measurements, for the cleanup (h.measure refuses to start anything then). */
    async cleanUp(): Promise<void> {
      for (const [name, entry] of added) {
        await run('sh', ['-ec', delScript(entry.ports)], { env: envOf(name, 'DEL', JSON.stringify(entry.result)) }).then(() => h.log(`cleanup: CNI DEL ${name}`));
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
    for (let began = Date.now(); ; await h.sleep(20)) {
      const direct = await get(`http://${address}:${CONTAINER_PORT}/`, 500).catch((e: Error) => e);
      if (direct === token) break;
      if (Date.now() - began > 5000) throw new Error(`${netns}: httpd at ${address}:${CONTAINER_PORT} does not answer: ${direct instanceof Error ? direct.message : JSON.stringify(direct)}`);
    }
    for (const host of ['127.0.0.1', gateway]) {
      const body = await get(`http://${host}:${HOST_PORT}/`).catch((e: Error) => e);
      if (body !== token) throw new Error(`${netns}: the published port ${host}:${HOST_PORT} does not reach it: ${body instanceof Error ? body.message : JSON.stringify(body)}`);
    }
  } finally {
    h.kill(-httpd.pid!);
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
  const others = h.links().filter((l) => !['lo', NB_BRIDGE, CNI_BRIDGE].includes(l));
  if (!h.links().includes(NB_BRIDGE) || !h.links().includes(CNI_BRIDGE)) problems.push(`a bridge is missing: ${h.links().join(' ')}`);
  if (others.filter((l) => l.startsWith('cwv')).length !== 1 || others.filter((l) => l.startsWith('veth')).length !== 1 || others.length !== 2) problems.push(`interfaces: ${h.links().join(' ')}`);
  const namespaces = h.netnsNames();
  if (namespaces.join(' ') !== [residents.cni, residents.nb].sort().join(' ')) problems.push(`network namespaces: ${namespaces.join(' ')}`);
  const tcpPorts = await nft(['list', 'map', 'ip', 'cw', 'tcp-ports']);
  if (/elements/.test(tcpPorts)) problems.push(`netbridge's tcp-ports map: ${tcpPorts}`);
  const nat = await natRules();
  const dn = nat.filter((l) => /^:CNI-DN-/.test(l));
  const masq = nat.filter((l) => /^-A POSTROUTING -s /.test(l));
  if (dn.length || masq.length !== 1) problems.push(`CNI's nat rules: ${[...dn, ...masq].join('; ')}`);
  const endpoints = Object.keys(await h.endpoints(root)).join(' ');
  if (endpoints !== residents.nb) problems.push(`netbridge's endpoints: ${endpoints}`);
  const leases = readdirSync(join(dataDir, CNI_NETWORK)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
  if (leases.length !== 1) problems.push(`host-local's leases: ${leases.join(' ')}`);
  if (problems.length) throw new Error(`after a round, the host namespace is not as the residents alone leave it:\n  ${problems.join('\n  ')}`);
}

// ─── Main ────────────────────────────────────────────────────────────────────

type Key = 'nbUp' | 'nbDown' | 'cniAdd' | 'cniDel' | 'nbFirstUp' | 'nbLastDown' | 'cniFirstAdd' | 'cniFirstDel' | 'node' | 'version' | 'netns' | 'floor';

async function main(): Promise<void> {
  await h.need(PLUGINS.map((p) => join(CNI_PATH, p)), 'apt-get install containernetworking-plugins');
  await h.need([h.GNU_TIME, 'iptables', 'iptables-save', 'nft', 'ip', 'busybox', 'unshare'], 'run scripts/setup.sh (the CNI plugins run iptables)');
  await h.useTools(['netbridge'], 'missing');
  const shebang = readFileSync(NETBRIDGE, 'utf8').split('\n', 1)[0] ?? '';

  // A sysfs of this network namespace, so that /sys/class/net is its own.
  await run('mount', ['-t', 'sysfs', '-o', 'nosuid,nodev,noexec', 'cwbench-sysfs', '/sys']);
  h.cleanups.push(() => run('umount', ['/sys']));
  const extra = h.links().filter((l) => l !== 'lo');
  if (extra.length) throw new Error(`the new network namespace has interfaces already: ${extra.join(' ')}`);
  const work = await h.workDir('cw-bench-netbridge', '64m');
  const root = join(work, 'root');
  const nb = netbridge({ ...h.ENV, CUTAWAY_ROOT: root });
  const c = cni(h.ENV, join(work, 'cni'));
  const residents = { nb: `${PREFIX}nres`, cni: `${PREFIX}cres` };
  let serial = 0;
  const name = (tool: 'n' | 'c') => `${PREFIX}${tool}${++serial}`;

  // On the way out (before the unmounts): every endpoint netbridge still has, every CNI container still added,
  // every namespace left. All of it would go with the namespace anyway.
  h.cleanups.push(async () => {
    await h.downEndpoints(root, { ...h.ENV, CUTAWAY_ROOT: root });
    await c.cleanUp();
    for (const ns of h.netnsNames()) if (ns.startsWith('cwbench-')) await run('ip', ['netns', 'del', ns]).then(() => h.log(`cleanup: ip netns del ${ns}`));
  });

  const resetCni = async () => {
    // As before CNI's first ADD ever: no bridge, no nat tables (iptables-nft's `table ip nat`, where the CNI chains are, and
    // `table ip6 nat`, which portmap also touches), no leases.
    if (h.links().includes(CNI_BRIDGE)) await run('ip', ['link', 'del', CNI_BRIDGE]);
    const tables = (await nft(['list', 'tables'])).split('\n');
    for (const family of ['ip', 'ip6']) if (tables.includes(`table ${family} nat`)) await nft(['delete', 'table', family, 'nat']);
    await rm(c.dataDir, { recursive: true, force: true });
  };
  const pair = (tool: Tool, which: 'n' | 'c', gateway: string, address: (n: string) => Promise<string>) => async (warmUp: boolean) => {
    const n = name(which);
    const up = await tool.up(n, true);
    if (warmUp) await checkServes(work, n, await address(n), gateway);
    return [up, await tool.down(n)];
  };
  const nbAddress = async (n: string) => (await h.endpoints(root))[n]!.ip;
  const cniAddress = async (n: string) => c.added.get(n)!.result.ips![0]!.address.split('/')[0]!;
  const nbPair = pair(nb, 'n', NB_GATEWAY, nbAddress);
  const cniPair = pair(c, 'c', CNI_GATEWAY, cniAddress);
  const cwGone = async (what: string) => {
    if (h.links().includes(NB_BRIDGE) || (await nft(['list', 'tables'])).includes('table ip cw')) throw new Error(`netbridge down of ${what} left cw0 or table ip cw`);
  };
  const both = (up: Key, down: Key, samples: (warmUp: boolean) => Promise<Sample[]>): h.Unit<Key> => ({
    run: async (warmUp) => {
      const [a, b] = await samples(warmUp);
      return [[up, a!], [down, b!]];
    },
  });
  const sh = (script: string, env = h.ENV) => h.measure('sh', ['-ec', script], env);
  const units: h.Unit<Key>[] = [
    both('nbUp', 'nbDown', nbPair),
    both('cniAdd', 'cniDel', cniPair),
    both('nbFirstUp', 'nbLastDown', async (warmUp) => {
      await nb.down(residents.nb);
      await cwGone('the only endpoint');
      const samples = await nbPair(warmUp);
      await cwGone('the last endpoint');
      await nb.up(residents.nb, false);
      return samples;
    }),
    both('cniFirstAdd', 'cniFirstDel', async (warmUp) => {
      await c.down(residents.cni);
      await resetCni();
      const samples = await cniPair(warmUp);
      await c.up(residents.cni, false);
      return samples;
    }),
    h.unit('node', () => sh('exec node -e 0', h.ENV_NO_CA)),
    h.unit('version', () => sh(`exec "${NETBRIDGE}" --version`)),
    h.unit('netns', () => sh('ip netns add "$CWB_NS"\nexec ip netns del "$CWB_NS"', { ...h.ENV, CWB_NS: name('c') })),
    h.unit('floor', () => sh('exec /bin/true')),
  ];

  const loadBefore = await h.loadAverage();
  h.log(`the residents: netbridge up ${residents.nb}, CNI bridge ADD ${residents.cni} (no ports); in the warm-up each endpoint must serve http at :${CONTAINER_PORT} and at the published :${HOST_PORT}`);
  await nb.up(residents.nb, false);
  await c.up(residents.cni, false);
  const samples = new Map<Key, Sample[]>();
  await h.rounds(samples, units, runs, { after: () => checkBaseline(root, c.dataDir, residents) });
  await nb.down(residents.nb);
  await c.down(residents.cni);

  const s = (k: Key) => samples.get(k)!;
  const m = (k: Key) => h.med(s(k));
  const sum = (a: Key, b: Key): Sample[] =>
    s(a).map((x, i) => {
      const y = s(b)[i]!;
      return { ...x, wallMs: x.wallMs + y.wallMs, maxRssKiB: Math.max(x.maxRssKiB, y.maxRssKiB), cpuS: x.cpuS + y.cpuS };
    });
  /** A row, and the CNI row it is compared with (a CNI row with itself). */
  type Line = h.Row & { vs?: Sample[] };
  const ref = (label: string, samples: Sample[]): Line => ({ label, samples, vs: samples });
  const cniBoth = ref(`CNI: ADD + DEL (steady: ${CNI_BRIDGE} and the chains there)`, sum('cniAdd', 'cniDel'));
  const cniAdd = ref('CNI ADD: ip netns add + bridge ADD + portmap ADD (steady)', s('cniAdd'));
  const cniDel = ref('CNI DEL: portmap DEL + bridge DEL + ip netns del (steady)', s('cniDel'));
  const cniFirstBoth = ref(`CNI: ADD + DEL, first use (no ${CNI_BRIDGE}, no nat tables, no leases before the ADD)`, sum('cniFirstAdd', 'cniFirstDel'));
  const cniFirstAdd = ref('CNI ADD, first use', s('cniFirstAdd'));
  const cniFirstDel = ref('CNI DEL after a first ADD (leaves bridge and chains)', s('cniFirstDel'));
  const nbBoth = { label: `netbridge up + down (steady: another endpoint holds ${NB_BRIDGE})`, samples: sum('nbUp', 'nbDown'), vs: cniBoth.samples };
  const nbFirstBoth = { label: `netbridge up + down, first use (up makes ${NB_BRIDGE} and table ip cw, down removes them)`, samples: sum('nbFirstUp', 'nbLastDown'), vs: cniFirstBoth.samples };
  const lines: Line[] = [
    nbBoth,
    cniBoth,
    { label: `netbridge up NAME -p ${HOST_PORT}:${CONTAINER_PORT} --ip-forward (steady)`, samples: s('nbUp'), vs: cniAdd.samples },
    cniAdd,
    { label: 'netbridge down NAME (steady)', samples: s('nbDown'), vs: cniDel.samples },
    cniDel,
    nbFirstBoth,
    cniFirstBoth,
    { label: 'netbridge up, first use', samples: s('nbFirstUp'), vs: cniFirstAdd.samples },
    cniFirstAdd,
    { label: 'netbridge down, the last endpoint', samples: s('nbLastDown'), vs: cniFirstDel.samples },
    cniFirstDel,
    { label: `floor: node -e 0${h.ENV.NODE_EXTRA_CA_CERTS ? ', NODE_EXTRA_CA_CERTS unset' : ''}`, samples: s('node') },
    { label: 'floor: netbridge --version', samples: s('version') },
    { label: 'floor: ip netns add X; ip netns del X', samples: s('netns') },
    { label: 'floor: exec /bin/true (the harness)', samples: s('floor') },
  ];
  const md = (l: { samples: Sample[] }) => h.med(l.samples);
  await h.writeResults({
    name: 'netbridge',
    title: 'netbridge against the CNI bridge + portmap plugins: one endpoint with one published port, up and down',
    options: `--runs ${runs}`,
    source: ['libs', 'tools/netbridge', 'scripts/build.ts'],
    versions: [
      `containernetworking-plugins ${await h.versionOf('dpkg-query', ['-W', '-f', '${Version}', 'containernetworking-plugins'])}`,
      await h.versionOf('iptables'),
      await h.versionOf('nft'),
      await h.versionOf('ip', ['-V']),
    ],
    load: { before: loadBefore },
    about: [
      `bin/netbridge's shebang ${/-u NODE_EXTRA_CA_CERTS/.test(shebang) ? 'unsets' : 'does not unset'} NODE_EXTRA_CA_CERTS (\`${shebang}\`).`,
      '',
      `Both in a throwaway network namespace (\`unshare --net --mount\`) standing for the host. netbridge: \`netbridge up NAME -p ${HOST_PORT}:${CONTAINER_PORT} --ip-forward\` and \`netbridge down NAME\`, default network (${NB_BRIDGE}, 172.30.0.0/16). CNI (${CNI_PATH}): bridge \`${CNI_BRIDGE}\` ${CNI_SUBNET}, gateway ${CNI_GATEWAY}, isGateway, ipMasq, host-local IPAM with a default route; portmap with runtimeConfig.portMappings [${HOST_PORT} → ${CONTAINER_PORT}/tcp]; ADD = \`ip netns add\` + bridge ADD + portmap ADD (prevResult: bridge's result), DEL = portmap DEL + bridge DEL (prevResult: the ADD's result) + \`ip netns del\`.`,
    ],
    body: [
      `${runs} rounds after one warm-up round; every unit once a round, the order rotated every round; each command one \`sh -ec\` under GNU time (\`sync\` before each), wall clock from the spawn to the exit. The "up + down" rows are the per-round sums of the up and the down.`,
      '',
      ...h.table('measurement', lines, { ratios: [h.ratioColumn('× CNI', (l: Line) => l.vs)] }),
      '',
      `- up + down, steady: netbridge / CNI ${ratio(md(nbBoth) / md(cniBoth))} (${ms(md(nbBoth))} against ${ms(md(cniBoth))} ms); up / ADD ${ratio(m('nbUp') / m('cniAdd'))}, down / DEL ${ratio(m('nbDown') / m('cniDel'))}.`,
      `- up + down, first use: netbridge / CNI ${ratio(md(nbFirstBoth) / md(cniFirstBoth))}. Against the steady rows (differences of medians): netbridge's first up, which makes the bridge and the table, ${signed(m('nbFirstUp') - m('nbUp'))} ms; its down of the last endpoint, which removes them, ${signed(m('nbLastDown') - m('nbDown'))} ms; CNI's first ADD ${signed(m('cniFirstAdd') - m('cniAdd'))} ms, and its DEL after it ${signed(m('cniFirstDel') - m('cniDel'))} ms.`,
      `- floors: Node's start ${ms(m('node'))} ms, netbridge --version ${ms(m('version'))} ms (so each netbridge command spends ~${ms(m('version'))} ms before it does anything), a namespace made and deleted ${ms(m('netns'))} ms, the harness ${ms(m('floor'))} ms.`,
      `- peak RSS is GNU time's %M over \`sh -ec\`: the largest of sh and each process it waited for. For netbridge that is node; for CNI the largest of ip, bridge, portmap, host-local (bridge execs host-local) and iptables.`,
    ],
    samples: h.sampleList(lines),
  });
}

await h.finish(main);
