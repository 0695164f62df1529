import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { METRICS_FIELDS, METRICS_RETENTION_MS, type MetricsResolution } from '@encedeus/contracts';
import { BinaryCopyRows, copyBinaryRows, migrateSchema, type Queryable } from '@encedeus/messaging';
import { ROLLUPS, rollupRows, type Rollup, type RollupRow } from './rollups';
import { SAMPLE_FIELDS, type Sample, type SampleField } from './samples';

/** The metrics service's own Postgres schema. */
export const SCHEMA = 'metrics';
const DAY_MS = 24 * 3600_000;

/** A partitioned table and how it is cut: raw samples and 1-minute rollups per day, 1-hour rollups per month (a year of days would be 365 partitions to plan over). */
interface PartitionedTable {
  table: string;
  per: 'day' | 'month';
  retentionMs: number;
}

const SAMPLES_TABLE: PartitionedTable = { table: 'samples', per: 'day', retentionMs: METRICS_RETENTION_MS.raw };
const PARTITIONED: PartitionedTable[] = [
  SAMPLES_TABLE,
  { table: 'rollup_1m', per: 'day', retentionMs: METRICS_RETENTION_MS['1m'] },
  { table: 'rollup_1h', per: 'month', retentionMs: METRICS_RETENTION_MS['1h'] },
  { table: 'agent_data', per: 'day', retentionMs: METRICS_RETENTION_MS.raw },
  { table: 'agent_values', per: 'day', retentionMs: METRICS_RETENTION_MS.raw },
  { table: 'agent_values_1m', per: 'day', retentionMs: METRICS_RETENTION_MS['1m'] },
  { table: 'agent_values_1h', per: 'month', retentionMs: METRICS_RETENTION_MS['1h'] },
];

/** The partition of `table` holding time `t`: its name and bounds (UTC). */
export function partitionOf(table: PartitionedTable, t: number): { name: string; from: number; to: number } {
  const d = new Date(t);
  if (table.per === 'day') {
    const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { name: `${table.table}_d${new Date(from).toISOString().slice(0, 10).replace(/-/g, '')}`, from, to: from + DAY_MS };
  }
  const from = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const to = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return { name: `${table.table}_m${new Date(from).toISOString().slice(0, 7).replace(/-/g, '')}`, from, to };
}

/** Upper bound of a partition from its name (`…_d20261201` → 2026-12-02), undefined for another name. */
export function partitionEnd(name: string): number | undefined {
  const day = /_d(\d{4})(\d{2})(\d{2})$/.exec(name);
  if (day) return Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) + DAY_MS;
  const month = /_m(\d{4})(\d{2})$/.exec(name);
  if (month) return Date.UTC(Number(month[1]), Number(month[2]), 1);
  return undefined;
}

const fieldColumns = SAMPLE_FIELDS.map((f) => `${f} float8`).join(', ');
const rollupColumns = SAMPLE_FIELDS.flatMap((f) => [`${f}_sum float8`, `${f}_min float8`, `${f}_max float8`]).join(', ');
const iso = (t: number) => new Date(t).toISOString();

/**
 * Numbers larger than this (in magnitude) in an external agent's document are kept in the document
 * but make no series value (writeAgentData says why).
 */
export const MAX_SERIES_MAGNITUDE = 1e100;

/** One point of a read: averages of every field over [t, t + step). */
export interface StoredPoint {
  t: number;
  n: number;
  values: (number | null)[];
}

/** Where the next read is answered from: the finest table kept back to `from`, coarser when the step allows. */
export function resolutionFor(from: number, stepS: number, now: number): MetricsResolution {
  if (stepS >= 3600 || from < now - METRICS_RETENTION_MS['1m']) return '1h';
  if (stepS >= 60 || from < now - METRICS_RETENTION_MS.raw) return '1m';
  return 'raw';
}

/**
 * Samples and rollups in Postgres (schema `metrics`, issue 12): raw samples kept 48 h, 1-minute
 * rollups 30 d, 1-hour rollups 1 y, each natively range-partitioned by time; retention drops whole
 * partitions. Writes are one multi-row insert per table per batch (unnest of column arrays); rollups
 * are merged incrementally in the same transaction.
 */
export class MetricsStore {
  /** Partitions known to exist (created by this process or found at start). */
  private readonly partitions = new Set<string>();

  constructor(readonly db: DataSource) {}

