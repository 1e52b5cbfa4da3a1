import { join } from 'node:path';
import { shellQuote, withPrerequisites } from '@cutaway/cli';
import { TABLE } from './firewall.ts';
import type { Runner } from './runner.ts';
import { DEFAULT_NETWORK, type Endpoint, type NetworkRecord, type NetworkStore, type PortMapping } from './store.ts';

/**
 * What netbridge's --dry-run script does besides the ip, sysctl and nft
 * commands: what the tool does in code, written as shell, so that the script
 * run by sh or bash leaves the host as the tool would — the host's records
 * ($CUTAWAY_RUN/networks/NET.json, updated with jq under flock(1) on the lock
 * every netbridge takes, renamed into place), the checks the tool makes
 * before it changes anything, and what it asks the kernel before it removes
 * an element (only this endpoint's, never the table another uses).
 *
 * The script pins what the tool decided when it was made (the address, the
 * MAC, the veth's name, the host ports, a new network's id): when the records
 * say these are taken by then, it stops and says so, as the tool would.
 */

const q = shellQuote;

/** The commands a script may run (checked for at its top when it does: libs/cli's prerequisite check). */
const COMMANDS = ['ip', 'nsenter', 'ss', 'sysctl', 'nft', 'jq', 'flock', 'date', 'unshare', 'slirp4netns', 'nc', 'umount'];

/** The script with a check of the commands it uses right after `set -eu`: a missing one is named before anything is done. */
export function withCommandCheck(script: string): string {
  return withPrerequisites(script, COMMANDS.filter((c) => new RegExp(`(^|[\\s(|])${c} `, 'm').test(script)));
}

function recordPath(store: NetworkStore, name: string): string {
  return join(store.dir, `${name}.json`);
}

/** A record's new content, from jq's output, renamed into place (what writeFileAtomic does); a refusal leaves no temp file. */
function rewrite(path: string, jq: string): string[] {
  const temp = q(`${path}.new`);
  return [`${jq} ${q(path)} > ${temp} || { rm -f ${temp}; exit 1; }`, `mv ${temp} ${q(path)}`];
}

/**
 * The start of every script that changes the records: the host's networks lock, held to the end (as the tool
 * holds it), and what NetworkStore.locked does first — the boot stamp written on a fresh runtime directory
 * (records of an earlier boot are the tool's to clear), and no records of an older netbridge left in the
 * state root (the tool's to move).
 */
export function lockScript(run: Runner, store: NetworkStore): void {
  const stamp = join(store.dir, '.host');
  run.script(
    `mkdir -p ${q(store.dir)}`,
    `exec 9>>${q(join(store.dir, '.lock'))}`,
    'flock 9   # the host\'s networks lock, which every netbridge takes; held until the script ends',
    'boot=$(cat /proc/sys/kernel/random/boot_id)',
    `if [ -e ${q(stamp)} ]; then`,
    `  [ "$(jq -r .boot ${q(stamp)})" = "$boot" ] || { echo ${q(`${store.dir}: records of an earlier boot: netbridge network ls clears them`)} >&2; exit 1; }`,
    'else',
    `  printf '{"boot":"%s"}\\n' "$boot" > ${q(`${stamp}.new`)}`,
    `  mv ${q(`${stamp}.new`)} ${q(stamp)}`,
    'fi',
    `if ls ${q(store.legacyDir)}/*.json >/dev/null 2>&1; then`,
    `  echo ${q(`${store.legacyDir}: records of an older netbridge: netbridge network ls moves them to ${store.dir}`)} >&2`,
    '  exit 1',
    'fi',
  );
}

/**
 * up's record: the network's file (the default network's made if it has none: it exists without one), then the
 * endpoint added — refused, as the tool refuses it, when the name is on the network already, the address is
 * leased, or a host port is published by any endpoint of the host's.
 */
