import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { imageStoreDir, ToolError, UsageError } from '@cutaway/cli';
import { automaticPlatformArgs } from '@cutaway/dockerfile';
import { findImage, formatPlatform, hostPlatform, NoSuchImageError, OciLayout, parsePlatform, type FoundImage } from '@cutaway/oci';
import { imageFor, type Pull } from '../images/resolve.ts';

/**
 * Platforms in a build, as BuildKit has them: the build platform is this host's; the target platform is
 * --platform's (default: the host's). They give the automatic ARGs (BUILDPLATFORM, BUILDOS, BUILDARCH,
 * BUILDVARIANT, TARGETPLATFORM, …), global ARGs that a stage sees once it declares them; a FROM without
 * --platform takes its image for the target platform, `FROM --platform=$BUILDPLATFORM` for the host's.
 */
export interface BuildPlatforms {
  build: string;
  target: string;
}

export function buildPlatforms(option: string | undefined): BuildPlatforms {
  const build = formatPlatform(hostPlatform());
  return { build, target: option === undefined ? build : normalised(option, (m) => new UsageError(`--platform: ${m}`)) };
}

export function platformArgs(p: BuildPlatforms): Record<string, string> {
  return automaticPlatformArgs(p.build, p.target);
}

function normalised(text: string, error: (message: string) => Error): string {
  try {
    return formatPlatform(parsePlatform(text));
  } catch (e) {
    throw error((e as Error).message);
  }
}

/**
 * A FROM's image for its platform (FROM --platform=…, substituted, else the target's): from the store, else
 * pulled for that platform. An image the store has, but not for that platform, is an error that says which
 * platforms it has (BuildKit: "no match for platform in manifest"). Steps run on this host only: a stage for
 * another platform is refused, as cutaway has no emulator to run its steps.
 */
export async function baseImage(root: string, ref: string, fromPlatform: string | undefined, platforms: BuildPlatforms, env: NodeJS.ProcessEnv, pull?: Pull): Promise<FoundImage> {
  const platform = fromPlatform ? normalised(fromPlatform, (m) => new ToolError(`FROM --platform=${fromPlatform}: ${m}`)) : platforms.target;
  const dir = imageStoreDir(root);
  let image: FoundImage | undefined;
  if (existsSync(join(dir, 'oci-layout'))) {
    try {
      image = await findImage(await OciLayout.open(dir), ref, parsePlatform(platform));
    } catch (e) {
      if (!(e instanceof NoSuchImageError)) throw new ToolError(`${ref}: no match for platform ${platform}: ${(e as Error).message}`, `pull the image for it first: cutaway pull --platform ${platform} ${ref}`);
    }
  }
  image ??= await imageFor(root, ref, env, pull, platform);
  if (platform !== platforms.build) {
    throw new ToolError(`${ref} is an image for ${platform}: cutaway build runs steps for this host's platform (${platforms.build}) only`, 'FROM --platform=$BUILDPLATFORM builds on this host (a cross-compiling stage)');
  }
  return image;
}
