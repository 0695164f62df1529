import { Logger } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, JSONCodec, type JsMsg, type NatsConnection } from 'nats';
import { STREAMS, Subjects } from '@encedeus/contracts';
import { ConsumeLoop, ensureStreams, Lease } from '@encedeus/messaging';
import { FencedError, type MetricsStore } from '../storage/metrics-store';
import { sampleOf, type Sample } from '../storage/samples';

/** The durable consumer of `tel.>` on TELEMETRY (declared in DURABLE_OWNERS) and the checkpoint's name. */
export const TELEMETRY_CONSUMER = 'metrics_telemetry';

export interface TelemetryIngestOptions {
  /** Messages per transaction at most. @default 5000 */
  batchSize?: number;
  /** Pause between two retention passes (partitions ahead, expired ones dropped). @default 10 min */
  retentionEveryMs?: number;
  /** Pause between two rollup passes (MetricsStore.rollUp: settled samples into 1-minute and 1-hour buckets). @default 10 s */
  rollupEveryMs?: number;
  /** The `telemetry-ingest` lease. @default { ttlMs: 5000 } */
  lease?: { ttlMs?: number; renewMs?: number };
  /** Called with every batch's samples once they are stored (alert rules); a throw is logged, never retried. */
  afterWrite?: (samples: Sample[]) => Promise<void>;
}

const codec = JSONCodec<unknown>();

/**
 * Reads `tel.>` from stream TELEMETRY through one durable consumer and writes the samples
 * (MetricsStore.write), a batch and its checkpoint per transaction. One replica ingests: the
 * holder of the `metrics.telemetry-ingest` lease; its commits are fenced on the checkpoint, so a
 * holder that lost the lease without noticing writes nothing. The holder also rolls settled samples
 * up (MetricsStore.rollUp, every `rollupEveryMs`) and runs retention.
 */
