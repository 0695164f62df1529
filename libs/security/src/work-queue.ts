import { DomainError } from '@encedeus/contracts';

/** Limits of a WorkQueue. */
export interface WorkQueueOptions {
  /** Jobs running at once. */
  concurrency: number;
  /** Longest a job may wait for its turn; beyond it the job is refused, never run late. */
  maxWaitMs: number;
  /** Jobs waiting at most. */
  maxQueued: number;
}

/**
 * Bounded work with a bounded wait (issue #8: 50 parallel logins queued argon2 work until the
 * callers timed out with 503 — and work that finished after its caller gave up still wrote).
 * A job is refused at once with RATE_LIMITED and a `retryAfterSeconds` when the queue is full or
 * its expected wait exceeds `maxWaitMs`, and refused without running when it waited longer than
 * that anyway. So every caller hears back within `maxWaitMs` plus one job's duration.
 */
export class WorkQueue {
  private running = 0;
  private readonly waiting: { enqueuedAt: number; start: () => void; refuse: (error: Error) => void }[] = [];
  /** Moving average of a job's duration (ms); 0 until one finished. */
  private averageMs = 0;

  constructor(private readonly options: WorkQueueOptions) {}

  /** Jobs running and waiting now. */
  get load(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.waiting.length };
  }

  async run<T>(job: () => Promise<T>): Promise<T> {
    if (this.running < this.options.concurrency) {
      this.running++;
    } else {
      const expectedWaitMs = ((this.waiting.length + 1) / this.options.concurrency) * this.averageMs;
      if (this.waiting.length >= this.options.maxQueued || expectedWaitMs > this.options.maxWaitMs) throw this.busy();
      // next() takes the slot for us before it starts us.
      await new Promise<void>((start, refuse) => this.waiting.push({ enqueuedAt: Date.now(), start, refuse }));
    }
    const startedAt = Date.now();
    try {
      return await job();
    } finally {
      const took = Date.now() - startedAt;
      this.averageMs = this.averageMs === 0 ? took : this.averageMs * 0.8 + took * 0.2;
      this.running--;
      this.next();
    }
  }

  private next(): void {
    while (this.running < this.options.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      if (Date.now() - job.enqueuedAt > this.options.maxWaitMs) {
        job.refuse(this.busy());
        continue;
      }
      this.running++;
      job.start();
    }
  }

  private busy(): DomainError {
    const drainMs = ((this.waiting.length + this.running) / this.options.concurrency) * (this.averageMs || 1000);
    const retryAfterSeconds = Math.max(1, Math.ceil(drainMs / 1000));
    return new DomainError('RATE_LIMITED', `The server is busy; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}
