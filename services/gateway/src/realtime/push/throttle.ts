interface Slot {
  sentAt: number;
  pending?: () => void;
  timer?: NodeJS.Timeout;
}

/**
 * At most one send per key per interval: the first goes out at once, later ones within the
 * interval are folded into one trailing send of the newest value.
 */
export class Throttle {
  private readonly slots = new Map<string, Slot>();
  private calls = 0;

  /** @param intervalMs minimum time between two sends of one key */
  constructor(private readonly intervalMs: number) {}

  run(key: string, send: () => void): void {
    if (++this.calls % 10_000 === 0) this.prune();
    const now = Date.now();
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = { sentAt: 0 }));
    if (!slot.timer && now - slot.sentAt >= this.intervalMs) {
      slot.sentAt = now;
      send();
      return;
    }
    slot.pending = send;
    if (slot.timer) return;
    const due = slot;
    due.timer = setTimeout(() => {
      due.timer = undefined;
      const next = due.pending;
      due.pending = undefined;
      if (!next) return;
      due.sentAt = Date.now();
      next();
    }, Math.max(0, slot.sentAt + this.intervalMs - now));
    due.timer.unref();
  }

  stop(): void {
    for (const slot of this.slots.values()) clearTimeout(slot.timer);
    this.slots.clear();
  }

  /** Forgets keys idle for a while (nodes and servers come and go). */
  private prune(): void {
    const idle = Date.now() - 10 * this.intervalMs;
    for (const [key, slot] of this.slots) if (!slot.timer && slot.sentAt < idle) this.slots.delete(key);
  }
}
