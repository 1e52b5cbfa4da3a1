import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runner } from '../runner.ts';
import { tool } from '../tools.ts';
import type { Pull } from './resolve.ts';

/**
 * --dry-run of a command whose image the store lacks (run's image, build's FROM): the script pulls it
 * (oci-pull), and to plan the steps (the command, env, workdir, user) the image's config is needed now — so it
 * is pulled into a throwaway layout, removed when cutaway exits, and the store is left as it is.
 */
export function planningPull(r: Runner, env: NodeJS.ProcessEnv): Pull {
  return async (ref, platform) => {
    const dir = mkdtempSync(join(tmpdir(), 'cw-plan-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    const platformFlag = platform ? ['--platform', platform] : [];
    await tool('oci-pull', ['-q', ...platformFlag, '--layout', dir, ref], env);
    r.note('The image is not in the store: it is pulled first, as cutaway pulls it.');
    await r.tool('oci-pull', ['-q', ...platformFlag, ref], env);
    return dir;
  };
}
