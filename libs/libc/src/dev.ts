/**
 * dev_t and file types (sys/sysmacros.h, inode(7)), kept apart from the
 * koffi bindings so that a tool which only plans device nodes (ns-exec's
 * planner) does not load libc at start.
 */
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/** glibc's makedev() for Linux's dev_t encoding (sys/sysmacros.h). */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** glibc's major()/minor(): the two numbers of a dev_t (a stat's rdev). */
export function deviceNumbers(rdev: number | bigint): { major: number; minor: number } {
  const dev = BigInt(rdev);
  return { major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)), minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)) };
}

/** `docker run --device HOST[:CTR][:rwm]`, parsed: the host node, its path in the container, the access the devices cgroup gives. */
export interface DeviceSpec {
  host: string;
  container: string;
  /** Some of r, w, m, in that order. */
  access: string;
}

/** r, w and m, each at most once (docker/cli opts validDeviceMode). */
function accessOf(text: string): string | undefined {
  if (!/^[rwm]{1,3}$/.test(text) || new Set(text).size !== text.length) return undefined;
  return ['r', 'w', 'm'].filter((c) => text.includes(c)).join('');
}

/**
 * Docker's reading of `--device` (docker/cli opts/parse.go parseLinuxDevice): `HOST`, `HOST:CTR`, `HOST:rwm`
 * (a second part that is a valid mode is the mode), `HOST:CTR:rwm`; CTR defaults to HOST, the access to rwm.
 * Throws a plain Error naming what is wrong; the caller words it as its usage error.
 */
export function parseDeviceSpec(text: string): DeviceSpec {
  const parts = text.split(':');
  if (parts.length > 3 || !parts[0]) throw new Error(`invalid device specification ${JSON.stringify(text)}: expected HOST[:CTR][:rwm]`);
  const [host, second, third] = parts as [string, string | undefined, string | undefined];
  let container = host;
  let access = 'rwm';
  if (third !== undefined) {
    const a = accessOf(third);
    if (!a) throw new Error(`invalid device mode ${JSON.stringify(third)} in ${JSON.stringify(text)}: some of r, w and m`);
    [container, access] = [second!, a];
  } else if (second !== undefined) {
    const a = accessOf(second);
    if (a) access = a;
    else container = second;
  }
  if (!host.startsWith('/')) throw new Error(`invalid device ${JSON.stringify(text)}: the host path must be absolute`);
  if (!container.startsWith('/')) throw new Error(`invalid device ${JSON.stringify(text)}: the container path must be absolute`);
  return { host, container, access };
}
