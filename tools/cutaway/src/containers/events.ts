import { dirname } from 'node:path';
import { withFileLock } from '@cutaway/libc';
import { recordEvent } from '../system/events-log.ts';
import { currentState, exitCodeOf } from './state.ts';
import type { ContainerConfigRecord, ContainerStore } from './store.ts';

/**
 * A container's event, as moby's LogContainerEventWithAttributes makes it: its labels, `image` (as it was
 * given to run or create) and `name`, then the event's own attributes. `container`: its record, or its id.
 * Never throws, as recordEvent.
 */
export function recordContainerEvent(store: ContainerStore, container: ContainerConfigRecord | string, action: string, extra: Record<string, string> = {}): void {
  try {
    const config = typeof container === 'string' ? store.config(container) : container;
    recordEvent(dirname(store.dir), 'container', action, config.id, { ...config.labels, image: config.imageRef ?? config.image, name: config.name, ...extra });
  } catch {
    // no record to name it by: no event
  }
}

/**
 * The `die` event of an exit, with its exitCode, recorded by whoever takes the container down after it has
 * exited (lifecycle.ts teardown: its shim's __teardown, a foreground run, or rm, start or prune when that
 * keeper was killed): once, as the state is marked under the container's lock, so that two taking it down at
 * once (rm -f while its shim is slow) do not both record it. The next start writes a state without the mark.
 */
export async function recordDie(store: ContainerStore, config: ContainerConfigRecord): Promise<void> {
  try {
    await withFileLock(store.path(config.id, 'events.lock'), async () => {
      const state = currentState(store, config.id);
      if (state.status !== 'exited' || state.down || state.died) return;
      recordContainerEvent(store, config, 'die', { exitCode: String(exitCodeOf(state)) });
      await store.writeState(config.id, { ...store.state(config.id), died: true });
    });
  } catch {
    // its directory gone already: nothing left to record it for
  }
}
