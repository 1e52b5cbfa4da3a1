import { UsageError } from '@cutaway/cli';
import { formatReference, parseReference, type Reference } from '@cutaway/oci';

/** Where an image comes from: a registry (a plain reference), an OCI layout, or a `docker save` archive. */
export type Source =
  | { kind: 'registry'; ref: Reference }
  | { kind: 'oci'; dir: string; name: string; tag: string }
  | { kind: 'docker-archive'; file: string; ref?: Reference };

/** A name from a local source is tagged in the store normalised, as `docker load` does. */
function storeTag(name: string): string {
  try {
    return formatReference(parseReference(name));
  } catch {
    return name;
  }
}

/**
 * Reads skopeo's transport syntax: `oci:DIR:NAME`, `docker-archive:FILE[:REF]`;
 * anything else is a registry reference. DIR and FILE end at the first ":".
 */
export function parseSource(text: string): Source {
  if (text.startsWith('oci:')) {
    const rest = text.slice('oci:'.length);
    const colon = rest.indexOf(':');
    if (colon <= 0 || colon === rest.length - 1) throw new UsageError(`${text}: want oci:DIR:NAME (the name of the image in DIR's index.json)`);
    const name = rest.slice(colon + 1);
    return { kind: 'oci', dir: rest.slice(0, colon), name, tag: storeTag(name) };
  }
  if (text.startsWith('docker-archive:')) {
    const rest = text.slice('docker-archive:'.length);
    const colon = rest.indexOf(':');
    const file = colon >= 0 ? rest.slice(0, colon) : rest;
    if (!file) throw new UsageError(`${text}: want docker-archive:FILE[:REF]`);
    return colon >= 0 ? { kind: 'docker-archive', file, ref: parseReference(rest.slice(colon + 1)) } : { kind: 'docker-archive', file };
  }
  return { kind: 'registry', ref: parseReference(text) };
}
