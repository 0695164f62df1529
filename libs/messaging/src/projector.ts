import { Logger } from '@nestjs/common';
import {
  AckPolicy,
  DeliverPolicy,
  JSONCodec,
  type JetStreamManager,
  type JsMsg,
  type NatsConnection,
} from 'nats';
import { Client, type ClientConfig } from 'pg';
import type { DataSource, EntityManager } from 'typeorm';
import type { PostgresConnectionOptions } from 'typeorm/driver/postgres/PostgresConnectionOptions';
import { readEventData, STREAMS, type CloudEvent, type RecordedEvent } from '@encedeus/contracts';
import { ConsumeLoop } from './kernel/consume-loop';
import { readRange } from './kernel/read-range';
import { lockSchemaMigration } from './schema-migration';
import { ensureStreams } from './streams';

/** What a read model does with events. Pure data in, rows out; no NATS in here. */
export interface Projection {
  /** Unique name: the durable consumer and the checkpoint row, e.g. `users_read_model`. */
  readonly name: string;
  /** Subject filter on EVENTS, e.g. `evt.>` or `evt.user.>` (nats-server 2.9: one filter). */
  readonly filterSubject: string;
  /** Postgres schema owning the tables and the checkpoint. */
  readonly schema: string;
  /** Tables emptied by a rebuild (schema-qualified). */
  readonly tables: string[];
  /** Creates the schema's tables if missing (idempotent DDL: the projection's migration). */
  migrate(em: EntityManager): Promise<void>;
  /** Applies a batch of new events inside the checkpoint's transaction. */
  apply(em: EntityManager, events: RecordedEvent[]): Promise<void>;
}

export interface ProjectorOptions {
  /** Events per transaction at most (bigger batches measured ~40 % faster at 5,000 than 1,000). @default 5000 */
  batchSize?: number;
  /**
   * When caught up and nobody waits on waitFor, gather events for this long into one transaction
   * (fewer commits competing with requests; the audit log uses it). @default 0 (apply at once)
   */
  coalesceMs?: number;
  /**
   * Attempts an event gets on its own (after its batch failed) before it is parked as a dead letter
   * and the projection goes on without it. @default 5
   */
  maxAttempts?: number;
  /** Pause before the next attempt of a failing event, times the attempts so far. @default 100 */
  retryDelayMs?: number;
  /**
   * Called by the leader once a batch is committed, with the events it applied (never during a
   * catch-up replay, nor for parked ones): for notices that must follow the read model, which a
   * reader told by them then finds up to date. Called once per event in the fleet, unless the
   * leader dies between its commit and the call. It must not throw, and it is not awaited.
   */
  committed?: (events: RecordedEvent[]) => void;
}

/** An event the projection could not apply, parked so the events after it are not held up. */
export interface DeadLetter {
  sequence: number;
  subject: string;
  type: string;
  error: string;
  attempts: number;
  parkedAt: Date;
}

/** What health reports of one projection. */
export interface ProjectionStatus {
  /** Stream sequence of the last applied (or parked) event: the shared checkpoint, whichever replica applied it. */
  position: number;
  /** Events parked as dead letters (0 when healthy). */
  deadLetters: number;
  /** Whether this instance leads the projection (consumes and commits); the other replicas stand by. */
  leading: boolean;
}

/** Thrown by the projection's own apply: the event may be at fault (infrastructure errors are not wrapped). */
class ApplyFailedError extends Error {
  constructor(readonly events: RecordedEvent[], options: ErrorOptions) {
    super(`projection failed on ${events.length === 1 ? `sequence ${events[0].sequence}` : `a batch of ${events.length}`}: ${(options.cause as Error)?.message}`, options);
  }
}

/**
 * The checkpoint moved under a leader: another instance committed (this one lost its lock without
 * noticing) or a rebuild reset it. The batch is rolled back and the consumer starts over from the
 * checkpoint as it is now.
 */
