/**
 * Serialises work per key inside one process. Commands on one aggregate queue behind each other, so
 * a side effect sent to auth before an append (credentials) is never raced by a sibling command of
 * the same instance; across instances the append's expected revision still decides.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(work);
    this.tails.set(key, current);
    try {
      return await current;
    } finally {
      if (this.tails.get(key) === current) this.tails.delete(key);
    }
  }
}