  /** Creates the schema, the partitioned parents and the checkpoint table (idempotent). */
  async migrate(): Promise<void> {
    await migrateSchema(this.db, SCHEMA, async (em) => {
      await em.query(`create table if not exists ${SCHEMA}.samples (series text not null, node_id uuid not null, t timestamptz not null, ${fieldColumns}) partition by range (t)`);
      // Reads find a series' raw samples by the 4-byte hash of its name (and recheck the name): an
      // index on the name itself (~45 bytes, compared by collation) made every COPY cost twice as much.
      await em.query(`create index if not exists samples_series_key_t on ${SCHEMA}.samples (hashtext(series), t)`);
      await em.query(`drop index if exists ${SCHEMA}.samples_series_t`);
      for (const rollup of ROLLUPS) {
        await em.query(
          `create table if not exists ${SCHEMA}.${rollup.table} (series text not null, node_id uuid not null, bucket timestamptz not null, n integer not null, ${rollupColumns}, primary key (series, node_id, bucket)) partition by range (bucket)`,
        );
        // GET /metrics reads a series' buckets with index-only scans: one day of one series is ~30
        // contiguous index pages instead of ~100 (and, where rollup passes wrote the day minute by
        // minute, up to 1,440 scattered heap pages); the index-only read was half as long from a cold cache.
        await em.query(
          `create index if not exists ${rollup.table}_points on ${SCHEMA}.${rollup.table} (series, node_id, bucket) include (n, ${METRICS_FIELDS.map((f) => `${f}_sum`).join(', ')})`,
        );
      }
      // External agents' data documents (seed 002), kept like raw samples.
      await em.query(`create table if not exists ${SCHEMA}.agent_data (agent_id text not null, type text not null, t timestamptz not null, data jsonb not null) partition by range (t)`);
      await em.query(`create index if not exists agent_data_agent_t on ${SCHEMA}.agent_data (agent_id, t)`);
      // The numeric top-level fields of those documents as series (`<type>.<field>`), raw and rolled up like telemetry.
      await em.query(`create table if not exists ${SCHEMA}.agent_values (agent_id text not null, series text not null, t timestamptz not null, value float8 not null) partition by range (t)`);
      await em.query(`create index if not exists agent_values_series_t on ${SCHEMA}.agent_values (agent_id, series, t)`);
      for (const table of ['agent_values_1m', 'agent_values_1h']) {
        await em.query(
          `create table if not exists ${SCHEMA}.${table} (agent_id text not null, series text not null, bucket timestamptz not null, n integer not null, sum float8 not null, min float8 not null, max float8 not null, primary key (agent_id, series, bucket)) partition by range (bucket)`,
        );
      }
      await em.query(`create table if not exists ${SCHEMA}.ingest_checkpoints (name text primary key, last_sequence bigint not null default 0, stream_created text)`);
      // Rollups are complete below their watermark (see rollUp). Both start on an hour (so the 1-hour
      // one never passes the 1-minute one): this hour on a fresh store; the next one where an older
      // version merged every sample into the rollups as it wrote, so none is counted twice.
      await em.query(`create table if not exists ${SCHEMA}.rollup_watermarks (rollup text primary key, done_until timestamptz not null)`);
      await em.query(
        `insert into ${SCHEMA}.rollup_watermarks (rollup, done_until)
         select r, date_bin(interval '1 hour', now(), timestamptz '1970-01-01 00:00:00+00')
                   + case when exists (select 1 from ${SCHEMA}.samples) or exists (select 1 from ${SCHEMA}.rollup_1m) then interval '1 hour' else interval '0' end
           from unnest($1::text[]) as r
         on conflict do nothing`,
        [ROLLUPS.map((r) => r.name)],
      );
    });
    const rows: { name: string }[] = await this.db.query(
      `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1`,
      [SCHEMA],
    );
    for (const r of rows) this.partitions.add(r.name);
  }

  /** Creates the partitions that times `ts` fall in, in every table (raw, 1m, 1h). */
  async ensurePartitions(ts: Iterable<number>): Promise<void> {
    const wanted = new Map<string, { table: string; from: number; to: number }>();
    // One time per UTC day is enough for every table (day and month partitions alike): a batch of rows mostly shares one.
    const days = new Set<number>();
    for (const t of ts) days.add(Math.floor(t / DAY_MS) * DAY_MS);
    for (const t of days) {
      for (const table of PARTITIONED) {
        const p = partitionOf(table, t);
        if (!this.partitions.has(p.name)) wanted.set(p.name, { table: table.table, from: p.from, to: p.to });
      }
    }
    if (wanted.size === 0) return;
    await migrateSchema(this.db, SCHEMA, async (em) => {
      for (const [name, p] of wanted) {
        await em.query(`create table if not exists ${SCHEMA}.${name} partition of ${SCHEMA}.${p.table} for values from ('${iso(p.from)}') to ('${iso(p.to)}')`);
      }
    });
    for (const name of wanted.keys()) this.partitions.add(name);
  }

  /** Drops every partition wholly older than its table's retention; returns the dropped names. */
  async dropExpired(now = Date.now()): Promise<string[]> {
    const rows: { name: string; parent: string }[] = await this.db.query(
      `select c.relname as name, p.relname as parent from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1`,
      [SCHEMA],
    );
    const dropped: string[] = [];
    for (const { name, parent } of rows) {
      const table = PARTITIONED.find((t) => t.table === parent);
      const end = partitionEnd(name);
      if (!table || end === undefined || end > now - table.retentionMs) continue;
      await migrateSchema(this.db, SCHEMA, (em) => em.query(`drop table if exists ${SCHEMA}.${name}`).then(() => undefined));
      this.partitions.delete(name);
      dropped.push(name);
    }
    return dropped;
  }

  /** The last stream sequence written under checkpoint `name` (0 before the first). */
  async checkpoint(name: string): Promise<{ sequence: number; streamCreated: string | null }> {
    await this.db.query(`insert into ${SCHEMA}.ingest_checkpoints (name) values ($1) on conflict do nothing`, [name]);
    const [row] = await this.db.query(`select last_sequence, stream_created from ${SCHEMA}.ingest_checkpoints where name = $1`, [name]);
    return { sequence: Number(row.last_sequence), streamCreated: row.stream_created ?? null };
  }

