import type { RollupRow } from './rollups';

/** Test helper: rollup rows equal, with a tolerance on float sums (the order of additions differs). */
export function expectSameRollups(actual: RollupRow[], expected: RollupRow[]): void {
  expect(actual.map((r) => [r.series, r.nodeId, r.bucket, r.n])).toEqual(expected.map((r) => [r.series, r.nodeId, r.bucket, r.n]));
  actual.forEach((row, i) => {
    row.sum.forEach((v, f) => (v === null ? expect(expected[i].sum[f]).toBeNull() : expect(v).toBeCloseTo(expected[i].sum[f]!, 6)));
    expect(row.min).toEqual(expected[i].min);
    expect(row.max).toEqual(expected[i].max);
  });
}
