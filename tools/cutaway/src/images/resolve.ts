import { existsSync } from 'node:fs';
import { imageStoreDir } from '@cutaway/cli';
import { findImage, OciLayout, type ResolvedImage } from '@cutaway/oci';
import { tool } from '../tools.ts';

/** An image of the store by the name a user typed; pulled with oci-pull when missing, as docker run does. */
export async function imageFor(root: string, ref: string, env: NodeJS.ProcessEnv): Promise<ResolvedImage & { name: string }> {
  const dir = imageStoreDir(root);
  if (existsSync(dir)) {
    try {
      return await findImage(await OciLayout.open(dir), ref);
    } catch {
      // not in the store: pull it
    }
  }
  process.stderr.write(`Unable to find image '${ref}' locally\n`);
  await tool('oci-pull', ['-q', ref], env);
  return findImage(await OciLayout.open(dir), ref);
}