  /** Moves a checkpoint back (the stream was recreated): the next writes start from `sequence`. */
  async resetCheckpoint(name: string, sequence: number, streamCreated: string): Promise<void> {
    await this.db.query(`update ${SCHEMA}.ingest_checkpoints set last_sequence = $2, stream_created = $3 where name = $1`, [name, sequence, streamCreated]);
  }

  /**
   * Writes samples with the checkpoint in one transaction; the checkpoint must still be at
   * `expected` (else FencedError: another instance wrote since, nothing is written). Samples go in by
   * COPY; rollups are not touched, except by a sample older than a rollup's watermark (an agent's
   * late sample), which is merged into that rollup here, so a rollup is complete below its watermark
   * (rollUp rolls up the rest, and reads add the raw samples above it).
   */
  async write(samples: Sample[], checkpoint: { name: string; expected: number; to: number }): Promise<void> {
    if (samples.length > 0) await this.ensurePartitions(uniqueDays(samples));
    await this.db.transaction(async (em) => {
      // Samples and checkpoint commit together and TELEMETRY keeps a day: a crash that loses the
      // last commits only reads them again, so there is no need to wait for the WAL flush.
      await em.query('set local synchronous_commit = off');
      const [row] = await em.query(`select last_sequence from ${SCHEMA}.ingest_checkpoints where name = $1 for update`, [checkpoint.name]);
      const at = Number(row?.last_sequence ?? 0);
      if (at !== checkpoint.expected) throw new FencedError(checkpoint.expected, at);
      if (samples.length > 0) {
        // A share lock: rollUp cannot move a watermark past these samples until they are committed.
        const marks = await watermarks(em, 'for share');
        await copySamples(em, samples);
        for (const rollup of ROLLUPS) {
          const mark = marks.get(rollup.name)!;
          const late = samples.filter((sample) => sample.t < mark);
          if (late.length > 0) await mergeRollup(em, rollup, rollupRows(late, rollup.bucketMs));
        }
      }
      await em.query(`update ${SCHEMA}.ingest_checkpoints set last_sequence = $2 where name = $1`, [checkpoint.name, checkpoint.to]);
    });
  }

  /**
   * Rolls up what is settled: raw samples into 1-minute buckets up to the last whole minute that
   * ended `settleMs` before `now`, then those into 1-hour buckets up to the last whole hour below the
   * new 1-minute watermark, in one transaction that moves both watermarks. At most `maxSpanMs` of
   * samples per pass (a service that was down catches up over several passes). Returns the new
   * watermarks (epoch ms).
   */
  async rollUp(now = Date.now(), options: { settleMs?: number; maxSpanMs?: number } = {}): Promise<Record<Rollup['name'], number>> {
    const settleMs = options.settleMs ?? 5000;
    const maxSpanMs = options.maxSpanMs ?? 3600_000;
    const [minute, hour] = ROLLUPS;
    return this.db.transaction(async (em) => {
      const marks = await watermarks(em, 'for update');
      const from1m = marks.get(minute.name)!;
      const to1m = Math.min(floorTo(now - settleMs, minute.bucketMs), floorTo(from1m + maxSpanMs, minute.bucketMs));
      if (to1m > from1m) {
        await this.ensurePartitions([from1m, to1m - 1]);
        const aggregates = SAMPLE_FIELDS.flatMap((f) => [`sum(${f})`, `min(${f})`, `max(${f})`]).join(', ');
        await em.query(
          `insert into ${SCHEMA}.${minute.table} as r (series, node_id, bucket, n, ${rollupNames()})
           select series, node_id, date_bin(interval '1 minute', t, timestamptz '1970-01-01 00:00:00+00'), count(*), ${aggregates}
             from ${SCHEMA}.samples where t >= $1 and t < $2 group by 1, 2, 3
           on conflict (series, node_id, bucket) do update set ${mergeUpdates()}`,
          [iso(from1m), iso(to1m)],
        );
        await em.query(`update ${SCHEMA}.rollup_watermarks set done_until = $2 where rollup = $1`, [minute.name, iso(to1m)]);
      }
      const settled1m = Math.max(from1m, to1m);
      const from1h = marks.get(hour.name)!;
      const to1h = floorTo(settled1m, hour.bucketMs);
      if (to1h > from1h) {
        const aggregates = SAMPLE_FIELDS.flatMap((f) => [`sum(${f}_sum)`, `min(${f}_min)`, `max(${f}_max)`]).join(', ');
        await em.query(
          `insert into ${SCHEMA}.${hour.table} as r (series, node_id, bucket, n, ${rollupNames()})
           select series, node_id, date_bin(interval '1 hour', bucket, timestamptz '1970-01-01 00:00:00+00'), sum(n), ${aggregates}
             from ${SCHEMA}.${minute.table} where bucket >= $1 and bucket < $2 group by 1, 2, 3
           on conflict (series, node_id, bucket) do update set ${mergeUpdates()}`,
          [iso(from1h), iso(to1h)],
        );
        await em.query(`update ${SCHEMA}.rollup_watermarks set done_until = $2 where rollup = $1`, [hour.name, iso(to1h)]);
      }
      return { [minute.name]: settled1m, [hour.name]: Math.max(from1h, to1h) } as Record<Rollup['name'], number>;
    });
  }

