import type { Command } from './command.ts';

/** docker volume …, docker network …, docker system df|prune, docker info. */
export const objectCommands: Record<string, Command> = {};
