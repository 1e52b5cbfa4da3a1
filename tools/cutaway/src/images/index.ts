import type { Command } from '../command.ts';
import { inspect } from './inspect.ts';

/** docker image …: the management group of the image commands (inspect, for now; the others are top-level verbs). */
export const image: Record<string, Command> = { inspect };