  /** Watermarks for reads, at most a second old (see rollupSource: an older one is still exact). */
  private marksCache?: { at: number; marks: Promise<Map<string, number>> };

  private currentWatermarks(): Promise<Map<string, number>> {
    const now = Date.now();
    if (!this.marksCache || now - this.marksCache.at > 1000) {
      const marks = watermarks(this.db, '');
      this.marksCache = { at: now, marks };
      marks.catch(() => (this.marksCache = undefined));
    }
    return this.marksCache.marks;
  }

  /** The rollups' watermarks (epoch ms): each rollup is complete for buckets below its own. */
  async watermarks(): Promise<Record<Rollup['name'], number>> {
    return Object.fromEntries(await watermarks(this.db, '')) as Record<Rollup['name'], number>;
  }

  /**
   * Points of one series over [from, to) in steps of `stepS` seconds from `resolution`; `nodeId`
   * keeps only what that node sent. Steps without samples are left out. Only `fields` are read (the
   * others are null in `values`): `GET /metrics` needs five of the eleven, and a 24 h read at a
   * 1-minute step is 1,440 rows whose decoding, not the index scan, is most of its time.
   */
  async read(
    series: string,
    nodeId: string | undefined,
    from: number,
    to: number,
    stepS: number,
    resolution: MetricsResolution,
    fields: readonly SampleField[] = SAMPLE_FIELDS,
  ): Promise<StoredPoint[]> {
    if (resolution === 'raw') {
      const bin = binOf('$5', 't');
      const rows = await this.arrayRows(
        `select ${epochMs(bin)} as b, count(*)::int as n, ${fields.map((f) => `avg(${f}) as ${f}`).join(', ')}
           from ${SCHEMA}.samples where ${seriesKey('$1')} and series = $1 and ($2::uuid is null or node_id = $2::uuid) and t >= $3 and t < $4 group by ${bin} order by ${bin}`,
        [series, nodeId ?? null, iso(from), iso(to), stepS],
      );
      return rows.map(arrayPoint(fields));
    }
    const where = `series = $1 and ($2::uuid is null or node_id = $2::uuid)`;
    const marks = await this.currentWatermarks();
    // Where the step is the rollup's own bucket and one node's rows are read, each rollup row below
    // the rollup's watermark is a point as it stands (the primary key makes it the only row of its
    // bucket): no grouping, which was half of a 24 h read at a 1-minute step. The rest of the range
    // (finer rollups, raw samples past the watermark) is grouped as before; the watermark is on a
    // bucket boundary, so no step falls on both sides.
    const rollup = ROLLUPS.find((r) => r.name === resolution)!;
    const direct = nodeId !== undefined && stepS * 1000 === rollup.bucketMs ? Math.max(from, Math.min(to, rollupMark(resolution, marks))) : from;
    const params: unknown[] = [series, nodeId ?? null];
    const parts: string[] = [];
    if (direct > from) {
      const [lo, hi] = [params.push(iso(from)), params.push(iso(direct))];
      parts.push(
        `(select ${epochMs('bucket')} as b, n, ${fields.map((f) => `${f}_sum / n as ${f}`).join(', ')}
            from ${SCHEMA}.${rollup.table} where series = $1 and node_id = $2::uuid and bucket >= $${lo}::timestamptz and bucket < $${hi}::timestamptz)`,
      );
    }
    if (direct < to) {
      // Every parameter must appear in the statement (Postgres cannot type an unused one): the step only here.
      const step = `$${params.push(stepS)}`;
      const source = rollupSource(resolution, where, marks, direct, to, params.length + 1, `${seriesKey('$1')} and ${where}`, fields);
      params.push(...source.params);
      parts.push(
        `(select ${epochMs(binOf(step, 'at'))} as b, sum(n)::int as n, ${fields.map((f) => `sum(${f}_sum) / sum(n) as ${f}`).join(', ')}
            from (${source.sql}) u group by ${binOf(step, 'at')})`,
      );
    }
    if (parts.length === 0) return []; // an empty range
    const rows = await this.arrayRows(`${parts.join(' union all ')} order by b`, params);
    return rows.map(arrayPoint(fields));
  }

  /** Rows as arrays in column order (no object per row: a history read decodes thousands). */
  private async arrayRows(sql: string, params: unknown[]): Promise<unknown[][]> {
    return (await this.pool.query({ text: sql, values: params, rowMode: 'array' })).rows;
  }

  /** TypeORM's pg pool, for what its query() cannot ask: rows as arrays, named (prepared) statements. */
  private get pool(): { query(q: { name?: string; text: string; values: unknown[]; rowMode?: 'array' }): Promise<{ rows: unknown[][] }> } {
    return (this.db.driver as PostgresDriver).master;
  }

