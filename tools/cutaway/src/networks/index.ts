import type { Command } from '../command.ts';
import { connect } from './connect.ts';
import { create } from './create.ts';
import { disconnect } from './disconnect.ts';
import { inspect } from './inspect.ts';
import { ls } from './ls.ts';
import { prune } from './prune.ts';
import { rm } from './rm.ts';

/**
 * docker network create, ls, inspect, rm, connect, disconnect, prune: netbridge's networks, with Docker's
 * two that are no bridge, host and none. connect gives a running container one more interface in its
 * network namespace (`netbridge up ID --network NET --pid PID`: eth1, …) and records the network in its
 * config.json; disconnect takes it away again.
 */
export const network: Record<string, Command> = { create, ls, inspect, rm, connect, disconnect, prune };
