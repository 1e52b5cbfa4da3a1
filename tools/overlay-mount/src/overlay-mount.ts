import { runTool } from '@cutaway/cli';
import { overlayMount, spec } from './commands.ts';

void runTool(spec, (inv) => overlayMount(inv));
