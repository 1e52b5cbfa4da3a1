import { readDescriptor, readMediaType, type Descriptor } from './descriptor.ts';
import { OciError } from './errors.ts';
import { array, object, optional, parseJson, stringMap, type JsonObject } from './json-fields.ts';
import { INDEX_TYPES, MANIFEST_TYPES, MediaType, SCHEMA1_TYPES } from './media-types.ts';

/** image-spec manifest.md; also Docker's image manifest v2 schema 2, which has the same shape. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** image-spec image-index.md; also Docker's manifest list. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export type ManifestDocument = { kind: 'manifest'; mediaType: string; manifest: ImageManifest } | { kind: 'index'; mediaType: string; index: ImageIndex };

function schemaVersion2(doc: JsonObject): 2 {
  if (doc.schemaVersion === 1) {
    throw new OciError('Docker image manifest schema 1 is not supported (removed from Docker in 28.2); push the image again with a current client', 'schemaVersion');
  }
  if (doc.schemaVersion !== 2) throw new OciError(`must be 2, got ${JSON.stringify(doc.schemaVersion)}`, 'schemaVersion');
  return 2;
}

function common(doc: JsonObject) {
  const artifactType = optional(doc.artifactType, readMediaType, 'artifactType');
  const subject = optional(doc.subject, readDescriptor, 'subject');
  const annotations = optional(doc.annotations, stringMap, 'annotations');
  return { ...(artifactType && { artifactType }), ...(subject && { subject }), ...(annotations && { annotations }) };
}

export function readImageManifest(value: unknown): ImageManifest {
  const doc = object(value, 'manifest');
  const mediaType = optional(doc.mediaType, readMediaType, 'mediaType');
  return {
    schemaVersion: schemaVersion2(doc),
    ...(mediaType && { mediaType }),
    config: readDescriptor(doc.config, 'config'),
    layers: array(doc.layers, readDescriptor, 'layers'),
    ...common(doc),
  };
}

export function readImageIndex(value: unknown): ImageIndex {
  const doc = object(value, 'index');
  const mediaType = optional(doc.mediaType, readMediaType, 'mediaType');
  return {
    schemaVersion: schemaVersion2(doc),
    ...(mediaType && { mediaType }),
    manifests: array(doc.manifests, readDescriptor, 'manifests'),
    ...common(doc),
  };
}

/** `application/json; charset=utf-8` → `application/json`. */
function bareMediaType(contentType: string | undefined): string | undefined {
  const bare = contentType?.split(';')[0]?.trim().toLowerCase();
  return bare || undefined;
}

/**
 * Parses a manifest or index as fetched: the Content-Type (if any) and the
 * document's own mediaType must agree (distribution-spec "Pulling manifests");
 * when both are absent, as in layouts written by umoci 0.4.7, the shape decides.
 */
export function parseManifestDocument(bytes: Uint8Array | string, contentType?: string): ManifestDocument {
  const doc = object(parseJson(bytes, 'manifest'), 'manifest');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  let header = bareMediaType(contentType);
  // Registries and servers without a specific type say so with a generic one.
  if (header === 'application/json' || header === 'application/octet-stream' || header === 'text/plain') header = undefined;
  if (header && declared && header !== declared) {
    throw new OciError(`Content-Type ${header} does not match the document's mediaType ${declared}`, 'mediaType');
  }
  const mediaType = declared ?? header ?? ('manifests' in doc ? MediaType.ociIndex : MediaType.ociManifest);
  if (SCHEMA1_TYPES.includes(mediaType) || doc.schemaVersion === 1) schemaVersion2(doc);
  if (INDEX_TYPES.includes(mediaType)) return { kind: 'index', mediaType, index: readImageIndex(doc) };
  if (MANIFEST_TYPES.includes(mediaType)) return { kind: 'manifest', mediaType, manifest: readImageManifest(doc) };
  throw new OciError(`unsupported manifest media type ${JSON.stringify(mediaType)}`, 'mediaType');
}

/** An attestation or other non-image entry of an index (containerd#8243: `unknown/unknown`). */
export function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}
