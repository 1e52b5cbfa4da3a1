import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Tests run the tools as users do, as built commands: build them first (esbuild, well under a second). */
export default function setup(): void {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
}
