import type { Command } from './command.ts';
import { infoCommands } from './system-info.ts';
import { networkCommands } from './network-commands.ts';
import { systemCommands } from './system-commands.ts';
import { volumeCommands } from './volume-commands.ts';

/** docker volume …, docker network …, docker system df|prune, docker info. */
export const objectCommands: Record<string, Command> = { ...volumeCommands, ...networkCommands, ...systemCommands, ...infoCommands };
