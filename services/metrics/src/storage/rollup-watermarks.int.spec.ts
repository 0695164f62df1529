import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { copyRows, copyText } from '@encedeus/messaging';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { MetricsStore, SCHEMA } from './metrics-store';
import { ROLLUPS } from './rollups';
import { SAMPLE_FIELDS, type Sample } from './samples';
import { expectSameRollups } from './rollup-expectations';

const MINUTE = 60_000;
const HOUR = 3600_000;


/**
 * Issue 12's ingest rate: samples go in by COPY and nothing is rolled up at write time; rollUp rolls
 * settled minutes up behind a watermark, late samples are merged as they come, and reads add the raw
 * samples above the watermark. These check that every read and every rollup still equals what the
 * raw samples give, whatever was rolled up when.
 */
describe('MetricsStore rollups behind watermarks (real Postgres)', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: MetricsStore;
  const nodeId = randomUUID();
  let seq = 0;
  let base: number;

  const sample = (series: string, t: number, i: number): Sample => ({
    series,
    nodeId,
    t,
    values: SAMPLE_FIELDS.map((f, k) => (f === 'net_rx' && i % 3 === 0 ? null : ((i * (k + 7)) % 97) + k / 10)),
  });
  const write = (samples: Sample[]) => store.write(samples, { name: 'test', expected: seq, to: (seq += samples.length) });

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = new MetricsStore(db);
    await store.migrate();
    await store.checkpoint('test');
    const marks = await store.watermarks();
    base = marks['1m'];
    expect(marks['1h']).toBe(base);
    expect(base % HOUR).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    await env?.stop();
  });

  it('writes raw samples only, rolls up settled minutes and hours, merges late samples, and reads the same at every resolution', async () => {
    const series = `server:${randomUUID()}`;
    // Three hours of samples every 20 s, written in batches, with rollup passes in between.
    const all: Sample[] = [];
    for (let i = 0; i < 3 * 180; i++) all.push(sample(series, base + i * 20_000, i));
    for (let i = 0; i < all.length; i += 90) {
      await write(all.slice(i, i + 90));
      if (i === 0) expect(await store.storedRollups(ROLLUPS[0], base, base + 3 * HOUR)).toEqual([]);
      await store.rollUp(all[Math.min(i + 89, all.length - 1)].t, { settleMs: 5000 });
    }
    const marks = await store.watermarks();
    expect(marks['1m']).toBeGreaterThan(base + 2 * HOUR);
    expect(marks['1h']).toBe(base + 2 * HOUR);

    // Late samples: below both watermarks, below only the 1-minute one, and above both.
    const late = [sample(series, base + 5 * MINUTE + 1000, 1001), sample(series, base + 2 * HOUR + 30_000, 1002), sample(series, marks['1m'] + 1000, 1003)];
    await write(late);
    all.push(...late);

    // Reads equal the raw samples' averages at every resolution, before the last pass and after it.
    const from = base - HOUR;
    const to = base + 4 * HOUR;
    for (const pass of ['before', 'after']) {
      if (pass === 'after') await store.rollUp(to + HOUR);
      const raw = await store.read(series, nodeId, from, to, 3600, 'raw');
      expect(raw.reduce((n, p) => n + p.n, 0)).toBe(all.length);
      for (const resolution of ['1m', '1h'] as const) {
        const read = await store.read(series, nodeId, from, to, 3600, resolution);
        expect(read.map((p) => [p.t, p.n])).toEqual(raw.map((p) => [p.t, p.n]));
        read.forEach((p, i) =>
          p.values.forEach((v, f) => {
            // Rollup averages divide by every sample of the bucket; raw ones by the non-null values.
            if (SAMPLE_FIELDS[f] !== 'net_rx') expect(v).toBeCloseTo(raw[i].values[f]!, 6);
          }),
        );
      }
      // At the rollup's own step, one node's rollup rows are the points as they stand (no grouping);
      // without a node the same range is grouped: both equal the raw samples minute by minute.
      const rawMinutes = await store.read(series, nodeId, from, to, 60, 'raw');
      for (const node of [nodeId, undefined]) {
        const minutes = await store.read(series, node, from, to, 60, '1m');
        expect([pass, node, minutes.map((p) => [p.t, p.n])]).toEqual([pass, node, rawMinutes.map((p) => [p.t, p.n])]);
        minutes.forEach((p, i) => expect(p.values[0]).toBeCloseTo(rawMinutes[i].values[0]!, 6));
      }
      // A range wholly below the 1-minute watermark is read from the rollup rows alone; one wholly above it from the raw samples alone.
      const settled = await store.read(series, nodeId, base, base + HOUR, 60, '1m');
      expect(settled.map((p) => [p.t, p.n])).toEqual(rawMinutes.filter((p) => p.t >= base && p.t < base + HOUR).map((p) => [p.t, p.n]));
      const mark = (await store.watermarks())['1m'];
      const fresh = await store.read(series, nodeId, mark + MINUTE, to, 60, '1m');
      expect([pass, fresh.map((p) => [p.t, p.n])]).toEqual([pass, rawMinutes.filter((p) => p.t >= mark + MINUTE && p.t < to).map((p) => [p.t, p.n])]);
    }
    for (const rollup of ROLLUPS) {
      const stored = (await store.storedRollups(rollup, from, to)).filter((r) => r.series === series);
      const rebuilt = (await store.rollupsFromRaw(rollup, from, to)).filter((r) => r.series === series);
      expect(stored.reduce((n, r) => n + r.n, 0)).toBe(all.length);
      expectSameRollups(stored, rebuilt);
    }
  });

  it('counts every sample once when writes race rollup passes', async () => {
    const series = `node:${randomUUID()}`;
    const start = (await store.watermarks())['1m'];
    const all: Sample[] = [];
    for (let i = 0; i < 600; i++) all.push(sample(series, start + i * 7_000, i));
    // Writes in order (one ingest), rollup passes with growing `now` beside them.
    const writing = (async () => {
      for (let i = 0; i < all.length; i += 25) await write(all.slice(i, i + 25));
    })();
    const rolling = (async () => {
      for (let k = 1; k <= 40; k++) await store.rollUp(start + k * 2 * MINUTE, { settleMs: 0 });
    })();
    await Promise.all([writing, rolling]);
    await store.rollUp(start + 3 * HOUR, { settleMs: 0 });
    for (const rollup of ROLLUPS) {
      const stored = (await store.storedRollups(rollup, start - HOUR, start + 3 * HOUR)).filter((r) => r.series === series);
      const rebuilt = (await store.rollupsFromRaw(rollup, start - HOUR, start + 3 * HOUR)).filter((r) => r.series === series);
      expect(stored.reduce((n, r) => n + r.n, 0)).toBe(all.length);
      expectSameRollups(stored, rebuilt);
    }
  });

  it('writes a batch across midnight into both days\' partitions, the sample at 00:00 into the later one', async () => {
    const series = `server:${randomUUID()}`;
    const midnight = Math.floor(Date.now() / (24 * HOUR)) * 24 * HOUR - 24 * HOUR; // yesterday's end: below both watermarks
    const batch = [-10_000, -1, 0, 1, 10_000].map((d, i) => sample(series, midnight + d, i));
    await write(batch);
    const day = (t: number) => new Date(t).toISOString().slice(0, 10).replace(/-/g, '');
    const rows: { p: string; t: Date }[] = await db.query(`select tableoid::regclass::text as p, t from ${SCHEMA}.samples where series = $1 order by t`, [series]);
    expect(rows.map((r) => [r.p, r.t.getTime()])).toEqual(
      batch.map((s) => [`${SCHEMA}.samples_d${day(s.t)}`, s.t]),
    );
    expect(new Set(rows.map((r) => r.p)).size).toBe(2);
    // Late samples (below the watermarks) were merged into the rollups as they were written.
    const [minute] = ROLLUPS;
    const stored = (await store.storedRollups(minute, midnight - HOUR, midnight + HOUR)).filter((r) => r.series === series);
    expect(stored.reduce((n, r) => n + r.n, 0)).toBe(batch.length);
  });

  it('copies text with tabs, newlines, backslashes and nulls intact, and loads nothing from a bad row', async () => {
    await db.query('create table copy_check (a text, b float8)');
    const odd = ['tab\there', 'line\nbreak', 'back\\slash\\N', 'cr\rx', 'ünï'];
    const lines = odd.map((a, i) => `${copyText(a)}\t${copyText(i === 2 ? null : i + 0.5)}\n`).join('');
    const loaded = await db.transaction((em) => copyRows(em, 'copy_check', ['a', 'b'], lines));
    expect(loaded).toBe(odd.length);
    const rows: { a: string; b: number | null }[] = await db.query('select a, b from copy_check');
    expect(rows.map((r) => r.a).sort()).toEqual([...odd].sort());
    expect(rows.find((r) => r.a === odd[2])!.b).toBeNull();

    await expect(db.transaction((em) => copyRows(em, 'copy_check', ['a', 'b'], `ok\t1\nbad\tnot-a-number\n`))).rejects.toThrow(/invalid input syntax/);
    const [{ n }] = await db.query('select count(*)::int as n from copy_check');
    expect(n).toBe(odd.length);
    // The connection is usable after the failed COPY.
    expect(await db.query('select 1 as one')).toEqual([{ one: 1 }]);
  });

  it('finds a series\' raw samples by the 4-byte key index, also on a store migrated from the name index', async () => {
    // A store of the earlier version: raw samples indexed by the series name itself.
    await db.query(`create index if not exists samples_series_t on ${SCHEMA}.samples (series, t)`);
    await new MetricsStore(db).migrate();
    const indexes: { name: string }[] = await db.query(`select indexname as name from pg_indexes where schemaname = $1 and tablename = 'samples'`, [SCHEMA]);
    expect(indexes.map((i) => i.name)).toEqual(['samples_series_key_t']);

    const series = `server:${randomUUID()}`;
    const other = `server:${randomUUID()}`;
    const t0 = (await store.watermarks())['1m'] + HOUR;
    await write([sample(series, t0, 1), sample(other, t0, 2), sample(series, t0 + 5000, 3)]);
    const plan = await db.transaction(async (em) => {
      await em.query('set local enable_seqscan = off');
      const rows: Record<string, string>[] = await em.query(
        `explain select count(*) from ${SCHEMA}.samples where hashtext(series) = hashtext($1) and series = $1 and t >= $2 and t < $3`,
        [series, new Date(t0).toISOString(), new Date(t0 + MINUTE).toISOString()],
      );
      return rows.map((r) => Object.values(r)[0]).join('\n');
    });
    expect(plan).toMatch(/samples_d\d+_hashtext_t_idx|Index Cond: \(\(hashtext\(series\)/);
    const raw = await store.read(series, nodeId, t0, t0 + MINUTE, 60, 'raw');
    expect(raw.map((p) => p.n)).toEqual([2]);
    const latest = await store.latest(nodeId, [series, other], HOUR);
    expect([...latest.keys()].sort()).toEqual([series, other].sort());
    expect(latest.get(series)!.t).toBe(t0 + 5000);
  });

  it('keeps the watermarks where migrate found them on a restart', async () => {
    const before = await store.watermarks();
    await new MetricsStore(db).migrate();
    expect(await store.watermarks()).toEqual(before);
    const [{ n }] = await db.query(`select count(*)::int as n from ${SCHEMA}.rollup_watermarks`);
    expect(n).toBe(ROLLUPS.length);
  });
});