  /**
   * The fleet over [from, to): per step, every node's own averages (a node's samples as it sent
   * them), then CPU averaged over the nodes and every other field summed.
   */
  async readFleet(from: number, to: number, stepS: number, resolution: MetricsResolution): Promise<StoredPoint[]> {
    const nodeSeries = `series like 'node:%' and series = 'node:' || node_id::text`;
    // Every parameter must appear in the statement (Postgres cannot type an unused one): the rollup path takes the step as $1.
    const source = resolution === 'raw' ? undefined : rollupSource(resolution, nodeSeries, await this.currentWatermarks(), from, to, 2);
    const perNode = source
      ? `select date_bin(make_interval(secs => $1), at, timestamptz '1970-01-01 00:00:00+00') as b, series, ${SAMPLE_FIELDS.map((f) => `sum(${f}_sum) / sum(n) as ${f}`).join(', ')}
           from (${source.sql}) u group by 1, 2`
      : `select date_bin(make_interval(secs => $3), t, timestamptz '1970-01-01 00:00:00+00') as b, series, ${SAMPLE_FIELDS.map((f) => `avg(${f}) as ${f}`).join(', ')}
           from ${SCHEMA}.samples where ${nodeSeries} and t >= $1 and t < $2 group by 1, 2`;
    const rows = await this.arrayRows(
      `select ${epochMs('b')} as b, count(*)::int as n, ${SAMPLE_FIELDS.map((f) => (f === 'cpu_percent' ? `avg(${f})` : `sum(${f})`) + ` as ${f}`).join(', ')}
         from (${perNode}) per_node group by per_node.b order by per_node.b`,
      source ? [stepS, ...source.params] : [iso(from), iso(to), stepS],
    );
    return rows.map(arrayPoint(SAMPLE_FIELDS));
  }

  /** The newest raw sample of each series sent by `nodeId` among `series`, at most `maxAgeMs` old. */
  async latest(nodeId: string, series: string[], maxAgeMs: number): Promise<Map<string, { t: number; values: (number | null)[] }>> {
    if (series.length === 0) return new Map();
    const rows: Record<string, unknown>[] = await this.db.query(
      `select distinct on (series) series, extract(epoch from t) * 1000 as t, ${SAMPLE_FIELDS.join(', ')} from ${SCHEMA}.samples where hashtext(series) = any(array(select hashtext(s) from unnest($1::text[]) s)) and series = any($1::text[]) and node_id = $2 and t >= $3 order by series, t desc`,
      [series, nodeId, iso(Date.now() - maxAgeMs)],
    );
    return new Map(rows.map((r) => [String(r.series), { t: Math.round(Number(r.t)), values: SAMPLE_FIELDS.map((f) => (r[f] === null ? null : Number(r[f]))) }]));
  }

