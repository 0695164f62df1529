import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { JSONCodec } from 'nats';
import { DataSource } from 'typeorm';
import { METRICS_FIELDS } from '@encedeus/contracts';
import { copyBinaryRows, copyRows, copyText, ensureStreams } from '@encedeus/messaging';
import { TelemetryIngest, TELEMETRY_CONSUMER } from '../services/metrics/src/ingest/telemetry-ingest';
import { MetricsStore, SAMPLE_COLUMNS, SCHEMA, sampleCopyRows } from '../services/metrics/src/storage/metrics-store';
import { SAMPLE_FIELDS, type Sample } from '../services/metrics/src/storage/samples';
import { benchEnv, conditions, Latency, record, secondsSince } from './lib/harness';

/**
 * The metrics service (issue 12): ingest into Postgres (samples, both rollups and the checkpoint in
 * one transaction per batch) beside a raw multi-row INSERT of the same rows into a bare table in the
 * same run; the same ingest end to end from stream TELEMETRY; query p99s of a 24 h query at a
 * 1-minute step and a 30-day query with a week of 1-minute and a month of 1-hour rollups present.
 * METRICS_BENCH_SCALE (default 1) shrinks everything for a smoke run.
 */
const BENCH = 'metrics';
const SCALE = Number(process.env.METRICS_BENCH_SCALE ?? 1);
const SAMPLES = Math.round(300_000 * SCALE);
const BATCH = 5000;
/** Servers whose week of rollups the queries run beside (issue: 2,000). */
const SERVERS = Math.max(10, Math.round(2000 * SCALE));
const QUERIES = Math.max(50, Math.round(500 * SCALE));
const DAY = 24 * 3600_000;

function samples(count: number, servers: string[], nodeId: string, start: number): Sample[] {
  return Array.from({ length: count }, (_, i) => ({
    series: `server:${servers[i % servers.length]}`,
    nodeId,
    t: start + Math.floor(i / servers.length) * 5000,
    values: SAMPLE_FIELDS.map((f, k) => (f === 'net_rx' || f === 'net_tx' ? null : (i * (k + 3)) % 1000)),
  }));
}

