import type { Command } from '../command.ts';
import { create } from './create.ts';
import { inspect } from './inspect.ts';
import { ls } from './ls.ts';
import { prune } from './prune.ts';
import { rm } from './rm.ts';

/** docker volume create, ls, inspect, rm, prune: the local driver's volumes, directories in $CUTAWAY_ROOT/volumes. */
export const volume: Record<string, Command> = { create, ls, inspect, rm, prune };
