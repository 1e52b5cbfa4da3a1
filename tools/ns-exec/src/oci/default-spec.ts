/**
 * `spec [--bundle DIR] [--rootless]`: a config.json to start from, as `runc spec` writes one — `sh` on a
 * terminal, rootfs/ as the root — but with what `docker run` gives a container rather than runc's bare
 * example (moby daemon/pkg/oci/defaults.go and daemon/oci_linux.go): Docker's 14 capabilities (bounding,
 * effective, permitted; none inheritable or ambient), a writable root, Docker's mounts (from-flags.ts, as
 * ns-exec's own command line makes them), masked and read-only paths, the cgroup namespace, every device denied but runc's own,
 * the network sysctls. No seccomp profile, as `runc spec` writes none (ns-exec's own command line applies
 * Docker's).
 */
import { existsSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ToolError } from '@cutaway/cli';
import { capabilityNames, capabilitySet } from '../caps.ts';
import { DEFAULT_PATH } from '../env.ts';
import { maskedPaths, READONLY_PATHS } from '../mounts.ts';
import { OCI_VERSION, type Spec } from './config.ts';
import { defaultMounts, NETWORK_SYSCTLS } from './from-flags.ts';

const ALL_CAPABILITIES = (1n << 64n) - 1n;

export function defaultSpec(rootless: boolean): Spec {
  const caps = capabilityNames(capabilitySet([], [], false, ALL_CAPABILITIES));
  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: true, user: { uid: 0, gid: 0 }, args: ['sh'], env: [`PATH=${DEFAULT_PATH}`, 'TERM=xterm'], cwd: '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps },
    },
    root: { path: 'rootfs', readonly: false },
    hostname: 'ns-exec',
    mounts: defaultMounts({ privileged: false, sysBound: rootless, ttyGroupMapped: !rootless }),
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      sysctl: NETWORK_SYSCTLS,
      maskedPaths: maskedPaths(),
      readonlyPaths: [...READONLY_PATHS],
    },
  };
  if (rootless) {
    // As runc spec --rootless (specconv.ToRootless): the caller is root in a user namespace of its own; the
    // host's network (a new one would be unreachable), so /sys bound from the host (sysfs takes the network
    // namespace's owner) and no cgroup mount; no gid=5 for devpts (unmapped); no resources (no cgroup to write).
    const linux = spec.linux!;
    linux.namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' }];
    linux.uidMappings = [{ containerID: 0, hostID: process.getuid!(), size: 1 }];
    linux.gidMappings = [{ containerID: 0, hostID: process.getgid!(), size: 1 }];
    delete linux.resources;
    delete linux.sysctl;
  }
  return spec;
}

/** Writes DIR/config.json (tab-indented, as runc's); an existing one stays, with runc's error. */
export function writeDefaultSpec(bundle: string, rootless: boolean): void {
  if (!existsSync(bundle)) throw new ToolError(`chdir ${bundle}: no such file or directory`);
  const file = posix.join(bundle, 'config.json');
  if (existsSync(file)) throw new ToolError('File config.json exists. Remove it first');
  writeFileSync(file, JSON.stringify(defaultSpec(rootless), null, '\t'));
}
