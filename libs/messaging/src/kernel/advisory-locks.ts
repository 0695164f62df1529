import { ServiceUnavailableError } from '@encedeus/contracts';
import type { DataSource } from 'typeorm';
import { WorkQueue } from '@encedeus/security';
import { KeyedMutex } from './keyed-mutex';

export interface AdvisoryLocksOptions {
  /** Longest wait for another replica's hold before answering 503. @default 30000 */
  timeoutMs?: number;
  /**
   * Locks held at once by this instance (each holds a pooled connection while its work needs
   * another): keep it well under the pool size, or work on many keys at once exhausts the pool.
   * Beyond it callers queue (429 when the queue is full). @default 4
   */
  maxHeld?: number;
}

/**
 * A lock per key that holds across replicas: a Postgres transaction-level advisory lock
 * (`pg_advisory_xact_lock`), taken on a connection of its own and released when the work ends
 * (commit) or its process dies (the session ends). For check-then-append work whose check reads a
 * read model every replica shares, e.g. a node's capacity before a server is placed on it.
 * Work on one key inside this process queues on a KeyedMutex first, so it holds one connection.
 */
export class AdvisoryLocks {
  private readonly local = new KeyedMutex();
  private readonly held: WorkQueue;
  private readonly timeoutMs: number;

  constructor(
    private readonly db: DataSource,
    options: AdvisoryLocksOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.held = new WorkQueue({ concurrency: options.maxHeld ?? 4, maxWaitMs: this.timeoutMs, maxQueued: 1000 });
  }

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.local.run(key, () => this.held.run(() => this.hold(key, work)));
  }

  private async hold<T>(key: string, work: () => Promise<T>): Promise<T> {
    const runner = this.db.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      try {
        await runner.query(`select set_config('lock_timeout', $1, true)`, [`${this.timeoutMs}ms`]);
        await runner.query(`select pg_advisory_xact_lock(hashtext('encedeus'), hashtext($1))`, [key]);
      } catch (error) {
        await runner.rollbackTransaction().catch(() => undefined);
        if ((error as { code?: string }).code === '55P03') throw new ServiceUnavailableError(`Busy: ${key} is held by another instance`, { lock: key });
        throw error;
      }
      try {
        const result = await work();
        await runner.commitTransaction();
        return result;
      } catch (error) {
        await runner.rollbackTransaction().catch(() => undefined);
        throw error;
      }
    } finally {
      await runner.release();
    }
  }
}