  /**
   * Stores external agents' data documents and the numeric top-level fields of each as series
   * `<type>.<field>` (raw values, and their 1-minute and 1-hour rollups: count, sum, min, max merged),
   * all in one transaction. Like telemetry it does not wait for the WAL flush: a database crash may
   * lose the last fraction of a second of agents' reports, never leave half of one.
   *
   * A field is a series value when it is a JSON number within ±MAX_SERIES_MAGNITUDE (larger ones
   * are kept in the document only: their sums would overflow float8 in the rollups, and Postgres'
   * avg(float8) squares differences, which overflows from about 1.3e154; at 1e100 neither happens for
   * any count of values, and real readings, a uint256 below 1.2e77, stay well inside).
   */
  async writeAgentData(rows: readonly { agentId: string; type: string; t: number; data: unknown }[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ensurePartitions(rows.map((r) => r.t));
    // The whole batch as one JSON parameter, taken apart by Postgres (json_to_recordset, jsonb_each):
    // one native JSON.stringify here instead of a dozen array parameters built element by element,
    // which had been most of this service's CPU per document (bench/metrics-agents). One statement,
    // so one round trip and its own transaction: documents, values and both rollups land together
    // or not at all. Written without waiting for the WAL flush (set_config(..., true) holds for
    // this transaction). Rollup rows are merged in key order, so two statements merging the same
    // rows lock them in the same order (no deadlock). A named (prepared) statement: parsing and
    // planning it anew took more of Postgres' time per batch than running it.
    const merge = (table: string, bucketS: number) =>
      `${table} as (insert into ${SCHEMA}.${table} as r (agent_id, series, bucket, n, sum, min, max)
           select a, s, to_timestamp(floor(t / ${bucketS * 1000}) * ${bucketS}) as b, count(*), sum(v), min(v), max(v) from vals group by a, s, b order by a, s, b
           on conflict (agent_id, series, bucket) do update set n = r.n + excluded.n, sum = r.sum + excluded.sum, min = least(r.min, excluded.min), max = greatest(r.max, excluded.max))`;
    await this.pool.query({
      name: 'metrics-write-agent-data-json',
      text: `with input as materialized (select a, y, t, d from json_to_recordset($1::json) as x(a text, y text, t float8, d jsonb)),
         docs as (insert into ${SCHEMA}.agent_data (agent_id, type, t, data) select a, y, to_timestamp(t / 1000.0), d from input),
         vals as materialized (select a, y || '.' || f.key as s, t, f.value::float8 as v from input, jsonb_each(case when jsonb_typeof(d) = 'object' then d else '{}' end) as f
                  where jsonb_typeof(f.value) = 'number' and abs(f.value::numeric) <= ${MAX_SERIES_MAGNITUDE}),
         raw as (insert into ${SCHEMA}.agent_values (agent_id, series, t, value) select a, s, to_timestamp(t / 1000.0), v from vals),
         ${merge('agent_values_1m', 60)},
         ${merge('agent_values_1h', 3600)},
         unflushed as (select set_config('synchronous_commit', 'off', true) as v)
       select v from unflushed`,
      values: [JSON.stringify(rows.map((r) => ({ a: r.agentId, y: r.type, t: r.t, d: r.data })))],
    });
  }

  /** One agent series over [from, to) in steps of `stepS`: average, minimum and maximum per step. */
  async readAgentSeries(agentId: string, series: string, from: number, to: number, stepS: number, resolution: MetricsResolution): Promise<{ t: number; avg: number; min: number; max: number }[]> {
    const time = resolution === 'raw' ? 't' : 'bucket';
    const table = resolution === 'raw' ? 'agent_values' : `agent_values_${resolution}`;
    const aggregates = resolution === 'raw' ? 'avg(value) as avg, min(value) as min, max(value) as max' : 'sum(sum) / sum(n) as avg, min(min) as min, max(max) as max';
    const rows: Record<string, unknown>[] = await this.db.query(
      `select ${epochMs(binOf('$5', time))} as b, ${aggregates}
         from ${SCHEMA}.${table} where agent_id = $1 and series = $2 and ${time} >= $3 and ${time} < $4 group by ${binOf('$5', time)} order by ${binOf('$5', time)}`,
      [agentId, series, iso(from), iso(to), stepS],
    );
    return rows.map((r) => ({ t: Number(r.b), avg: Number(r.avg), min: Number(r.min), max: Number(r.max) }));
  }

  /** An agent's data documents in [from, to), oldest first, at most `limit`. */
  async readAgentData(agentId: string, type: string | undefined, from: number, to: number, limit: number): Promise<{ t: number; type: string; data: Record<string, unknown> }[]> {
    const rows: Record<string, unknown>[] = await this.db.query(
      `select extract(epoch from t) * 1000 as t, type, data from ${SCHEMA}.agent_data where agent_id = $1 and ($2::text is null or type = $2) and t >= $3 and t < $4 order by t limit $5`,
      [agentId, type ?? null, iso(from), iso(to), limit],
    );
    return rows.map((r) => ({ t: Math.round(Number(r.t)), type: String(r.type), data: r.data as Record<string, unknown> }));
  }

  /** The newest raw sample of every series and sending node from the last `maxAgeMs` (the fleet's exposition). */
  async latestAll(maxAgeMs: number): Promise<{ series: string; nodeId: string; t: number; values: (number | null)[] }[]> {
    const rows: Record<string, unknown>[] = await this.db.query(
      `select distinct on (series, node_id) series, node_id::text, extract(epoch from t) * 1000 as t, ${SAMPLE_FIELDS.join(', ')} from ${SCHEMA}.samples where t >= $1 order by series, node_id, t desc`,
      [iso(Date.now() - maxAgeMs)],
    );
    return rows.map((r) => ({ series: String(r.series), nodeId: String(r.node_id), t: Math.round(Number(r.t)), values: SAMPLE_FIELDS.map((f) => (r[f] === null ? null : Number(r[f]))) }));
  }

  /** Rollup rows stored for [from, to), in a stable order (tests compare them with rollupsFromRaw). */
  async storedRollups(rollup: Rollup, from: number, to: number): Promise<RollupRow[]> {
    const rows = await this.db.query(
      `select series, node_id::text, extract(epoch from bucket) * 1000 as bucket, n, ${rollupSelect()} from ${SCHEMA}.${rollup.table} where bucket >= $1 and bucket < $2 order by series, node_id, bucket`,
      [iso(from), iso(to)],
    );
    return rows.map(toRollupRow);
  }

  /** What the rollup rows for [from, to) are when computed from the raw samples at once (`from`, `to` on bucket bounds). */
  async rollupsFromRaw(rollup: Rollup, from: number, to: number): Promise<RollupRow[]> {
    const aggregates = SAMPLE_FIELDS.flatMap((f) => [`sum(${f}) as ${f}_sum`, `min(${f}) as ${f}_min`, `max(${f}) as ${f}_max`]).join(', ');
    const rows = await this.db.query(
      `select series, node_id::text, extract(epoch from date_bin(make_interval(secs => $3), t, timestamptz '1970-01-01 00:00:00+00')) * 1000 as bucket, count(*)::int as n, ${aggregates}
         from ${SCHEMA}.samples where t >= $1 and t < $2 group by 1, 2, 3 order by series, node_id, bucket`,
      [iso(from), iso(to), rollup.bucketMs / 1000],
    );
    return rows.map(toRollupRow);
  }

  /** Replaces the rollup rows of [from, to) by those computed from raw samples (repair after a bug; raw is kept 48 h). */
  async rebuildRollups(rollup: Rollup, from: number, to: number): Promise<number> {
    const rows = await this.rollupsFromRaw(rollup, from, to);
    await this.db.transaction(async (em) => {
      await em.query(`delete from ${SCHEMA}.${rollup.table} where bucket >= $1 and bucket < $2`, [iso(from), iso(to)]);
      await mergeRollup(em, rollup, rows);
    });
    return rows.length;
  }
}

/** The checkpoint moved under this writer: another instance wrote, or it was reset. Nothing was written. */
export class FencedError extends Error {
  constructor(expected: number, found: number) {
    super(`metrics: the ingest checkpoint is at ${found}, not at ${expected} where this instance left it`);
  }
}

function uniqueDays(samples: Sample[]): number[] {
  const days = new Set<number>();
  for (const s of samples) days.add(Math.floor(s.t / DAY_MS) * DAY_MS);
  return [...days];
}

function rollupSelect(): string {
  return SAMPLE_FIELDS.flatMap((f) => [`${f}_sum`, `${f}_min`, `${f}_max`]).join(', ');
}

function toRollupRow(r: Record<string, unknown>): RollupRow {
  const n = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    series: String(r.series),
    nodeId: String(r.node_id),
    bucket: Math.round(Number(r.bucket)),
    n: Number(r.n),
    sum: SAMPLE_FIELDS.map((f) => n(r[`${f}_sum`])),
    min: SAMPLE_FIELDS.map((f) => n(r[`${f}_min`])),
    max: SAMPLE_FIELDS.map((f) => n(r[`${f}_max`])),
  };
}

