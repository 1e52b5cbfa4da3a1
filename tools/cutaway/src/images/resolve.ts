import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { imageStoreDir, ToolError } from '@cutaway/cli';
import { AmbiguousImageError, findImage, NoSuchImageError, OciLayout, parseImageHandle, parsePlatform, type FoundImage } from '@cutaway/oci';
import { recordReferenceEvent } from '../system/events-log.ts';
import { tool } from '../tools.ts';

/**
 * An image of the store by any handle a user typed (libs/oci image-handle.ts: a name, an ID or unique ID
 * prefix, a manifest digest, NAME@DIGEST), as docker run and FROM take it; pulled with oci-pull when a
 * name is missing. An ID or a digest names content, not a registry's image: missing, it is `No such
 * image`, never pulled.
 */
export async function imageFor(root: string, ref: string, env: NodeJS.ProcessEnv, pull: Pull = storePull(root, env), platform?: string): Promise<FoundImage> {
  const dir = imageStoreDir(root);
  // (`platform`: build's FROM --platform, os/arch[/variant]; the pull is for it too.)
  const lookup = async () => findImage(await OciLayout.open(dir), ref, platform === undefined ? undefined : parsePlatform(platform));
  const handle = parseImageHandle(ref);
  let missing: Error = handle.invalid ?? new NoSuchImageError(ref);
  if (existsSync(join(dir, 'oci-layout'))) {
    try {
      return await lookup();
    } catch (e) {
      // An ambiguous prefix: no pull would change that.
      if (e instanceof AmbiguousImageError) throw new ToolError(e.message);
      // Otherwise (missing, or not for this platform) a name is pulled, as docker run does.
      missing = e as Error;
    }
  }
  // Content (an ID, a digest), or no reference at all: nothing a registry could serve.
  if (!handle.names.length || handle.invalid) throw new ToolError(missing.message);
  process.stderr.write(`Unable to find image '${ref}' locally\n`);
  const elsewhere = await pull(ref, platform);
  return elsewhere ? findImage(await OciLayout.open(elsewhere), ref, platform === undefined ? undefined : parsePlatform(platform)) : lookup();
}

/**
 * How a missing name is pulled: into the store (oci-pull), or elsewhere — planning a --dry-run, which changes
 * nothing in the store — returning the layout it is then found in.
 */
export type Pull = (ref: string, platform?: string) => Promise<string | undefined>;

const storePull = (root: string, env: NodeJS.ProcessEnv): Pull => async (ref, platform) => {
  await tool('oci-pull', ['-q', ...(platform ? ['--platform', platform] : []), ref], env);
  recordReferenceEvent(root, 'pull', ref);
  return undefined;
};
