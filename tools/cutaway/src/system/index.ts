import type { Command } from '../command.ts';
import { df } from './df.ts';
import { prune } from './prune.ts';

/** docker system df and docker system prune, on the state root. */
export const system: Record<string, Command> = { df, prune };
