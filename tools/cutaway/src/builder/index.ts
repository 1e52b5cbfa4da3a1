/** docker builder …: the build cache's management group. */
export { prune } from './prune.ts';
