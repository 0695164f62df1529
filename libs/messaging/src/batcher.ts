/** Options of a Batcher. */
export interface BatcherOptions {
  /** A batch holds at most this much weight (items count 1 each unless add says otherwise); a full batch goes at once. */
  maxWeight: number;
  /**
   * An item waits at most this long for others to join its batch when a write slot is free; 0 waits
   * only for what arrives in the same turn of the event loop (setImmediate).
   */
  maxDelayMs: number;
  /** Batches written at the same time. What arrives while all are busy makes the next batch. @default 1 */
  concurrency?: number;
}

interface Waiting<T> {
  item: T;
  weight: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Gathers items from concurrent callers into batches and writes each batch with one call: a burst
 * becomes a few large writes instead of many small ones queueing on the same rows or round trips.
 * A batch goes when it is full, when `maxDelayMs` passed since its first item, or as soon as a write
 * slot frees up (so under load batches grow by themselves and no item waits for a timer). Each
 * caller's promise settles with its batch: resolved once the batch is written, rejected with the
 * batch's error, or, when `write` resolves with one outcome per item, each with its own. An item
 * heavier than `maxWeight` makes a batch of its own.
 */
export class Batcher<T> {
  private waiting: Waiting<T>[] = [];
  private waitingWeight = 0;
  private running = 0;
  private timer?: NodeJS.Timeout | NodeJS.Immediate;
  private readonly idle = new Set<() => void>();

  /**
   * @param write Writes one batch. It may resolve with one outcome per item, in order: `undefined`
   * for an item written, else the error that item's caller is rejected with (the others resolve).
   */
  constructor(
    private readonly write: (items: T[]) => Promise<void | readonly unknown[]>,
    private readonly options: BatcherOptions,
  ) {}

  /** Adds an item; resolves when the batch holding it is written. */
  add(item: T, weight = 1): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ item, weight, resolve, reject });
      this.waitingWeight += weight;
      if (this.running >= (this.options.concurrency ?? 1)) return; // a finishing write takes it
      if (this.waitingWeight >= this.options.maxWeight) this.start();
      else this.timer ??= this.options.maxDelayMs > 0 ? setTimeout(() => this.start(), this.options.maxDelayMs) : setImmediate(() => this.start());
    });
  }

  /** Writes what is waiting now and resolves once nothing is waiting or being written. */
  async flush(): Promise<void> {
    while (this.waiting.length > 0 || this.running > 0) {
      if (this.waiting.length > 0 && this.running < (this.options.concurrency ?? 1)) this.start();
      await new Promise<void>((resolve) => this.idle.add(resolve));
    }
  }

  private start(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer as NodeJS.Timeout);
      clearImmediate(this.timer as NodeJS.Immediate);
    }
    this.timer = undefined;
    // Whoever calls (a timer set while a slot was free, flush, a finishing write) may find every
    // slot taken meanwhile: the next write to finish takes what waits.
    if (this.waiting.length === 0 || this.running >= (this.options.concurrency ?? 1)) return;
    // Whole items up to maxWeight (at least one).
    let take = 0;
    let weight = 0;
    while (take < this.waiting.length && (take === 0 || weight + this.waiting[take].weight <= this.options.maxWeight)) weight += this.waiting[take++].weight;
    const batch = this.waiting.splice(0, take);
    this.waitingWeight -= weight;
    this.running++;
    const items = batch.map((w) => w.item);
    void Promise.resolve()
      .then(() => this.write(items))
      .then(
        (outcomes) => this.settle(batch, (w, i) => (outcomes?.[i] === undefined ? w.resolve() : w.reject(outcomes[i]))),
        (error: unknown) => this.settle(batch, (w) => w.reject(error)),
      );
  }

  private settle(batch: Waiting<T>[], each: (w: Waiting<T>, index: number) => void): void {
    this.running--;
    batch.forEach(each);
    // What arrived meanwhile goes now, without waiting for a timer.
    if (this.waiting.length > 0) this.start();
    for (const wake of this.idle) wake();
    this.idle.clear();
  }
}