export function addEndpointScript(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): void {
  const path = recordPath(store, network.name);
  if (network.name === DEFAULT_NETWORK) {
    const empty = { ...network, endpoints: {} };
    run.script(
      `if [ ! -e ${q(path)} ]; then   # the default network exists without a file: its first endpoint writes one`,
      `  jq -n --arg created "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --argjson net ${q(JSON.stringify(empty))} '$net | .created = $created' > ${q(`${path}.new`)}`,
      `  mv ${q(`${path}.new`)} ${q(path)}`,
      'fi',
    );
  } else run.script(`[ -e ${q(path)} ] || { echo ${q(`network ${network.name} not found`)} >&2; exit 1; }`);
  for (const p of endpoint.ports) {
    const key = `${p.protocol}/${p.hostPort}`;
    run.script(
      `if jq -e -n --arg key ${key} 'any(inputs.endpoints[].ports[]; "\\(.protocol)/\\(.hostPort)" == $key)' ${q(store.dir)}/*.json >/dev/null; then`,
      `  echo ${q(`Bind for 0.0.0.0:${p.hostPort} failed: port is already allocated`)} >&2`,
      '  exit 1',
      'fi',
      `if [ -n "$(ss -Hln${p.protocol === 'tcp' ? 't' : 'u'} 'sport = :${p.hostPort}')" ]; then`,
      `  echo ${q(`port ${p.hostPort}/${p.protocol} is already in use on this host`)} >&2`,
      '  exit 1',
      'fi',
    );
  }
  const filter = [
    'if .endpoints[$ep.name] then error("endpoint \\($ep.name) already exists on network \\(.name)")',
    'elif any(.endpoints[]; .ip == $ep.ip) then error("address \\($ep.ip) is already leased on \\(.name)")',
    'else .endpoints[$ep.name] = $ep end',
  ].join(' ');
  run.script('# the lease first: a run stopped half-way leaves a record that netbridge down cleans up from');
  run.script(...rewrite(path, `jq --argjson ep ${q(JSON.stringify(endpoint))} ${q(filter)}`));
}

/**
 * down's first check: each endpoint as the script knows it (its veth, address, ports, namespace), or the script
 * stops before it removes anything — what it would remove may be another's by now.
 */
export function checkEndpointScript(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): void {
  const path = recordPath(store, network.name);
  run.script(
    `jq -e --argjson ep ${q(JSON.stringify(endpoint))} '.endpoints[$ep.name] == $ep' ${q(path)} >/dev/null || {`,
    `  echo ${q(`${endpoint.name} on network ${network.name} is not as it was when this script was made: make it again (netbridge --dry-run down ${endpoint.name})`)} >&2`,
    '  exit 1',
    '}',
  );
}

/** down's record change when the namespace's maker goes first: a staying endpoint inherits the namespace. */
export function inheritScript(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): void {
  run.script(
    `# ${endpoint.name} on ${network.name} stays: it inherits the namespace, removed with its last interface`,
    ...rewrite(recordPath(store, network.name), `jq --arg n ${q(endpoint.name)} --arg netns ${q(endpoint.netns)} '.endpoints[$n].madeNetns = true | .endpoints[$n].netns = $netns'`),
  );
}

/**
 * The nft table as the kernel has it, into $table (an empty listing when there is none): what the script asks
 * before it removes an element, as the tool asks tableState.
 */
function readTable(run: Runner): void {
  run.script(
    `if nft list table ip ${TABLE} >/dev/null 2>&1; then`,
    `  table=$(nft -j list table ip ${TABLE})`,
    'else',
    `  table='{"nftables":[]}'`,
    'fi',
  );
}

/** A jq test of $table, for an `if`. */
function tableHas(jq: string, args = ''): string {
  return `printf '%s' "$table" | jq -e${args} ${q(jq)} >/dev/null`;
}

/** An endpoint's port elements, each deleted only while it points at this endpoint: another's mapping of the port stays. */
export async function deletePortsScript(run: Runner, endpoint: Endpoint, deleteElements: (ports: PortMapping[]) => Promise<void>): Promise<void> {
  if (!endpoint.ports.length) return;
  readTable(run);
  for (const p of endpoint.ports) {
    const test = tableHas(`any(.nftables[].map | select(.name? == "${p.protocol}-ports") | .elem[]?; . == [${p.hostPort}, {"concat": ["${endpoint.ip}", ${p.containerPort}]}])`);
    await run.when(test, true, () => deleteElements([p]));
  }
}

