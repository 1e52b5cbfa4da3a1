import { runTool } from '@cutaway/cli';
import { cgLimit, spec } from './commands.ts';

void runTool(spec, (inv) => cgLimit(inv));
