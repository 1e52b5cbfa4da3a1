import { asDigest, type Digest } from './digest.ts';
import { OciError } from './errors.ts';
import { array, at, object, optional, size, string, stringMap } from './json-fields.ts';
import { MEDIA_TYPE_PATTERN } from './media-types.ts';
import { readPlatform, type Platform } from './platform.ts';

/** image-spec descriptor.md: what a blob is, its digest and size, and where it may be found. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  /** Embedded content, base64 (descriptor.md "data"). */
  data?: string;
}

export function readMediaType(value: unknown, field: string): string {
  const text = string(value, field);
  if (!MEDIA_TYPE_PATTERN.test(text)) throw new OciError(`not a media type (type/subtype): ${JSON.stringify(text)}`, field);
  return text;
}

export function readDescriptor(value: unknown, field: string): Descriptor {
  const d = object(value, field);
  const urls = optional(d.urls, (v, f) => array(v, string, f), at(field, 'urls'));
  const annotations = optional(d.annotations, stringMap, at(field, 'annotations'));
  const platform = optional(d.platform, readPlatform, at(field, 'platform'));
  const artifactType = optional(d.artifactType, readMediaType, at(field, 'artifactType'));
  const data = optional(d.data, string, at(field, 'data'));
  if (data !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw new OciError('must be base64', at(field, 'data'));
  return {
    mediaType: readMediaType(d.mediaType, at(field, 'mediaType')),
    digest: asDigest(d.digest, at(field, 'digest')),
    size: size(d.size, at(field, 'size')),
    ...(urls && { urls }),
    ...(annotations && { annotations }),
    ...(platform && { platform }),
    ...(artifactType && { artifactType }),
    ...(data !== undefined && { data }),
  };
}
