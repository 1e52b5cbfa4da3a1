import type { Command } from '../command.ts';
import { infoCommands } from './info.ts';
import { networkCommands } from '../networks/commands.ts';
import { systemCommands } from './commands.ts';
import { volumeCommands } from '../volumes/commands.ts';

/** docker volume …, docker network …, docker system df|prune, docker info. */
export const objectCommands: Record<string, Command> = { ...volumeCommands, ...networkCommands, ...systemCommands, ...infoCommands };
