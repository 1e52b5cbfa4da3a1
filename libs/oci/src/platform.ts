import { OciError } from './errors.ts';
import { array, at, object, optional, string, type JsonObject } from './json-fields.ts';

/** image-index.md "platform"; the field names are the spec's. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export function readPlatform(value: unknown, field: string): Platform {
  const p = object(value, field);
  const variant = optional(p.variant, string, at(field, 'variant'));
  const osVersion = optional(p['os.version'], string, at(field, 'os.version'));
  const osFeatures = optional(p['os.features'], (v, f) => array(v, string, f), at(field, 'os.features'));
  return {
    os: string(p.os, at(field, 'os')),
    architecture: string(p.architecture, at(field, 'architecture')),
    ...(variant !== undefined && { variant }),
    ...(osVersion !== undefined && { 'os.version': osVersion }),
    ...(osFeatures !== undefined && { 'os.features': osFeatures }),
  };
}

/**
 * Normalises architecture names and variants the way containerd's platforms
 * package does (database.go normalizeArch), so `aarch64`, `arm64/v8` and
 * `arm64` all mean the same thing, and `armhf` means arm/v7.
 */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = undefined;
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8') variant = undefined;
      else if (variant === '9') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === undefined || variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return { ...p, os, architecture: arch, ...(variant ? { variant } : { variant: undefined }) };
}

function clean(p: Platform): Platform {
  const { variant, ...rest } = p;
  return variant ? { ...rest, variant } : rest;
}

/** Parses `os/arch[/variant]` (Docker's --platform), normalised. */
export function parsePlatform(text: string): Platform {
  const parts = text.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((s) => !/^[A-Za-z0-9_.-]+$/.test(s))) {
    throw new OciError(`invalid platform ${JSON.stringify(text)}: want OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return clean(normalizePlatform({ os, architecture, ...(variant !== undefined && { variant }) }));
}

export function formatPlatform(p: Platform): string {
  const n = clean(normalizePlatform(p));
  return `${n.os}/${n.architecture}${n.variant ? `/${n.variant}` : ''}`;
}

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/** The platform this process runs on, as an image would name it. */
export function hostPlatform(): Platform {
  const architecture = NODE_ARCH[process.arch] ?? process.arch;
  const variant = architecture === 'arm' ? `v${(process.config.variables as JsonObject).arm_version ?? '7'}` : undefined;
  return clean(normalizePlatform({ os: process.platform, architecture, ...(variant && { variant }) }));
}

/**
 * Which variants a host of this platform can run, best first: an arm/v7 host
 * runs v7, v6 and v5 images (containerd's matcher orders them the same way).
 */
function compatibleVariants(p: Platform): (string | undefined)[] {
  if (p.architecture === 'arm') {
    const order = ['v8', 'v7', 'v6', 'v5'];
    const from = order.indexOf(p.variant ?? 'v7');
    return from >= 0 ? order.slice(from) : [p.variant];
  }
  if (p.architecture === 'arm64' && p.variant && p.variant !== 'v8') return [p.variant, undefined];
  return [p.variant];
}

/** How well `candidate` suits `wanted`: 0 is best; -1 means it cannot run. */
export function platformRank(wanted: Platform, candidate: Platform): number {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return -1;
  if (w['os.version'] && c['os.version'] && w['os.version'] !== c['os.version']) return -1;
  return compatibleVariants(w).indexOf(c.variant);
}
