import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { collectGarbage, type ChunkStore, type CollectGarbageResult, type GraceBound } from '@encedeus/chunks';
import { Lease, type EventStore, type Projector } from '@encedeus/messaging';
import { SCHEMA } from '../projections/files.projection';
import { advisoryKey, CHUNK_GC_LOCK } from '../backups/backup-sessions';

export interface ChunkGcOptions {
  graceMs: number;
  intervalMs: number;
  lease?: { ttlMs?: number; renewMs?: number };
}

/**
 * Chunk garbage collection (libs/chunks: mark and sweep). Runs on one replica, the holder of the
 * `files.chunk-gc` lease, every `intervalMs`. The live set is every chunk a file of the read model
 * or a backup lists (completed backups' chunks, and those running backups rely on), taken after the
 * projector caught up with the log. Chunks of uploads in flight are kept: the
 * collection decides at the start of the oldest upload whose reservation lives (gateways renew it while
 * the upload streams), so every chunk stored within the grace before it survives, however long the
 * upload takes. Chunks of refused or aborted uploads go once the grace has passed.
 */
export class ChunkGc {
  private readonly logger = new Logger('files/gc');
  private lease?: Lease;
  private timer?: NodeJS.Timeout;
  private running?: Promise<CollectGarbageResult>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly db: DataSource,
    private readonly events: EventStore,
    private readonly projector: Projector,
    private readonly chunks: ChunkStore & GraceBound,
    private readonly options: ChunkGcOptions,
  ) {}

  async start(): Promise<void> {
    this.lease = new Lease(this.nc, {
      service: 'files',
      name: 'chunk-gc',
      ...this.options.lease,
      onAcquired: () => this.schedule(),
      onLost: () => this.unschedule(),
      onError: (error) => this.logger.warn(`chunk-gc lease: ${error.message}`),
    });
    await this.lease.start();
  }

  async stop(): Promise<void> {
    this.unschedule();
    await this.lease?.stop();
    await this.running?.catch(() => undefined);
  }

  private schedule(): void {
    this.unschedule();
    this.timer = setInterval(() => {
      if (!this.running && this.lease?.isHeld()) void this.collect().catch((error) => this.logger.warn(`collection failed: ${(error as Error).message}`));
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private unschedule(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One collection now. `now` moves the clock (tests: a time past the grace). */
  async collect(options: { now?: Date } = {}): Promise<CollectGarbageResult> {
    if (this.running) return this.running;
    this.running = (async () => {
      await this.projector.waitFor(await this.events.lastSequence(), 30_000);
      // Held for the whole mark and sweep: a backup asking which chunks are missing waits (shared), see BackupCommands.missing.
      const lock = this.db.createQueryRunner();
      await lock.connect();
      try {
        await lock.query(`select pg_advisory_lock(${advisoryKey(CHUNK_GC_LOCK)})`);
        // Live: every file's chunks, every completed backup's (manifest included), every chunk a running backup relies on.
        const rows = (await lock.query(
          `select hash from ${SCHEMA}.file_chunks union select hash from ${SCHEMA}.backup_chunks union select hash from ${SCHEMA}.backup_refs`,
        )) as { hash: string }[];
        const live = new Set(rows.map((r) => r.hash));
        const [{ oldest }] = (await lock.query(`select min(started_at) as oldest from ${SCHEMA}.upload_reservations where expires_at > now()`)) as { oldest: Date | null }[];
        const now = options.now ?? new Date();
        const decideAt = oldest && oldest.getTime() < now.getTime() ? oldest : now;
        const result = await collectGarbage(this.chunks, live, { graceMs: this.options.graceMs, now: decideAt });
        if (result.deleted > 0) this.logger.log(`collected ${result.deleted} of ${result.examined} chunks, ${result.freedBytes} bytes`);
        return result;
      } finally {
        await lock.query(`select pg_advisory_unlock(${advisoryKey(CHUNK_GC_LOCK)})`).catch(() => undefined);
        await lock.release();
      }
    })();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }
}
