/**
 * One async mutex per key (an aggregate, a node, a name): work on one key runs one at a time, in
 * arrival order; different keys run in parallel. A key with no waiter is forgotten.
 *
 * It serialises inside ONE process only. Across replicas the append's expected revision (or a lease,
 * or a reservation stream) decides; this only keeps sibling commands of one instance from racing
 * each other into conflicts.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work running or queued. */
  get size(): number {
    return this.tails.size;
  }
}
