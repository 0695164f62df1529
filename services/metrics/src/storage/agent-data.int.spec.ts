import { DataSource } from 'typeorm';
import { startTestEnv, type TestEnv } from '@encedeus/testing';
import { MAX_SERIES_MAGNITUDE, MetricsStore, SCHEMA } from './metrics-store';

const MINUTE = 60_000;
const HOUR = 3600_000;

/**
 * External agents' documents (seed 002) as writeAgentData stores them: the batch goes to Postgres as
 * one JSON parameter and Postgres takes out the series values, so these check on a real Postgres
 * which fields become values, that the rollups merge batch after batch, and that a refused document
 * stores nothing of its batch.
 */
describe('MetricsStore.writeAgentData (real Postgres)', () => {
  let env: TestEnv;
  let db: DataSource;
  let store: MetricsStore;
  // A time inside the raw window, on a minute.
  const base = Math.floor((Date.now() - HOUR) / HOUR) * HOUR + 7 * MINUTE;

  const values = (agentId: string) =>
    db.query(`select series, extract(epoch from t) * 1000 as t, value from ${SCHEMA}.agent_values where agent_id = $1 order by series, t`, [agentId]).then((rows: { series: string; t: string; value: number }[]) =>
      rows.map((r) => [r.series, Number(r.t), r.value]),
    );
  const rollup = (table: string, agentId: string) =>
    db.query(`select series, extract(epoch from bucket) * 1000 as b, n, sum, min, max from ${SCHEMA}.${table} where agent_id = $1 order by series, bucket`, [agentId]).then((rows: Record<string, unknown>[]) =>
      rows.map((r) => [r.series, Number(r.b), r.n, r.sum, r.min, r.max]),
    );

  beforeAll(async () => {
    env = await startTestEnv();
    db = await new DataSource({ type: 'postgres', url: env.db.url }).initialize();
    store = new MetricsStore(db);
    await store.migrate();
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    await env?.stop();
  });

  it('makes series values of the top-level numbers within ±1e100 only, and keeps the whole document', async () => {
    const data = { small: -1e100, big: 1.7e308, negative: -1e101, text: '1', ok: 42, flag: true, nested: { n: 1 }, list: [1, 2], nothing: null, tiny: 5e-324, 'a.b c': 0.5 };
    await store.writeAgentData([{ agentId: 'fields', type: 't', t: base, data }]);

    expect(MAX_SERIES_MAGNITUDE).toBe(1e100);
    expect(await values('fields')).toEqual([
      ['t.a.b c', base, 0.5],
      ['t.ok', base, 42],
      ['t.small', base, -1e100],
      ['t.tiny', base, 5e-324],
    ]);
    expect(await store.readAgentData('fields', 't', base, base + 1, 10)).toEqual([{ t: base, type: 't', data }]);
  });

  it('merges count, sum, min and max into the 1-minute and 1-hour rollups, batch after batch and within a batch', async () => {
    const doc = (t: number, v: number, type = 'load') => ({ agentId: 'merge', type, t, data: { v } });
    await store.writeAgentData([doc(base, 3), doc(base + 10_000, 5), doc(base + MINUTE, 1), doc(base, 9, 'other')]);
    await store.writeAgentData([doc(base + 20_000, -2), doc(base + MINUTE + 1, 4)]);

    expect(await rollup('agent_values_1m', 'merge')).toEqual([
      ['load.v', base, 3, 6, -2, 5],
      ['load.v', base + MINUTE, 2, 5, 1, 4],
      ['other.v', base, 1, 9, 9, 9],
    ]);
    const hour = Math.floor(base / HOUR) * HOUR;
    expect(await rollup('agent_values_1h', 'merge')).toEqual([
      ['load.v', hour, 5, 11, -2, 5],
      ['other.v', hour, 1, 9, 9, 9],
    ]);
    expect(await store.readAgentSeries('merge', 'load.v', hour, hour + HOUR, 3600, '1h')).toEqual([{ t: hour, avg: 11 / 5, min: -2, max: 5 }]);
  });

  it('stores nothing of a batch Postgres refuses (a NUL in a text), with its SQLSTATE', async () => {
    const ok = { agentId: 'refused', type: 't', t: base, data: { v: 1 } };
    const bad = { agentId: 'refused', type: 't', t: base, data: { v: 2, s: 'a\u0000b' } };

    await expect(store.writeAgentData([ok, bad])).rejects.toMatchObject({ code: '22P05' });

    expect(await values('refused')).toEqual([]);
    expect(await rollup('agent_values_1m', 'refused')).toEqual([]);
    expect(await store.readAgentData('refused', undefined, base - 1, base + 1, 10)).toEqual([]);
  });
});
