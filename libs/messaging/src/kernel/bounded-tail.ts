/** One kept item and its number in arrival order (1, 2, …). */
export interface TailEntry<T> {
  seq: number;
  item: T;
}

/**
 * The newest items of a stream whose sizes add up to at most `maxBytes`; the oldest go first. Each
 * item is numbered on arrival, so a reader that replays the tail and then follows the stream can tell
 * which items it already has, and `dropped` says how many fell off the front. An item larger than
 * `maxBytes` on its own is not kept (it is counted as dropped): trim items before pushing them.
 */
export class BoundedTail<T> {
  private items: (TailEntry<T> & { size: number })[] = [];
  private head = 0;
  private total = 0;
  private last = 0;
  private droppedCount = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly sizeOf: (item: T) => number,
  ) {
    if (!(maxBytes > 0)) throw new Error('BoundedTail: maxBytes must be positive');
  }

  /** Keeps `item` (dropping the oldest to make room) and answers its number. */
  push(item: T): number {
    const seq = ++this.last;
    const size = Math.max(0, this.sizeOf(item));
    if (size > this.maxBytes) {
      this.droppedCount++;
      return seq;
    }
    this.items.push({ seq, item, size });
    this.total += size;
    while (this.total > this.maxBytes) {
      this.total -= this.items[this.head].size;
      this.head++;
      this.droppedCount++;
    }
    // Compact once the dropped front is the larger part, so pushes stay O(1) amortised.
    if (this.head > 64 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return seq;
  }

  /** The kept items, oldest first. */
  entries(): TailEntry<T>[] {
    return this.items.slice(this.head).map(({ seq, item }) => ({ seq, item }));
  }

  /** The number of the newest item pushed (kept or not); 0 before the first. */
  get lastSeq(): number {
    return this.last;
  }

  /** Items no longer kept (pushed out by newer ones, or too large). */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Sum of the kept items' sizes. */
  get bytes(): number {
    return this.total;
  }

  /** Number of kept items. */
  get length(): number {
    return this.items.length - this.head;
  }
}
