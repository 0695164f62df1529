import { Logger } from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { DataSource } from 'typeorm';
import { collectGarbage, type ChunkStore, type CollectGarbageResult, type GraceBound } from '@encedeus/chunks';
import { Lease, type EventStore, type Projector } from '@encedeus/messaging';
import { SCHEMA } from '../projections/files.projection';

export interface ChunkGcOptions {
  graceMs: number;
  intervalMs: number;
  lease?: { ttlMs?: number; renewMs?: number };
}

/**
 * Chunk garbage collection (libs/chunks: mark and sweep). Runs on one replica, the holder of the
 * `files.chunk-gc` lease, every `intervalMs`. The live set is every chunk a file of the read model
 * lists, taken after the projector caught up with the log. Chunks of uploads in flight are kept: the
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
      const rows = (await this.db.query(`select distinct hash from ${SCHEMA}.file_chunks`)) as { hash: string }[];
      const live = new Set(rows.map((r) => r.hash));
      const [{ oldest }] = (await this.db.query(`select min(started_at) as oldest from ${SCHEMA}.upload_reservations where expires_at > now()`)) as { oldest: Date | null }[];
      const now = options.now ?? new Date();
      const decideAt = oldest && oldest.getTime() < now.getTime() ? oldest : now;
      const result = await collectGarbage(this.chunks, live, { graceMs: this.options.graceMs, now: decideAt });
      if (result.deleted > 0) this.logger.log(`collected ${result.deleted} of ${result.examined} chunks, ${result.freedBytes} bytes`);
      return result;
    })();
    try {
      return await this.running;
    } finally {
      this.running = undefined;
    }
  }
}
