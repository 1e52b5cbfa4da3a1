/**
 * docker network create, ls, inspect, rm, connect, disconnect, prune: netbridge's networks, with Docker's
 * two that are no bridge, host and none. connect gives a running container one more interface in its
 * network namespace (`netbridge up ID --network NET --pid PID`: eth1, …) and records the network in its
 * config.json; disconnect takes it away again. The group's verbs, as cutaway.ts's table names them.
 */
export { connect } from './connect.ts';
export { create } from './create.ts';
export { disconnect } from './disconnect.ts';
export { inspect } from './inspect.ts';
export { ls } from './ls.ts';
export { prune } from './prune.ts';
export { rm } from './rm.ts';