export async function run(): Promise<void> {
  const env = benchEnv();
  const db = await new DataSource({ type: 'postgres', url: env.db.url, extra: { max: 10 } }).initialize();
  const store = new MetricsStore(db);
  await store.migrate();
  const nodeId = randomUUID();
  const servers = Array.from({ length: 2000 }, () => randomUUID());
  // From now on, as live telemetry is: above the rollups' watermarks (older samples are late ones, merged into the rollups as they come).
  const start = Date.now();
  const rows = samples(SAMPLES, servers, nodeId, start);
  await store.ensurePartitions([start, rows[rows.length - 1].t]);

  // Raw: the same rows into bare tables (no index, no checkpoint): one multi-row INSERT of unnested
  // arrays per batch, and one COPY per batch (the faster: the raw figure the target is measured
  // against, as in every run before); and one binary COPY per batch, the format ours writes.
  const columns = ['series', 'node_id', 't', ...SAMPLE_FIELDS];
  for (const table of ['bench_raw_samples', 'bench_copy_samples', 'bench_binary_samples']) {
    await db.query(`create table ${table} (series text, node_id uuid, t timestamptz, ${SAMPLE_FIELDS.map((f) => `${f} float8`).join(', ')})`);
  }
  const insertStart = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    const params: unknown[] = [batch.map((s) => s.series), batch.map((s) => s.nodeId), batch.map((s) => s.t)];
    SAMPLE_FIELDS.forEach((_, k) => params.push(batch.map((s) => s.values[k])));
    await db.query(
      `insert into bench_raw_samples select s, n::uuid, to_timestamp(t / 1000.0), ${SAMPLE_FIELDS.join(', ')} from unnest($1::text[], $2::text[], $3::float8[], ${SAMPLE_FIELDS.map((_, k) => `$${k + 4}::float8[]`).join(', ')}) as u(s, n, t, ${SAMPLE_FIELDS.join(', ')})`,
      params,
    );
  }
  const insertRate = rows.length / secondsSince(insertStart);
  const copyStart = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += BATCH) {
    let lines = '';
    for (const s of rows.slice(i, i + BATCH)) lines += `${s.series}\t${s.nodeId}\t${new Date(s.t).toISOString()}\t${s.values.map(copyText).join('\t')}\n`;
    await db.transaction((em) => copyRows(em, 'bench_copy_samples', columns, lines));
  }
  const rawRate = rows.length / secondsSince(copyStart);
  const raw = { name: 'COPY of the same rows into a bare table, one per batch', value: rawRate, unit: 'samples/s' };
  // The same rows in COPY's binary format, the one ours writes: shown beside, not the raw figure (see RESULTS.md).
  const binaryStart = process.hrtime.bigint();
  for (let i = 0; i < rows.length; i += BATCH) {
    const binary = sampleCopyRows(rows.slice(i, i + BATCH));
    await db.transaction((em) => copyBinaryRows(em, 'bench_binary_samples', SAMPLE_COLUMNS, binary));
  }
  const binaryRate = rows.length / secondsSince(binaryStart);

  // Ours: MetricsStore.write (COPY into the partitioned, indexed samples table + checkpoint, one transaction per batch).
  await store.checkpoint('bench');
  const oursStart = process.hrtime.bigint();
  for (let i = 0, seq = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH);
    await store.write(batch, { name: 'bench', expected: seq, to: seq + batch.length });
    seq += batch.length;
  }
  const oursRate = rows.length / secondsSince(oursStart);
  record({ bench: BENCH, name: 'ingest into Postgres (samples + checkpoint; rollups behind a watermark)', value: oursRate, unit: 'samples/s', target: { op: '>=', value: 100_000 }, raw, minShareOfRaw: 0.5 });
  record({ bench: BENCH, name: 'multi-row INSERT (unnest) of the same rows, bare table (reference)', value: insertRate, unit: 'samples/s', raw });
  record({ bench: BENCH, name: 'binary COPY of the same rows, bare table (reference: the format ours writes, without the series index)', value: binaryRate, unit: 'samples/s', raw });

  // The rollup passes that ingest leaves for later (MetricsStore.rollUp, every 10 s in the service): all of the above at once.
  const rollupStart = process.hrtime.bigint();
  await store.rollUp(rows[rows.length - 1].t + 3600_000, { settleMs: 0, maxSpanMs: 24 * 3600_000 });
  const rollupRate = rows.length / secondsSince(rollupStart);
  // The reference tables and the 300,000 samples in this process are done with: neither should be
  // autovacuumed or garbage-collected during the query figures below.
  await db.query('drop table bench_raw_samples, bench_copy_samples, bench_binary_samples');
  rows.length = 0;
  record({ bench: BENCH, name: 'rollup pass over those samples (1-minute and 1-hour buckets)', value: rollupRate, unit: 'samples/s', raw });

  // End to end: the same kind of samples published to TELEMETRY, read by the service's durable consumer.
  const nc = await env.connect('admin');
  const metricsNc = await env.connect('metrics');
  await ensureStreams(await nc.jetstreamManager());
  const js = nc.jetstream();
  const codec = JSONCodec<unknown>();
  const e2eCount = Math.round(SAMPLES / 3);
  const pubs: Promise<unknown>[] = [];
  let last = 0;
  for (let i = 0; i < e2eCount; i++) {
    const serverId = servers[i % servers.length];
    pubs.push(js.publish(`tel.${nodeId}.${serverId}.usage`, codec.encode({ server_id: serverId, at: Date.now(), cpu_percent: i % 100, memory_bytes: i, memory_limit_bytes: 1e9, disk_bytes: 5, uptime_ms: i })).then((ack) => (last = Math.max(last, ack.seq))));
    if (pubs.length >= 2000) await Promise.all(pubs.splice(0));
  }
  await Promise.all(pubs);
  const ingest = new TelemetryIngest(metricsNc, store);
  const e2eStart = process.hrtime.bigint();
  await ingest.start();
  await ingest.waitFor(last, 120_000);
  const e2eRate = e2eCount / secondsSince(e2eStart);
  await ingest.stop();
  record({ bench: BENCH, name: `ingest from TELEMETRY (durable ${TELEMETRY_CONSUMER}, end to end)`, value: e2eRate, unit: 'samples/s', raw });

  // Queries: a week of 1-minute rollups and a month of 1-hour rollups for SERVERS servers.
  const now = Date.now();
  const week = servers.slice(0, SERVERS);
  await store.ensurePartitions(Array.from({ length: 32 }, (_, d) => now - d * DAY));
  const fillStart = process.hrtime.bigint();
  const rollupCols = SAMPLE_FIELDS.flatMap((f) => [`${f}_sum`, `${f}_min`, `${f}_max`]).join(', ');
  const values = (n: string) => SAMPLE_FIELDS.flatMap(() => [`${n} * 12`, n, `${n} * 2`]).join(', ');
  for (const [table, stepS, days] of [['rollup_1m', 60, 7], ['rollup_1h', 3600, 30]] as const) {
    for (let i = 0; i < week.length; i += 100) {
      await db.query(
        `insert into ${SCHEMA}.${table} (series, node_id, bucket, n, ${rollupCols})
         select 'server:' || s, $2::uuid, b, 12, ${values('(extract(epoch from b)::bigint % 97)::float8')}
           from unnest($1::text[]) as s, generate_series(date_trunc('hour', now()) - make_interval(days => $3), now(), make_interval(secs => $4)) as b
         on conflict do nothing`,
        [week.slice(i, i + 100), nodeId, days, stepS],
      );
    }
  }
  const fillS = secondsSince(fillStart);
  // A store that has run for a week has been vacuumed and analyzed by autovacuum; freshly filled, it
  // would be analyzed by autovacuum workers racing the queries below (and planned without statistics).
  await db.query(`vacuum analyze ${SCHEMA}.rollup_1m, ${SCHEMA}.rollup_1h`);
  // The fill and that vacuum leave gigabytes of dirty pages in Postgres and the kernel: a checkpoint
  // writing them out while the queries run made a query's backend flush dirty buffers itself behind
  // the kernel's writeback throttle (auto_explain: 'written=15', 100+ ms for a 1,440-row index scan).
  // A store that has run for a week has no such backlog: flush it first (CHECKPOINT, then sync).
  const flushStart = process.hrtime.bigint();
  await db.query('checkpoint');
  execFileSync('sync');
  const flushS = secondsSince(flushStart);
  // Autovacuum workers the fill and the ingest started (inserted rows pass its thresholds) would
  // share the two cores with the queries; on a store that has run for a week they are long done.
  const settleStart = process.hrtime.bigint();
  while (secondsSince(settleStart) < 120 && (await autovacuumWorkers(db)).length > 0) await new Promise((r) => setTimeout(r, 500));
  const settleS = secondsSince(settleStart);
  const day = new Latency();
  const month = new Latency();
  const slow: string[] = [];
  const vacuumedDuring = new Set<string>();
  for (let i = 0; i < QUERIES; i++) {
    const target = `server:${week[i % week.length]}`;
    // The reads GET /api/v1/metrics makes (MetricsQueries): the five fields of its points.
    const start = process.hrtime.bigint();
    await store.read(target, nodeId, now - DAY, now, 60, '1m', METRICS_FIELDS);
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    day.recordMs(ms);
    if (ms > 20) slow.push(`#${i} ${ms.toFixed(1)} ms`);
    await month.time(() => store.read(target, nodeId, now - 30 * DAY, now, 3600, '1h', METRICS_FIELDS));
    if (i % 50 === 0) for (const w of await autovacuumWorkers(db)) vacuumedDuring.add(w);
  }
  record({ bench: BENCH, name: '24 h query at a 1-minute step (1-minute rollups), p99', value: day.percentileMs(99), unit: 'ms', target: { op: '<=', value: 20 } });
  record({ bench: BENCH, name: '30-day query at a 1-hour step (1-hour rollups), p99', value: month.percentileMs(99), unit: 'ms', target: { op: '<=', value: 50 } });
  const [{ n: rollupRows }] = await db.query(`select (select count(*) from ${SCHEMA}.rollup_1m) + (select count(*) from ${SCHEMA}.rollup_1h) as n`);
  conditions(BENCH, {
    'samples ingested per figure': SAMPLES,
    'batch (samples per transaction)': BATCH,
    'series (servers) in the ingest': servers.length,
    'servers with a week of 1-minute and a month of 1-hour rollups': week.length,
    'rollup rows present for the queries': Number(rollupRows),
    'seconds to fill them': fillS.toFixed(1),
    'seconds to flush the fill before the queries (CHECKPOINT + sync)': flushS.toFixed(1),
    'seconds waited for autovacuum workers to finish before the queries (at most 120)': settleS.toFixed(1),
    'autovacuum seen during the queries (sampled every 50)': [...vacuumedDuring].join('; ') || 'none',
    '24 h queries over 20 ms (index in the run)': slow.join(', ') || 'none',
    'queries of each kind': QUERIES,
    '24 h query': day.summary(),
    '30-day query': month.summary(),
    'external-agent REST ingest (5,000 req/s MessagePack)': 'bench/metrics-agents.bench.ts',
  });
  await db.destroy();
}

/** What autovacuum workers are doing now (their queries, e.g. 'autovacuum: VACUUM metrics.samples_d20261202'). */
async function autovacuumWorkers(db: DataSource): Promise<string[]> {
  const rows: { query: string }[] = await db.query(`select query from pg_stat_activity where backend_type = 'autovacuum worker' and query <> ''`);
  return rows.map((r) => r.query);
}
