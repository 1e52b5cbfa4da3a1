import { runTool } from '@cutaway/cli';
import { netbridge } from './commands.ts';
import { spec } from './spec.ts';

// cutaway reads what up --json and network ls --json print as these.
export type { UpResult } from './endpoints.ts';
export type { NetworkInspect } from './networks.ts';

void runTool(spec, (inv) => netbridge(inv, (text) => process.stdout.write(text), { env: process.env, tell: (text) => process.stderr.write(text) }));
