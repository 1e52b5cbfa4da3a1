/** docker system df, prune and info, on the state root; version, which Docker has at the top level only. */
export { df } from './df.ts';
export { events } from './events.ts';
export { info } from './info.ts';
export { prune } from './prune.ts';
export { unshare } from './unshare.ts';
export { version } from './version.ts';
