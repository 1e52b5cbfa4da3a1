import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ToolError, UsageError } from '@cutaway/cli';
import { writeFileAtomic } from '@cutaway/oci';
import { command } from '../command.ts';
import { tool } from '../tools.ts';

/**
 * docker login / logout: the `auths` of Docker's config.json ($DOCKER_CONFIG/config.json, else
 * ~/.docker/config.json), which oci-pull and oci-push read. login checks the credentials with the registry
 * first (oci-pull --check-auth: GET /v2/ through its challenge, basic or token), then writes the entry as
 * Docker does — `auth`, base64 of USER:PASSWORD, under the server's name (Docker Hub's is
 * https://index.docker.io/v1/), the file 0600, every other key kept.
 */

type DockerConfig = { auths?: Record<string, { auth?: string }> } & Record<string, unknown>;

const HUB_KEY = 'https://index.docker.io/v1/';
const configDir = () => process.env.DOCKER_CONFIG ?? join(homedir(), '.docker');
const configPath = () => join(configDir(), 'config.json');

/** The key Docker stores a server under: Docker Hub's by its old index URL, any other as given. */
function serverKey(server: string | undefined): string {
  const host = server?.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  return host === undefined || ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host) ? HUB_KEY : host;
}

function readConfig(): DockerConfig {
  try {
    return JSON.parse(readFileSync(configPath(), 'utf8')) as DockerConfig;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ToolError(`loading config file ${configPath()}: ${(e as Error).message}`);
  }
}

/** Written whole (temp file and rename), mode 0600 as Docker's, tab-indented as Docker writes it. */
async function writeConfig(config: DockerConfig): Promise<void> {
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  await writeFileAtomic(configPath(), JSON.stringify(config, null, '\t'), 0o600);
  chmodSync(configPath(), 0o600);
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  // Docker trims the one trailing newline (and \r) that echo or a file leaves.
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

export const login = command(
  {
    name: 'login',
    summary: 'Log in to a registry',
    synopsis: ['[-u USER] [-p PASSWORD | --password-stdin] [SERVER]'],
    description: "Check credentials with a registry (Docker Hub by default) and keep them in Docker's config.json, where oci-pull and oci-push find them.",
    options: [
      { name: 'username', short: 'u', type: 'string', arg: 'USER', help: 'the user name' },
      { name: 'password', short: 'p', type: 'string', arg: 'PASSWORD', help: 'the password (insecure: seen in the process list; use --password-stdin)' },
      { name: 'password-stdin', type: 'boolean', help: 'read the password from stdin' },
    ],
    operands: { min: 0, max: 1, names: '[SERVER]' },
    examples: ['echo "$TOKEN" | cutaway login -u me --password-stdin localhost:5000', 'cutaway login -u me -p secret registry.example.com'],
    classic: ['docker login', 'oci-pull --check-auth --creds - SERVER; jq \'.auths[SERVER].auth = (USER:PASSWORD | @base64)\' ~/.docker/config.json'],
  },
  async (inv) => {
    const { username, password, 'password-stdin': fromStdin } = inv.options;
    const server = inv.positionals[0];
    // Docker's checks (cli/command/registry/login.go), in its words.
    if (password !== undefined && fromStdin) throw new UsageError('--password and --password-stdin are mutually exclusive');
    if (fromStdin && username === undefined) throw new UsageError('Must provide --username with --password-stdin');
    if (username === undefined || (password === undefined && !fromStdin)) throw new UsageError('Cannot perform an interactive login from a non TTY device: give -u USER and -p PASSWORD or --password-stdin');
    if (password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
    const secret = password ?? (await readStdin());
    if (!username || !secret) throw new UsageError('Error: Username and password required');
    const key = serverKey(server);
    // The password goes to oci-pull on its stdin, never its command line.
    await tool('oci-pull', ['--check-auth', '--creds', '-', key], {}, `${username}:${secret}\n`);
    const config = readConfig();
    config.auths = { ...config.auths, [key]: { auth: Buffer.from(`${username}:${secret}`).toString('base64') } };
    await writeConfig(config);
    process.stdout.write('Login Succeeded\n');
  },
);

export const logout = command(
  {
    name: 'logout',
    summary: 'Log out from a registry',
    synopsis: ['[SERVER]'],
    description: "Remove a registry's credentials (Docker Hub's by default) from Docker's config.json.",
    options: [],
    operands: { min: 0, max: 1, names: '[SERVER]' },
    examples: ['cutaway logout localhost:5000', 'cutaway logout'],
    classic: ['docker logout', "jq 'del(.auths[SERVER])' ~/.docker/config.json"],
  },
  async (inv) => {
    const key = serverKey(inv.positionals[0]);
    const config = readConfig();
    if (!config.auths?.[key]) {
      process.stdout.write(`Not logged in to ${key}\n`);
      return;
    }
    process.stdout.write(`Removing login credentials for ${key}\n`);
    const { [key]: _removed, ...rest } = config.auths;
    config.auths = rest;
    await writeConfig(config);
  },
);