export const SAMPLE_COLUMNS = ['series', 'node_id', 't', ...SAMPLE_FIELDS] as const;

/**
 * Every sample in one binary COPY (libs/messaging copyBinaryRows): a multi-row INSERT ran at half the
 * rate of a text COPY, and the text COPY spent most of its time printing and parsing numbers.
 */
async function copySamples(em: Queryable, samples: Sample[]): Promise<void> {
  // Straight into each day's partition (write made sure it exists; Postgres still checks its bounds):
  // routing every row through the parent cost a tenth of the load.
  const byDay = new Map<number, Sample[]>();
  for (const s of samples) {
    const day = Math.floor(s.t / DAY_MS);
    const group = byDay.get(day);
    if (group) group.push(s);
    else byDay.set(day, [s]);
  }
  for (const [day, group] of byDay) {
    await copyBinaryRows(em as never, `${SCHEMA}.${partitionOf(SAMPLES_TABLE, day * DAY_MS).name}`, SAMPLE_COLUMNS, sampleCopyRows(group));
  }
}

/** Samples in COPY's binary format, in the order of SAMPLE_COLUMNS (the bench loads its reference table with the same). */
export function sampleCopyRows(samples: readonly Sample[]): BinaryCopyRows {
  const rows = new BinaryCopyRows(samples.length * (64 + 12 * SAMPLE_FIELDS.length));
  for (const s of samples) {
    rows.row(SAMPLE_COLUMNS.length).text(s.series).uuid(s.nodeId).timestamp(s.t);
    for (const v of s.values) rows.float8(v);
  }
  return rows;
}

/** The rollups' watermarks, locked as asked (`for share` by writers, `for update` by rollUp). */
async function watermarks(em: Queryable, lock: 'for share' | 'for update' | ''): Promise<Map<string, number>> {
  const rows = (await em.query(`select rollup, extract(epoch from done_until) * 1000 as t from ${SCHEMA}.rollup_watermarks order by rollup ${lock}`)) as { rollup: string; t: string }[];
  const marks = new Map(rows.map((r) => [r.rollup, Math.round(Number(r.t))]));
  // Before migrate ran (never in the service): nothing is final yet.
  for (const rollup of ROLLUPS) if (!marks.has(rollup.name)) marks.set(rollup.name, 0);
  return marks;
}

function floorTo(t: number, ms: number): number {
  return Math.floor(t / ms) * ms;
}

function rollupNames(): string {
  return SAMPLE_FIELDS.flatMap((f) => [`${f}_sum`, `${f}_min`, `${f}_max`]).join(', ');
}

function mergeUpdates(): string {
  return [
    'n = r.n + excluded.n',
    ...SAMPLE_FIELDS.flatMap((f) => [
      `${f}_sum = coalesce(r.${f}_sum + excluded.${f}_sum, r.${f}_sum, excluded.${f}_sum)`,
      `${f}_min = least(r.${f}_min, excluded.${f}_min)`,
      `${f}_max = greatest(r.${f}_max, excluded.${f}_max)`,
    ]),
  ].join(', ');
}

/**
 * Rows `(at, series, node_id, n, <field>_sum…)` covering [from, to) at `resolution` whatever has
 * been rolled up yet: the rollup's rows below its watermark, then for 1-hour reads the 1-minute
 * rows up to theirs, then the raw samples above the 1-minute watermark. Segments that are empty are
 * left out (a range wholly below the watermarks never plans over the raw samples' partitions); the
 * bounds go in as parameters from `first` on, so partitions are pruned when the query is planned.
 * The watermarks may be a moment old (MetricsStore caches them for a second): an older watermark
 * only moves more of the range to the raw samples, which hold every sample for 48 h, so nothing is
 * missed or counted twice. `samplesWhere` is the condition on the raw samples (`where` unless the
 * caller adds the index's series key).
 */