class FencedError extends Error {
  constructor(expected: number, found: number) {
    super(`projector: the checkpoint is at ${found}, not at ${expected} where this instance left it; starting over from it`);
  }
}

/** The started Projectors of each DataSource, so a service's health can report its projections. */
const running = new WeakMap<DataSource, Set<Projector>>();

/** Position and dead letters of every started projection writing through `dataSource`. */
export async function projectionStatus(dataSource: DataSource): Promise<Record<string, ProjectionStatus>> {
  const projectors = [...(running.get(dataSource) ?? [])];
  const [counts, shared] = await Promise.all([Promise.all(projectors.map((p) => p.deadLetterCount())), Promise.all(projectors.map((p) => p.sharedPosition()))]);
  return Object.fromEntries(
    projectors.map((p, i) => [p.projection.name, { position: Math.max(p.position, shared[i]), deadLetters: counts[i], leading: p.isLeading }]),
  );
}

/** A dead letter's text must not be poison itself: NUL is the one character Postgres text refuses. */
const storable = (value: unknown, max: number) => String(value ?? '').replaceAll('\u0000', '\uFFFD').slice(0, max);

const codec = JSONCodec<CloudEvent>();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How often an instance that does not lead a projection tries to take the lead. */
const LEAD_POLL_MS = 500;

/**
 * Runs a Projection from a durable pull consumer on EVENTS. Each batch of events and the
 * checkpoint (last applied stream sequence) commit in one Postgres transaction, so a crash at any
 * point neither applies an event twice nor skips one.
 */
