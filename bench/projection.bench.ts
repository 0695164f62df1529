import { AckPolicy, DeliverPolicy, JSONCodec, type NatsConnection } from 'nats';
import { DataSource, type EntityManager } from 'typeorm';
import { readEventData, STREAMS, type CloudEvent, type RecordedEvent } from '@encedeus/contracts';
import { ensureStreams, Projector, type Projection } from '@encedeus/messaging';
import { AuditProjection } from '../services/gateway/src/audit/audit.projection';
import { connectWithoutResponsePermissions } from './lib/creds';
import { benchEnv, conditions, fmt, record, secondsSince } from './lib/harness';
import { benchRecorded, NOTE } from './lib/events';

/**
 * Projector throughput into Postgres over pre-appended events, beside a raw durable pull consumer
 * that only acks, measured in the same run on the same stream: once as the users are minted today
 * and once as the same user without response permissions (lib/creds.ts). Also breaks the
 * Projector's time down (transactions, the projection's SQL, decode + validation).
 */
const BENCH = 'projection';
const AGGREGATES = 2000;
const EVENTS_PER_AGGREGATE = 100;
const TOTAL = AGGREGATES * EVENTS_PER_AGGREGATE;
/** The Projector's default batchSize. */
const BATCH = 1000;
const GATEWAY_AUDIT_BATCH = 2000;
const LARGE_BATCH = 5000;
const FILTER = 'evt.bench.>';
/** Runs on the minted user stop here: their rate only falls further. */
const CAP_S = 8;

const codec = JSONCodec<CloudEvent>();

/** A simple read model: one row per aggregate, upserted (the usual shape of a service's projection). */
class AggregateSummaryProjection implements Projection {
  readonly filterSubject = FILTER;
  readonly schema = 'bench';
  readonly tables: string[];

  constructor(readonly name: string) {
    this.tables = [`bench.${name}`];
  }

  async migrate(em: EntityManager): Promise<void> {
    await em.query(`create table if not exists bench.${this.name} (
      id text primary key,
      version integer not null,
      last_type text not null,
      last_sequence bigint not null,
      updated_at timestamptz not null
    )`);
  }

  async apply(em: EntityManager, events: RecordedEvent[]): Promise<void> {
    // Postgres refuses to upsert one row twice in a statement: keep each aggregate's last event.
    const last = new Map<string, RecordedEvent>();
    for (const e of events) last.set(e.event.subject, e);
    const params: unknown[] = [];
    const rows: string[] = [];
    for (const { sequence, event } of last.values()) {
      const b = params.length;
      rows.push(`($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5})`);
      params.push(event.subject.split('/')[1], event.aggregateversion, event.type, sequence, event.time);
    }
    await em.query(
      `insert into bench.${this.name} (id, version, last_type, last_sequence, updated_at) values ${rows.join(', ')}
       on conflict (id) do update set version = excluded.version, last_type = excluded.last_type, last_sequence = excluded.last_sequence, updated_at = excluded.updated_at`,
      params,
    );
  }
}