/**
 * The end of a network's use, as teardown decides it: when the record has no endpoint left but this one and no
 * interface is on the bridge (another root's), the bridge goes, and the network's elements — or the whole
 * table when no other bridge is in it.
 */
export async function networkEndScript(
  run: Runner,
  store: NetworkStore,
  network: NetworkRecord,
  endpoint: Endpoint,
  steps: { deleteBridge: () => Promise<void>; deleteElements: (which: ('bridge' | 'subnet')[]) => Promise<void>; deleteTable: () => Promise<void> },
): Promise<void> {
  const path = recordPath(store, network.name);
  const bridge = network.bridge;
  run.script(`if [ "$(jq --arg n ${q(endpoint.name)} '.endpoints | del(.[$n]) | length' ${q(path)})" -eq 0 ] && [ -z "$(ip -o link show master ${bridge} 2>/dev/null)" ]; then`);
  await run.block(async () => {
    await run.when(`ip link show ${bridge} >/dev/null 2>&1`, true, steps.deleteBridge);
    readTable(run);
    run.script(`if ${tableHas(`any(.nftables[].set | select(.name? == "bridges") | .elem[]?; . != $br)`, ` --arg br ${bridge}`)}; then`);
    await run.block(async () => {
      run.script('# other bridges are in the table: only this network\'s elements go');
      await run.when(tableHas(`any(.nftables[].set | select(.name? == "bridges") | .elem[]?; . == "${bridge}")`), true, () => steps.deleteElements(['bridge']));
      const [addr, len] = network.subnet.split('/');
      await run.when(tableHas(`any(.nftables[].set | select(.name? == "subnets") | .elem[]?; . == {"prefix": {"addr": "${addr}", "len": ${len}}})`), true, () => steps.deleteElements(['subnet']));
    });
    run.script(`elif nft list table ip ${TABLE} >/dev/null 2>&1; then`);
    await run.block(steps.deleteTable);
    run.script('fi');
  });
  run.script('fi');
}

/** down's record: the endpoint out; the default network's file goes with its last endpoint (it exists without one). */
export function removeEndpointScript(run: Runner, store: NetworkStore, network: NetworkRecord, endpoint: Endpoint): void {
  const path = recordPath(store, network.name);
  const update = rewrite(path, `jq --arg n ${q(endpoint.name)} 'del(.endpoints[$n])'`);
  if (network.name !== DEFAULT_NETWORK) {
    run.script(...update);
    return;
  }
  run.script(
    `if [ "$(jq --arg n ${q(endpoint.name)} '.endpoints | del(.[$n]) | length' ${q(path)})" -eq 0 ]; then`,
    `  rm ${q(path)}`,
    'else',
    ...update.map((l) => `  ${l}`),
    'fi',
  );
}

/** network create's record, refused when the name is taken by then; its time is the script's. */
export function createNetworkScript(run: Runner, store: NetworkStore, network: NetworkRecord): void {
  const path = recordPath(store, network.name);
  run.script(
    `[ ! -e ${q(path)} ] || { echo ${q(`network with name ${network.name} already exists`)} >&2; exit 1; }`,
    `jq -n --arg created "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" --argjson net ${q(JSON.stringify(network))} '$net | .created = $created' > ${q(`${path}.new`)}`,
    `mv ${q(`${path}.new`)} ${q(path)}`,
  );
}

/** network rm's record: gone, once the script finds it has no endpoint. */
export function removeNetworkScript(run: Runner, store: NetworkStore, name: string): void {
  const path = recordPath(store, name);
  run.script(
    `[ -e ${q(path)} ] || { echo ${q(`network ${name} not found`)} >&2; exit 1; }`,
    `jq -e '.endpoints == {}' ${q(path)} >/dev/null || { echo ${q(`network ${name} has active endpoints`)} >&2; exit 1; }`,
    `rm ${q(path)}`,
  );
}