function rollupSource(
  resolution: Exclude<MetricsResolution, 'raw'>,
  where: string,
  marks: Map<string, number>,
  from: number,
  to: number,
  first: number,
  samplesWhere = where,
  fields: readonly SampleField[] = SAMPLE_FIELDS,
): { sql: string; params: string[] } {
  const sums = fields.map((f) => `${f}_sum`).join(', ');
  const params: string[] = [];
  const param = (t: number) => `$${first + params.push(iso(t)) - 1}::timestamptz`;
  const parts: string[] = [];
  const segment = (table: string | null, lower: number, upper: number) => {
    if (upper <= lower) return;
    const [lo, hi] = [param(lower), param(upper)];
    parts.push(
      table
        ? `select bucket as at, series, node_id, n, ${sums} from ${SCHEMA}.${table} where ${where} and bucket >= ${lo} and bucket < ${hi}`
        : `select t as at, series, node_id, 1 as n, ${fields.map((f) => `${f} as ${f}_sum`).join(', ')} from ${SCHEMA}.samples where ${samplesWhere} and t >= ${lo} and t < ${hi}`,
    );
  };
  const m1 = rollupMark('1m', marks);
  const h1 = rollupMark('1h', marks);
  if (resolution === '1h') {
    segment('rollup_1h', from, Math.min(to, h1));
    segment('rollup_1m', Math.max(from, h1), Math.min(to, m1));
  } else {
    segment('rollup_1m', from, Math.min(to, m1));
  }
  segment(null, Math.max(from, m1), to);
  // An empty range still answers with the right columns.
  if (parts.length === 0) parts.push(`select null::timestamptz as at, null::text as series, null::uuid as node_id, 0 as n, ${fields.map((f) => `null::float8 as ${f}_sum`).join(', ')} where false`);
  return { sql: parts.join(' union all '), params };
}

/** Below this time (epoch ms) `rollup` holds every sample: its watermark, and for 1 hour never past the 1-minute one. */
function rollupMark(rollup: Exclude<MetricsResolution, 'raw'>, marks: Map<string, number>): number {
  const m1 = marks.get('1m') ?? 0;
  return rollup === '1m' ? m1 : Math.min(marks.get('1h') ?? 0, m1);
}

/** The condition that lets a read of one series' raw samples use their index (samples_series_key_t); the name is checked beside it. */
function seriesKey(param: string): string {
  return `hashtext(series) = hashtext(${param})`;
}

/** The step (seconds, a parameter) that `column`'s time falls in, as a timestamptz: grouping and sorting on it is cheap. */
function binOf(stepParam: string, column: string): string {
  return `date_bin(make_interval(secs => ${stepParam}), ${column}, timestamptz '1970-01-01 00:00:00+00')`;
}

/** Epoch milliseconds of a timestamptz as float8 (`extract` answers numeric, whose arithmetic is several times slower). */
function epochMs(timestamp: string): string {
  return `date_part('epoch', ${timestamp}) * 1000`;
}

/** Maps array rows `[b, n, ...fields]` to points whose `values` follow SAMPLE_FIELDS (null where not read). */
function arrayPoint(fields: readonly SampleField[]): (row: unknown[]) => StoredPoint {
  const columns = SAMPLE_FIELDS.map((f) => fields.indexOf(f) + 2);
  return (row) => ({ t: Number(row[0]), n: Number(row[1]), values: columns.map((c) => (c < 2 || row[c] === null ? null : Number(row[c]))) });
}

/** Merges rollup rows into a rollup table: counts and sums add up, minima and maxima widen. */
async function mergeRollup(em: Queryable, rollup: Rollup, rows: RollupRow[]): Promise<void> {
  if (rows.length === 0) return;
  const params: unknown[] = [rows.map((r) => r.series), rows.map((r) => r.nodeId), rows.map((r) => r.bucket), rows.map((r) => r.n)];
  const names: string[] = [];
  SAMPLE_FIELDS.forEach((f, i) => {
    params.push(rows.map((r) => r.sum[i]), rows.map((r) => r.min[i]), rows.map((r) => r.max[i]));
    names.push(`${f}_sum`, `${f}_min`, `${f}_max`);
  });
  const arrays = names.map((_, i) => `$${i + 5}::float8[]`).join(', ');
  const updates = SAMPLE_FIELDS.flatMap((f) => [
    `${f}_sum = coalesce(r.${f}_sum + excluded.${f}_sum, r.${f}_sum, excluded.${f}_sum)`,
    `${f}_min = least(r.${f}_min, excluded.${f}_min)`,
    `${f}_max = greatest(r.${f}_max, excluded.${f}_max)`,
  ]).join(', ');
  await em.query(
    `insert into ${SCHEMA}.${rollup.table} as r (series, node_id, bucket, n, ${names.join(', ')})
     select s, nid::uuid, to_timestamp(b / 1000.0), n, ${names.join(', ')} from unnest($1::text[], $2::text[], $3::float8[], $4::int[], ${arrays}) as u(s, nid, b, n, ${names.join(', ')})
     on conflict (series, node_id, bucket) do update set n = r.n + excluded.n, ${updates}`,
    params,
  );
}