export class TelemetryIngest {
  private readonly logger = new Logger('TelemetryIngest');
  private readonly lease: Lease;
  private loop?: ConsumeLoop;
  private retention?: NodeJS.Timeout;
  private rollups?: NodeJS.Timeout;
  private rolling?: Promise<void>;
  private written = 0;
  private switching: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly store: MetricsStore,
    private readonly options: TelemetryIngestOptions = {},
  ) {
    this.lease = new Lease(nc, {
      service: 'metrics',
      name: 'telemetry-ingest',
      ttlMs: options.lease?.ttlMs ?? 5000,
      renewMs: options.lease?.renewMs,
      onAcquired: () => this.switchTo(true),
      onLost: (reason) => {
        this.logger.log(`stopped ingesting: ${reason}`);
        this.switchTo(false);
      },
      onError: (error) => this.logger.warn(`lease: ${error.message}`),
    });
  }

  /** Stream sequence of the last message this instance wrote (0 when another replica ingests). */
  get position(): number {
    return this.written;
  }

  /** Whether this instance is the one ingesting. */
  get leading(): boolean {
    return this.lease.isHeld();
  }

  async start(): Promise<void> {
    await ensureStreams(await this.nc.jetstreamManager(), [STREAMS.telemetry]);
    await this.lease.start();
  }

  async stop(): Promise<void> {
    await this.lease.stop();
    await this.switching;
  }

  /** Resolves true once the checkpoint (whoever wrote it) reaches `sequence`, false after `timeoutMs`. */
  async waitFor(sequence: number, timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
      if (this.written >= sequence || (await this.store.checkpoint(TELEMETRY_CONSUMER)).sequence >= sequence) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  private switchTo(ingesting: boolean): void {
    this.switching = this.switching.then(() => (ingesting ? this.begin() : this.end())).catch((error) => this.logger.warn(`ingest ${ingesting ? 'start' : 'stop'} failed: ${(error as Error).message}`));
  }

  private async begin(): Promise<void> {
    if (this.loop) return;
    await this.retain();
    this.retention = setInterval(() => void this.retain(), this.options.retentionEveryMs ?? 10 * 60_000);
    this.retention.unref();
    this.rollups = setInterval(() => void this.rollUp(), this.options.rollupEveryMs ?? 10_000);
    this.rollups.unref();
    const batchSize = this.options.batchSize ?? 5000;
    let batch: JsMsg[] = [];
    const flush = async () => {
      const taken = batch;
      batch = [];
      if (taken.length > 0) await this.writeBatch(taken);
    };
    this.loop = new ConsumeLoop({
      name: 'TelemetryIngest',
      closed: () => this.nc.isClosed(),
      consume: { max_messages: batchSize * 2, expires: 5000, abort_on_missing_resource: true },
      open: async () => {
        batch = [];
        return this.openConsumer();
      },
      handle: async (m) => {
        batch.push(m);
        if (batch.length >= batchSize || m.info.pending === 0) await flush();
      },
      drained: flush,
      onError: (error, last) => {
        if (error instanceof FencedError) {
          this.logger.warn(`${error.message}; starting over from the checkpoint`);
          return;
        }
        this.logger.warn(`telemetry consumer failed after ${last}: ${error.message}`);
      },
    });
    await this.loop.start();
    this.logger.log('ingesting tel.> from TELEMETRY');
  }

  private async end(): Promise<void> {
    clearInterval(this.retention);
    this.retention = undefined;
    clearInterval(this.rollups);
    this.rollups = undefined;
    await this.rolling;
    const loop = this.loop;
    this.loop = undefined;
    await loop?.stop();
  }

  /**
   * The holder (re)creates the durable at its checkpoint on every open, as the Projector does: what
   * a previous holder left unacknowledged comes back at once, and a recreated stream starts over.
   */
  private async openConsumer() {
    const jsm = await this.nc.jetstreamManager();
    await ensureStreams(jsm, [STREAMS.telemetry]);
    const info = await jsm.streams.info(STREAMS.telemetry);
    let checkpoint = await this.store.checkpoint(TELEMETRY_CONSUMER);
    if (checkpoint.streamCreated !== info.created || checkpoint.sequence > info.state.last_seq) {
      if (checkpoint.streamCreated !== null) this.logger.warn(`stream ${STREAMS.telemetry} was recreated; reading it from its start`);
      await this.store.resetCheckpoint(TELEMETRY_CONSUMER, checkpoint.streamCreated === null ? checkpoint.sequence : 0, info.created);
      checkpoint = await this.store.checkpoint(TELEMETRY_CONSUMER);
    }
    this.written = checkpoint.sequence;
    await jsm.consumers.delete(STREAMS.telemetry, TELEMETRY_CONSUMER).catch(() => undefined);
    await jsm.consumers.add(STREAMS.telemetry, {
      durable_name: TELEMETRY_CONSUMER,
      ack_policy: AckPolicy.All,
      ack_wait: 30_000_000_000,
      max_ack_pending: 50_000,
      filter_subject: Subjects.allTelemetry,
      ...(checkpoint.sequence > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checkpoint.sequence + 1 } : { deliver_policy: DeliverPolicy.All }),
    });
    return this.nc.jetstream().consumers.get(STREAMS.telemetry, TELEMETRY_CONSUMER);
  }

  private async writeBatch(messages: JsMsg[]): Promise<void> {
    if (!this.lease.isHeld()) throw new Error('metrics: lost the telemetry-ingest lease');
    const last = messages[messages.length - 1];
    const samples: Sample[] = [];
    for (const m of messages) {
      if (m.seq <= this.written) continue;
      let body: unknown;
      try {
        body = codec.decode(m.data);
      } catch {
        continue; // not JSON: dropped, like any sample that is not one
      }
      const sample = sampleOf(m.subject, body, Math.floor(m.info.timestampNanos / 1e6));
      if (sample) samples.push(sample);
    }
    if (last.seq <= this.written) {
      last.ack();
      return;
    }
    await this.store.write(samples, { name: TELEMETRY_CONSUMER, expected: this.written, to: last.seq });
    this.written = last.seq;
    last.ack();
    if (this.options.afterWrite && samples.length > 0) await this.options.afterWrite(samples).catch((error) => this.logger.warn(`after the batch: ${(error as Error).message}`));
  }

  /** One rollup pass at a time; a failure is logged and the next pass takes it up. */
  private rollUp(): Promise<void> {
    this.rolling ??= this.store
      .rollUp()
      .then(() => undefined)
      .catch((error) => this.logger.warn(`rollup failed: ${(error as Error).message}`))
      .finally(() => (this.rolling = undefined));
    return this.rolling;
  }

  /** Partitions for today and tomorrow exist before samples need them; expired ones are dropped. */
  private async retain(): Promise<void> {
    try {
      const now = Date.now();
      await this.store.ensurePartitions([now, now + 24 * 3600_000]);
      const dropped = await this.store.dropExpired(now);
      if (dropped.length > 0) this.logger.log(`dropped expired partitions ${dropped.join(', ')}`);
    } catch (error) {
      this.logger.warn(`retention failed: ${(error as Error).message}`);
    }
  }
}
