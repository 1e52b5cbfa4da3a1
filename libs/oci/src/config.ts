import { asDigest, type Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { array, at, boolean, object, optional, parseJson, string, stringList, stringMap } from './json-fields.ts';
import type { ImageManifest } from './manifest.ts';

/** config.md "config": the defaults a container made from the image runs with. */
export interface ContainerConfig {
  User?: string;
  ExposedPorts?: Record<string, object>;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, object>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
  ArgsEscaped?: boolean;
  /** Docker's own extensions (Healthcheck, OnBuild, Shell, …) are kept as they are. */
  [extension: string]: unknown;
}

export interface HistoryEntry {
  created?: string;
  created_by?: string;
  author?: string;
  comment?: string;
  empty_layer?: boolean;
}

/** config.md: the image configuration. Fields this model does not name are kept, untouched. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  config?: ContainerConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: HistoryEntry[];
  [extension: string]: unknown;
}

function emptyObjectMap(value: unknown, field: string): Record<string, object> {
  const map = object(value, field);
  for (const [k, v] of Object.entries(map)) object(v, `${field}.${k}`);
  return map as Record<string, object>;
}

function readContainerConfig(value: unknown, field: string): ContainerConfig {
  const c = object(value, field);
  const f = (k: string) => at(field, k);
  optional(c.User, string, f('User'));
  optional(c.ExposedPorts, emptyObjectMap, f('ExposedPorts'));
  optional(c.Env, (v, p) => array(v, string, p), f('Env'));
  optional(c.Entrypoint, stringList, f('Entrypoint'));
  optional(c.Cmd, stringList, f('Cmd'));
  optional(c.Volumes, emptyObjectMap, f('Volumes'));
  optional(c.WorkingDir, string, f('WorkingDir'));
  // Docker writes "Labels": null for an image without labels.
  if (c.Labels !== null) optional(c.Labels, stringMap, f('Labels'));
  optional(c.StopSignal, string, f('StopSignal'));
  optional(c.ArgsEscaped, boolean, f('ArgsEscaped'));
  return c as ContainerConfig;
}

function readHistoryEntry(value: unknown, field: string): HistoryEntry {
  const h = object(value, field);
  for (const k of ['created', 'created_by', 'author', 'comment'] as const) optional(h[k], string, at(field, k));
  optional(h.empty_layer, boolean, at(field, 'empty_layer'));
  return h as HistoryEntry;
}

/** Validates an image config document; unknown fields are kept as they are. */
export function readImageConfig(value: unknown): ImageConfig {
  const c = object(value, 'config');
  string(c.architecture, 'architecture');
  string(c.os, 'os');
  optional(c.variant, string, 'variant');
  optional(c.created, string, 'created');
  optional(c.author, string, 'author');
  if (c.config !== null) optional(c.config, readContainerConfig, 'config');
  const rootfs = object(c.rootfs, 'rootfs');
  if (rootfs.type !== 'layers') throw new OciError(`must be "layers", got ${JSON.stringify(rootfs.type)}`, 'rootfs.type');
  array(rootfs.diff_ids, asDigest, 'rootfs.diff_ids');
  optional(c.history, (v, f) => array(v, readHistoryEntry, f), 'history');
  return c as ImageConfig;
}

export function parseImageConfig(bytes: Uint8Array | string): ImageConfig {
  return readImageConfig(parseJson(bytes, 'image config'));
}

/**
 * Checks that a manifest and its config describe the same layers: one diff_id
 * per layer, and one non-empty history entry per layer when history is given.
 */
export function checkImageConsistency(manifest: ImageManifest, config: ImageConfig): void {
  const diffIds = config.rootfs.diff_ids.length;
  if (diffIds !== manifest.layers.length) {
    throw new OciError(`the config lists ${diffIds} diff_ids but the manifest has ${manifest.layers.length} layers`, 'rootfs.diff_ids');
  }
  if (config.history) {
    const layered = config.history.filter((h) => !h.empty_layer).length;
    if (layered !== diffIds) throw new OciError(`${layered} history entries make a layer but there are ${diffIds} layers`, 'history');
  }
}

