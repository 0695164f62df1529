import { rollupRows } from './rollups';
import { SAMPLE_FIELDS, type Sample } from './samples';

const NODE = '6f1c2b1e-1111-4000-8000-000000000001';
const t0 = Date.parse('2026-12-01T10:00:00Z');
const sample = (t: number, cpu: number | null, series = `node:${NODE}`): Sample => ({ series, nodeId: NODE, t, values: SAMPLE_FIELDS.map((f) => (f === 'cpu_percent' ? cpu : null)) });

describe('rollupRows', () => {
  it('counts, sums and bounds each field per series and bucket', () => {
    const samples = [sample(t0 + 1000, 10), sample(t0 + 30_000, 30), sample(t0 + 61_000, 50), sample(t0 + 2000, 99, 'server:x')];

    const rows = rollupRows(samples, 60_000);

    const first = rows.find((r) => r.series === `node:${NODE}` && r.bucket === t0)!;
    expect(first).toMatchObject({ n: 2, sum: expect.arrayContaining([40]), min: expect.arrayContaining([10]), max: expect.arrayContaining([30]) });
    expect(rows.find((r) => r.bucket === t0 + 60_000)).toMatchObject({ n: 1 });
    expect(rows.find((r) => r.series === 'server:x')).toMatchObject({ n: 1, bucket: t0 });
    expect(rows).toHaveLength(3);
  });

  it('skips nulls: a field nobody reported stays null', () => {
    const rows = rollupRows([sample(t0, null), sample(t0 + 1, 5)], 3600_000);

    const cpu = SAMPLE_FIELDS.indexOf('cpu_percent');
    expect([rows[0].n, rows[0].sum[cpu], rows[0].min[cpu], rows[0].max[cpu], rows[0].sum[SAMPLE_FIELDS.indexOf('net_rx')]]).toEqual([2, 5, 5, 5, null]);
  });
});
