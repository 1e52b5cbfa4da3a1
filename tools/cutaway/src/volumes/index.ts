/** docker volume create, ls, inspect, rm, prune: the local driver's volumes, directories in $CUTAWAY_ROOT/volumes. */
export { create } from './create.ts';
export { inspect } from './inspect.ts';
export { ls } from './ls.ts';
export { prune } from './prune.ts';
export { rm } from './rm.ts';