export class Projector {
  private readonly logger: Logger;
  private stopped = true;
  private consumer?: ConsumeLoop;
  private leading = false;
  private applied = 0;
  private readonly waiters = new Set<{ sequence: number; resolve: () => void }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly dataSource: DataSource,
    readonly projection: Projection,
    private readonly options: ProjectorOptions = {},
  ) {
    this.logger = new Logger(`Projector:${projection.name}`);
  }

  /** Stream sequence of the last applied event. */
  get position(): number {
    return this.applied;
  }

  private get checkpointTable(): string {
    return `"${this.projection.schema}".projection_checkpoints`;
  }

  private get deadLetterTable(): string {
    return `"${this.projection.schema}".projection_dead_letters`;
  }

  /** Events this projection parked, oldest first. */
  async deadLetters(): Promise<DeadLetter[]> {
    const rows = await this.dataSource.query(
      `select sequence, subject, type, error, attempts, parked_at from ${this.deadLetterTable} where projection = $1 order by sequence`,
      [this.projection.name],
    );
    return rows.map((r: Record<string, unknown>) => ({
      sequence: Number(r.sequence), subject: r.subject, type: r.type, error: r.error, attempts: Number(r.attempts), parkedAt: r.parked_at,
    }));
  }

  /** Whether this instance leads the projection (see lead()). */
  get isLeading(): boolean {
    return this.leading;
  }

  /** The shared checkpoint: the last sequence any replica committed. */
  async sharedPosition(): Promise<number> {
    const rows = await this.dataSource.query(`select last_sequence from ${this.checkpointTable} where name = $1`, [this.projection.name]);
    return Number(rows[0]?.last_sequence ?? 0);
  }

  /** How many events this projection parked. */
  async deadLetterCount(): Promise<number> {
    const [row] = await this.dataSource.query(`select count(*)::int as n from ${this.deadLetterTable} where projection = $1`, [this.projection.name]);
    return Number(row?.n ?? 0);
  }

  /** Creates tables and checkpoint, then consumes until stopped. */
  async start(): Promise<void> {
    if (!this.stopped) return;
    await this.prepare();
    this.stopped = false;
    if (!running.has(this.dataSource)) running.set(this.dataSource, new Set());
    running.get(this.dataSource)!.add(this);
    this.startLoop();
  }

  /** Stops consuming and gives the lead up; events in flight are left unacknowledged and will be redelivered. */
  async stop(): Promise<void> {
    this.stopped = true;
    running.get(this.dataSource)?.delete(this);
    // Bounded, so shutdown never hangs on a batch being committed.
    await this.consumer?.stop(10_000);
    this.consumer = undefined;
    await this.resign();
  }

  /** Empties the read model and its checkpoint, deletes the consumer, and replays EVENTS from the start. */
  async rebuild(): Promise<void> {
    const wasRunning = !this.stopped;
    await this.stop();
    await this.prepare();
    await this.dataSource.transaction(async (em) => {
      // The checkpoint row first, as a leader's commit takes it (applyBatch): a live leader on
      // another replica then waits here instead of holding a table this truncate needs (deadlock).
      await em.query(`select last_sequence from ${this.checkpointTable} where name = $1 for update`, [this.projection.name]);
      for (const table of this.projection.tables) await em.query(`truncate ${table} cascade`);
      await em.query(`update ${this.checkpointTable} set last_sequence = 0 where name = $1`, [this.projection.name]);
      await em.query(`delete from ${this.deadLetterTable} where projection = $1`, [this.projection.name]);
    });
    this.applied = 0;
    const jsm = await this.nc.jetstreamManager();
    await jsm.consumers.delete(STREAMS.events, this.projection.name).catch(() => undefined);
    if (wasRunning) await this.start();
  }

  /**
   * Replays until the projection has applied everything in EVENTS now, without a durable consumer
   * (CLI rebuild). `fromSequence` re-reads from there; events at or below the checkpoint are skipped.
   */
  async catchUp(fromSequence?: number): Promise<number> {
    await this.prepare();
    const start = fromSequence ?? this.applied + 1;
    const jsm = await this.nc.jetstreamManager();
    const last = (await jsm.streams.info(STREAMS.events)).state.last_seq;
    if (start > last) return this.applied;
    let batch: JsMsg[] = [];
    for await (const m of readRange(this.nc, { stream: STREAMS.events, filterSubject: this.projection.filterSubject, from: start, to: last, batch: 2000 })) {
      batch.push(m);
      if (batch.length >= (this.options.batchSize ?? 5000)) {
        await this.applyBatch(this.decodeBatch(batch), false);
        batch = [];
      }
    }
    if (batch.length > 0) await this.applyBatch(this.decodeBatch(batch), false);
    return this.applied;
  }

  /**
   * Resolves true once the read model holds `sequence` (read-your-writes after a command), or false
   * after timeoutMs. Replicas share one durable, so the event may be applied by another instance:
   * besides this instance's own progress, the shared checkpoint row is polled while anyone waits.
   */
  waitFor(sequence: number, timeoutMs = 3000): Promise<boolean> {
    if (this.applied >= sequence) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = { sequence, resolve: () => { clearTimeout(timer); resolve(true); } };
      const timer = setTimeout(() => { this.waiters.delete(waiter); resolve(false); }, timeoutMs);
      this.waiters.add(waiter);
      this.pollSharedCheckpoint();
    });
  }

  private polling = false;

  /** Reads the shared checkpoint (backing off 5 → 50 ms) until every waiter is satisfied or gone. */
  private pollSharedCheckpoint(): void {
    if (this.polling) return;
    this.polling = true;
    void (async () => {
      try {
        for (let delay = 5; this.waiters.size > 0; delay = Math.min(delay * 2, 50)) {
          await new Promise((r) => setTimeout(r, delay));
          if (this.waiters.size === 0) break;
          try {
            const rows = await this.dataSource.query(`select last_sequence from ${this.checkpointTable} where name = $1`, [this.projection.name]);
            this.release(Number(rows[0]?.last_sequence ?? 0));
          } catch (error) {
            // Keep polling while anyone waits (each waiter has its own timeout); a failed read is not the end.
            this.logger.warn(`reading the shared checkpoint failed: ${(error as Error).message}`);
            delay = 250;
          }
        }
      } finally {
        this.polling = false;
      }
    })();
  }

  /** Resolves the waiters whose sequence the read model holds. */
  private release(position: number): void {
    for (const waiter of this.waiters) {
      if (position >= waiter.sequence) {
        this.waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  private async prepare(): Promise<void> {
    await this.dataSource.transaction(async (em) => {
      // Two instances booting together would race on `create ... if not exists` (a unique-index
      // error in pg_namespace); one advisory lock per schema serialises the DDL.
      await lockSchemaMigration(em, this.projection.schema);
      await em.query(`create schema if not exists "${this.projection.schema}"`);
      await em.query(`create table if not exists ${this.checkpointTable} (name text primary key, last_sequence bigint not null default 0, updated_at timestamptz not null default now())`);
      await em.query(`alter table ${this.checkpointTable} add column if not exists stream_created text`);
      await em.query(`insert into ${this.checkpointTable} (name) values ($1) on conflict do nothing`, [this.projection.name]);
      await em.query(`create table if not exists ${this.deadLetterTable} (projection text not null, sequence bigint not null, subject text not null, type text not null, error text not null, attempts int not null, parked_at timestamptz not null default now(), primary key (projection, sequence))`);
      await this.projection.migrate(em);
      // A checkpoint is only meaningful for the stream it was taken on. If EVENTS was recreated
      // (a wiped NATS store beside a kept database), the read model is emptied and replayed.
      const jsm = await this.nc.jetstreamManager();
      await ensureStreams(jsm, [STREAMS.events]);
      const created = (await jsm.streams.info(STREAMS.events)).created;
      const [row] = await em.query(`select stream_created from ${this.checkpointTable} where name = $1 for update`, [this.projection.name]);
      if (row?.stream_created && row.stream_created !== created) {
        this.logger.warn(`stream ${STREAMS.events} was recreated since the last checkpoint; rebuilding ${this.projection.name}`);
        for (const table of this.projection.tables) await em.query(`truncate ${table} cascade`);
        await em.query(`update ${this.checkpointTable} set last_sequence = 0 where name = $1`, [this.projection.name]);
        await em.query(`delete from ${this.deadLetterTable} where projection = $1`, [this.projection.name]);
        await jsm.consumers.delete(STREAMS.events, this.projection.name).catch(() => undefined);
      }
      if (row?.stream_created !== created) await em.query(`update ${this.checkpointTable} set stream_created = $2 where name = $1`, [this.projection.name, created]);
    });
    const rows = await this.dataSource.query(`select last_sequence from ${this.checkpointTable} where name = $1`, [this.projection.name]);
    this.applied = Number(rows[0]?.last_sequence ?? 0);
  }

  /**
   * The leader (re)creates the durable at its checkpoint on every open: no other instance pulls, so
   * what a dead leader left unacknowledged comes back at once instead of after ack_wait (with
   * AckPolicy.All a later ack would otherwise cover it unapplied), and a reset read model replays.
   */
  private async ensureConsumer(jsm: JetStreamManager) {
    const name = this.projection.name;
    await jsm.consumers.delete(STREAMS.events, name).catch(() => undefined);
    await jsm.consumers.add(STREAMS.events, {
      durable_name: name,
      ack_policy: AckPolicy.All,
      ack_wait: 30_000_000_000,
      max_ack_pending: 20_000,
      filter_subject: this.projection.filterSubject,
      ...(this.applied > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.applied + 1 }
        : { deliver_policy: DeliverPolicy.All }),
    });
    return this.nc.jetstream().consumers.get(STREAMS.events, name);
  }

  /**
   * The one instance of this projection that consumes and commits (issue 9). Replicas pulling one
   * durable side by side got interleaved batches, and since the checkpoint only moves forward, a
   * later batch committed first made the earlier one look applied: its events were lost. So the
   * replicas elect a leader with a Postgres session advisory lock (released when the holder's
   * connection ends: a killed leader is replaced within LEAD_POLL_MS); the others wait, and their
   * waitFor reads the shared checkpoint.
   */
  private leader?: Client;

  /** Resolves once this instance leads (re-checked on every re-open: a lost connection loses the lock). Throws when stopped. */
  private async lead(): Promise<void> {
    const key = `encedeus:projector:${this.projection.schema}.${this.projection.name}`;
    for (let logged = false; ; ) {
      if (this.stopped || this.nc.isClosed()) throw new Error('stopped');
      try {
        if (!this.leader) {
          // Its own connection, outside the pool: the lock lives as long as the session, and holding
          // a pooled connection for good would shrink the pool every query of the service shares.
          // Keepalive and timeouts: a lock query on a connection that died silently must fail, not hang.
          const leader = new Client({ ...connectionOptions(this.dataSource), keepAlive: true, connectionTimeoutMillis: 5000, query_timeout: 5000 });
          // Only this client's own failure resigns (an old client's late error must not end its successor).
          leader.on('error', () => void (this.leader === leader ? this.resign() : leader.end().catch(() => undefined)));
          this.leader = leader;
          await leader.connect();
        }
        // Re-entrant for this session: a re-open while leading answers true again (ending the session unlocks all).
        const { rows: [row] } = await this.leader.query('select pg_try_advisory_lock(hashtext($1)) as ok', [key]);
        if (row?.ok) {
          // Start from the checkpoint as it is: another leader may have moved it while this one
          // waited, or a rebuild reset it (then this instance replays). Commits are fenced on it.
          const rows = await this.dataSource.query(`select last_sequence from ${this.checkpointTable} where name = $1`, [this.projection.name]);
          this.applied = Number(rows[0]?.last_sequence ?? 0);
          this.leading = true;
          return;
        }
      } catch (error) {
        this.logger.warn(`cannot take the lead: ${(error as Error).message}`);
        await this.resign();
      }
      if (!logged) this.logger.log('another instance leads this projection; standing by');
      logged = true;
      await sleep(LEAD_POLL_MS);
    }
  }

  /** Gives the lead up (stop, a closed connection, a lost lock). */
  private async resign(): Promise<void> {
    this.leading = false;
    const leader = this.leader;
    this.leader = undefined;
    if (!leader) return;
    // Ending the session releases its advisory locks.
    await leader.end().catch(() => undefined);
  }

  private startLoop(): void {
    const batchSize = this.options.batchSize ?? 5000;
    let jsm: JetStreamManager | undefined;
    let batch: JsMsg[] = [];
    let timer: NodeJS.Timeout | undefined;
    let applying: Promise<void> = Promise.resolve();
    // Batches apply one after another, whether the loop or the coalescing timer starts them.
    const flush = (): Promise<void> => {
      const taken = batch;
      batch = [];
      if (timer) clearTimeout(timer);
      timer = undefined;
      const decoded = taken.length > 0 ? this.decodeBatch(taken) : undefined;
      applying = applying.then(() => (decoded ? this.applyBatch(decoded, true) : undefined));
      // A failed commit leaves `applying` failed, so no later batch commits past the lost one (the
      // checkpoint would skip it); the consumer must start over from the checkpoint, as open() does.
      // A flush nobody awaits (the coalescing timer, a pipelined batch) must still end the consumer,
      // or every later batch fails unseen and the read model stops until the process restarts.
      applying.catch((error: Error) => this.consumer?.fail(error));
      return applying;
    };
    this.consumer = new ConsumeLoop({
      name: `Projector:${this.projection.name}`,
      closed: () => this.nc.isClosed(),
      // Without abort_on_missing_resource, a consumer deleted under us leaves consume() waiting forever.
      consume: { max_messages: batchSize * 2, expires: 5000, abort_on_missing_resource: true },
      open: async () => {
        // What a failed consumer left unapplied is delivered again from the checkpoint.
        batch = [];
        if (timer) clearTimeout(timer);
        timer = undefined;
        await applying.catch(() => undefined);
        applying = Promise.resolve();
        await this.lead();
        jsm ??= await this.nc.jetstreamManager();
        await ensureStreams(jsm, [STREAMS.events]);
        return this.ensureConsumer(jsm);
      },
      handle: async (m) => {
        batch.push(m);
        if (batch.length >= batchSize) {
          // Pipelined: this batch commits while the next one fills. Before queueing a third, wait
          // for the earlier one (a failed commit throws here and the consumer starts over).
          const earlier = applying;
          void flush();
          await earlier;
        } else if (m.info.pending === 0) {
          const coalesceMs = this.options.coalesceMs ?? 0;
          // Someone waits to read their write: apply now. Otherwise a trickle of events may be
          // gathered for a moment into one transaction instead of one each.
          if (coalesceMs === 0 || this.waiters.size > 0) await flush();
          else timer ??= setTimeout(() => void flush(), coalesceMs);
        }
      },
      drained: () => flush(),
      onError: (error, last) => {
        if (error.message === 'stopped') return;
        if (/consumer (deleted|not found)/.test(error.message)) {
          this.logger.warn(`consumer ${this.projection.name} was deleted; recreating it from sequence ${Math.max(last, this.applied) + 1}`);
        } else {
          this.logger.warn(`consumer failed, retrying: ${error.message}`);
        }
      },
    });
    void this.consumer.start();
    // A leader whose NATS connection is gone for good cannot consume: let another instance lead.
    void this.nc.closed().then(() => this.resign()).catch(() => undefined);
  }

  /** Decodes and checks a batch; runs outside the transaction chain, so it overlaps the previous commit. */
  private decodeBatch(batch: JsMsg[]): DecodedBatch {
    const events: RecordedEvent[] = [];
    const invalid: Omit<DeadLetter, 'parkedAt'>[] = [];
    for (const m of batch) {
      let type = '';
      try {
        const event = codec.decode(m.data);
        type = String(event.type ?? '');
        event.data = readEventData(event.type, event.data);
        events.push({ sequence: m.seq, event });
      } catch (error) {
        // Appends validate, so only a foreign publisher can put a bad event here. Decoding is
        // deterministic, so it is parked at once: retrying cannot help, and the read model moves on.
        this.logger.error(`parking undecodable event at sequence ${m.seq}: ${(error as Error).message}`);
        invalid.push({ sequence: m.seq, subject: m.subject, type, error: `invalid event: ${(error as Error).message}`, attempts: 1 });
      }
    }
    return { events, invalid, last: batch[batch.length - 1] };
  }

  private async applyBatch({ events, invalid, last: lastMessage }: DecodedBatch, ack: boolean): Promise<void> {
    const last = lastMessage.seq;
    // A leader whose lock connection broke may have been replaced: committing now could interleave.
    if (ack && !this.leading) throw new Error('projector: lost the lead');
    try {
      const applied = await this.commit(events, last, invalid, ack);
      if (ack) this.notify(applied);
    } catch (error) {
      if (error instanceof FencedError) {
        this.logger.warn(error.message);
        this.leading = false;
      }
      if (!(error instanceof ApplyFailedError)) throw error;
      // One event spoils its whole batch: apply them one at a time to find it and park it alone.
      this.logger.warn(`${error.message}; applying the batch event by event`);
      for (const event of events) {
        const applied = await this.applyAlone(event, ack);
        if (ack) this.notify(applied);
      }
      await this.commit([], last, invalid, ack);
    }
    this.applied = Math.max(this.applied, last);
    if (ack) lastMessage.ack();
    this.release(this.applied);
  }

  /** Applies one event, retrying it; after maxAttempts it is parked and its sequence checkpointed. Answers what was applied (nothing when parked). */
  private async applyAlone(event: RecordedEvent, fenced: boolean): Promise<RecordedEvent[]> {
    const maxAttempts = Math.max(1, this.options.maxAttempts ?? 5);
    for (let attempt = 1; ; attempt++) {
      try {
        const applied = await this.commit([event], event.sequence, [], fenced);
        this.applied = Math.max(this.applied, event.sequence);
        return applied;
      } catch (error) {
        if (!(error instanceof ApplyFailedError)) throw error;
        if (attempt >= maxAttempts) {
          // A database that went away also fails apply: park only while it answers, or every
          // event of an outage would be parked.
          await this.dataSource.query('select 1');
          const cause = (error.cause as Error)?.message ?? String(error.cause);
          this.logger.error(`parking event ${event.event.type} at sequence ${event.sequence} after ${attempt} attempts: ${cause}`);
          await this.commit([], event.sequence, [{ sequence: event.sequence, subject: `evt.${event.event.subject.replace('/', '.')}`, type: event.event.type, error: cause, attempts: attempt }], fenced);
          this.applied = Math.max(this.applied, event.sequence);
          return [];
        }
        await sleep((this.options.retryDelayMs ?? 100) * attempt);
      }
    }
  }

  /** One transaction: the events, the parked ones, and the checkpoint at `last`. */
  /** @param fenced the leader's commit: refused (FencedError) unless the checkpoint is where this instance left it */
  private async commit(events: RecordedEvent[], last: number, parked: Omit<DeadLetter, 'parkedAt'>[], fenced = false): Promise<RecordedEvent[]> {
    let applied: RecordedEvent[] = [];
    await this.dataSource.transaction(async (em) => {
      // A read model is rebuildable from EVENTS and its checkpoint commits with it, so a crash that
      // loses the last commits only replays them: no need to wait for the WAL flush (latency of
      // read-your-writes drops from fsync time to memory time).
      await em.query('set local synchronous_commit = off');
      const rows = await em.query(`select last_sequence from ${this.checkpointTable} where name = $1 for update`, [this.projection.name]);
      const checkpoint = Number(rows[0]?.last_sequence ?? 0);
      if (fenced && checkpoint !== this.applied) throw new FencedError(this.applied, checkpoint);
      if (last <= checkpoint) return;
      const fresh = events.filter((e) => e.sequence > checkpoint);
      if (fresh.length > 0) {
        // Only a failure inside the projection may be the events' fault; the checkpoint's own
        // queries failing means the database is in trouble, and nothing gets parked for that.
        try {
          await this.projection.apply(em, fresh);
        } catch (cause) {
          throw new ApplyFailedError(fresh, { cause });
        }
      }
      applied = fresh;
      for (const p of parked.filter((d) => d.sequence > checkpoint)) {
        await em.query(
          `insert into ${this.deadLetterTable} (projection, sequence, subject, type, error, attempts) values ($1, $2, $3, $4, $5, $6)
           on conflict (projection, sequence) do update set error = excluded.error, attempts = excluded.attempts, parked_at = now()`,
          [this.projection.name, p.sequence, storable(p.subject, 500), storable(p.type, 200), storable(p.error, 2000), p.attempts],
        );
      }
      await em.query(`update ${this.checkpointTable} set last_sequence = $2, updated_at = now() where name = $1`, [this.projection.name, last]);
    });
    return applied;
  }

  /** Hands what the leader just committed to the `committed` option; its failure is logged, never the projector's. */
  private notify(events: RecordedEvent[]): void {
    if (events.length === 0 || !this.options.committed) return;
    try {
      this.options.committed(events);
    } catch (error) {
      this.logger.warn(`committed(): ${(error as Error).message}`);
    }
  }
}

/** The DataSource's Postgres server and credentials, for a connection of its own. */
function connectionOptions(dataSource: DataSource): ClientConfig {
  const o = dataSource.options as PostgresConnectionOptions;
  return {
    connectionString: o.url,
    host: o.host,
    port: o.port,
    user: o.username,
    password: typeof o.password === 'string' ? o.password : undefined,
    database: o.database,
    ssl: o.ssl as ClientConfig['ssl'],
    application_name: 'encedeus-projector-lead',
  };
}

interface DecodedBatch {
  events: RecordedEvent[];
  /** Messages that were not valid events: parked with the batch's commit. */
  invalid: Omit<DeadLetter, 'parkedAt'>[];
  /** The batch's last message: its sequence is the new checkpoint, acking it acks the batch. */
  last: JsMsg;
}
