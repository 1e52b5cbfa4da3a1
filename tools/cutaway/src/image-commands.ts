import type { Command } from './command.ts';

/** docker images, pull, push, tag, rmi, history, save, load. */
export const imageCommands: Record<string, Command> = {};