/** Appends TOTAL events, interleaved across AGGREGATES, as the EventStore would write them. */
async function preAppend(nc: NatsConnection): Promise<{ bytes: number; lastSequence: number }> {
  const jsm = await nc.jetstreamManager();
  await ensureStreams(jsm, [STREAMS.events]);
  let bytes = 0;
  // Core publishes into the stream's subjects are stored without a per-message ack round trip;
  // the stream's message count tells when all arrived. Only the setup uses this shortcut.
  for (let k = 0; k < EVENTS_PER_AGGREGATE; k++) {
    for (let a = 0; a < AGGREGATES; a++) {
      const cloudEvent: CloudEvent = {
        specversion: '1.0',
        id: `00000000-0000-4000-8000-${String(k * AGGREGATES + a).padStart(12, '0')}`,
        source: 'encedeus/bench',
        type: benchRecorded.type,
        subject: `bench/agg${a}`,
        time: new Date().toISOString(),
        datacontenttype: 'application/json',
        data: { n: k, note: NOTE },
        actor: 'service:bench',
        correlationid: 'bench-projection',
        aggregateversion: k + 1,
      };
      const data = codec.encode(cloudEvent);
      bytes = data.length;
      nc.publish(`evt.bench.agg${a}`, data);
    }
    await nc.flush();
  }
  for (let i = 0; i < 600; i++) {
    const state = (await jsm.streams.info(STREAMS.events)).state;
    if (state.messages >= TOTAL) return { bytes, lastSequence: state.last_seq };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('bench: pre-appended events did not all reach the stream');
}

/**
 * A durable pull consumer that does nothing but ack, until it has seen `lastSequence` or `capS`
 * seconds passed. Returns msgs/s and (explicit policy only) the payloads it saw.
 */
async function rawConsume(
  nc: NatsConnection,
  name: string,
  policy: 'explicit' | 'all',
  lastSequence: number,
  capS = 120,
): Promise<{ rate: number; count: number; capped: boolean; payloads: Uint8Array[] }> {
  const jsm = await nc.jetstreamManager();
  await jsm.consumers.add(STREAMS.events, {
    durable_name: name,
    ack_policy: policy === 'explicit' ? AckPolicy.Explicit : AckPolicy.All,
    ack_wait: 30_000_000_000,
    max_ack_pending: 20_000,
    filter_subject: FILTER,
    deliver_policy: DeliverPolicy.All,
  });
  const consumer = await nc.jetstream().consumers.get(STREAMS.events, name);
  const payloads: Uint8Array[] = [];
  const start = process.hrtime.bigint();
  const messages = await consumer.consume({ max_messages: BATCH * 2 });
  let count = 0;
  let rate = 0;
  let done = false;
  let capped = false;
  for await (const m of messages) {
    if (done) continue;
    count++;
    const last = m.seq >= lastSequence;
    capped = !last && secondsSince(start) > capS;
    if (policy === 'explicit') m.ack();
    else if (count % BATCH === 0 || last || capped) m.ack();
    if (policy === 'explicit') payloads.push(m.data.slice());
    if (last || capped) {
      rate = count / secondsSince(start);
      done = true;
      // close() queues its stop behind the buffered messages: keep iterating until it ends the
      // loop (leaving with `break` first makes close() wait forever on nats.js 2.29).
      void messages.close();
    }
  }
  await jsm.consumers.delete(STREAMS.events, name).catch(() => undefined);
  return { rate, count, capped, payloads };
}

interface ProjectorRun {
  rate: number;
  applied: number;
  capped: boolean;
  seconds: number;
  transactions: number;
  transactionSeconds: number;
  applySeconds: number;
}

/**
 * Runs a Projector from an empty read model until it has applied `lastSequence` or `capS` seconds
 * passed. A capped run closes its connection to end (Projector.stop() does not return when it is
 * called in the middle of a batch), so give it a connection of its own.
 */
async function runProjector(
  nc: NatsConnection,
  url: string,
  projection: Projection,
  lastSequence: number,
  batchSize = BATCH,
  capS = 120,
): Promise<ProjectorRun> {
  const ds = await new DataSource({ type: 'postgres', url, extra: { max: 10 } }).initialize();
  // Instance-level timers around the two places a batch spends its Postgres time.
  let transactions = 0;
  let transactionNs = 0n;
  let applyNs = 0n;
  const transaction = ds.transaction.bind(ds) as (fn: (em: EntityManager) => Promise<unknown>) => Promise<unknown>;
  (ds as unknown as { transaction: unknown }).transaction = async (fn: (em: EntityManager) => Promise<unknown>) => {
    const t0 = process.hrtime.bigint();
    try {
      return await transaction(fn);
    } finally {
      transactions++;
      transactionNs += process.hrtime.bigint() - t0;
    }
  };
  const apply = projection.apply.bind(projection);
  projection.apply = async (em, events) => {
    const t0 = process.hrtime.bigint();
    try {
      await apply(em, events);
    } finally {
      applyNs += process.hrtime.bigint() - t0;
    }
  };
  const projector = new Projector(nc, ds, projection, { batchSize });
  const start = process.hrtime.bigint();
  await projector.start();
  const done = await projector.waitFor(lastSequence, capS * 1000);
  const seconds = secondsSince(start);
  const applied = projector.position;
  if (done) {
    await projector.stop();
  } else {
    await nc.close();
    await Promise.race([projector.stop(), new Promise((r) => setTimeout(r, 3000))]);
  }
  await ds.destroy().catch(() => undefined);
  return {
    rate: applied / seconds,
    applied,
    capped: !done,
    seconds,
    transactions,
    transactionSeconds: Number(transactionNs) / 1e9,
    applySeconds: Number(applyNs) / 1e9,
  };
}

/** Empties a read model, its checkpoint and its durable consumer, so it can be run again from the start. */
async function resetProjection(nc: NatsConnection, url: string, projection: Projection): Promise<void> {
  const ds = await new DataSource({ type: 'postgres', url }).initialize();
  try {
    for (const table of projection.tables) await ds.query(`truncate ${table}`);
    await ds.query(`update "${projection.schema}".projection_checkpoints set last_sequence = 0 where name = $1`, [projection.name]);
  } finally {
    await ds.destroy();
  }
  await (await nc.jetstreamManager()).consumers.delete(STREAMS.events, projection.name).catch(() => undefined);
}

/** CPU cost of what the Projector does to every message before SQL: JSON decode + schema read (zod). */
function decodeAndValidate(payloads: Uint8Array[]): { decodeUs: number; validateUs: number } {
  const events: CloudEvent[] = [];
  let t0 = process.hrtime.bigint();
  for (const p of payloads) events.push(codec.decode(p));
  const decodeUs = Number(process.hrtime.bigint() - t0) / 1e3 / payloads.length;
  t0 = process.hrtime.bigint();
  for (const e of events) e.data = readEventData(e.type, e.data);
  const validateUs = Number(process.hrtime.bigint() - t0) / 1e3 / payloads.length;
  return { decodeUs, validateUs };
}

function breakdown(run: ProjectorRun): string {
  const perBatchMs = (run.transactionSeconds / run.transactions) * 1000;
  const extent = run.capped
    ? `stopped at the ${CAP_S} s cap after ${fmt(run.applied)} of ${fmt(TOTAL)} events`
    : `${run.seconds.toFixed(2)} s for all ${fmt(TOTAL)}`;
  return (
    `${fmt(run.rate)} events/s (${extent}); ${run.transactions} transactions (~${fmt(run.applied / run.transactions)} events each), ` +
    `${((run.transactionSeconds / run.seconds) * 100).toFixed(0)} % of the time inside them (${perBatchMs.toFixed(1)} ms each, of which the projection's SQL ${((run.applySeconds / run.transactions) * 1000).toFixed(1)} ms)`
  );
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const { bytes, lastSequence } = await preAppend(await env.connect('admin', 'bench-projection-append'));

  // As the users are minted (libs/messaging mintUserCreds, with response permissions): each
  // consumer on a connection of its own, capped because the rate keeps falling as it goes.
  const mintedRaw = await rawConsume(await env.connect('admin', 'bench-raw-minted'), 'bench_raw_minted', 'all', lastSequence, CAP_S);
  const minted = await runProjector(
    await env.connect('admin', 'bench-projector-minted'),
    env.db.url,
    new AggregateSummaryProjection('minted_aggregates'),
    lastSequence,
    BATCH,
    CAP_S,
  );

  // The same user without response permissions (lib/creds.ts), one connection per consumer.
  const fresh = () => connectWithoutResponsePermissions(env, 'admin');
  const connections: NatsConnection[] = [];
  const own = async () => {
    const nc = await fresh();
    connections.push(nc);
    return nc;
  };
  try {
    await rawConsume(await own(), 'bench_raw_warm', 'all', lastSequence); // page cache, JIT
    const rawExplicit = await rawConsume(await own(), 'bench_raw_explicit', 'explicit', lastSequence);
    const raw = await rawConsume(await own(), 'bench_raw', 'all', lastSequence);
    const cost = decodeAndValidate(rawExplicit.payloads);
    const upsert = await runProjector(await own(), env.db.url, new AggregateSummaryProjection('aggregates'), lastSequence);
    const upsertLarge = await runProjector(
      await own(),
      env.db.url,
      new AggregateSummaryProjection('aggregates_large'),
      lastSequence,
      LARGE_BATCH,
    );
    // The audit projector at a smaller batch, then at the Projector's default (what the gateway runs).
    const audit = await runProjector(await own(), env.db.url, new AuditProjection(), lastSequence, GATEWAY_AUDIT_BATCH);
    await resetProjection(await own(), env.db.url, new AuditProjection());
    const auditLarge = await runProjector(await own(), env.db.url, new AuditProjection(), lastSequence, LARGE_BATCH);

    conditions(BENCH, {
      events: `${fmt(TOTAL)} pre-appended CloudEvents of ${bytes} bytes, ${fmt(AGGREGATES)} aggregates × ${EVENTS_PER_AGGREGATE}, interleaved, stream EVENTS file storage`,
      'raw consumer': `durable pull consumer on ${FILTER}, consume() with max_messages ${BATCH * 2}, max_ack_pending 20,000, AckAll acked every ${BATCH}th message (the Projector's own pattern); one connection per consumer`,
      projector: `libs/messaging Projector, batchSize ${BATCH} (consume max_messages ${BATCH * 2}, AckAll), TypeORM DataSource pool 10, from an empty read model (includes its DDL and consumer creation); one connection per projector`,
      'as minted (admin user from libs/testing, with response permissions)': `raw ${fmt(mintedRaw.rate)} msgs/s${mintedRaw.capped ? ` (stopped at the ${CAP_S} s cap after ${fmt(mintedRaw.count)})` : ''}; upsert projector ${breakdown(minted)}`,
      'user without response permissions': `raw ${fmt(raw.rate)} msgs/s with AckAll, ${fmt(rawExplicit.rate)} msgs/s acking every message explicitly`,
      'upsert projection': `one row per aggregate (${fmt(AGGREGATES)} rows), one multi-row INSERT … ON CONFLICT DO UPDATE per batch. batchSize ${BATCH}: ${breakdown(upsert)}. batchSize ${LARGE_BATCH}: ${breakdown(upsertLarge)}`,
      'audit projection': `services/gateway AuditProjection, one row per event (${fmt(TOTAL)} rows, 3 secondary indexes), multi-row INSERT … ON CONFLICT DO NOTHING (4,000 rows a statement). batchSize ${GATEWAY_AUDIT_BATCH}: ${breakdown(audit)}. batchSize ${LARGE_BATCH} (the default, as the gateway runs it): ${breakdown(auditLarge)}`,
      'decode + validate': `JSON decode ${cost.decodeUs.toFixed(1)} µs + readEventData ${cost.validateUs.toFixed(1)} µs per event (ceiling ${fmt(1e6 / (cost.decodeUs + cost.validateUs))} events/s on one core for that step alone)`,
    });
    record({
      bench: BENCH,
      name: 'Projector → Postgres, upsert per aggregate, users as minted',
      value: minted.rate,
      unit: 'events/s',
      target: { op: '>=', value: 20_000 },
      raw: { name: 'pull consumer, ack only, same user', value: mintedRaw.rate, unit: 'msgs/s' },
      minShareOfRaw: 0.5,
      note: minted.capped
        ? `stopped at the ${CAP_S} s cap after ${fmt(minted.applied)} of ${fmt(TOTAL)} events; the rate falls as the connection receives more (nats-server response-permission bookkeeping)`
        : undefined,
    });
    record({
      bench: BENCH,
      name: 'Projector → Postgres, upsert per aggregate, user without response permissions',
      value: upsert.rate,
      unit: 'events/s',
      target: { op: '>=', value: 20_000 },
      raw: { name: 'pull consumer, ack only, same user', value: raw.rate, unit: 'msgs/s' },
      minShareOfRaw: 0.5,
    });
    record({
      bench: BENCH,
      name: `Projector → Postgres, upsert per aggregate, user without response permissions, batchSize ${LARGE_BATCH} (the default, as users and the gateway run it)`,
      value: upsertLarge.rate,
      unit: 'events/s',
      target: { op: '>=', value: 20_000 },
      raw: { name: 'pull consumer, ack only, same user', value: raw.rate, unit: 'msgs/s' },
      minShareOfRaw: 0.5,
    });
    record({
      bench: BENCH,
      name: `Projector → Postgres, insert per event (gateway audit log, batchSize ${GATEWAY_AUDIT_BATCH}), user without response permissions`,
      value: audit.rate,
      unit: 'events/s',
      target: { op: '>=', value: 20_000 },
      raw: { name: 'pull consumer, ack only, same user', value: raw.rate, unit: 'msgs/s' },
      minShareOfRaw: 0.5,
    });
    record({
      bench: BENCH,
      name: `Projector → Postgres, insert per event (gateway audit log), user without response permissions, batchSize ${LARGE_BATCH} (the default, as users and the gateway run it)`,
      value: auditLarge.rate,
      unit: 'events/s',
      target: { op: '>=', value: 20_000 },
      raw: { name: 'pull consumer, ack only, same user', value: raw.rate, unit: 'msgs/s' },
      minShareOfRaw: 0.5,
    });
  } finally {
    await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  }
}
