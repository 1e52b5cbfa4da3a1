/**
 * One operation on several containers, as docker's CLI runs them (parallelOperation): side by side, a few
 * at a time (each takes a few tool starts), each name printed once its operation is done, in the order given.
 */
export async function eachInParallel(ids: string[], names: string[], operation: (id: string) => Promise<void>, limit = 8): Promise<void> {
  let active = 0;
  const waiting: (() => void)[] = [];
  const outcomes = ids.map(async (id) => {
    while (active >= limit) await new Promise<void>((wake) => waiting.push(wake));
    active++;
    try {
      await operation(id);
      return undefined;
    } catch (e) {
      return { error: e };
    } finally {
      active--;
      waiting.shift()?.();
    }
  });
  // Like docker's CLI, the others go on when one fails; the first failure is the command's error.
  let failure: { error: unknown } | undefined;
  for (const [i, outcome] of outcomes.entries()) {
    const result = await outcome;
    if (result) failure ??= result;
    else process.stdout.write(`${names[i]}\n`);
  }
  if (failure) throw failure.error;
}

/** Promise.all's values, but once every promise has settled: the first failure, if any, is thrown then. */
export async function allDone<T extends readonly unknown[]>(promises: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const results = await Promise.allSettled(promises);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return results.map((result) => (result as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}
